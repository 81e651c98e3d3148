//! Circuit breaker scenarios (manual clock), including the regressions of the Python original
//! listed in DESIGN.md §5.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::flow::{BreakerState, CircuitBreaker, CircuitBreakerBuilder};
use market_data_pipeline::{Clock, ManualClock};

const TIMEOUT: Duration = Duration::from_secs(60);

fn breaker(threshold: u32) -> (Arc<ManualClock>, CircuitBreaker) {
    let clock = ManualClock::shared(1_000);
    let b = CircuitBreaker::builder(threshold, TIMEOUT)
        .name("ibkr")
        .clock(clock.clone())
        .build()
        .unwrap();
    (clock, b)
}

/// A breaker built by `configure`, tripped, with its timeout just over: HALF_OPEN.
fn half_open(
    configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
) -> CircuitBreaker {
    let clock = ManualClock::shared(0);
    let b = configure(CircuitBreaker::builder(1, TIMEOUT).clock(clock.clone()))
        .build()
        .unwrap();
    trip(&b);
    clock.advance(TIMEOUT);
    b
}

fn trip(b: &CircuitBreaker) {
    while b.state() == BreakerState::Closed {
        b.record_failure();
    }
}

#[test]
fn threshold_consecutive_failures_open_it() {
    let (_clock, b) = breaker(3);
    b.record_failure();
    b.record_failure();
    b.record_success(); // breaks the run
    b.record_failure();
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Closed);
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Open);
    assert!(b.is_open());
    let refused = b.allow().unwrap_err();
    assert_eq!(&*refused.breaker, "ibkr");
    assert_eq!(refused.retry_after, Some(TIMEOUT));
    assert_eq!(
        refused.to_string(),
        "circuit breaker ibkr is open (probing in 60s)"
    );
}

#[test]
fn zero_threshold_or_probe_counts_are_config_errors() {
    assert_eq!(
        CircuitBreaker::new(0, TIMEOUT).unwrap_err().field,
        "threshold"
    );
    let e = CircuitBreaker::builder(1, TIMEOUT)
        .half_open_max_probes(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "half_open_max_probes");
    let e = CircuitBreaker::builder(1, TIMEOUT)
        .successes_to_close(256)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "successes_to_close");
}

/// Regression (original 0.8.70): after the timeout every caller passed.
#[test]
fn regression_half_open_admits_only_the_configured_probes() {
    let b = half_open(|b| b.half_open_max_probes(2));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let p1 = b.allow().unwrap();
    let p2 = b.allow().unwrap();
    assert!(p1.is_probe() && p2.is_probe());
    let third = b.allow().unwrap_err();
    assert_eq!(third.retry_after, None);
    drop(p1); // abandoned: frees its slot, counts nothing
    let p3 = b.allow().unwrap();
    p2.success();
    p3.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

/// Regression (original 0.8.70): one failure after the timeout did not re-open it.
#[test]
fn regression_a_probe_failure_reopens_for_a_full_timeout() {
    let (clock, b) = breaker(1);
    trip(&b);
    clock.advance(TIMEOUT);
    let probe = b.allow().unwrap();
    clock.advance(Duration::from_secs(5));
    probe.failure();
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(TIMEOUT - Duration::from_nanos(1));
    assert!(b.allow().is_err(), "the new OPEN period is a full timeout");
    clock.advance(Duration::from_nanos(1));
    assert!(b.allow().is_ok());
}

/// Regression (original 0.8.70): `get_state()` mutated the state. (`is_open()` is the seed's
/// gate and hands out the HALF_OPEN probe by design; `peek_is_open()` is the query.)
#[test]
fn regression_queries_never_change_the_state() {
    let (clock, b) = breaker(1);
    trip(&b);
    clock.advance(TIMEOUT);
    let before = b.stats();
    for _ in 0..3 {
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.get_state(), "half_open");
        assert!(!b.peek_is_open());
        assert_eq!(b.stats(), before);
    }
    // Only `allow` (or the seed's gate, `is_open`) takes the probe.
    let _probe = b.allow().unwrap();
    assert_eq!(b.stats().probes_in_flight, 1);
}

#[test]
fn several_successes_can_be_required_to_close() {
    let b = half_open(|b| b.successes_to_close(2));
    b.allow().unwrap().success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.allow().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn a_late_failure_from_before_the_trip_does_not_count_twice() {
    let (clock, b) = breaker(2);
    let slow_call = b.allow().unwrap();
    trip(&b);
    clock.advance(TIMEOUT);
    b.allow().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
    slow_call.failure(); // issued in an older CLOSED period: ignored
    assert_eq!(b.stats().consecutive_failures, 0);
}

#[test]
fn counters_and_last_transition_time_are_observable() {
    let (clock, b) = breaker(1);
    assert_eq!(b.stats().last_transition_ns, None);
    trip(&b);
    clock.advance(TIMEOUT);
    let t = clock.now_ns();
    b.allow().unwrap().success();
    let s = b.stats();
    assert_eq!((s.opened, s.half_opened, s.closed), (1, 1, 1));
    assert_eq!(s.last_transition_ns, Some(t));
    trip(&b);
    b.reset();
    let s = b.stats();
    assert_eq!((s.state, s.opened, s.closed), (BreakerState::Closed, 2, 2));
}

#[test]
fn bare_record_calls_drive_half_open_too() {
    let (clock, b) = breaker(1);
    trip(&b);
    clock.advance(TIMEOUT);
    b.record_failure(); // a HALF_OPEN failure re-opens
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(TIMEOUT);
    b.record_success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn state_names_match_the_seed() {
    let names: Vec<String> = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(names, ["CLOSED", "OPEN", "HALF_OPEN"]);
}

#[test]
fn limits_change_live_keeping_the_failures_counted_and_a_running_open_period() {
    let (clock, b) = breaker(5);
    b.record_failure();
    b.record_failure();
    // 1. A lower threshold opens at the next failure; the two counted stay counted.
    b.set_limits(3, 1, Duration::from_secs(10)).unwrap();
    assert_eq!(b.limits(), (3, 1, Duration::from_secs(10)));
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Open);
    // 2. The new timeout applies from this opening on.
    clock.advance(Duration::from_secs(10));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record_failure(); // the probe fails: OPEN again
                        // 3. A longer timeout set while OPEN does not stretch the running period.
    b.set_limits(3, 1, TIMEOUT).unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    // 4. Invalid limits are refused and change nothing.
    assert_eq!(b.set_limits(0, 1, TIMEOUT).unwrap_err().field, "threshold");
    assert_eq!(
        b.set_limits(3, 0, TIMEOUT).unwrap_err().field,
        "half_open_max_probes"
    );
    assert_eq!(b.limits(), (3, 1, TIMEOUT));
}
