//! `ProviderLimits`: the seed's `register_provider` parameters, plus windows, reserve and
//! probes; validated into the parts a provider is built from.

use std::time::Duration;

use crate::clock::Seconds;
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
    /// Cooldown (seconds, fractions allowed) that `trigger_cooldown(provider, scope)` applies.
    pub cooldown_sec: f64,
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
            cooldown_sec: 600.0,
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
    /// The defaults (as [`Default`]); change the seed's keyword arguments with the setters of
    /// the same names, which take whole or fractional seconds alike:
    ///
    /// ```
    /// use market_data_pipeline::flow::ProviderLimits;
    /// let limits = ProviderLimits::new()
    ///     .capacity(60)        // Burst capacity
    ///     .refill_rate(60)     // Tokens/sec
    ///     .cooldown_sec(600)   // 10min cooldown on errors
    ///     .breaker_threshold(5)
    ///     .breaker_timeout(60.0);
    /// assert_eq!(limits, ProviderLimits::default());
    /// assert_eq!(ProviderLimits::new().cooldown_sec(0.5).cooldown_sec, 0.5);
    /// ```
    pub fn new() -> ProviderLimits {
        ProviderLimits::default()
    }

    /// Set the burst capacity (tokens).
    pub fn capacity(mut self, tokens: u64) -> ProviderLimits {
        self.capacity = tokens;
        self
    }

    /// Set the refill rate (tokens per second).
    pub fn refill_rate(mut self, per_sec: u64) -> ProviderLimits {
        self.refill_rate = per_sec;
        self
    }

    /// Set the cooldown, in seconds (`600`, `0.5`).
    pub fn cooldown_sec(mut self, seconds: impl Into<f64>) -> ProviderLimits {
        self.cooldown_sec = seconds.into();
        self
    }

    /// Set the consecutive failures that open the breaker.
    pub fn breaker_threshold(mut self, failures: u32) -> ProviderLimits {
        self.breaker_threshold = failures;
        self
    }

    /// Set how long the breaker stays open, in seconds (`60`, `60.0`, `0.25`).
    pub fn breaker_timeout(mut self, seconds: impl Into<f64>) -> ProviderLimits {
        self.breaker_timeout = seconds.into();
        self
    }

    /// Check every field; errors name `providers.<provider>.<field>`.
    ///
    /// # Errors
    /// [`ConfigError`] for a zero capacity or rate, a breaker timeout or cooldown that is not
    /// a finite non-negative number of seconds, a reserve outside `[0, 1)`, or a zero threshold/probe count.
    pub fn validate(&self, provider: &str) -> Result<(), ConfigError> {
        self.check(provider).map(|_| ())
    }

    pub(crate) fn check(&self, provider: &str) -> Result<Checked, ConfigError> {
        let at = |field: &str| format!("providers.{provider}.{field}");
        let main = BucketLimits::new(self.capacity, self.refill_rate)
            .map_err(|e| ConfigError::new(at(&e.field), e.reason))?;
        let seconds = |field: &str, v: f64| {
            v.into_duration()
                .map_err(|reason| ConfigError::new(at(field), reason))
        };
        let breaker_timeout = seconds("breaker_timeout", self.breaker_timeout)?;
        let cooldown = seconds("cooldown_sec", self.cooldown_sec)?;
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
            cooldown,
        })
    }

    /// Tokens of a window of `capacity` kept for high priority.
    pub(crate) fn reserve_of(&self, capacity: u64) -> u64 {
        (capacity as f64 * self.high_priority_reserve).floor() as u64
    }
}
