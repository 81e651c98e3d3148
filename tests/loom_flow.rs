//! loom models of the flow-control state machines.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_flow`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

use market_data_pipeline::flow::{BreakerState, BucketLimits, CircuitBreaker, TokenBucket};
use market_data_pipeline::ManualClock;

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
