//! The gate on its own: what it checks, how grants resolve, how refusals are classified.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::flow::{BreakerState, ProviderLimits, RateCoordinator};

const SEC: u64 = 1_000_000_000;

fn ticks(n: usize) -> Result<SourcePoll, SourceError> {
    Ok(SourcePoll::Ready(n))
}

fn failed() -> Result<SourcePoll, SourceError> {
    Err(SourceError::Failed {
        source_name: "s".into(),
        reason: "down".into(),
    })
}

/// An own-breaker gate (threshold 1, timeout 1 s) opened at `SEC` and HALF_OPEN at `2 * SEC`.
fn half_open_breaker_gate() -> AdmissionGate {
    let b = CircuitBreaker::builder(1, Duration::from_secs(1))
        .clock(ManualClock::shared(SEC))
        .build()
        .unwrap();
    let gate = AdmissionGate::for_breaker(Arc::new(b));
    assert!(gate.poll(SEC, failed).unwrap().is_err());
    assert_eq!(gate.breaker().state_at(SEC), BreakerState::Open);
    assert!(matches!(
        gate.poll(SEC, || ticks(1)),
        Err(Refusal::BreakerOpen(_))
    ));
    gate
}

#[test]
fn each_poll_outcome_resolves_a_half_open_probe_as_the_docs_say() {
    // (case, what the probe poll returns, the state after it)
    let cases = [
        (1, ticks(3), BreakerState::Closed),
        (2, ticks(0), BreakerState::HalfOpen),
        (3, Ok(SourcePoll::Pending), BreakerState::HalfOpen),
        (4, Ok(SourcePoll::Ended), BreakerState::HalfOpen),
        (5, failed(), BreakerState::Open),
    ];
    for (case, outcome, after) in cases {
        let gate = half_open_breaker_gate();
        let now = 2 * SEC;
        let grant = gate.admit(now).unwrap();
        assert!(grant.is_probe(), "case {case}");
        assert!(
            matches!(gate.admit(now), Err(Refusal::BreakerOpen(_))),
            "case {case}: one probe at a time"
        );
        grant.resolve(Resolution::of(&outcome), now);
        let st = gate.breaker().stats();
        assert_eq!(st.state, after, "case {case}");
        assert_eq!(
            st.probes_in_flight, 0,
            "case {case}: the probe was resolved"
        );
        if after == BreakerState::HalfOpen {
            assert!(
                gate.admit(now).unwrap().is_probe(),
                "case {case}: probes again"
            );
        }
    }
}

#[test]
fn a_grant_dropped_unresolved_releases_its_probe_even_in_a_panicking_poll() {
    let gate = half_open_breaker_gate();
    let now = 2 * SEC;
    drop(gate.admit(now).unwrap());
    assert_eq!(gate.breaker().stats().probes_in_flight, 0, "dropped");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = gate.poll(now, || panic!("the source panicked"));
    }));
    assert!(r.is_err());
    let st = gate.breaker().stats();
    assert_eq!((st.state, st.probes_in_flight), (BreakerState::HalfOpen, 0));
}

#[test]
fn the_switch_decides_at_each_admission_whether_a_request_based_source_spends_budget() {
    let c = RateCoordinator::with_clock(ManualClock::shared(0));
    let limits = ProviderLimits::new().capacity(1).refill_rate(1);
    let h = c.register_provider_with("p", limits).unwrap();
    let switch = Arc::new(CoordinationSwitch::new(true));
    let request_based = AdmissionGate::for_provider(h.clone(), true).with_switch(switch.clone());
    let plain = AdmissionGate::for_provider(h.clone(), false).with_switch(switch.clone());
    assert!(request_based.request_based() && !plain.request_based());
    assert!(request_based.poll(0, || ticks(1)).is_ok());
    assert!(matches!(
        request_based.poll(0, || ticks(1)),
        Err(Refusal::NotNow(CoordinatorError::RateLimited { .. }))
    ));
    assert!(plain.poll(0, || ticks(1)).is_ok(), "not request-based");
    switch.set(false);
    assert!(request_based.poll(0, || ticks(1)).is_ok(), "switched off");
    switch.set(true);
    assert!(request_based.poll(0, || ticks(1)).is_err(), "switched on");
    assert_eq!(h.state().counters.rate_limited, 2);
    // One breaker: the provider's, whichever gate failed.
    assert!(std::ptr::eq(request_based.breaker(), h.breaker()));
    assert!(std::ptr::eq(plain.breaker(), h.breaker()));
}

#[test]
fn refusals_separate_not_now_from_an_open_breaker_from_never() {
    let provider: Arc<str> = Arc::from("p");
    let window: Arc<str> = Arc::from("window 0");
    // (case, coordinator error, is it NotNow / BreakerOpen / Never)
    let cases = [
        (
            1,
            CoordinatorError::RateLimited {
                provider: provider.clone(),
                window: window.clone(),
                retry_after: Duration::from_secs(1),
            },
            "not now",
        ),
        (
            2,
            CoordinatorError::CoolingDown {
                provider: provider.clone(),
                scope: Arc::from("global"),
                until_ns: 5,
                remaining: Duration::from_nanos(5),
            },
            "not now",
        ),
        (
            3,
            CoordinatorError::Suspended {
                provider: provider.clone(),
            },
            "not now",
        ),
        (
            4,
            CoordinatorError::CircuitOpen(CircuitBreakerOpen::new("p")),
            "breaker",
        ),
        (
            5,
            CoordinatorError::ExceedsCapacity {
                provider: provider.clone(),
                window,
                requested: 2,
                capacity: 1,
            },
            "never",
        ),
    ];
    for (case, e, want) in cases {
        let got = match Refusal::from(e) {
            Refusal::NotNow(_) => "not now",
            Refusal::BreakerOpen(_) => "breaker",
            Refusal::Never(_) => "never",
        };
        assert_eq!(got, want, "case {case}");
    }
}
