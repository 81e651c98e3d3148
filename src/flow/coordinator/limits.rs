//! `ProviderLimits`: the seed's `register_provider` parameters, plus windows, reserve and
//! probes; validated into the parts a provider is built from.

use std::time::Duration;

use crate::error::ConfigError;
use crate::flow::limits::BucketLimits;

/// A provider's budgets, breaker and cooldown settings (the seed's keyword arguments).
///
/// ```
/// use market_data_pipeline::flow::{BucketLimits, ProviderLimits};
/// use std::time::Duration;
/// // Interactive Brokers: 50 messages/s, and 60 historical requests per 10 minutes.
/// let ibkr = ProviderLimits {
///     capacity: 50,
///     refill_rate: 50,
///     windows: vec![BucketLimits::per_period(60, Duration::from_secs(600)).unwrap()],
///     ..Default::default()
/// };
/// assert!(ibkr.validate("ibkr").is_ok());
/// let bad = ProviderLimits { refill_rate: 0, ..Default::default() };
/// assert_eq!(bad.validate("ibkr").unwrap_err().field, "providers.ibkr.refill_rate");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderLimits {
    /// Burst capacity (tokens) of the main window.
    pub capacity: u64,
    /// Tokens per second of the main window.
    pub refill_rate: u64,
    /// Default cooldown (seconds) for `trigger_cooldown_default`.
    pub cooldown_sec: u64,
    /// Consecutive failures that open the breaker.
    pub breaker_threshold: u32,
    /// Seconds the breaker stays open before probing.
    pub breaker_timeout: f64,
    /// Probes a HALF_OPEN breaker admits at once.
    pub half_open_max_probes: u32,
    /// Further windows that must all admit too (e.g. 60 per 10 minutes).
    pub windows: Vec<BucketLimits>,
    /// Share (in `[0, 1)`) of every window kept for [`Priority::High`](super::Priority)
    /// requests.
    pub high_priority_reserve: f64,
}

impl Default for ProviderLimits {
    /// The seed's example: 60 tokens, 60/s, 600 s cooldown, breaker 5 failures / 60 s.
    fn default() -> Self {
        ProviderLimits {
            capacity: 60,
            refill_rate: 60,
            cooldown_sec: 600,
            breaker_threshold: 5,
            breaker_timeout: 60.0,
            half_open_max_probes: 1,
            windows: Vec::new(),
            high_priority_reserve: 0.0,
        }
    }
}

/// Validated limits.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub windows: Vec<BucketLimits>,
    pub breaker_timeout: Duration,
    pub cooldown: Duration,
}

impl ProviderLimits {
    /// Check every field; errors name `providers.<provider>.<field>`.
    ///
    /// # Errors
    /// [`ConfigError`] for a zero capacity or rate, a breaker timeout that is not a finite
    /// non-negative number of seconds, a reserve outside `[0, 1)`, or a zero threshold/probe count.
    pub fn validate(&self, provider: &str) -> Result<(), ConfigError> {
        self.check(provider).map(|_| ())
    }

    pub(crate) fn check(&self, provider: &str) -> Result<Checked, ConfigError> {
        let at = |field: &str| format!("providers.{provider}.{field}");
        let main = BucketLimits::new(self.capacity, self.refill_rate)
            .map_err(|e| ConfigError::new(at(&e.field), e.reason))?;
        let breaker_timeout = Duration::try_from_secs_f64(self.breaker_timeout).map_err(|_| {
            ConfigError::new(
                at("breaker_timeout"),
                format!(
                    "{} is not a non-negative number of seconds",
                    self.breaker_timeout
                ),
            )
        })?;
        if !(0.0..1.0).contains(&self.high_priority_reserve) {
            return Err(ConfigError::new(
                at("high_priority_reserve"),
                format!("{} is not in [0, 1)", self.high_priority_reserve),
            ));
        }
        // The breaker's own ranges, so that a validated change can always be applied live.
        crate::flow::breaker::checked_rules(self.breaker_threshold, self.half_open_max_probes, 1)
            .map_err(|e| {
            let field = if e.field == "threshold" {
                "breaker_threshold"
            } else {
                "half_open_max_probes"
            };
            ConfigError::new(at(field), e.reason)
        })?;
        let mut windows = Vec::with_capacity(1 + self.windows.len());
        windows.push(main);
        windows.extend_from_slice(&self.windows);
        Ok(Checked {
            windows,
            breaker_timeout,
            cooldown: Duration::from_secs(self.cooldown_sec),
        })
    }

    /// Tokens of a window of `capacity` kept for high priority.
    pub(crate) fn reserve_of(&self, capacity: u64) -> u64 {
        (capacity as f64 * self.high_priority_reserve).floor() as u64
    }
}
