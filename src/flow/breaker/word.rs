//! The breaker's whole mutable state in one `u64`, and the pure transitions on it.
//!
//! Layout (low to high): state (2 bits), consecutive failures (16), probes in flight (8),
//! probe successes (8), epoch (30). The epoch changes on every transition, so a permit or a
//! compare-and-swap that saw an older epoch cannot act on a newer state (no ABA within 2³⁰
//! transitions).

use super::BreakerState;

const STATE_BITS: u32 = 2;
const FAIL_SHIFT: u32 = STATE_BITS;
const PROBE_SHIFT: u32 = FAIL_SHIFT + 16;
const SUCC_SHIFT: u32 = PROBE_SHIFT + 8;
const EPOCH_SHIFT: u32 = SUCC_SHIFT + 8;
const EPOCH_MASK: u32 = (1 << (64 - EPOCH_SHIFT)) - 1;

/// Whether packed `bits` are CLOSED.
#[inline]
pub(crate) fn is_closed(bits: u64) -> bool {
    bits & 0b11 == 0
}

/// Whether packed `bits` are CLOSED with no failures counted (a success changes nothing).
#[inline]
pub(crate) fn is_clean_closed(bits: u64) -> bool {
    bits & ((1 << PROBE_SHIFT) - 1) == 0
}

/// The unpacked state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub state: BreakerState,
    /// Consecutive failures while CLOSED (saturating).
    pub failures: u16,
    /// Probes admitted and not finished while HALF_OPEN.
    pub probes: u8,
    /// Probe successes while HALF_OPEN.
    pub successes: u8,
    /// Transition count, modulo 2³⁰.
    pub epoch: u32,
}

/// The limits a transition is decided against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    pub threshold: u16,
    pub max_probes: u8,
    pub successes_to_close: u8,
}

impl Rules {
    /// `threshold | max_probes << 16 | successes_to_close << 24`.
    pub(crate) fn pack(self) -> u64 {
        u64::from(self.threshold)
            | u64::from(self.max_probes) << 16
            | u64::from(self.successes_to_close) << 24
    }

    /// The inverse of [`pack`](Self::pack).
    pub(crate) fn unpack(v: u64) -> Rules {
        Rules {
            threshold: v as u16,
            max_probes: (v >> 16) as u8,
            successes_to_close: (v >> 24) as u8,
        }
    }
}

/// What the caller's outcome refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A bare `record_*` call (the seed's API): applies to whatever the state is.
    Bare,
    /// A permit from `allow()` in CLOSED at this epoch.
    Closed(u32),
    /// A probe permit of this HALF_OPEN epoch.
    Probe(u32),
}

impl Word {
    pub(super) const INITIAL: Word = Word {
        state: BreakerState::Closed,
        failures: 0,
        probes: 0,
        successes: 0,
        epoch: 0,
    };

    pub(super) fn pack(self) -> u64 {
        let state = match self.state {
            BreakerState::Closed => 0u64,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        state
            | u64::from(self.failures) << FAIL_SHIFT
            | u64::from(self.probes) << PROBE_SHIFT
            | u64::from(self.successes) << SUCC_SHIFT
            | u64::from(self.epoch & EPOCH_MASK) << EPOCH_SHIFT
    }

    pub(super) fn unpack(bits: u64) -> Word {
        let state = match bits & 0b11 {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        };
        Word {
            state,
            failures: (bits >> FAIL_SHIFT) as u16,
            probes: (bits >> PROBE_SHIFT) as u8,
            successes: (bits >> SUCC_SHIFT) as u8,
            epoch: (bits >> EPOCH_SHIFT) as u32 & EPOCH_MASK,
        }
    }

    /// The next state, with fresh counters and a new epoch.
    pub(super) fn enter(self, state: BreakerState) -> Word {
        Word {
            state,
            failures: 0,
            probes: 0,
            successes: 0,
            epoch: self.epoch.wrapping_add(1) & EPOCH_MASK,
        }
    }

    /// The state as it stands at a moment when the open timeout has (`expired`) or has not
    /// passed: an expired OPEN is HALF_OPEN.
    pub(super) fn view(self, expired: bool) -> Word {
        if self.state == BreakerState::Open && expired {
            self.enter(BreakerState::HalfOpen)
        } else {
            self
        }
    }
}

/// `allow()`: a new word when a probe slot is taken, `Ok(None)` when CLOSED lets the call
/// through untouched, `Err(())` when refused. `w` is already the [`Word::view`].
pub(crate) fn allow(w: Word, r: Rules) -> Result<Option<Word>, ()> {
    match w.state {
        BreakerState::Closed => Ok(None),
        BreakerState::Open => Err(()),
        BreakerState::HalfOpen if w.probes < r.max_probes => Ok(Some(Word {
            probes: w.probes + 1,
            ..w
        })),
        BreakerState::HalfOpen => Err(()),
    }
}

/// A success; `None` when nothing changes.
pub(crate) fn success(w: Word, origin: Origin, r: Rules) -> Option<Word> {
    // Frees the probe's slot (saturating: a bare success with no probe out frees nothing).
    let probe_success = |w: Word| {
        let successes = w.successes.saturating_add(1);
        if successes >= r.successes_to_close {
            w.enter(BreakerState::Closed)
        } else {
            Word {
                successes,
                probes: w.probes.saturating_sub(1),
                ..w
            }
        }
    };
    match (w.state, origin) {
        (BreakerState::Closed, Origin::Bare) if w.failures > 0 => Some(Word { failures: 0, ..w }),
        (BreakerState::Closed, Origin::Closed(e)) if e == w.epoch && w.failures > 0 => {
            Some(Word { failures: 0, ..w })
        }
        // A bare success is the outcome of a detached probe, if one is out.
        (BreakerState::HalfOpen, Origin::Bare) => Some(probe_success(w)),
        (BreakerState::HalfOpen, Origin::Probe(e)) if e == w.epoch => Some(probe_success(w)),
        _ => None,
    }
}

/// A failure; `None` when nothing changes.
pub(crate) fn failure(w: Word, origin: Origin, r: Rules) -> Option<Word> {
    let closed_failure = |w: Word| {
        let failures = w.failures.saturating_add(1);
        if failures >= r.threshold {
            w.enter(BreakerState::Open)
        } else {
            Word { failures, ..w }
        }
    };
    match (w.state, origin) {
        (BreakerState::Closed, Origin::Bare) => Some(closed_failure(w)),
        (BreakerState::Closed, Origin::Closed(e)) if e == w.epoch => Some(closed_failure(w)),
        (BreakerState::HalfOpen, Origin::Bare) => Some(w.enter(BreakerState::Open)),
        (BreakerState::HalfOpen, Origin::Probe(e)) if e == w.epoch => {
            Some(w.enter(BreakerState::Open))
        }
        _ => None,
    }
}

/// A probe permit dropped without an outcome frees its slot.
pub(crate) fn release(w: Word, origin: Origin) -> Option<Word> {
    match (w.state, origin) {
        (BreakerState::HalfOpen, Origin::Probe(e)) if e == w.epoch && w.probes > 0 => Some(Word {
            probes: w.probes - 1,
            ..w
        }),
        _ => None,
    }
}

/// `reset()`: CLOSED with no failures; `None` if it already is.
pub(crate) fn reset(w: Word) -> Option<Word> {
    (w.state != BreakerState::Closed || w.failures != 0).then(|| w.enter(BreakerState::Closed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use BreakerState::*;

    const R: Rules = Rules {
        threshold: 3,
        max_probes: 2,
        successes_to_close: 2,
    };

    #[test]
    fn case_1_pack_round_trips() {
        let w = Word {
            state: HalfOpen,
            failures: u16::MAX,
            probes: 7,
            successes: 255,
            epoch: EPOCH_MASK,
        };
        assert_eq!(Word::unpack(w.pack()), w);
        assert_eq!(Word::unpack(Word::INITIAL.pack()), Word::INITIAL);
        assert!(is_clean_closed(Word::INITIAL.pack()));
        let failing = Word {
            failures: 1,
            ..Word::INITIAL
        };
        assert!(is_closed(failing.pack()) && !is_clean_closed(failing.pack()));
        assert!(!is_closed(w.pack()));
    }

    #[test]
    fn case_2_threshold_consecutive_failures_open() {
        let mut w = Word::INITIAL;
        w = failure(w, Origin::Bare, R).unwrap();
        w = failure(w, Origin::Bare, R).unwrap();
        w = success(w, Origin::Bare, R).unwrap(); // not consecutive any more
        assert_eq!(w.failures, 0);
        for _ in 0..3 {
            w = failure(w, Origin::Bare, R).unwrap();
        }
        assert_eq!((w.state, w.epoch), (Open, 1));
        assert_eq!(failure(w, Origin::Bare, R), None, "OPEN ignores failures");
    }

    #[test]
    fn case_3_half_open_admits_max_probes_then_refuses() {
        let w = Word::INITIAL.enter(Open).view(true);
        assert_eq!(w.state, HalfOpen);
        let w = allow(w, R).unwrap().unwrap();
        let w = allow(w, R).unwrap().unwrap();
        assert_eq!(allow(w, R), Err(()));
        // Releasing a slot lets one more in.
        let w = release(w, Origin::Probe(w.epoch)).unwrap();
        assert!(allow(w, R).is_ok());
    }

    #[test]
    fn case_4_probe_successes_close_and_a_probe_failure_reopens() {
        let w = allow(Word::INITIAL.enter(Open).view(true), R)
            .unwrap()
            .unwrap();
        let e = w.epoch;
        let one = success(w, Origin::Probe(e), R).unwrap();
        assert_eq!((one.state, one.successes, one.probes), (HalfOpen, 1, 0));
        let closed = success(one, Origin::Bare, R).unwrap();
        assert_eq!(closed.state, Closed);
        let reopened = failure(w, Origin::Probe(e), R).unwrap();
        assert_eq!((reopened.state, reopened.epoch), (Open, e + 1));
    }

    #[test]
    fn case_5_stale_permits_do_nothing() {
        let w = Word::INITIAL.enter(Open).view(true); // epoch 2
        assert_eq!(failure(w, Origin::Closed(0), R), None);
        assert_eq!(success(w, Origin::Closed(0), R), None);
        assert_eq!(failure(w, Origin::Probe(1), R), None);
        assert_eq!(release(w, Origin::Probe(1)), None);
    }

    #[test]
    fn case_6_queries_do_not_need_a_transition_and_reset_is_idempotent() {
        let w = Word::INITIAL;
        assert_eq!(w.view(true), w, "only OPEN expires");
        assert_eq!(allow(w, R), Ok(None));
        assert_eq!(reset(w), None);
        let open = Word::INITIAL.enter(Open);
        assert_eq!(reset(open).unwrap().state, Closed);
    }
}
