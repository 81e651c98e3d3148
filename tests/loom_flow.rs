//! loom models of the flow-control state machines.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_flow`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

use market_data_pipeline::flow::{BreakerState, BucketLimits, CircuitBreaker, TokenBucket};
use market_data_pipeline::{ManualClock, PacingError};

const NOW: u64 = 1_000;

fn frozen_bucket(capacity: u64) -> Arc<TokenBucket> {
    let limits = BucketLimits::new(capacity, 1).unwrap();
    Arc::new(TokenBucket::with_clock(limits, ManualClock::shared(NOW)))
}

/// Runs `per_thread` on `threads` threads (the main thread is one of them); returns the sum of
/// what they returned.
fn sum_over_threads<T: Send + Sync + 'static>(
    shared: &Arc<T>,
    threads: usize,
    per_thread: fn(&T) -> u64,
) -> u64 {
    let handles: Vec<_> = (1..threads)
        .map(|_| {
            let s = shared.clone();
            thread::spawn(move || per_thread(&s))
        })
        .collect();
    let mut total = per_thread(shared);
    for h in handles {
        total += h.join().unwrap();
    }
    total
}

#[test]
fn frozen_time_three_threads_never_exceed_the_capacity() {
    loom::model(|| {
        let bucket = frozen_bucket(2);
        let admitted =
            sum_over_threads(&bucket, 3, |b| u64::from(b.try_acquire_at(NOW, 1).is_ok()));
        assert_eq!(admitted, 2);
    });
}

#[test]
fn frozen_time_two_threads_with_weighted_requests_share_the_capacity_exactly() {
    loom::model(|| {
        let bucket = frozen_bucket(3);
        let admitted = sum_over_threads(&bucket, 2, |b| {
            (0..2)
                .map(|_| {
                    if b.try_acquire_at(NOW, 1).is_ok() {
                        1
                    } else {
                        0
                    }
                })
                .sum()
        });
        assert_eq!(admitted, 3);
        assert_eq!(bucket.available_at(NOW), 0);
    });
}

/// A check racing a live `set_limits` that raises the rate 1000× (capacity 2 both sides): time
/// is frozen, so the bucket can never hand out more than the 2 tokens it started with. Before
/// the change was atomic, a check could decide against the new interval on the state still
/// expressed in the old one (each token then cost 1/1000 of an old token), and the re-expression
/// afterwards kept almost all of the old tokens: 3 admitted.
#[test]
fn a_check_racing_a_live_limit_change_never_over_admits() {
    loom::model(|| {
        let bucket = frozen_bucket(2);
        let taker = {
            let b = bucket.clone();
            thread::spawn(move || {
                (0..3)
                    .map(|_| u64::from(b.try_acquire_at(NOW, 1).is_ok()))
                    .sum::<u64>()
            })
        };
        bucket.set_limits(BucketLimits::new(2, 1_000).unwrap());
        let admitted = taker.join().unwrap();
        assert!(admitted <= 2, "{admitted} admitted from a bucket of 2");
        // The tokens are kept across the change: what was not taken is still there.
        assert_eq!(
            admitted + bucket.available_at(NOW),
            2,
            "{admitted} admitted"
        );
    });
}

/// A check racing a change that suspends admission (scale 0): it is admitted before the
/// change, refused as suspended after it, or refused with `retry_after` 0 if it meets the
/// change under way (checks never wait for it); after resuming at half the rate the token it
/// did not take is still there.
#[test]
fn a_check_racing_a_suspension_never_over_admits() {
    loom::model(|| {
        let bucket = frozen_bucket(1);
        let taker = {
            let b = bucket.clone();
            thread::spawn(move || u64::from(b.try_acquire_at(NOW, 1).is_ok()))
        };
        bucket.set_scale(0.0).unwrap();
        let admitted = taker.join().unwrap();
        bucket.set_scale(0.5).unwrap();
        assert_eq!(
            admitted + bucket.available_at(NOW),
            1,
            "{admitted} admitted"
        );
    });
}

/// Checks never wait for a live change: a check that meets one under way is refused at once
/// with `retry_after` 0, and `take_up_to_at` takes nothing. In every interleaving of a check
/// and a take with a change that raises the rate 1000× (frozen time, a full bucket of 2):
/// the check is admitted or refused "not now" (never rate-limited with a wait: the bucket
/// holds the tokens), nothing is over-admitted, and what was not taken is still there.
#[test]
fn checks_meeting_a_live_change_answer_at_once_and_never_over_admit() {
    loom::model(|| {
        let bucket = frozen_bucket(2);
        let taker = {
            let b = bucket.clone();
            thread::spawn(move || {
                let first = b.try_acquire_at(NOW, 1);
                let took = b.take_up_to_at(NOW, 2);
                (first, took)
            })
        };
        bucket.set_limits(BucketLimits::new(2, 1_000).unwrap());
        let (first, took) = taker.join().unwrap();
        let not_now = PacingError::RateLimited {
            retry_after: Duration::ZERO,
        };
        assert!(first.is_ok() || first == Err(not_now.clone()), "{first:?}");
        let admitted = u64::from(first.is_ok()) + took;
        assert!(admitted <= 2, "{admitted} admitted from a bucket of 2");
        assert_eq!(
            admitted + bucket.available_at(NOW),
            2,
            "{first:?}, took {took}"
        );
    });
}

fn half_open_breaker(probes: u32) -> Arc<CircuitBreaker> {
    let b = CircuitBreaker::builder(1, Duration::from_nanos(10))
        .half_open_max_probes(probes)
        .clock(ManualClock::shared(0))
        .build()
        .unwrap();
    b.record_failure_at(0); // OPEN until 10
    Arc::new(b)
}

fn take_probe(b: &CircuitBreaker) -> u64 {
    match b.allow_at(NOW) {
        Ok(permit) => {
            // Keep the slot taken for the rest of the model.
            std::mem::forget(permit);
            1
        }
        Err(_) => 0,
    }
}

#[test]
fn half_open_admits_exactly_one_probe_by_default() {
    loom::model(|| {
        let b = half_open_breaker(1);
        assert_eq!(sum_over_threads(&b, 3, take_probe), 1);
        assert_eq!(
            b.stats().half_opened,
            1,
            "one transition, however many raced"
        );
    });
}

#[test]
fn half_open_admits_exactly_the_configured_probes() {
    loom::model(|| {
        let b = half_open_breaker(2);
        assert_eq!(sum_over_threads(&b, 3, take_probe), 2);
    });
}

#[test]
fn a_trip_is_observed_once() {
    loom::model(|| {
        let b = Arc::new(
            CircuitBreaker::builder(2, Duration::from_secs(60))
                .clock(ManualClock::shared(0))
                .build()
                .unwrap(),
        );
        sum_over_threads(&b, 3, |b| {
            b.record_failure_at(NOW);
            0
        });
        let s = b.stats();
        assert_eq!((s.state, s.opened), (BreakerState::Open, 1));
    });
}

#[test]
fn racing_probe_outcomes_apply_once() {
    loom::model(|| {
        let b = half_open_breaker(2);
        let p = b.clone();
        let failing = thread::spawn(move || {
            match p.allow_at(NOW) {
                Ok(probe) if probe.is_probe() => probe.failure_at(NOW),
                _ => {} // closed already, or refused: no probe outcome to report
            }
        });
        match b.allow_at(NOW) {
            Ok(probe) if probe.is_probe() => probe.success(),
            _ => {}
        }
        failing.join().unwrap();
        let s = b.stats();
        // Exactly one of the two outcomes decided HALF_OPEN's fate; the other was stale.
        assert_eq!(s.half_opened, 1);
        assert_eq!(s.opened + s.closed, 2, "the trip plus one decision: {s:?}");
        assert_ne!(s.state, BreakerState::HalfOpen);
    });
}
