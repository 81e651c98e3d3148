//! The pure decision of the generic cell rate algorithm (GCRA), on fixed-point time.
//!
//! The whole state of a bucket is one number, the *theoretical arrival time* `tat`: the instant
//! at which the bucket will be full again. With `interval` time units per token and room for
//! `capacity` tokens (the tolerance `tau = capacity × interval`), the bucket holds
//! `(tau − max(0, tat − now)) / interval` tokens at `now`. Taking `n` tokens moves `tat` to
//! `max(tat, now) + n × interval`, and is allowed while that stays within `now + tau`.
//!
//! Time is counted in [`UNITS_PER_NS`] units per nanosecond so that rates above 10⁹ tokens/s
//! still have an interval of at least one unit. Intervals are rounded *up*, so the bucket never
//! admits more than its nominal rate. Everything here is integer arithmetic that saturates;
//! nothing divides by a value that can be zero.

/// Fixed-point time units per nanosecond (one unit ≈ 15.6 ps).
///
/// A bucket's clock counts up to 3·2⁶² units ≈ 6.8 years after its origin; after that the
/// bucket stops refilling (its clock stands still) instead of wrapping.
pub const UNITS_PER_NS: u64 = 64;

/// The largest burst tolerance (`capacity × interval`) accepted: 2⁶² units ≈ 2.3 years of
/// refill. Keeps every sum in the decision far from `u64::MAX`.
pub(crate) const MAX_TAU: u64 = 1 << 62;

/// The largest clock reading in units: `now + tolerance + n × interval` stays below
/// `u64::MAX` for every admitted request, so an admission can never produce `u64::MAX` (which
/// the bucket reserves for "limits being changed").
const MAX_NOW_NS: u64 = (u64::MAX - MAX_TAU) / UNITS_PER_NS - 1;

/// Nanoseconds as time units, saturating.
#[inline]
pub(crate) fn ns_to_units(ns: u64) -> u64 {
    ns.saturating_mul(UNITS_PER_NS)
}

/// A clock reading (ns after the origin) as units, held at 3·2⁶² units (≈ 6.8 years): one
/// compare, a shift and an add. Plus one unit, so that "now" is never 0 and a full bucket
/// always has a value below it (a live change uses that, see `TokenBucket::set_limits`).
#[inline(always)]
pub(crate) fn clock_units(ns: u64) -> u64 {
    ns.min(MAX_NOW_NS) * UNITS_PER_NS + 1
}

/// Time units as nanoseconds, rounded up (a retry never comes too early).
#[inline]
pub(crate) fn units_to_ns_ceil(units: u64) -> u64 {
    units.div_ceil(UNITS_PER_NS)
}

/// The limits a decision is taken against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Time units per token; at least 1.
    pub interval: u64,
    /// Tokens the bucket holds when full; at least 1.
    pub capacity: u64,
}

impl Params {
    /// The burst tolerance `capacity × interval`.
    #[inline]
    pub(crate) fn tau(self) -> u64 {
        self.capacity.saturating_mul(self.interval)
    }
}

/// What [`decide`] concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; the new theoretical arrival time to store.
    Admit {
        /// New `tat`.
        tat: u64,
    },
    /// Refused; the earliest moment (in units after `now`) at which the same request passes.
    Refuse {
        /// Units to wait.
        retry_after: u64,
    },
}

/// Take `n` tokens at `now` while leaving at least `keep` tokens in the bucket.
///
/// `keep` is the share reserved for higher-priority requests (0 for them). Callers make sure
/// `n + keep ≤ capacity`, so that every refusal has a finite retry time.
#[inline]
pub(crate) fn decide(tat: u64, now: u64, n: u64, keep: u64, p: Params) -> Decision {
    let (new_tat, limit) = demand(tat, now, n, keep, p.interval, p.tau());
    if new_tat <= limit {
        Decision::Admit { tat: new_tat }
    } else {
        Decision::Refuse {
            retry_after: new_tat - limit,
        }
    }
}

/// The new `tat` taking `n` tokens at `now` would give, and the limit it must stay within
/// (admitted iff `new_tat <= limit`; otherwise the request passes `new_tat - limit` units
/// later). The tolerance `tau = capacity × interval` comes precomputed: the bucket keeps it
/// next to the interval, so a check multiplies nothing for `n = 1, keep = 0`.
#[inline(always)]
pub(crate) fn demand(tat: u64, now: u64, n: u64, keep: u64, interval: u64, tau: u64) -> (u64, u64) {
    let new_tat = tat.max(now).saturating_add(n.saturating_mul(interval));
    // (capacity − keep) × interval, saturating at 0 when keep ≥ capacity.
    let tolerance = tau.saturating_sub(keep.saturating_mul(interval));
    (new_tat, now.saturating_add(tolerance))
}

/// Whole tokens available at `now`.
#[inline]
pub(crate) fn available(tat: u64, now: u64, p: Params) -> u64 {
    let debt = tat.saturating_sub(now);
    p.tau().saturating_sub(debt) / p.interval
}

/// Take as many of `n` tokens as are available; returns the new `tat` and how many were taken.
#[inline]
pub(crate) fn take_up_to(tat: u64, now: u64, n: u64, p: Params) -> (u64, u64) {
    let taken = available(tat, now, p).min(n);
    let new_tat = tat
        .max(now)
        .saturating_add(taken.saturating_mul(p.interval));
    (new_tat, taken)
}

/// Units after `now` until one whole token is available (0 if one is).
#[inline]
pub(crate) fn wait_for_one(tat: u64, now: u64, p: Params) -> u64 {
    match decide(tat, now, 1, 0, p) {
        Decision::Admit { .. } => 0,
        Decision::Refuse { retry_after } => retry_after,
    }
}

/// Give back `n` tokens taken earlier (a later window refused). Never fills past capacity:
/// a `tat` in the past already means "full".
#[inline]
#[allow(dead_code)]
pub(crate) fn refund(tat: u64, n: u64, p: Params) -> u64 {
    tat.saturating_sub(n.saturating_mul(p.interval))
}

/// Re-express the state for new limits, keeping the number of tokens in the bucket (capped at
/// the new capacity), including fractions of a token.
#[inline]
pub(crate) fn rebase(tat: u64, now: u64, old: Params, new: Params) -> u64 {
    let debt_old = u128::from(tat.saturating_sub(now));
    let held_old = u128::from(old.tau()).saturating_sub(debt_old); // tokens × old.interval
    let held_new = held_old * u128::from(new.interval) / u128::from(old.interval);
    let debt_new = u128::from(new.tau()).saturating_sub(held_new);
    now.saturating_add(u64::try_from(debt_new).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        interval: 10,
        capacity: 3,
    };

    #[test]
    fn case_1_a_full_bucket_admits_its_capacity_then_refuses() {
        let mut tat = 0;
        for expect in [10, 20, 30] {
            match decide(tat, 0, 1, 0, P) {
                Decision::Admit { tat: t } => tat = t,
                d => panic!("refused: {d:?}"),
            }
            assert_eq!(tat, expect);
        }
        assert_eq!(
            decide(tat, 0, 1, 0, P),
            Decision::Refuse { retry_after: 10 }
        );
    }

    #[test]
    fn case_2_refusal_says_exactly_when_to_retry() {
        // Empty at 0 (tat = 30): two tokens are back at 20.
        assert_eq!(decide(30, 0, 2, 0, P), Decision::Refuse { retry_after: 20 });
        assert_eq!(decide(30, 19, 2, 0, P), Decision::Refuse { retry_after: 1 });
        assert_eq!(decide(30, 20, 2, 0, P), Decision::Admit { tat: 50 });
    }

    #[test]
    fn case_3_keep_reserves_tokens_for_higher_priority() {
        assert_eq!(decide(0, 0, 2, 1, P), Decision::Admit { tat: 20 });
        assert_eq!(decide(20, 0, 1, 1, P), Decision::Refuse { retry_after: 10 });
        assert_eq!(decide(20, 0, 1, 0, P), Decision::Admit { tat: 30 });
    }

    #[test]
    fn case_4_take_up_to_and_available() {
        assert_eq!(available(0, 100, P), 3);
        assert_eq!(take_up_to(0, 100, 5, P), (130, 3));
        assert_eq!(available(130, 100, P), 0);
        assert_eq!(available(130, 109, P), 0);
        assert_eq!(available(130, 110, P), 1);
        assert_eq!(wait_for_one(130, 100, P), 10);
        assert_eq!(wait_for_one(130, 110, P), 0);
    }

    #[test]
    fn case_5_refund_never_overfills() {
        assert_eq!(refund(30, 2, P), 10);
        assert_eq!(refund(5, 2, P), 0);
        assert_eq!(available(refund(130, 10, P), 100, P), 3);
    }

    #[test]
    fn case_6_rebase_keeps_the_tokens_held() {
        let now = 1_000;
        // Two of three tokens held (tat = now + 10).
        let tat = now + 10;
        let wider = Params {
            interval: 5,
            capacity: 6,
        };
        let t2 = rebase(tat, now, P, wider);
        assert_eq!(available(t2, now, wider), 2);
        // Shrinking the capacity below what is held caps it.
        let small = Params {
            interval: 10,
            capacity: 1,
        };
        assert_eq!(available(rebase(tat, now, P, small), now, small), 1);
    }

    #[test]
    fn case_8_demand_matches_the_reference_decision_for_every_keep() {
        for keep in 0..5 {
            for n in 1..5 {
                for tat in [0u64, 990, 1_000, 1_010, 1_030] {
                    // Reference: tokens held, in whole intervals (P's tat moves by 10s).
                    let held = (30 - tat.saturating_sub(1_000).min(30)) / 10;
                    let admit = n + keep <= held;
                    let (new_tat, limit) = demand(tat, 1_000, n, keep, P.interval, P.tau());
                    assert_eq!(new_tat <= limit, admit, "tat {tat} n {n} keep {keep}");
                    let want = if admit {
                        Decision::Admit { tat: new_tat }
                    } else {
                        Decision::Refuse {
                            retry_after: new_tat - limit,
                        }
                    };
                    assert_eq!(decide(tat, 1_000, n, keep, P), want);
                }
            }
        }
    }

    #[test]
    fn case_7_extremes_saturate_instead_of_overflowing() {
        let huge = Params {
            interval: u64::MAX,
            capacity: u64::MAX,
        };
        assert!(matches!(
            decide(u64::MAX, u64::MAX, u64::MAX, 0, huge),
            Decision::Admit { .. } | Decision::Refuse { .. }
        ));
        assert_eq!(ns_to_units(u64::MAX), u64::MAX);
        // The clock stands still before an admission could reach u64::MAX.
        let late = clock_units(u64::MAX);
        assert_eq!(late, clock_units(MAX_NOW_NS));
        assert!(late + MAX_TAU < u64::MAX - UNITS_PER_NS);
        assert_eq!(clock_units(7) - clock_units(0), 7 * UNITS_PER_NS);
        assert_eq!(clock_units(0), 1);
        assert_eq!(units_to_ns_ceil(65), 2);
    }
}
