//! `RouterConfig`: the validated tuning of a [`SourceRouter`](super::SourceRouter).

use std::time::Duration;

use crate::clock::duration_ns;
use crate::error::ConfigError;

use super::RoutingStrategy;

/// Tuning of a router. Build with `RouterConfig { .., ..RouterConfig::default() }` or
/// [`RouterConfig::new`]; every constructor and live swap calls [`validate`](Self::validate).
#[derive(Clone, Debug, PartialEq)]
pub struct RouterConfig {
    /// The strategy.
    pub strategy: RoutingStrategy,
    /// `First`: how long a failed source stays out before it may be probed for fail-back.
    /// `Fastest`: the minimum time between two switches for speed. Every strategy: how long a
    /// failed source is skipped when choosing a fallback (unless nothing else is left).
    /// Must be non-zero for `First` and `Fastest` (a zero hold-down flaps).
    pub hold_down: Duration,
    /// Staleness bound for sources that declare none (`Capabilities::staleness_bound`).
    pub default_staleness: Duration,
    /// Consecutive failures (errors, disconnects, stale periods) that open a source's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses before it lets one probe through (HALF_OPEN).
    pub breaker_timeout: Duration,
    /// `RoundRobin`: delivered chunks per source before rotating.
    pub round_robin_chunks: u32,
    /// `Fastest`: a standby must be this fraction faster than the active source to take over
    /// (0.2 = 20 % lower latency estimate). In `[0, 1)`.
    pub fastest_hysteresis: f64,
    /// `First`: how often a fail-back probe is tried; `Fastest`: how often standbys are sampled.
    pub probe_interval: Duration,
    /// `Arbitrate`: how far (in `seq`) the newest tick may run ahead of a missing one before the
    /// missing one is reported as a gap. 1 ..= 65536.
    pub arbitrate_window: u32,
    /// Capacity of the router's scratch buffer (ticks) for probes and arbitration; a poll asks a
    /// source for at most this many ticks when it does not write straight into the caller's
    /// buffer.
    pub scratch_ticks: usize,
    /// Switch records kept (the oldest are dropped first).
    pub switch_history: usize,
    /// How often the poll thread publishes stats for [`RouterControl::stats`](super::RouterControl::stats)
    /// (also on every switch).
    pub stats_interval: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            strategy: RoutingStrategy::First,
            hold_down: Duration::from_secs(5),
            default_staleness: Duration::from_secs(2),
            breaker_threshold: 5,
            breaker_timeout: Duration::from_secs(60),
            round_robin_chunks: 16,
            fastest_hysteresis: 0.2,
            probe_interval: Duration::from_millis(100),
            arbitrate_window: 1024,
            scratch_ticks: 1024,
            switch_history: 1024,
            stats_interval: Duration::from_millis(5),
        }
    }
}

/// The config's durations in nanoseconds, computed once per config change.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    pub hold_down_ns: u64,
    pub staleness_ns: u64,
    pub probe_ns: u64,
    pub stats_ns: u64,
}

impl RouterConfig {
    /// Defaults with `strategy`.
    pub fn new(strategy: RoutingStrategy) -> RouterConfig {
        RouterConfig {
            strategy,
            ..RouterConfig::default()
        }
    }

    /// Check every field; the error names the first bad one (`router.<field>`).
    ///
    /// # Errors
    /// [`ConfigError`] naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |field: &str, reason: &str| Err(ConfigError::new(format!("router.{field}"), reason));
        if self.hold_down.is_zero()
            && matches!(
                self.strategy,
                RoutingStrategy::First | RoutingStrategy::Fastest
            )
        {
            return bad("hold_down", "must be greater than 0 for first and fastest");
        }
        if self.default_staleness.is_zero() {
            return bad("default_staleness", "must be greater than 0");
        }
        if self.breaker_threshold == 0 || self.breaker_threshold > u32::from(u16::MAX) {
            return bad("breaker_threshold", "must be in 1..=65535");
        }
        if self.breaker_timeout.is_zero() {
            return bad("breaker_timeout", "must be greater than 0");
        }
        if self.round_robin_chunks == 0 {
            return bad("round_robin_chunks", "must be greater than 0");
        }
        if !(0.0..1.0).contains(&self.fastest_hysteresis) {
            return bad("fastest_hysteresis", "must be in [0, 1)");
        }
        if self.probe_interval.is_zero() {
            return bad("probe_interval", "must be greater than 0");
        }
        if self.arbitrate_window == 0 || self.arbitrate_window > 65_536 {
            return bad("arbitrate_window", "must be in 1..=65536");
        }
        if self.scratch_ticks == 0 || self.scratch_ticks > 1 << 20 {
            return bad("scratch_ticks", "must be in 1..=1048576");
        }
        if self.switch_history == 0 || self.switch_history > 1 << 20 {
            return bad("switch_history", "must be in 1..=1048576");
        }
        Ok(())
    }

    pub(crate) fn tuning(&self) -> Tuning {
        Tuning {
            hold_down_ns: duration_ns(self.hold_down),
            staleness_ns: duration_ns(self.default_staleness),
            probe_ns: duration_ns(self.probe_interval),
            stats_ns: duration_ns(self.stats_interval),
        }
    }

    /// Whether switching from `self` to `other` needs new breakers.
    pub(crate) fn breakers_differ(&self, other: &RouterConfig) -> bool {
        (self.breaker_threshold, self.breaker_timeout)
            != (other.breaker_threshold, other.breaker_timeout)
    }
}
