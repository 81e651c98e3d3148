//! One routed source: the source itself, its breaker, its optional rate-coordinator handle,
//! and what the router knows about its health.

use std::sync::Arc;

use crate::clock::{duration_ns, SharedClock};
use crate::error::{ConfigError, SourceError};
use crate::flow::{BreakerState, CircuitBreaker, CoordinatorError, ProviderHandle, Request};
use crate::source::{Capabilities, SourcePoll, TickSource};
use crate::tick::Tick;

use super::{RouterConfig, SwitchReason};

/// What one poll of a slot came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotPoll {
    /// `n ≥ 1` ticks were written to the front of the buffer.
    Data(usize),
    /// The source had nothing (it may be going stale).
    Quiet,
    /// The rate coordinator said "not now"; the source was not polled.
    NotNow,
    /// The source failed for this reason (the breaker has been told).
    Failed(SwitchReason),
}

/// Integer EWMA (weight 1/8) of a latency in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ewma(Option<u64>);

#[cfg(test)]
mod tests {
    use super::Ewma;

    #[test]
    fn the_ewma_starts_at_the_first_sample_and_moves_an_eighth_of_the_way() {
        let mut e = Ewma::default();
        assert_eq!(e.get(), None);
        e.add(800);
        assert_eq!(e.get(), Some(800));
        e.add(0);
        assert_eq!(e.get(), Some(700));
        e.add(1_500);
        assert_eq!(e.get(), Some(800));
        e.add(u64::MAX); // clamped, no overflow
        assert!(e.get().unwrap() > 800);
    }
}

impl Ewma {
    #[inline]
    pub fn add(&mut self, sample_ns: u64) {
        self.0 = Some(match self.0 {
            None => sample_ns,
            Some(e) => {
                // i64 and a shift (÷8 rounding toward −∞): no 128-bit division on the poll
                // path. Latencies are far below 2^62 ns.
                let s = sample_ns.min(1 << 62) as i64;
                let e = e as i64;
                (e + ((s - e) >> 3)) as u64
            }
        });
    }

    pub fn get(self) -> Option<u64> {
        self.0
    }
}

/// Counters kept per slot (published in stats).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SlotCounters {
    pub selected: u64,
    pub delivered: u64,
    pub errors: u64,
    pub discarded: u64,
}

pub(crate) struct Slot {
    pub source: Box<dyn TickSource>,
    pub name: Arc<str>,
    pub caps: Capabilities,
    pub breaker: Arc<CircuitBreaker>,
    pub limiter: Option<ProviderHandle>,
    /// Declared staleness bound in ns, if the source declares one.
    pub staleness_ns: Option<u64>,
    /// When the source last produced ticks (or was started / made active).
    pub last_data_ns: u64,
    /// When the source last failed (error, disconnect, stale, breaker).
    pub failed_at: Option<u64>,
    /// Returned a non-retryable error: never polled again.
    pub dead: bool,
    /// Returned `Ended`: never polled again.
    pub ended: bool,
    /// The last error it returned (start or poll), for "all sources failed".
    pub last_error: Option<SourceError>,
    /// `Arbitrate`: a member of the hot set.
    pub in_service: bool,
    pub started: bool,
    /// The router poll (count) in which it was last probed for activation.
    pub probed_in_poll: u64,
    /// `seq` of the newest tick polled from it.
    pub last_seq: Option<u32>,
    pub latency: Ewma,
    pub counters: SlotCounters,
}

pub(crate) fn make_breaker(
    name: &Arc<str>,
    cfg: &RouterConfig,
    clock: &SharedClock,
) -> Result<Arc<CircuitBreaker>, ConfigError> {
    CircuitBreaker::builder(cfg.breaker_threshold, cfg.breaker_timeout)
        .name(name.clone())
        .clock(clock.clone())
        .build()
        .map(Arc::new)
        .map_err(|e| ConfigError::new("router.breaker_threshold", e.reason))
}

fn reason_of(e: &SourceError) -> SwitchReason {
    match e {
        SourceError::Disconnected { .. } => SwitchReason::Disconnected,
        _ => SwitchReason::Error,
    }
}

impl Slot {
    pub fn new(
        source: Box<dyn TickSource>,
        cfg: &RouterConfig,
        clock: &SharedClock,
    ) -> Result<Slot, ConfigError> {
        let name: Arc<str> = Arc::from(source.name());
        let caps = source.capabilities();
        Ok(Slot {
            breaker: make_breaker(&name, cfg, clock)?,
            staleness_ns: caps.staleness_bound.map(duration_ns),
            name,
            caps,
            source,
            limiter: None,
            last_data_ns: 0,
            failed_at: None,
            dead: false,
            ended: false,
            last_error: None,
            in_service: true,
            started: false,
            probed_in_poll: u64::MAX,
            last_seq: None,
            latency: Ewma::default(),
            counters: SlotCounters::default(),
        })
    }

    /// Start the source (once). A failure counts against the breaker like a poll error.
    pub fn start(&mut self, now_ns: u64) -> Result<(), SwitchReason> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.last_data_ns = now_ns;
        self.source.start(now_ns).map_err(|e| self.fail(now_ns, &e))
    }

    fn fail(&mut self, now_ns: u64, e: &SourceError) -> SwitchReason {
        self.counters.errors += 1;
        self.failed_at = Some(now_ns);
        if !e.is_retryable() {
            self.dead = true;
        }
        // Kept for the report when every source has failed; errors are rare (not per tick).
        self.last_error = Some(e.clone());
        reason_of(e)
    }

    /// Not dead, not ended, breaker not OPEN, and (if `respect_hold`) out of its hold-down.
    pub fn usable(&self, now_ns: u64, hold_down_ns: u64, respect_hold: bool) -> bool {
        let out = self.dead
            || self.ended
            || self.breaker.state_at(now_ns) == BreakerState::Open
            || (respect_hold && self.held(now_ns, hold_down_ns));
        !out
    }

    /// Failed less than `hold_down_ns` ago.
    pub fn held(&self, now_ns: u64, hold_down_ns: u64) -> bool {
        self.failed_at
            .is_some_and(|t| now_ns.saturating_sub(t) < hold_down_ns)
    }

    /// No data for its staleness bound (its own, or `default_ns`).
    #[inline]
    pub fn stale(&self, now_ns: u64, default_ns: u64) -> bool {
        now_ns.saturating_sub(self.last_data_ns) >= self.staleness_ns.unwrap_or(default_ns)
    }

    /// Mark it stale: a failure for the breaker and the hold-down.
    pub fn mark_stale(&mut self, now_ns: u64) {
        self.breaker.record_failure_at(now_ns);
        self.failed_at = Some(now_ns);
    }

    /// Poll through the rate coordinator (if any) and the breaker into `out`.
    #[inline]
    pub fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> SlotPoll {
        if self.dead || self.ended {
            return SlotPoll::Failed(if self.ended {
                SwitchReason::Ended
            } else {
                SwitchReason::Error
            });
        }
        let e = {
            let Slot {
                breaker,
                source,
                limiter,
                ..
            } = self;
            // The coordinator's permit (request-based sources) and the router's own breaker permit
            // both resolve with the poll: ticks are a success, an error a failure, and a quiet or
            // ended source releases them (dropped), so a HALF_OPEN probe never stays out.
            let coordinated = match limiter {
                None => None,
                Some(h) => match h.try_request_permit_at(now_ns, Request::cost(1)) {
                    Ok(permit) => Some(permit),
                    Err(CoordinatorError::CircuitOpen(_)) => {
                        return SlotPoll::Failed(SwitchReason::BreakerOpen)
                    }
                    Err(e) if e.is_retryable() => return SlotPoll::NotNow,
                    Err(e) => {
                        self.dead = true;
                        self.counters.errors += 1;
                        self.last_error = Some(SourceError::Failed {
                            source_name: self.name.to_string(),
                            reason: e.to_string(),
                        });
                        return SlotPoll::Failed(SwitchReason::Error);
                    }
                },
            };
            let Ok(permit) = breaker.allow_at(now_ns) else {
                return SlotPoll::Failed(SwitchReason::BreakerOpen);
            };
            match source.poll(now_ns, out) {
                Ok(SourcePoll::Ready(n)) if n > 0 => {
                    permit.success();
                    if let Some(p) = coordinated {
                        p.success();
                    }
                    let n = n.min(out.len());
                    let last = &out[n - 1];
                    self.latency.add(last.ts_recv.saturating_sub(last.ts_event));
                    self.last_seq = Some(last.seq);
                    self.last_data_ns = now_ns;
                    return SlotPoll::Data(n);
                }
                Ok(SourcePoll::Ready(_)) | Ok(SourcePoll::Pending) => {
                    // Inconclusive: dropping the permits frees their probe slots.
                    drop((permit, coordinated));
                    return SlotPoll::Quiet;
                }
                Ok(SourcePoll::Ended) => {
                    drop((permit, coordinated));
                    self.ended = true;
                    return SlotPoll::Failed(SwitchReason::Ended);
                }
                Err(e) => {
                    permit.failure_at(now_ns);
                    if let Some(p) = coordinated {
                        p.failure_at(now_ns);
                    }
                    e
                }
            }
        };
        SlotPoll::Failed(self.fail(now_ns, &e))
    }
}

impl Slot {
    /// Take the rate-coordinator handle of a request-based source (others are not limited).
    pub fn attach(
        &mut self,
        coordinator: &crate::flow::RateCoordinator,
        field: &str,
    ) -> Result<(), ConfigError> {
        if !self.caps.request_based {
            return Ok(());
        }
        let h = coordinator.handle(&self.name).map_err(|e| {
            ConfigError::new(
                field,
                format!("request-based source {:?}: {e}", &*self.name),
            )
        })?;
        self.limiter = Some(h);
        Ok(())
    }
}
