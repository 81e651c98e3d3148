//! Token bucket scenarios, driven by a manual clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::flow::{BucketLimits, TokenBucket};
use market_data_pipeline::{Clock, IdleStrategy, ManualClock, PacingError};

fn bucket(capacity: u64, rate: u64) -> (Arc<ManualClock>, TokenBucket) {
    let clock = ManualClock::shared(1_000);
    let b = TokenBucket::with_clock(BucketLimits::new(capacity, rate).unwrap(), clock.clone());
    (clock, b)
}

#[test]
fn a_new_bucket_is_full_and_refuses_once_drained() {
    let (_clock, b) = bucket(5, 10);
    assert_eq!(b.available(), 5);
    for _ in 0..5 {
        b.try_acquire(1).unwrap();
    }
    assert_eq!(
        b.try_acquire(1),
        Err(PacingError::RateLimited {
            retry_after: Duration::from_millis(100)
        })
    );
}

#[test]
fn a_request_larger_than_the_capacity_is_an_immediate_error() {
    let (_clock, b) = bucket(5, 10);
    assert_eq!(
        b.acquire(6),
        Err(PacingError::ExceedsCapacity {
            requested: 6,
            capacity: 5
        })
    );
    // Nothing was taken.
    assert_eq!(b.available(), 5);
}

#[test]
fn zero_tokens_always_pass() {
    let (_clock, b) = bucket(1, 1);
    b.try_acquire(1).unwrap();
    assert_eq!(b.try_acquire(0), Ok(()));
}

#[test]
fn weighted_requests_wait_for_all_their_tokens() {
    let (clock, b) = bucket(4, 4);
    b.try_acquire(3).unwrap();
    // One left; three more are needed: 2 × 250 ms.
    assert_eq!(
        b.try_acquire(3),
        Err(PacingError::RateLimited {
            retry_after: Duration::from_millis(500)
        })
    );
    clock.advance(Duration::from_millis(500));
    b.try_acquire(3).unwrap();
}

#[test]
fn live_limit_change_keeps_the_tokens_held() {
    let (_clock, b) = bucket(10, 10);
    b.try_acquire(6).unwrap();
    b.set_limits(BucketLimits::new(20, 100).unwrap());
    assert_eq!(b.available(), 4);
    assert_eq!(b.capacity(), 20);
    // Shrinking caps what is held.
    b.set_limits(BucketLimits::new(2, 100).unwrap());
    assert_eq!(b.available(), 2);
}

#[test]
fn scale_slows_the_refill_and_zero_suspends() {
    let (clock, b) = bucket(1, 10);
    b.try_acquire(1).unwrap();
    b.set_scale(0.5).unwrap();
    assert_eq!(
        b.try_acquire(1),
        Err(PacingError::RateLimited {
            retry_after: Duration::from_millis(200)
        })
    );
    b.set_scale(0.0).unwrap();
    assert_eq!(b.try_acquire(1), Err(PacingError::Suspended));
    assert_eq!(b.acquire(1), Err(PacingError::Suspended));
    clock.advance(Duration::from_secs(1));
    b.set_scale(1.0).unwrap();
    b.try_acquire(1).unwrap();
    assert_eq!(b.set_scale(1.01).unwrap_err().field, "scale");
    assert_eq!(b.scale(), 1.0);
}

#[test]
fn acquire_waits_until_the_clock_brings_the_tokens() {
    let (clock, b) = bucket(1, 1_000);
    let b = b.with_idle(IdleStrategy::Backoff {
        spins: 1,
        yields: 1,
        park: Duration::from_micros(10),
    });
    b.try_acquire(1).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let (ticker, flag) = (clock.clone(), done.clone());
        s.spawn(move || {
            // Moves the clock until the waiter got its token; bounded.
            for _ in 0..1_000_000 {
                if flag.load(Ordering::Acquire) {
                    return;
                }
                ticker.advance(Duration::from_micros(100));
                std::thread::yield_now();
            }
        });
        b.acquire(1).unwrap();
        done.store(true, Ordering::Release);
    });
    assert!(clock.now_ns() >= 1_000 + 1_000_000);
}

#[test]
fn take_up_to_and_next_ready_follow_the_clock() {
    let (clock, b) = bucket(3, 1);
    assert_eq!(b.take_up_to_at(clock.now_ns(), 10), 3);
    assert_eq!(b.take_up_to_at(clock.now_ns(), 10), 0);
    assert_eq!(
        b.next_ready_at(clock.now_ns()),
        clock.now_ns() + 1_000_000_000
    );
}

#[test]
fn a_clone_starts_with_the_same_fill_level() {
    let (_clock, b) = bucket(4, 1);
    b.try_acquire(3).unwrap();
    let c = b.clone();
    assert_eq!(c.available(), 1);
    c.try_acquire(1).unwrap();
    assert_eq!(b.available(), 1);
}
