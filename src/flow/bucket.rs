//! `TokenBucket`: the GCRA decision applied to one `AtomicU64` by a compare-and-swap loop.

use std::sync::Mutex;
use std::time::Duration;

use crossbeam::utils::CachePadded;

use super::gcra::{self, clock_units, units_to_ns_ceil, Params};
use super::limits::{check_scale, BucketLimits};
use crate::clock::{MonotonicClock, SharedClock};
use crate::error::{ConfigError, PacingError};
use crate::idle::{IdleStrategy, Idler};
use crate::sync::{AtomicU64, Ordering};

mod live;
use live::{distinct, Live, View, CHANGING};

/// The refusal of a check that meets a live change under way: not now, ask again at once (see
/// [`TokenBucket::set_limits`]).
const NOT_NOW: PacingError = PacingError::RateLimited {
    retry_after: Duration::ZERO,
};

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
    /// Theoretical arrival time, in fixed-point units after `origin_ns`: the whole state;
    /// [`CHANGING`] while a live change swaps the limits. On its own cache line, so that
    /// contended CASes on it do not evict the read-mostly limits.
    tat: CachePadded<AtomicU64>,
    /// The effective limits a check reads; written only while `tat` holds [`CHANGING`].
    live: Live,
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
            live: Live::new(p),
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

    #[inline(always)]
    fn units(&self, now_ns: u64) -> u64 {
        clock_units(now_ns.saturating_sub(self.origin_ns))
    }

    /// The state, or `None` while a live change has it taken out (never waited for: see
    /// [`set_limits`](Self::set_limits)). `Acquire`: pairs with the change's `Release` store of
    /// the re-expressed state (and the release sequence of the admissions after it), so the
    /// [`Live`] values read next are that change's or a later one's.
    #[inline]
    fn settled_tat(&self) -> Option<u64> {
        let tat = self.tat.load(Ordering::Acquire);
        (tat != CHANGING).then_some(tat)
    }

    /// A consistent (state, limits) pair for a query, or `None` while a change is under way:
    /// the state is read again after the limits and the pair taken again when it moved in
    /// between (an admission or a change landed: another thread made progress, so this is not
    /// a wait).
    fn snapshot(&self) -> Option<(u64, View)> {
        let mut tat = self.settled_tat()?;
        loop {
            let view = self.live.read();
            // Acquire loads above keep this load after them.
            let again = self.tat.load(Ordering::Relaxed);
            if again == tat {
                return Some((tat, view));
            }
            if again == CHANGING {
                return None;
            }
            // Acquire for the limits read next, as in `settled_tat`.
            tat = self.settled_tat()?;
        }
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
    //
    // The fast path is: the state, the interval and the tolerance (three loads, the last two
    // from a read-mostly line, independent of each other), one comparison and one
    // compare-and-swap. Everything else —
    // suspension, a request above the capacity, a change in progress, the retry time — is
    // decided on the refusal path, because each of them refuses: with `tau = 0` (suspended)
    // or `n + keep > capacity` no request fits under the limit, and `CHANGING` = `u64::MAX`
    // is above every limit.
    #[inline(always)]
    pub fn try_acquire_keeping_at(
        &self,
        now_ns: u64,
        n: u64,
        keep: u64,
    ) -> Result<(), PacingError> {
        if n == 0 {
            return self.zero_request(keep);
        }
        let now = self.units(now_ns);
        // Acquire: see `settled_tat`. The compare-and-swap itself may be Relaxed: `tat` guards
        // no other memory, and every admission is a successful read-modify-write of this one
        // word, so all of them sit in its single modification order and each sees the effect
        // of the one before — that alone bounds the total.
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let (interval, tau) = self.live.rate();
            let (new, limit) = gcra::demand(tat, now, n, keep, interval, tau);
            if new <= limit {
                match self
                    .tat
                    .compare_exchange_weak(tat, new, Ordering::Relaxed, Ordering::Acquire)
                {
                    Ok(_) => return Ok(()),
                    Err(current) => tat = current,
                }
            } else {
                tat = self.refusal(tat, tau, n, keep, new - limit)?;
            }
        }
    }

    /// Why a check was refused, as an error; or, when the limits were read across a change,
    /// the state to decide again on. A check that meets a change in progress is refused with
    /// `retry_after` 0 at once (see [`set_limits`](Self::set_limits)).
    #[cold]
    #[inline(never)]
    fn refusal(
        &self,
        tat: u64,
        tau: u64,
        n: u64,
        keep: u64,
        retry_after: u64,
    ) -> Result<u64, PacingError> {
        let capacity = self.live.capacity.load(Ordering::Acquire);
        // The Acquire loads of the limits keep this load after them: if the state is still
        // `tat`, the limits read were the ones it is expressed in.
        let again = self.tat.load(Ordering::Relaxed);
        if tat == CHANGING || again == CHANGING {
            return Err(NOT_NOW);
        }
        if again != tat {
            // Decide again on the newer state: an admission or a whole change landed in
            // between (progress by another thread; the loop is lock-free, not waiting).
            // Acquire, for the limits read next, as in `settled_tat`.
            let Some(settled) = self.settled_tat() else {
                return Err(NOT_NOW);
            };
            return Ok(settled);
        }
        Err(if tau == 0 {
            PacingError::Suspended
        } else if n.saturating_add(keep) > capacity {
            PacingError::ExceedsCapacity {
                requested: n,
                capacity: capacity.saturating_sub(keep),
            }
        } else {
            PacingError::RateLimited {
                retry_after: Duration::from_nanos(units_to_ns_ceil(retry_after)),
            }
        })
    }

    /// A request for no tokens: passes unless suspended or `keep` is above the capacity
    /// (refused with `retry_after` 0 during a change, like any check).
    #[cold]
    #[inline(never)]
    fn zero_request(&self, keep: u64) -> Result<(), PacingError> {
        let Some((_, view)) = self.snapshot() else {
            return Err(NOT_NOW);
        };
        if view.tau == 0 {
            Err(PacingError::Suspended)
        } else if keep > view.capacity {
            Err(PacingError::ExceedsCapacity {
                requested: 0,
                capacity: 0,
            })
        } else {
            Ok(())
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
                    if retry_after.is_zero() {
                        // A live change under way (see `set_limits`): one round, then again.
                        idler.idle();
                        continue;
                    }
                    let until = now.saturating_add(crate::clock::duration_ns(retry_after));
                    while self.clock.now_ns() < until {
                        idler.idle();
                    }
                }
                done => return done,
            }
        }
    }

    /// Take as many of `n` tokens as are there at `now_ns`; returns how many were taken
    /// (none while a live change is under way: it is not waited for).
    #[inline]
    pub fn take_up_to_at(&self, now_ns: u64, n: u64) -> u64 {
        let now = self.units(now_ns);
        let Some(mut tat) = self.settled_tat() else {
            return 0;
        };
        loop {
            let Some(p) = self.live.read().params() else {
                return 0;
            };
            let (new, taken) = gcra::take_up_to(tat, now, n, p);
            if taken == 0 {
                return 0;
            }
            // As in `try_acquire_keeping_at`; a change under way takes nothing.
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::Relaxed, Ordering::Acquire)
            {
                Ok(_) => return taken,
                Err(CHANGING) => return 0,
                Err(current) => tat = current,
            }
        }
    }

    /// When (on this bucket's clock, in ns) one token is available; `now_ns` if one is or a
    /// live change is under way (ask again), and `u64::MAX` while suspended.
    pub fn next_ready_at(&self, now_ns: u64) -> u64 {
        let Some((tat, view)) = self.snapshot() else {
            return now_ns;
        };
        let Some(p) = view.params() else {
            return u64::MAX;
        };
        let wait = gcra::wait_for_one(tat, self.units(now_ns), p);
        now_ns.saturating_add(units_to_ns_ceil(wait))
    }

    /// Whole tokens in the bucket at `now_ns` (0 while suspended, and while a live change is
    /// under way: it is not waited for).
    pub fn available_at(&self, now_ns: u64) -> u64 {
        let Some((tat, view)) = self.snapshot() else {
            return 0;
        };
        view.params()
            .map_or(0, |p| gcra::available(tat, self.units(now_ns), p))
    }

    /// Whole tokens in the bucket now.
    pub fn available(&self) -> u64 {
        self.available_at(self.clock.now_ns())
    }

    /// Give back `n` tokens taken earlier (never beyond the capacity). A refund that meets a
    /// live change under way is not made (it is not waited for): the tokens stay spent, which
    /// admits less, never more.
    pub fn refund(&self, n: u64) {
        let Some(mut tat) = self.settled_tat() else {
            return;
        };
        loop {
            let Some(p) = self.live.read().params() else {
                return;
            };
            let new = gcra::refund(tat, n, p);
            // As in `take_up_to_at`.
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::Relaxed, Ordering::Acquire)
            {
                Ok(_) | Err(CHANGING) => return,
                Err(current) => tat = current,
            }
        }
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
        self.live.capacity.load(Ordering::Relaxed)
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
    /// The change is atomic with respect to checks: it takes the state out, installs the new
    /// limits, and puts the state back re-expressed in them. So every admission is decided against the limits in force
    /// where its compare-and-swap lands in the state's single modification order, on the
    /// state expressed in those limits — never against a mix of two changes. In any interval
    /// `t` long, the bucket then admits at most the tokens it held at the start plus the
    /// refill at the rates in force, which is at most `max capacity + ⌊max rate · t⌋` over the
    /// limits in force during the interval.
    ///
    /// One case is outside this: a check that read the state before a change and whose
    /// compare-and-swap lands after it succeeds only if the state word holds the *same*
    /// 64-bit value again. A change of the limits never puts that value back (a full bucket
    /// gets another value that also means full; otherwise the state moves by one unit,
    /// 1/64 ns, keeping the whole tokens); only later admissions and refunds landing on it to
    /// the unit could. (Suspending, and changes to equal limits, keep the value and its
    /// meaning: a check landing after them is as if it had landed before.) That one check is
    /// then decided against the limits before the change: at most its `n` tokens, once per
    /// check that overlaps a change.
    ///
    /// # Checks never wait for a change
    ///
    /// While the state is taken out (a few stores on the changing thread, or longer if that
    /// thread is descheduled in between), a check does not wait for it: it is refused with
    /// [`PacingError::RateLimited`] and `retry_after` zero — "not now, ask again at once". The
    /// state it would need is not there, and refusing admits less, never more, so the bound
    /// holds. Likewise [`take_up_to_at`](Self::take_up_to_at) takes nothing,
    /// [`available_at`](Self::available_at) says 0, [`next_ready_at`](Self::next_ready_at) says
    /// now, and a refund is not made (the tokens stay spent).
    /// [`acquire`](Self::acquire) idles one round and asks again.
    pub fn set_limits(&self, limits: BucketLimits) {
        let mut cfg = self.config();
        cfg.limits = limits;
        self.apply(&mut cfg);
    }

    /// Scale the refill rate by `scale` in `[0, 1]` (feedback, backpressure); 0 suspends
    /// admission until the scale is raised. Tokens held are kept. The change is atomic with
    /// respect to checks, as in [`set_limits`](Self::set_limits).
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

    /// Installs `cfg`'s effective limits. Called with the config lock held, so changes do not
    /// race each other; nothing between taking the state out and putting it back can panic.
    fn apply(&self, cfg: &mut Config) {
        let now = self.units(self.clock.now_ns());
        let next = cfg.limits.scaled(cfg.scale);
        let old = cfg.last;
        // Acquire: the stores below stay after the state is taken out. Checks that land before
        // this are re-expressed with it; later ones fail against `CHANGING`.
        let tat = self.tat.swap(CHANGING, Ordering::Acquire);
        debug_assert_ne!(tat, CHANGING, "changes are serialized by the config lock");
        let (view, put_back) = match next {
            // Suspended: the state stays expressed in the last limits (the same value, the
            // same meaning: a check landing after this is as if it had landed before).
            None => (
                View {
                    interval: old.interval,
                    tau: 0,
                    capacity: old.capacity,
                },
                tat,
            ),
            Some(new) => {
                cfg.last = new;
                let view = View {
                    interval: new.interval,
                    tau: new.tau(),
                    capacity: new.capacity,
                };
                let put_back = gcra::rebase(tat, now, old, new);
                if put_back == tat && new != old {
                    (view, distinct(tat, now, new.interval))
                } else {
                    (view, put_back)
                }
            }
        };
        self.live.write(view);
        // Release: a check that reads the state put back sees the limits above.
        self.tat.store(put_back, Ordering::Release);
    }
}

impl Clone for TokenBucket {
    /// A new bucket with the same limits, scale and fill level.
    fn clone(&self) -> TokenBucket {
        let guard = self.config();
        let cfg = *guard;
        // No change runs while the config lock is held (changes hold it), so the state is
        // settled; the fallback (a full bucket in the last limits) is never taken.
        let (tat, view) = self.snapshot().unwrap_or((
            0,
            View {
                interval: cfg.last.interval,
                tau: cfg.last.tau(),
                capacity: cfg.last.capacity,
            },
        ));
        drop(guard);
        TokenBucket {
            tat: CachePadded::new(AtomicU64::new(tat)),
            live: Live {
                interval: AtomicU64::new(view.interval),
                tau: AtomicU64::new(view.tau),
                capacity: AtomicU64::new(view.capacity),
            },
            config: Mutex::new(cfg),
            clock: self.clock.clone(),
            origin_ns: self.origin_ns,
            idle: self.idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a check that met a live change under way used to spin until the changing
    /// thread put the state back. Here the change never finishes (the state is left taken
    /// out, as by a changing thread descheduled mid-change): every check and query must still
    /// answer at once, on this one thread. (The old code never returned from the first call.)
    #[test]
    fn a_check_that_meets_a_change_under_way_is_refused_at_once_instead_of_waiting() {
        let clock = crate::ManualClock::shared(1_000);
        let b = TokenBucket::with_clock(BucketLimits::new(4, 1).unwrap(), clock);
        let settled = b.tat.swap(CHANGING, Ordering::AcqRel);
        let not_now = Err(NOT_NOW);
        // (case, outcome)
        let cases = [
            (1, b.try_acquire_at(1_000, 1)),
            (2, b.try_acquire(1)),
            (3, b.try_acquire_keeping_at(1_000, 1, 2)),
            (4, b.try_acquire_at(1_000, 0)),
            (5, b.try_acquire_keeping_at(1_000, 0, 1)),
        ];
        for (case, outcome) in cases {
            assert_eq!(outcome, not_now, "case {case}");
        }
        assert_eq!(b.take_up_to_at(1_000, 3), 0);
        assert_eq!(b.available_at(1_000), 0);
        assert_eq!(b.next_ready_at(1_000), 1_000, "ask again now");
        b.refund(1);
        assert_eq!(
            b.tat.load(Ordering::Relaxed),
            CHANGING,
            "nothing landed on it"
        );
        // The change puts the state back: the bucket is whole again.
        b.tat.store(settled, Ordering::Release);
        assert_eq!(b.available_at(1_000), 4);
        assert_eq!(b.try_acquire_at(1_000, 4), Ok(()));
    }

    #[test]
    fn case_2_a_change_at_a_full_bucket_at_its_origin_moves_the_state_and_keeps_it_full() {
        let clock = crate::ManualClock::shared(0);
        let b = TokenBucket::with_clock(BucketLimits::new(2, 1).unwrap(), clock);
        let before = b.tat.load(Ordering::Relaxed);
        b.set_limits(BucketLimits::new(2, 1_000).unwrap());
        assert_ne!(b.tat.load(Ordering::Relaxed), before);
        assert_eq!(b.available_at(0), 2);
        // Suspending keeps the value (and its meaning).
        let kept = b.tat.load(Ordering::Relaxed);
        b.set_scale(0.0).unwrap();
        assert_eq!(b.tat.load(Ordering::Relaxed), kept);
    }
}
