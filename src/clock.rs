//! The one time seam. Everything that needs "now" asks a [`Clock`]; tests use [`ManualClock`].

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, Ordering};

/// A source of monotonic nanoseconds.
///
/// Readings from the same clock never go backwards. Stage loops read it once per chunk, not per
/// tick.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since this clock's epoch.
    fn now_ns(&self) -> u64;
}

/// A clock shared between threads.
pub type SharedClock = Arc<dyn Clock>;

fn process_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The real monotonic clock (`Instant`), counted from one process-wide origin so that readings
/// taken on different threads and by different clocks compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl MonotonicClock {
    /// The clock, as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(MonotonicClock)
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        // Saturates after ~584 years of uptime.
        process_origin().elapsed().as_nanos() as u64
    }
}

/// A clock that moves only when told to. Tests drive breakers, buckets, cooldowns, routers and
/// batch ages with it and never sleep.
///
/// ```
/// use market_data_pipeline::{Clock, ManualClock};
/// use std::time::Duration;
/// let clock = ManualClock::new(0);
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now_ns(), 5_000_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ns`.
    pub fn new(start_ns: u64) -> ManualClock {
        ManualClock {
            now: AtomicU64::new(start_ns),
        }
    }

    /// A new manual clock behind an `Arc` (keep a clone to advance it).
    pub fn shared(start_ns: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock::new(start_ns))
    }

    /// Move forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.advance_ns(ns);
    }

    /// Move forward by `ns` (saturating).
    pub fn advance_ns(&self, ns: u64) {
        // Relaxed: the clock value is the only datum; readers need no other memory ordered by it.
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(ns))
            });
    }

    /// Set the reading; a value earlier than the current one is ignored (monotonic).
    pub fn set_ns(&self, ns: u64) {
        self.now.fetch_max(ns, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

/// A length of time as the seed writes it: a [`Duration`], or a number of seconds — whole or
/// fractional (`60`, `60.0`, `0.25`).
///
/// ```
/// use std::time::Duration;
/// use market_data_pipeline::clock::Seconds;
/// assert_eq!(60.into_duration(), Ok(Duration::from_secs(60)));
/// assert_eq!(0.25.into_duration(), Ok(Duration::from_millis(250)));
/// assert_eq!(Duration::from_secs(1).into_duration(), Ok(Duration::from_secs(1)));
/// assert!((-1.0).into_duration().is_err());
/// assert!(f64::NAN.into_duration().is_err());
/// ```
pub trait Seconds {
    /// The duration.
    ///
    /// # Errors
    /// Why the value is not a non-negative, finite number of seconds.
    fn into_duration(self) -> Result<Duration, String>;
}

impl Seconds for Duration {
    fn into_duration(self) -> Result<Duration, String> {
        Ok(self)
    }
}

impl Seconds for f64 {
    fn into_duration(self) -> Result<Duration, String> {
        Duration::try_from_secs_f64(self)
            .map_err(|_| format!("{self} is not a non-negative number of seconds"))
    }
}

impl Seconds for f32 {
    fn into_duration(self) -> Result<Duration, String> {
        f64::from(self).into_duration()
    }
}

impl Seconds for u64 {
    fn into_duration(self) -> Result<Duration, String> {
        Ok(Duration::from_secs(self))
    }
}

impl Seconds for u32 {
    fn into_duration(self) -> Result<Duration, String> {
        Ok(Duration::from_secs(u64::from(self)))
    }
}

impl Seconds for i32 {
    fn into_duration(self) -> Result<Duration, String> {
        u64::try_from(self)
            .map(Duration::from_secs)
            .map_err(|_| format!("{self} is not a non-negative number of seconds"))
    }
}

/// Nanoseconds in a `Duration`, saturating at `u64::MAX`.
#[inline]
pub fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_monotonic() {
        let c = ManualClock::new(10);
        c.set_ns(5);
        assert_eq!(c.now_ns(), 10);
        c.set_ns(20);
        c.advance_ns(u64::MAX);
        assert_eq!(c.now_ns(), u64::MAX);
    }

    #[test]
    fn monotonic_clocks_share_an_origin() {
        let a = MonotonicClock.now_ns();
        let b = MonotonicClock::shared().now_ns();
        assert!(b >= a);
    }
}
