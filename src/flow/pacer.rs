//! `Pacer`: the token bucket sources pace themselves with — a [`TokenBucket`] driven by the
//! caller's timestamps.

use super::bucket::TokenBucket;
use super::limits::BucketLimits;
use crate::clock::MonotonicClock;
use crate::error::ConfigError;

/// A token bucket fed the time by its owner: `rate` tokens per second, at most `burst` stored.
///
/// It is a [`TokenBucket`] whose time origin is 0, so the timestamps passed in are the caller's
/// own clock readings; integer fixed-point arithmetic, never more than `burst + rate·t`.
///
/// ```
/// use market_data_pipeline::flow::Pacer;
/// let mut p = Pacer::new(1_000, 10).unwrap();
/// assert_eq!(p.take_up_to(0, 50), 10); // the burst
/// assert_eq!(p.take_up_to(1_000_000, 50), 1); // 1 ms later: one more token
/// ```
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: u64,
    bucket: TokenBucket,
}

impl Pacer {
    /// `rate` tokens/s, `burst` capacity. The bucket starts full.
    ///
    /// # Errors
    /// [`ConfigError`] naming `pacer.rate` or `pacer.burst` when either is zero (or the rate is
    /// above 6.4·10¹⁰/s).
    pub fn new(rate: u64, burst: u64) -> Result<Pacer, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::new("pacer.burst", "must be greater than 0"));
        }
        let limits = BucketLimits::new(burst, rate)
            .map_err(|e| ConfigError::new(format!("pacer.{}", pacer_field(&e.field)), e.reason))?;
        Ok(Pacer {
            rate,
            bucket: TokenBucket::with_origin(limits, MonotonicClock::shared(), 0),
        })
    }

    /// Tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Capacity.
    pub fn burst(&self) -> u64 {
        self.bucket.capacity()
    }

    /// The underlying bucket.
    pub fn bucket(&self) -> &TokenBucket {
        &self.bucket
    }

    /// Take as many of `n` tokens as are available at `now_ns`; returns how many were taken.
    #[inline]
    pub fn take_up_to(&mut self, now_ns: u64, n: u64) -> u64 {
        self.bucket.take_up_to_at(now_ns, n)
    }

    /// When the next whole token is available (`now_ns` if one is).
    pub fn next_ready_ns(&mut self, now_ns: u64) -> u64 {
        self.bucket.next_ready_at(now_ns)
    }
}

fn pacer_field(field: &str) -> &str {
    match field {
        "capacity" => "burst",
        "refill_rate" => "rate",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NANOS: u128 = 1_000_000_000;

    #[test]
    fn zero_rate_or_burst_is_a_config_error() {
        assert_eq!(Pacer::new(0, 1).unwrap_err().field, "pacer.rate");
        assert_eq!(Pacer::new(1, 0).unwrap_err().field, "pacer.burst");
    }

    #[test]
    fn admitted_never_exceeds_burst_plus_rate_times_t() {
        let mut p = Pacer::new(333, 7).unwrap();
        let mut admitted = 0u64;
        let steps: u64 = if cfg!(miri) { 300 } else { 10_000 };
        for step in 0..steps {
            let now = step * 123_457;
            admitted += p.take_up_to(now, 5);
            assert!(admitted as u128 <= 7 + (now as u128 * 333) / NANOS);
        }
        // Busy callers get (almost) the whole rate.
        let t = (steps as u128 - 1) * 123_457;
        assert!(admitted as u128 + 5 >= 7 + t * 333 / NANOS);
    }

    #[test]
    fn next_ready_is_exact() {
        let mut p = Pacer::new(10, 1).unwrap();
        assert_eq!(p.take_up_to(0, 1), 1);
        assert_eq!(p.next_ready_ns(0), 100_000_000);
        assert_eq!(p.take_up_to(99_999_999, 1), 0);
        assert_eq!(p.take_up_to(100_000_000, 1), 1);
    }

    /// Regression (original 0.8.70): the synthetic source could not exceed ~1,000 ticks/s.
    #[test]
    fn regression_pacing_is_not_capped_near_a_thousand_per_second() {
        let rate = 100_000_000; // 10⁸ ticks/s
        let mut p = Pacer::new(rate, 200_000).unwrap(); // the burst covers one chunk
        let mut sent = 0u64;
        // One simulated second, a chunk every ms, asking for up to 10⁶ per chunk.
        for ms in 0..=1_000u64 {
            sent += p.take_up_to(ms * 1_000_000, 1_000_000);
        }
        assert_eq!(sent, 200_000 + rate);
    }

    #[test]
    fn pacer_keeps_its_accessors() {
        let p = Pacer::new(1_000, 10).unwrap();
        assert_eq!((p.rate(), p.burst()), (1_000, 10));
    }
}
