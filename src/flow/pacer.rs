//! `Pacer`: the token bucket sources pace themselves with.

use crate::error::ConfigError;

const NANOS: u128 = 1_000_000_000;

/// A token bucket owned by one thread: `rate` tokens per second, at most `burst` stored.
///
/// Exact integer arithmetic: tokens are kept in units of 1e-9 token.
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
    burst: u64,
    /// Stored tokens × 1e9.
    tokens_n: u128,
    last_ns: u64,
}

impl Pacer {
    /// `rate` tokens/s, `burst` capacity. The bucket starts full. Zero rate or burst is an error.
    pub fn new(rate: u64, burst: u64) -> Result<Pacer, ConfigError> {
        if rate == 0 {
            return Err(ConfigError::new("pacer.rate", "must be greater than 0"));
        }
        if burst == 0 {
            return Err(ConfigError::new("pacer.burst", "must be greater than 0"));
        }
        Ok(Pacer {
            rate,
            burst,
            tokens_n: burst as u128 * NANOS,
            last_ns: 0,
        })
    }

    /// Tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Capacity.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let add = (now_ns - self.last_ns) as u128 * self.rate as u128;
            self.tokens_n = (self.tokens_n + add).min(self.burst as u128 * NANOS);
            self.last_ns = now_ns;
        }
    }

    /// Take as many of `n` tokens as are available at `now_ns`; returns how many were taken.
    #[inline]
    pub fn take_up_to(&mut self, now_ns: u64, n: u64) -> u64 {
        self.refill(now_ns);
        let have = (self.tokens_n / NANOS) as u64;
        let take = have.min(n);
        self.tokens_n -= take as u128 * NANOS;
        take
    }

    /// When the next whole token is available (`now_ns` if one is).
    pub fn next_ready_ns(&mut self, now_ns: u64) -> u64 {
        self.refill(now_ns);
        if self.tokens_n >= NANOS {
            return now_ns;
        }
        let missing = NANOS - self.tokens_n;
        let wait = missing.div_ceil(self.rate as u128);
        now_ns.saturating_add(wait.min(u64::MAX as u128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_or_burst_is_a_config_error() {
        assert_eq!(Pacer::new(0, 1).unwrap_err().field, "pacer.rate");
        assert_eq!(Pacer::new(1, 0).unwrap_err().field, "pacer.burst");
    }

    #[test]
    fn admitted_never_exceeds_burst_plus_rate_times_t() {
        let mut p = Pacer::new(333, 7).unwrap();
        let mut admitted = 0u64;
        for step in 0..10_000u64 {
            let now = step * 123_457;
            admitted += p.take_up_to(now, 5);
            assert!(admitted as u128 <= 7 + (now as u128 * 333) / NANOS);
        }
        // Busy callers get (almost) the whole rate.
        let t = 9_999u128 * 123_457;
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
}
