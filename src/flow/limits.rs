//! `BucketLimits`: a validated capacity and refill rate. An invalid one cannot be built.

use std::num::NonZeroU64;
use std::time::Duration;

use super::gcra::{ns_to_units, Params, MAX_TAU, UNITS_PER_NS};
use crate::clock::duration_ns;
use crate::error::ConfigError;

/// How many tokens a bucket holds and how fast it refills.
///
/// ```
/// use market_data_pipeline::flow::BucketLimits;
/// use std::time::Duration;
/// // 50 messages per second, bursts of 50.
/// let msgs = BucketLimits::new(50, 50).unwrap();
/// assert_eq!(msgs.capacity(), 50);
/// // 60 requests per 10 minutes (Interactive Brokers' historical-data pacing).
/// let reqs = BucketLimits::per_period(60, Duration::from_secs(600)).unwrap();
/// assert!((reqs.rate_per_sec() - 0.1).abs() < 1e-9);
/// // Zero is a configuration error, not a hang.
/// assert_eq!(BucketLimits::new(0, 10).unwrap_err().field, "capacity");
/// assert_eq!(BucketLimits::new(10, 0).unwrap_err().field, "refill_rate");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketLimits {
    capacity: NonZeroU64,
    /// Fixed-point time units per token, ≥ 1.
    interval: NonZeroU64,
}

impl BucketLimits {
    /// `capacity` tokens at most, refilled at `refill_rate` tokens per second.
    ///
    /// # Errors
    /// [`ConfigError`] naming `capacity` or `refill_rate` when either is zero, or when the rate
    /// is above 6.4·10¹⁰/s (below one time unit per token).
    pub fn new(capacity: u64, refill_rate: u64) -> Result<BucketLimits, ConfigError> {
        if refill_rate == 0 {
            return Err(ConfigError::new("refill_rate", "must be greater than 0"));
        }
        let per_sec_units = u128::from(1_000_000_000u64 * UNITS_PER_NS);
        let interval = per_sec_units.div_ceil(u128::from(refill_rate));
        if refill_rate as u128 > per_sec_units {
            return Err(ConfigError::new(
                "refill_rate",
                format!("{refill_rate}/s is above the supported {per_sec_units}/s"),
            ));
        }
        Self::from_interval(capacity, interval as u64)
    }

    /// `capacity` tokens per `period`, refilled evenly (e.g. 60 per 10 minutes).
    ///
    /// # Errors
    /// [`ConfigError`] naming `capacity` or `period` when either is zero or the pair is out of
    /// range.
    pub fn per_period(capacity: u64, period: Duration) -> Result<BucketLimits, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", "must be greater than 0"));
        }
        let units = ns_to_units(duration_ns(period));
        if units == 0 {
            return Err(ConfigError::new("period", "must be greater than 0"));
        }
        let interval = units.div_ceil(capacity);
        Self::from_interval(capacity, interval).map_err(|e| ConfigError::new("period", e.reason))
    }

    fn from_interval(capacity: u64, interval: u64) -> Result<BucketLimits, ConfigError> {
        let Some(capacity) = NonZeroU64::new(capacity) else {
            return Err(ConfigError::new("capacity", "must be greater than 0"));
        };
        let Some(interval) = NonZeroU64::new(interval) else {
            return Err(ConfigError::new("refill_rate", "rate too high"));
        };
        if capacity.get().saturating_mul(interval.get()) > MAX_TAU {
            return Err(ConfigError::new(
                "capacity",
                "capacity / refill_rate is too long a refill (over ~2 years)",
            ));
        }
        Ok(BucketLimits { capacity, interval })
    }

    /// Tokens held when full.
    pub fn capacity(&self) -> u64 {
        self.capacity.get()
    }

    /// Tokens per second (may be fractional, e.g. 0.1 for 60 per 10 minutes).
    pub fn rate_per_sec(&self) -> f64 {
        (1e9 * UNITS_PER_NS as f64) / self.interval.get() as f64
    }

    /// Time between two tokens.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval.get() / UNITS_PER_NS)
    }

    /// The limits with the refill rate multiplied by `scale` (in `[0, 1]`); `None` when the
    /// scale is zero (admission suspended).
    pub(crate) fn scaled(&self, scale: f64) -> Option<Params> {
        if scale <= 0.0 {
            return None;
        }
        let max_interval = MAX_TAU / self.capacity.get();
        let scaled = (self.interval.get() as f64 / scale).ceil();
        let interval = if scaled >= max_interval as f64 {
            max_interval
        } else {
            (scaled as u64).max(self.interval.get())
        };
        Some(Params {
            interval,
            capacity: self.capacity.get(),
        })
    }

    /// The limits at full scale.
    pub(crate) fn params(&self) -> Params {
        Params {
            interval: self.interval.get(),
            capacity: self.capacity.get(),
        }
    }
}

/// Checks a budget scale factor: finite and within `[0, 1]`.
pub(crate) fn check_scale(scale: f64) -> Result<f64, ConfigError> {
    if scale.is_finite() && (0.0..=1.0).contains(&scale) {
        Ok(scale)
    } else {
        Err(ConfigError::new(
            "scale",
            format!("{scale} is not in [0, 1]"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_1_rates_above_a_billion_per_second_keep_sub_ns_resolution() {
        let l = BucketLimits::new(10, 4_000_000_000).unwrap();
        assert_eq!(l.params().interval, 16); // 0.25 ns
        assert!(BucketLimits::new(1, 64_000_000_000).is_ok());
        assert_eq!(
            BucketLimits::new(1, 64_000_000_001).unwrap_err().field,
            "refill_rate"
        );
    }

    #[test]
    fn case_2_intervals_round_up_so_the_rate_is_never_exceeded() {
        let l = BucketLimits::new(1, 3).unwrap();
        assert!(l.rate_per_sec() <= 3.0);
        assert!(l.rate_per_sec() > 2.999_999);
    }

    #[test]
    fn case_3_out_of_range_limits_are_config_errors() {
        assert_eq!(
            BucketLimits::per_period(0, Duration::from_secs(1))
                .unwrap_err()
                .field,
            "capacity"
        );
        assert_eq!(
            BucketLimits::per_period(1, Duration::ZERO)
                .unwrap_err()
                .field,
            "period"
        );
        assert!(BucketLimits::per_period(u64::MAX, Duration::from_secs(1)).is_err());
        assert!(BucketLimits::new(u64::MAX, 1).is_err());
    }

    #[test]
    fn case_4_scale_stretches_the_interval_and_zero_suspends() {
        let l = BucketLimits::new(10, 100).unwrap();
        assert_eq!(l.scaled(1.0), Some(l.params()));
        assert_eq!(l.scaled(0.5).unwrap().interval, 2 * l.params().interval);
        assert_eq!(l.scaled(0.0), None);
        assert!(l.scaled(1e-300).unwrap().tau() <= MAX_TAU);
        assert!(check_scale(1.5).is_err());
        assert!(check_scale(f64::NAN).is_err());
        assert_eq!(check_scale(0.0), Ok(0.0));
    }
}
