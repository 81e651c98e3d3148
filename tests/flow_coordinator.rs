//! RateCoordinator scenarios (manual clock), including the regressions of the Python original
//! listed in DESIGN.md §5.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::flow::{
    BreakerState, BucketLimits, CoordinatorError, Priority, ProviderHandle, ProviderLimits,
    RateCoordinator, Request,
};
use market_data_pipeline::ManualClock;

fn coordinator() -> (Arc<ManualClock>, RateCoordinator) {
    let clock = ManualClock::shared(1_000);
    (clock.clone(), RateCoordinator::with_clock(clock))
}

fn ibkr(c: &RateCoordinator, limits: ProviderLimits) -> ProviderHandle {
    c.register_provider_with("ibkr", limits).unwrap()
}

fn limits(capacity: u64, refill_rate: u64) -> ProviderLimits {
    ProviderLimits {
        capacity,
        refill_rate,
        ..Default::default()
    }
}

/// Regression (original 0.8.70): `stream_quotes` yielded nothing because its provider was
/// never registered with the coordinator and every quote was dropped silently. Here an
/// unregistered provider is a loud error that lists what is registered.
#[test]
fn regression_unknown_provider_is_an_error_listing_the_registered_ones() {
    let (_clock, c) = coordinator();
    c.register_provider_with("polygon", limits(1, 1)).unwrap();
    c.register_provider_with("ibkr", limits(1, 1)).unwrap();
    let e = c.acquire("iex").unwrap_err();
    assert_eq!(
        e,
        CoordinatorError::UnknownProvider {
            name: "iex".into(),
            registered: vec!["ibkr".into(), "polygon".into()]
        }
    );
    assert_eq!(
        e.to_string(),
        r#"unknown provider "iex" (registered: ibkr, polygon)"#
    );
}

#[test]
fn invalid_limits_are_config_errors_naming_the_field() {
    let (_clock, c) = coordinator();
    let cases = [
        (limits(0, 1), "providers.x.capacity"),
        (limits(1, 0), "providers.x.refill_rate"),
        (
            ProviderLimits {
                breaker_timeout: -1.0,
                ..Default::default()
            },
            "providers.x.breaker_timeout",
        ),
        (
            ProviderLimits {
                breaker_threshold: 0,
                ..Default::default()
            },
            "providers.x.breaker_threshold",
        ),
        (
            ProviderLimits {
                high_priority_reserve: 1.0,
                ..Default::default()
            },
            "providers.x.high_priority_reserve",
        ),
    ];
    for (i, (l, field)) in cases.into_iter().enumerate() {
        match c.register_provider_with("x", l) {
            Err(CoordinatorError::Config(e)) => assert_eq!(e.field, field, "case {i}"),
            other => panic!("case {i}: {other:?}"),
        }
    }
}

#[test]
fn registering_again_returns_the_same_provider_or_refuses_other_limits() {
    let (_clock, c) = coordinator();
    let a = c.register_provider_with("ibkr", limits(5, 1)).unwrap();
    a.try_acquire_n(5).unwrap();
    let b = c.register_provider_with("ibkr", limits(5, 1)).unwrap();
    assert!(b.try_acquire().is_err(), "same buckets");
    assert!(matches!(
        c.register_provider_with("ibkr", limits(6, 1)),
        Err(CoordinatorError::Config(_))
    ));
}

#[test]
fn acquire_by_name_and_by_handle_draw_on_one_budget() {
    let (clock, c) = coordinator();
    let h = c.register_provider_with("ibkr", limits(3, 1)).unwrap();
    c.try_acquire("ibkr").unwrap();
    h.try_acquire().unwrap();
    c.acquire_n("ibkr", 1).unwrap();
    match c.try_acquire_n("ibkr", 2).unwrap_err() {
        CoordinatorError::RateLimited {
            provider,
            window,
            retry_after,
        } => {
            assert_eq!((&*provider, &*window), ("ibkr", "window 0"));
            assert_eq!(retry_after, Duration::from_secs(2));
        }
        e => panic!("{e}"),
    }
    clock.advance(Duration::from_secs(2));
    h.try_acquire_n(2).unwrap();
    assert!(matches!(
        c.try_acquire_n("ibkr", 4),
        Err(CoordinatorError::ExceedsCapacity {
            requested: 4,
            capacity: 3,
            ..
        })
    ));
}

/// Interactive Brokers: 50 messages/s and 60 requests per 10 minutes, both must admit.
#[test]
fn every_window_must_admit_and_earlier_windows_are_refunded() {
    let (clock, c) = coordinator();
    let ibkr = ibkr(
        &c,
        ProviderLimits {
            capacity: 50,
            refill_rate: 50,
            windows: vec![BucketLimits::per_period(60, Duration::from_secs(600)).unwrap()],
            ..Default::default()
        },
    );
    let mut admitted = 0;
    for _ in 0..200 {
        if ibkr.try_acquire().is_ok() {
            admitted += 1;
        }
        clock.advance(Duration::from_millis(20)); // 50/s: window 0 never refuses
    }
    assert_eq!(admitted, 60, "the 10-minute window is the binding one");
    let state = ibkr.state();
    assert_eq!(state.tokens[1], 0);
    // Window 0 got its refused tokens back: it is full again.
    assert_eq!(state.tokens[0], 50);
    match ibkr.try_acquire().unwrap_err() {
        CoordinatorError::RateLimited { window, .. } => assert_eq!(&*window, "window 1"),
        e => panic!("{e}"),
    }
}

/// Regression (original 0.8.70): `trigger_cooldown` blocked the caller for the whole cooldown
/// and a second trigger shortened the first.
#[test]
fn regression_cooldown_returns_at_once_and_is_never_shortened() {
    let (clock, c) = coordinator();
    c.register_provider_with("ibkr", limits(10, 10)).unwrap();
    let start = 1_000;
    // Returns at once with the deadline (the manual clock never moved).
    let until = c
        .trigger_cooldown_for("ibkr", "global", Duration::from_secs(600))
        .unwrap();
    assert_eq!(until, start + 600_000_000_000);
    let again = c
        .trigger_cooldown_for("ibkr", "global", Duration::from_secs(10))
        .unwrap();
    assert_eq!(again, until, "a shorter trigger does not shorten it");
    match c.acquire("ibkr").unwrap_err() {
        CoordinatorError::CoolingDown {
            scope, remaining, ..
        } => {
            assert_eq!(&*scope, "global");
            assert_eq!(remaining, Duration::from_secs(600));
        }
        e => panic!("{e}"),
    }
    clock.advance(Duration::from_secs(600));
    c.acquire("ibkr").unwrap();
}

/// Regression (original 0.8.70): only the "global" scope was honoured.
#[test]
fn regression_a_scoped_cooldown_is_honoured_for_its_scope_only() {
    let (clock, c) = coordinator();
    let h = c
        .register_provider_with("ibkr", ProviderLimits::default())
        .unwrap();
    c.trigger_cooldown_default("ibkr", "market_data").unwrap(); // cooldown_sec = 600
    assert!(matches!(
        c.acquire_in("ibkr", "market_data"),
        Err(CoordinatorError::CoolingDown { .. })
    ));
    c.acquire_in("ibkr", "historical").unwrap();
    c.acquire("ibkr").unwrap();
    let md = h.scope("market_data").unwrap();
    assert!(h
        .try_request_at(clock_now(&clock), Request::cost(1).scope(md))
        .is_err());
    let state = h.state();
    assert_eq!(
        state.cooldowns,
        vec![("market_data".to_string(), Duration::from_secs(600))]
    );
    clock.advance(Duration::from_secs(600));
    c.acquire_in("ibkr", "market_data").unwrap();
}

fn clock_now(clock: &ManualClock) -> u64 {
    use market_data_pipeline::Clock;
    clock.now_ns()
}

#[test]
fn open_breaker_refuses_at_once_naming_the_provider_and_probes_after_the_timeout() {
    let (clock, c) = coordinator();
    let h = ibkr(
        &c,
        ProviderLimits {
            breaker_threshold: 2,
            breaker_timeout: 60.0,
            ..Default::default()
        },
    );
    c.record_failure("ibkr").unwrap();
    c.record_failure("ibkr").unwrap();
    match c.try_acquire("ibkr").unwrap_err() {
        CoordinatorError::CircuitOpen(e) => {
            assert_eq!(&*e.breaker, "ibkr");
            assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
        }
        e => panic!("{e}"),
    }
    clock.advance(Duration::from_secs(60));
    h.try_acquire().unwrap(); // the probe
    assert!(
        matches!(h.try_acquire(), Err(CoordinatorError::CircuitOpen(_))),
        "one probe at a time"
    );
    c.record_success("ibkr").unwrap();
    assert_eq!(h.breaker().state(), BreakerState::Closed);
    h.try_acquire().unwrap();
}

#[test]
fn a_probe_refused_by_the_budget_does_not_keep_its_slot() {
    let (clock, c) = coordinator();
    let h = ibkr(
        &c,
        ProviderLimits {
            capacity: 1,
            refill_rate: 1,
            breaker_threshold: 1,
            breaker_timeout: 0.5,
            ..Default::default()
        },
    );
    h.try_acquire().unwrap(); // bucket empty until +1 s
    h.record_failure(); // OPEN until +0.5 s
    clock.advance(Duration::from_millis(500));
    assert!(
        matches!(h.try_acquire(), Err(CoordinatorError::RateLimited { .. })),
        "HALF_OPEN lets the probe through to the budget, which refuses"
    );
    clock.advance(Duration::from_millis(500));
    h.try_acquire().unwrap(); // the probe slot was given back
    assert!(matches!(
        h.try_acquire(),
        Err(CoordinatorError::CircuitOpen(_))
    ));
}

#[test]
fn high_priority_requests_may_use_the_reserved_share() {
    let (_clock, c) = coordinator();
    let h = ibkr(
        &c,
        ProviderLimits {
            capacity: 10,
            refill_rate: 1,
            high_priority_reserve: 0.2,
            ..Default::default()
        },
    );
    let now = h.clock().now_ns();
    h.try_request_at(now, Request::cost(8)).unwrap();
    assert!(matches!(
        h.try_request_at(now, Request::cost(1)),
        Err(CoordinatorError::RateLimited { .. })
    ));
    let high = Request::cost(1).priority(Priority::High);
    h.try_request_at(now, high).unwrap();
    h.try_request_at(now, high).unwrap();
    assert!(h.try_request_at(now, high).is_err());
}

#[test]
fn tenant_and_provider_budgets_must_both_admit() {
    let (_clock, c) = coordinator();
    c.register_provider_with("ibkr", limits(3, 1)).unwrap();
    let a = c
        .register_tenant("ibkr", "a", BucketLimits::new(2, 1).unwrap())
        .unwrap();
    let b = c
        .register_tenant("ibkr", "b", BucketLimits::new(5, 1).unwrap())
        .unwrap();
    a.try_acquire_n(2).unwrap();
    match a.try_acquire().unwrap_err() {
        CoordinatorError::RateLimited { window, .. } => assert_eq!(&*window, "tenant a"),
        e => panic!("{e}"),
    }
    b.try_acquire().unwrap();
    // The provider is spent: tenant b's token is given back.
    assert_eq!(b.available(), 4);
    assert!(b.try_acquire().is_err());
    assert_eq!(b.available(), 4);
    assert!(matches!(
        c.register_tenant("iex", "a", BucketLimits::new(1, 1).unwrap()),
        Err(CoordinatorError::UnknownProvider { .. })
    ));
}

#[test]
fn live_limit_changes_keep_state_and_scale_throttles() {
    let (clock, c) = coordinator();
    let h = c.register_provider_with("ibkr", limits(10, 10)).unwrap();
    h.try_acquire_n(4).unwrap();
    c.update_limits("ibkr", &limits(20, 10)).unwrap();
    assert_eq!(c.provider_state("ibkr").unwrap().tokens, vec![6]);
    assert!(c
        .update_limits(
            "ibkr",
            &ProviderLimits {
                windows: vec![BucketLimits::new(1, 1).unwrap()],
                ..limits(20, 10)
            }
        )
        .is_err());
    c.set_scale("ibkr", 0.0).unwrap();
    assert!(matches!(
        h.try_acquire(),
        Err(CoordinatorError::Suspended { .. })
    ));
    c.set_scale("ibkr", 0.5).unwrap();
    h.try_acquire_n(6).unwrap();
    match h.try_acquire().unwrap_err() {
        CoordinatorError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Duration::from_millis(200));
        }
        e => panic!("{e}"),
    }
    assert!(c.set_scale("ibkr", 2.0).is_err());
    clock.advance(Duration::from_millis(200));
    h.try_acquire().unwrap();
    assert_eq!(c.provider_state("ibkr").unwrap().scale, 0.5);
}

#[test]
fn provider_state_reports_tokens_breaker_cooldowns_scale_and_counters() {
    let (_clock, c) = coordinator();
    c.register_provider_with("ibkr", limits(2, 1)).unwrap();
    c.try_acquire_n("ibkr", 2).unwrap();
    let _ = c.try_acquire("ibkr");
    c.trigger_cooldown_for("ibkr", "global", Duration::from_secs(5))
        .unwrap();
    let _ = c.try_acquire("ibkr");
    let s = c.provider_state("ibkr").unwrap();
    assert_eq!(s.name, "ibkr");
    assert_eq!(s.tokens, vec![0]);
    assert_eq!(s.breaker.state, BreakerState::Closed);
    assert_eq!(s.cooldowns, vec![("global".into(), Duration::from_secs(5))]);
    assert_eq!(s.scale, 1.0);
    assert_eq!((s.counters.rate_limited, s.counters.cooling_down), (1, 1));
}

#[test]
fn too_many_scopes_is_an_error_not_a_panic() {
    let (_clock, c) = coordinator();
    let h = c.register_provider_with("ibkr", limits(1, 1)).unwrap();
    for i in 0..market_data_pipeline::flow::coordinator::MAX_SCOPES {
        h.scope(&format!("s{i}")).unwrap();
    }
    assert!(matches!(
        c.trigger_cooldown_for("ibkr", "one-too-many", Duration::from_secs(1)),
        Err(CoordinatorError::TooManyScopes { max: 16, .. })
    ));
}
