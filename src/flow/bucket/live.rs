//! The limits a token bucket check reads, and the helpers of a live change: written only while
//! the bucket's state is taken out, so that a check sees one change's values, never a mix.

use crate::sync::{AtomicU64, Ordering};

use crate::flow::gcra::Params;

/// The state while a live change is under way: no check can land on it (an admission never
/// produces `u64::MAX`, see `gcra::clock_units`), and a check or query that reads it does not
/// wait for the change: it is refused with `retry_after` 0 (see
/// [`TokenBucket::set_limits`](super::TokenBucket::set_limits)).
pub(super) const CHANGING: u64 = u64::MAX;

/// The effective limits, as a check needs them. Written only while the state is taken out
/// (`tat` holds [`CHANGING`]), so a reader that loads a settled `tat` with `Acquire` and then
/// these with `Acquire` sees one change's values, never a mix of two; a check whose view raced
/// a later change fails its compare-and-swap (see
/// [`TokenBucket::set_limits`](super::TokenBucket::set_limits)).
#[derive(Debug)]
pub(super) struct Live {
    /// Effective time units per token (scale applied; kept while suspended). At least 1.
    pub(super) interval: AtomicU64,
    /// `capacity × interval`; 0 while suspended (scale 0), so that every request is refused
    /// and the refusal path says why.
    pub(super) tau: AtomicU64,
    /// Capacity in tokens (read on the refusal path and by
    /// [`TokenBucket::capacity`](super::TokenBucket::capacity)).
    pub(super) capacity: AtomicU64,
}

/// One consistent reading of [`Live`].
#[derive(Clone, Copy, Debug)]
pub(super) struct View {
    pub(super) interval: u64,
    pub(super) tau: u64,
    pub(super) capacity: u64,
}

impl View {
    #[inline]
    pub(super) fn params(self) -> Option<Params> {
        (self.tau != 0).then_some(Params {
            interval: self.interval,
            capacity: self.capacity,
        })
    }
}

impl Live {
    pub(super) fn new(p: Params) -> Live {
        Live {
            interval: AtomicU64::new(p.interval),
            tau: AtomicU64::new(p.tau()),
            capacity: AtomicU64::new(p.capacity),
        }
    }

    /// Acquire: pairs with the `Release` stores of a change, so that a check which sees any
    /// value of a change `k` has its compare-and-swap ordered after the state was taken out for
    /// `k` (it then fails: the state is `CHANGING` or re-expressed).
    /// What the fast path needs: the interval and the tolerance (two loads); `Acquire` as in
    /// [`read`](Self::read).
    #[inline(always)]
    pub(super) fn rate(&self) -> (u64, u64) {
        (
            self.interval.load(Ordering::Acquire),
            self.tau.load(Ordering::Acquire),
        )
    }

    #[inline(always)]
    pub(super) fn read(&self) -> View {
        View {
            interval: self.interval.load(Ordering::Acquire),
            tau: self.tau.load(Ordering::Acquire),
            capacity: self.capacity.load(Ordering::Acquire),
        }
    }

    /// Only while `tat` holds [`CHANGING`].
    pub(super) fn write(&self, v: View) {
        self.interval.store(v.interval, Ordering::Release);
        self.capacity.store(v.capacity, Ordering::Release);
        self.tau.store(v.tau, Ordering::Release);
    }
}

/// Another state value meaning (as good as) the same as `tat` at `now`, used when limits that
/// changed would re-express the state as the very value taken out: a check that read that
/// value and the old limits must not land after the change (its compare-and-swap fails only if
/// the value differs). A full bucket has many values (any at or below `now`, which is at
/// least 1). Otherwise the state moves by one unit (1/64 ns) in the direction that keeps the
/// whole tokens held: later, unless that would drop a whole token, then earlier (never beyond
/// the capacity: the state stays at or after `now`; never a whole token more: not with an
/// interval of one unit).
pub(super) fn distinct(tat: u64, now: u64, interval: u64) -> u64 {
    if tat < now {
        now
    } else if tat == now {
        now - 1
    } else if (tat - now) % interval != 0 || interval == 1 {
        tat + 1
    } else {
        tat - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_1_distinct_never_returns_the_value_and_keeps_the_whole_tokens() {
        let (now, interval, tau) = (1_000, 10, 30);
        let held = |tat: u64| (tau - tat.saturating_sub(now).min(tau)) / interval;
        for tat in [0, 990, 999, 1_000, 1_001, 1_010, 1_015, 1_030] {
            let d = distinct(tat, now, interval);
            assert_ne!(d, tat);
            assert_eq!(held(d), held(tat), "tat {tat} → {d}");
            assert!(d <= now + tau, "never beyond empty by more than a unit");
        }
        // An interval of one unit: one unit later (a token fewer), never a token more.
        assert_eq!(distinct(1_005, now, 1), 1_006);
    }
}
