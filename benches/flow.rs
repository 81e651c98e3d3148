//! Flow-control benchmarks. Every group has a baseline row; compare rows within one run only.
//!
//! Time is frozen (a manual clock for us, governor's `FakeRelativeClock` for governor: one
//! atomic load each) and the buckets are big enough never to run dry during a run, so every
//! row times the admission path.
//!
//! The like-for-like row against governor is `try_acquire_at(clock.now_ns(), 1)`: like
//! governor's `check()`, it reads a frozen clock through an `Arc` (one atomic load) on every
//! check, then decides. `try_acquire_at(now, 1)` with `now` read once does less (no clock read),
//! `try_acquire(1)` more (a `dyn Clock` call); both are shown for information.
//!
//! Run: `cargo bench --bench flow -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use market_data_pipeline::flow::{CircuitBreaker, ProviderLimits, RateCoordinator, TokenBucket};
use market_data_pipeline::{Clock, ManualClock};

#[path = "support/governor.rs"]
mod governor_setup;
use governor_setup::{governor, ours_on, BURST, RATE};

fn ours() -> TokenBucket {
    ours_on(ManualClock::shared(0))
}

/// Two threads each make `iters` checks at once; the time per pair of concurrent checks.
fn two_threads(iters: u64, check: impl Fn() -> bool + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..iters {
                    black_box(check());
                }
            });
        }
    });
    start.elapsed()
}

fn bucket_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("bucket_check_1_thread");
    let gov = governor();
    g.bench_function("baseline: governor check()", |b| {
        b.iter(|| black_box(gov.check().is_ok()))
    });
    let clock = ManualClock::shared(0);
    let bucket = ours_on(clock.clone());
    g.bench_function("TokenBucket::try_acquire_at(clock.now_ns(), 1)", |b| {
        b.iter(|| black_box(bucket.try_acquire_at(clock.now_ns(), 1).is_ok()))
    });
    let bucket = ours();
    g.bench_function("TokenBucket::try_acquire(1)", |b| {
        b.iter(|| black_box(bucket.try_acquire(1).is_ok()))
    });
    let bucket = ours();
    g.bench_function("TokenBucket::try_acquire_at(now, 1)", |b| {
        let now = bucket.clock().now_ns();
        b.iter(|| black_box(bucket.try_acquire_at(now, 1).is_ok()))
    });
    g.finish();

    let mut g = c.benchmark_group("bucket_check_2_threads");
    let gov = governor();
    g.bench_function("baseline: governor check()", |b| {
        b.iter_custom(|iters| two_threads(iters, || gov.check().is_ok()))
    });
    let clock = ManualClock::shared(0);
    let bucket = ours_on(clock.clone());
    g.bench_function("TokenBucket::try_acquire_at(clock.now_ns(), 1)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || bucket.try_acquire_at(clock.now_ns(), 1).is_ok())
        })
    });
    let bucket = ours();
    g.bench_function("TokenBucket::try_acquire(1)", |b| {
        b.iter_custom(|iters| two_threads(iters, || bucket.try_acquire(1).is_ok()))
    });
    let bucket = ours();
    g.bench_function("TokenBucket::try_acquire_at(now, 1)", |b| {
        let now = bucket.clock().now_ns();
        b.iter_custom(|iters| two_threads(iters, || bucket.try_acquire_at(now, 1).is_ok()))
    });
    g.finish();
}

fn breaker_closed_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_closed_path");
    let word = AtomicU64::new(0);
    g.bench_function("baseline: one Acquire load", |b| {
        b.iter(|| black_box(black_box(&word).load(Ordering::Acquire)))
    });
    let breaker =
        CircuitBreaker::with_clock(5, Duration::from_secs(60), ManualClock::shared(0)).unwrap();
    assert!(breaker.allow().is_ok());
    g.bench_function("allow() + Permit::success()", |b| {
        b.iter(|| black_box(&breaker).allow().map(|p| p.success()).is_ok())
    });
    g.bench_function("is_open() + record_success()", |b| {
        b.iter(|| {
            let open = black_box(&breaker).is_open();
            breaker.record_success();
            black_box(open)
        })
    });
    g.finish();
}

fn coordinator_acquire(c: &mut Criterion) {
    let mut g = c.benchmark_group("coordinator_acquire");
    let bucket = ours();
    let now = bucket.clock().now_ns();
    g.bench_function("baseline: TokenBucket::try_acquire_at", |b| {
        b.iter(|| black_box(bucket.try_acquire_at(now, 1).is_ok()))
    });
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let limits = ProviderLimits {
        capacity: u64::from(BURST),
        refill_rate: u64::from(RATE),
        ..Default::default()
    };
    let handle = coordinator.register_provider_with("ibkr", limits).unwrap();
    assert!(handle.try_acquire_at(now).is_ok());
    g.bench_function("ProviderHandle::try_acquire_at", |b| {
        b.iter(|| black_box(handle.try_acquire_at(now).is_ok()))
    });
    g.bench_function("RateCoordinator::try_acquire(name)", |b| {
        b.iter(|| black_box(coordinator.try_acquire(black_box("ibkr")).is_ok()))
    });
    g.finish();
}

criterion_group!(
    benches,
    bucket_check,
    breaker_closed_path,
    coordinator_acquire
);
criterion_main!(benches);
