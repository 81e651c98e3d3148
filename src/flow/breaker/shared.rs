//! `SharedBreaker`: the seam through which a breaker's trips and HALF_OPEN probes can be shared
//! with other processes (several hosts of one provider account, e.g. through Redis in the
//! `mdp-redis` workspace crate). The core knows only this trait; it has no such backend itself.
//!
//! A breaker with a shared side attached ([`CircuitBreaker::attach_shared`]) still decides
//! everything locally, in its atomic word; the shared side only hears of its transitions and
//! has a say in one place:
//! - the CLOSED path never calls it (admission stays two loads and no store);
//! - when the breaker opens here (a trip, or a probe's failure) it is told
//!   ([`SharedBreaker::opened`]), and when it closes here ([`SharedBreaker::closed`]);
//! - in HALF_OPEN, a probe slot taken locally is kept only if [`SharedBreaker::try_probe`]
//!   grants one of the slots shared by every host (it must answer at once: a backend that has
//!   to ask elsewhere says "not now" and asks in the background); a probe slot given back
//!   without a transition is reported ([`SharedBreaker::probe_released`]);
//! - the transitions another host made are applied with [`CircuitBreaker::apply_open`] and
//!   [`CircuitBreaker::apply_close`], which do not call the shared side back.
//!
//! [`CircuitBreaker::attach_shared`]: super::CircuitBreaker::attach_shared
//! [`CircuitBreaker::apply_open`]: super::CircuitBreaker::apply_open
//! [`CircuitBreaker::apply_close`]: super::CircuitBreaker::apply_close

use std::fmt::Debug;
use std::time::Duration;

/// A breaker's trips and probes shared with other processes. Every method is called on a
/// breaker's slow path (a transition, or a HALF_OPEN admission) and must not block: no round
/// trip on the caller's thread.
pub trait SharedBreaker: Send + Sync + Debug {
    /// HALF_OPEN here and a local probe slot is free: may this process send a probe now?
    /// `true` hands one of the shared probe slots to the caller (resolved later by
    /// [`probe_released`](Self::probe_released), [`opened`](Self::opened) or
    /// [`closed`](Self::closed)); `false` refuses the call for now.
    fn try_probe(&self) -> bool;

    /// A probe granted by [`try_probe`](Self::try_probe) ended without closing or re-opening
    /// the breaker (abandoned, or one success of several needed to close).
    fn probe_released(&self);

    /// The breaker opened here (a trip, or a probe failed) for `open_for`; share it.
    fn opened(&self, open_for: Duration);

    /// The breaker closed here (its probes succeeded, or a reset); share it.
    fn closed(&self);

    /// What the shared side reports in the provider's snapshot.
    fn status(&self) -> SharedBreakerStatus;
}

/// A shared breaker's part of a provider snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedBreakerStatus {
    /// The backend is unreachable: the breaker acts on local outcomes only (its own probes).
    pub degraded: bool,
    /// Shared probe slots this process holds.
    pub probes_held: u32,
    /// Transitions received from other processes and applied here.
    pub applied: u64,
}

#[cfg(test)]
mod tests {
    use crate::sync::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{SharedBreaker, SharedBreakerStatus};
    use crate::flow::{BreakerState, CircuitBreaker};
    use crate::ManualClock;

    /// Shared slots in a counter; every call recorded.
    #[derive(Debug, Default)]
    struct Fake {
        free: AtomicU32,
        calls: Mutex<Vec<String>>,
    }

    impl Fake {
        fn log(&self, s: &str) {
            self.calls.lock().unwrap().push(s.to_string());
        }
        fn take_calls(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    impl SharedBreaker for Fake {
        fn try_probe(&self) -> bool {
            let ok = self
                .free
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
            self.log(if ok { "granted" } else { "refused" });
            ok
        }
        fn probe_released(&self) {
            self.free.fetch_add(1, Ordering::Relaxed);
            self.log("released");
        }
        fn opened(&self, open_for: Duration) {
            self.log(&format!("opened {}", open_for.as_secs()));
        }
        fn closed(&self) {
            self.log("closed");
        }
        fn status(&self) -> SharedBreakerStatus {
            SharedBreakerStatus::default()
        }
    }

    fn breaker(probes: u32) -> (CircuitBreaker, Arc<ManualClock>, Arc<Fake>) {
        let clock = ManualClock::shared(0);
        let b = CircuitBreaker::builder(1, Duration::from_secs(10))
            .half_open_max_probes(probes)
            .successes_to_close(2)
            .clock(clock.clone())
            .build()
            .unwrap();
        let fake = Arc::new(Fake::default());
        b.attach_shared(fake.clone()).unwrap();
        assert!(b.attach_shared(fake.clone()).is_err(), "attached once");
        (b, clock, fake)
    }

    #[test]
    fn local_transitions_are_told_and_probes_need_a_shared_slot() {
        let (b, clock, fake) = breaker(3);
        b.allow().unwrap().success(); // the closed path: not told
        assert!(fake.take_calls().is_empty());
        b.allow().unwrap().failure();
        assert_eq!(fake.take_calls(), ["opened 10"]);
        clock.advance(Duration::from_secs(10));
        // Three local slots, one shared slot: one probe, the next refused and its local
        // slot given back (not reported as a release).
        fake.free.store(1, Ordering::Relaxed);
        let p = b.allow().unwrap();
        assert!(p.is_probe());
        assert!(b.allow().is_err());
        assert_eq!(b.stats().probes_in_flight, 1);
        assert_eq!(fake.take_calls(), ["granted", "refused"]);
        // One success of two: the slot goes back.
        p.success();
        assert_eq!(fake.take_calls(), ["released"]);
        let p = b.allow().unwrap();
        drop(p); // abandoned: released
        assert_eq!(fake.take_calls(), ["granted", "released"]);
        let p = b.allow().unwrap();
        p.failure(); // re-opens
        assert_eq!(fake.take_calls(), ["granted", "opened 10"]);
        b.reset();
        assert_eq!(fake.take_calls(), ["closed"]);
    }

    #[test]
    fn remote_transitions_are_applied_and_not_told_back() {
        let (b, clock, fake) = breaker(1);
        b.apply_open(Duration::from_secs(3));
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_err());
        // Never shortened: a shorter remote trip keeps the 3 s.
        b.apply_open(Duration::from_secs(1));
        clock.advance(Duration::from_secs(2));
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Another host's later trip re-opens a breaker whose period had run out.
        b.apply_open(Duration::from_secs(5));
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(5));
        fake.free.store(1, Ordering::Relaxed);
        let probe = b.allow().unwrap();
        assert!(probe.is_probe());
        b.apply_close();
        assert_eq!(b.state(), BreakerState::Closed);
        probe.failure(); // stale: the breaker closed under it
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(fake.take_calls(), ["granted"], "nothing told back");
        assert_eq!(
            b.stats().opened,
            2,
            "each remote trip that opened it is counted; the one that extended it is not"
        );
    }
}
