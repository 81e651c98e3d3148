//! The token bucket and governor's rate limiter set up alike for the flow benches: time frozen
//! on both sides, a burst of 2³²−1 refilled at 10⁹/s, so no check runs out during a run.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use market_data_pipeline::flow::{BucketLimits, TokenBucket};
use market_data_pipeline::ManualClock;

pub const RATE: u32 = 1_000_000_000;
pub const BURST: u32 = u32::MAX;

/// Governor's direct limiter on a fake clock (one atomic load per read through an `Arc`).
pub type Governor = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<<FakeRelativeClock as governor::clock::Clock>::Instant>,
>;

pub fn governor() -> Governor {
    let quota = Quota::per_second(NonZeroU32::new(RATE).expect("non-zero rate"))
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero burst"));
    RateLimiter::direct_with_clock(quota, FakeRelativeClock::default())
}

/// Our bucket with the same limits on `clock`.
pub fn ours_on(clock: Arc<ManualClock>) -> TokenBucket {
    let limits = BucketLimits::new(u64::from(BURST), u64::from(RATE)).expect("valid limits");
    TokenBucket::with_clock(limits, clock)
}
