//! `CircuitBreakerBuilder`: the breaker's optional settings, validated in `build`.

use std::sync::Arc;
use std::time::Duration;

use super::word::Rules;
use super::CircuitBreaker;
use crate::clock::{MonotonicClock, Seconds, SharedClock};
use crate::error::ConfigError;

/// Builds a [`CircuitBreaker`] with more than the seed's two parameters.
///
/// ```
/// use market_data_pipeline::flow::CircuitBreaker;
/// use market_data_pipeline::ManualClock;
/// use std::time::Duration;
/// let breaker = CircuitBreaker::builder(5, Duration::from_secs(60))
///     .name("ibkr")
///     .half_open_max_probes(2)
///     .successes_to_close(3)
///     .clock(ManualClock::shared(0))
///     .build()
///     .unwrap();
/// assert_eq!(breaker.name(), "ibkr");
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerBuilder {
    threshold: u32,
    /// The timeout, or why the value given is not one (reported by `build`).
    timeout: Result<Duration, String>,
    max_probes: u32,
    successes_to_close: u32,
    name: Arc<str>,
    clock: Option<SharedClock>,
}

impl CircuitBreakerBuilder {
    pub(super) fn new(threshold: u32, timeout: impl Seconds) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            threshold,
            timeout: timeout.into_duration(),
            max_probes: 1,
            successes_to_close: 1,
            name: Arc::from("circuit-breaker"),
            clock: None,
        }
    }

    /// The name errors report (e.g. the provider or source).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many probes a HALF_OPEN breaker admits at once (1–255; default 1).
    pub fn half_open_max_probes(mut self, probes: u32) -> Self {
        self.max_probes = probes;
        self
    }

    /// How many probe successes close it (1–255; default 1).
    pub fn successes_to_close(mut self, successes: u32) -> Self {
        self.successes_to_close = successes;
        self
    }

    /// The clock (default: the real monotonic clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The breaker, CLOSED.
    ///
    /// # Errors
    /// [`ConfigError`] naming `threshold` (not in 1–65535), `half_open_max_probes` or
    /// `successes_to_close` (not in 1–255), or `timeout` (not a non-negative number of
    /// seconds).
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let rules = checked_rules(self.threshold, self.max_probes, self.successes_to_close)?;
        let timeout = self
            .timeout
            .map_err(|reason| ConfigError::new("timeout", reason))?;
        let clock = self.clock.unwrap_or_else(MonotonicClock::shared);
        Ok(CircuitBreaker::from_parts(self.name, rules, timeout, clock))
    }
}

/// Rules from their settings, each checked against its range.
pub(crate) fn checked_rules(
    threshold: u32,
    max_probes: u32,
    successes_to_close: u32,
) -> Result<Rules, ConfigError> {
    let range = |field: &str, v: u32, max: u32| {
        if (1..=max).contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError::new(field, format!("{v} is not in 1..={max}")))
        }
    };
    Ok(Rules {
        threshold: range("threshold", threshold, u32::from(u16::MAX))? as u16,
        max_probes: range("half_open_max_probes", max_probes, 255)? as u8,
        successes_to_close: range("successes_to_close", successes_to_close, 255)? as u8,
    })
}
