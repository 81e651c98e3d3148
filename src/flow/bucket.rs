//! `TokenBucket`: the GCRA decision applied to one `AtomicU64` by a compare-and-swap loop.

use std::sync::Mutex;
use std::time::Duration;

use crossbeam::utils::CachePadded;

use super::gcra::{self, ns_to_units, units_to_ns_ceil, Decision, Params};
use super::limits::{check_scale, BucketLimits};
use crate::clock::{MonotonicClock, SharedClock};
use crate::error::{ConfigError, PacingError};
use crate::idle::{IdleStrategy, Idler};
use crate::sync::{AtomicU64, Ordering};

/// A lock-free token bucket: `capacity` tokens, refilled at `refill_rate` per second, shared by
/// any number of threads.
///
/// Guarantee: between any two instants `t` apart, the bucket admits at most
/// `capacity + ⌊rate·t⌋` tokens in total, whatever the contention. A request for more than the
/// capacity is refused at once ([`PacingError::ExceedsCapacity`]); a request that cannot pass
/// *now* says when it can ([`PacingError::RateLimited`]).
///
/// ```
/// use market_data_pipeline::flow::{BucketLimits, TokenBucket};
/// use market_data_pipeline::{ManualClock, PacingError};
/// use std::time::Duration;
///
/// let clock = ManualClock::shared(0);
/// let bucket = TokenBucket::with_clock(BucketLimits::new(2, 10).unwrap(), clock.clone());
/// assert!(bucket.try_acquire(2).is_ok()); // the burst
/// assert_eq!(
///     bucket.try_acquire(1),
///     Err(PacingError::RateLimited { retry_after: Duration::from_millis(100) })
/// );
/// clock.advance(Duration::from_millis(100));
/// assert!(bucket.try_acquire(1).is_ok());
/// assert!(matches!(bucket.try_acquire(3), Err(PacingError::ExceedsCapacity { .. })));
/// ```
#[derive(Debug)]
pub struct TokenBucket {
    /// Theoretical arrival time, in fixed-point units after `origin_ns`: the whole state. On
    /// its own cache line, so that contended CASes on it do not evict the read-mostly limits.
    tat: CachePadded<AtomicU64>,
    /// Effective time units per token (scale applied); 0 while suspended (scale 0).
    interval: AtomicU64,
    /// Effective capacity.
    capacity: AtomicU64,
    /// Limits as configured; held only by writers (live changes), never on the hot path.
    config: Mutex<Config>,
    clock: SharedClock,
    origin_ns: u64,
    idle: IdleStrategy,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    limits: BucketLimits,
    scale: f64,
    /// The parameters the state was last expressed in (kept while suspended).
    last: Params,
}

impl TokenBucket {
    /// A full bucket on the real monotonic clock.
    pub fn new(limits: BucketLimits) -> TokenBucket {
        TokenBucket::with_clock(limits, MonotonicClock::shared())
    }

    /// A full bucket reading time from `clock`.
    pub fn with_clock(limits: BucketLimits, clock: SharedClock) -> TokenBucket {
        let origin = clock.now_ns();
        TokenBucket::with_origin(limits, clock, origin)
    }

    /// A full bucket whose fixed-point time starts at `origin_ns` (readings before it count as
    /// the origin).
    pub(crate) fn with_origin(limits: BucketLimits, clock: SharedClock, origin_ns: u64) -> Self {
        let p = limits.params();
        TokenBucket {
            tat: CachePadded::new(AtomicU64::new(0)),
            interval: AtomicU64::new(p.interval),
            capacity: AtomicU64::new(p.capacity),
            config: Mutex::new(Config {
                limits,
                scale: 1.0,
                last: p,
            }),
            clock,
            origin_ns,
            idle: IdleStrategy::default(),
        }
    }

    /// Use `idle` while [`acquire`](Self::acquire) waits (default: spin → yield → park).
    pub fn with_idle(mut self, idle: IdleStrategy) -> TokenBucket {
        self.idle = idle;
        self
    }

    #[inline]
    fn units(&self, now_ns: u64) -> u64 {
        ns_to_units(now_ns.saturating_sub(self.origin_ns))
    }

    /// The effective parameters, or `None` while suspended.
    #[inline]
    fn params(&self) -> Option<Params> {
        // Relaxed: limits are independent values; a request racing with a live change may be
        // decided against either the old or the new limits (see `set_limits`).
        let interval = self.interval.load(Ordering::Relaxed);
        let capacity = self.capacity.load(Ordering::Relaxed);
        (interval != 0).then_some(Params { interval, capacity })
    }

    /// Take `n` tokens now, or say when to retry.
    ///
    /// # Errors
    /// [`PacingError::RateLimited`] (retry after), [`PacingError::ExceedsCapacity`] (never
    /// possible), [`PacingError::Suspended`] (scale is 0).
    #[inline]
    pub fn try_acquire(&self, n: u64) -> Result<(), PacingError> {
        self.try_acquire_at(self.clock.now_ns(), n)
    }

    /// [`try_acquire`](Self::try_acquire) at a time the caller already read from this bucket's
    /// clock (one reading per chunk).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    #[inline(always)]
    pub fn try_acquire_at(&self, now_ns: u64, n: u64) -> Result<(), PacingError> {
        self.try_acquire_keeping_at(now_ns, n, 0)
    }

    /// Take `n` tokens while leaving `keep` in the bucket (a share reserved for higher
    /// priorities).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire); `ExceedsCapacity` when `n + keep` exceeds the
    /// capacity.
    // Always inlined: a call returning the 24-byte `Result` through memory costs a store and a
    // load on the admission's critical path (measured ~3 ns against governor, whose generic
    // check is inlined into the caller).
    #[inline(always)]
    pub fn try_acquire_keeping_at(
        &self,
        now_ns: u64,
        n: u64,
        keep: u64,
    ) -> Result<(), PacingError> {
        let p = self.params().ok_or(PacingError::Suspended)?;
        if n.saturating_add(keep) > p.capacity {
            return Err(PacingError::ExceedsCapacity {
                requested: n,
                capacity: p.capacity.saturating_sub(keep),
            });
        }
        if n == 0 {
            return Ok(());
        }
        let now = self.units(now_ns);
        // Relaxed throughout: `tat` guards no other memory. Every admission is a successful
        // read-modify-write of this one word, so all of them sit in its single modification
        // order and each sees the effect of the one before: that alone bounds the total.
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            match gcra::decide(tat, now, n, keep, p) {
                Decision::Admit { tat: new } => {
                    match self.tat.compare_exchange_weak(
                        tat,
                        new,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(current) => tat = current,
                    }
                }
                Decision::Refuse { retry_after } => {
                    return Err(PacingError::RateLimited {
                        retry_after: Duration::from_nanos(units_to_ns_ceil(retry_after)),
                    })
                }
            }
        }
    }

    /// Take `n` tokens, waiting with the idle strategy until they are there.
    ///
    /// Waits at most `n / rate` (plus wake-up latency) on a clock that moves.
    ///
    /// # Errors
    /// [`PacingError::ExceedsCapacity`] and [`PacingError::Suspended`], at once.
    pub fn acquire(&self, n: u64) -> Result<(), PacingError> {
        let mut idler = Idler::new(self.idle);
        loop {
            let now = self.clock.now_ns();
            match self.try_acquire_at(now, n) {
                Err(PacingError::RateLimited { retry_after }) => {
                    let until = now.saturating_add(crate::clock::duration_ns(retry_after));
                    while self.clock.now_ns() < until {
                        idler.idle();
                    }
                }
                done => return done,
            }
        }
    }

    /// Take as many of `n` tokens as are there at `now_ns`; returns how many were taken.
    #[inline]
    pub fn take_up_to_at(&self, now_ns: u64, n: u64) -> u64 {
        let Some(p) = self.params() else { return 0 };
        let now = self.units(now_ns);
        // Relaxed: as in `try_acquire_keeping_at`.
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let (new, taken) = gcra::take_up_to(tat, now, n, p);
            if taken == 0 {
                return 0;
            }
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return taken,
                Err(current) => tat = current,
            }
        }
    }

    /// When (on this bucket's clock, in ns) one token is available; `now_ns` if one is, and
    /// `u64::MAX` while suspended.
    pub fn next_ready_at(&self, now_ns: u64) -> u64 {
        let Some(p) = self.params() else {
            return u64::MAX;
        };
        let wait = gcra::wait_for_one(self.tat.load(Ordering::Relaxed), self.units(now_ns), p);
        now_ns.saturating_add(units_to_ns_ceil(wait))
    }

    /// Whole tokens in the bucket at `now_ns` (0 while suspended).
    pub fn available_at(&self, now_ns: u64) -> u64 {
        self.params().map_or(0, |p| {
            gcra::available(self.tat.load(Ordering::Relaxed), self.units(now_ns), p)
        })
    }

    /// Whole tokens in the bucket now.
    pub fn available(&self) -> u64 {
        self.available_at(self.clock.now_ns())
    }

    /// Give back `n` tokens taken earlier (never beyond the capacity).
    #[allow(dead_code)] // the coordinator refunds earlier windows (next commit)
    pub(crate) fn refund(&self, n: u64) {
        let Some(p) = self.params() else { return };
        // Relaxed: as in `try_acquire_keeping_at`.
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                Some(gcra::refund(tat, n, p))
            });
    }

    /// The limits as configured (before scaling).
    pub fn limits(&self) -> BucketLimits {
        self.config().limits
    }

    /// The current scale factor.
    pub fn scale(&self) -> f64 {
        self.config().scale
    }

    /// Capacity in tokens.
    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Relaxed)
    }

    /// The clock this bucket reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn config(&self) -> std::sync::MutexGuard<'_, Config> {
        // A panic while holding it cannot leave `Config` half-written (it is `Copy`).
        self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the limits live. The tokens in the bucket are kept (capped at the new capacity).
    ///
    /// Requests racing with the change may be decided against the old limits.
    pub fn set_limits(&self, limits: BucketLimits) {
        let mut cfg = self.config();
        cfg.limits = limits;
        self.apply(&mut cfg);
    }

    /// Scale the refill rate by `scale` in `[0, 1]` (feedback, backpressure); 0 suspends
    /// admission until the scale is raised. Tokens held are kept.
    ///
    /// # Errors
    /// [`ConfigError`] naming `scale` when it is not a number in `[0, 1]`.
    pub fn set_scale(&self, scale: f64) -> Result<(), ConfigError> {
        let scale = check_scale(scale)?;
        let mut cfg = self.config();
        cfg.scale = scale;
        self.apply(&mut cfg);
        Ok(())
    }

    fn apply(&self, cfg: &mut Config) {
        let now = self.units(self.clock.now_ns());
        match cfg.limits.scaled(cfg.scale) {
            None => self.interval.store(0, Ordering::Relaxed),
            Some(new) => {
                let old = cfg.last;
                cfg.last = new;
                // Relaxed: see `params`.
                self.capacity.store(new.capacity, Ordering::Relaxed);
                self.interval.store(new.interval, Ordering::Relaxed);
                let _ = self
                    .tat
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                        Some(gcra::rebase(tat, now, old, new))
                    });
            }
        }
    }
}

impl Clone for TokenBucket {
    /// A new bucket with the same limits, scale and fill level.
    fn clone(&self) -> TokenBucket {
        let cfg = *self.config();
        TokenBucket {
            tat: CachePadded::new(AtomicU64::new(self.tat.load(Ordering::Relaxed))),
            interval: AtomicU64::new(self.interval.load(Ordering::Relaxed)),
            capacity: AtomicU64::new(self.capacity.load(Ordering::Relaxed)),
            config: Mutex::new(cfg),
            clock: self.clock.clone(),
            origin_ns: self.origin_ns,
            idle: self.idle,
        }
    }
}
