//! `RedisBudget`: the local, lock-free side of a provider budget shared through Redis.
//!
//! Tokens leased from Redis sit in one atomic pool; [`try_take`](SharedBudget::try_take) is a
//! compare-and-swap on it. When the pool runs low the request wakes the coordination thread
//! (one flag, set once per lease), which leases more. While Redis is unreachable the budget is
//! *degraded*: it spends the pool, then a local bucket holding this process's declared share.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use market_data_pipeline::flow::{
    BucketLimits, ProviderHandle, SharedBudget, SharedBudgetStatus, TokenBucket,
};
use market_data_pipeline::PacingError;

use crate::error::CoordError;

/// One budget window as Redis sees it.
#[derive(Clone, Debug)]
pub(crate) struct WindowSpec {
    /// The key of its TAT.
    pub key: String,
    /// Microseconds per token.
    pub interval_us: f64,
    /// Burst capacity.
    pub capacity: u64,
}

/// The budget of one provider shared through Redis (see the module docs).
#[derive(Debug)]
pub struct RedisBudget {
    pub(crate) provider: Arc<str>,
    /// Leased tokens not spent yet. Its own cache line: every admission writes it.
    pool: crossbeam_pad::Padded,
    /// Below this, the next admission asks for a refill.
    pub(crate) low_water: AtomicU64,
    /// A refill was asked for and not served yet.
    pub(crate) want: AtomicBool,
    /// The largest single request refused for want of tokens since the last lease.
    pub(crate) want_tokens: AtomicU64,
    pub(crate) degraded: AtomicBool,
    /// Retry hint for a refused request (ns).
    pub(crate) retry_ns: AtomicU64,
    /// The local share per window while degraded.
    pub(crate) share: Vec<TokenBucket>,
    /// Tokens spent from the local share (resynced into Redis after a degraded spell).
    pub(crate) share_spent: AtomicU64,
    pub(crate) lease_size: AtomicU64,
    pub(crate) round_trips: AtomicU64,
    pub(crate) members: AtomicU64,
    pub(crate) granted: AtomicU64,
    pub(crate) returned: AtomicU64,
    /// The smallest capacity of the windows: a larger request can never pass.
    pub(crate) capacity: u64,
    pub(crate) windows: Vec<WindowSpec>,
    pub(crate) handle: ProviderHandle,
    pub(crate) agent: OnceLock<Thread>,
    /// Where locally triggered cooldowns go to be shared.
    pub(crate) outbox: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<crate::agent::Push>>>,
}

/// Cache padding without a dependency: the pool on a line of its own.
mod crossbeam_pad {
    use std::sync::atomic::AtomicU64;

    #[derive(Debug, Default)]
    #[repr(align(128))]
    pub struct Padded(pub AtomicU64);
}

impl RedisBudget {
    pub(crate) fn new(
        handle: ProviderHandle,
        prefix: &str,
        first_lease: u64,
    ) -> Result<RedisBudget, CoordError> {
        let limits = handle.limits();
        let name = handle.name().to_string();
        let main = BucketLimits::new(limits.capacity, limits.refill_rate).map_err(|e| {
            CoordError::Config(format!("providers.{name}.{}: {}", e.field, e.reason))
        })?;
        let all: Vec<BucketLimits> = std::iter::once(main)
            .chain(limits.windows.iter().copied())
            .collect();
        let windows: Vec<WindowSpec> = all
            .iter()
            .enumerate()
            .map(|(i, l)| WindowSpec {
                key: format!("{prefix}:budget:{name}:w{i}"),
                interval_us: 1e6 / l.rate_per_sec(),
                capacity: l.capacity(),
            })
            .collect();
        let capacity = windows.iter().map(|w| w.capacity).min().unwrap_or(1);
        let clock = handle.clock().clone();
        let share = all
            .iter()
            .map(|l| TokenBucket::with_clock(*l, clock.clone()))
            .collect();
        Ok(RedisBudget {
            provider: Arc::from(name.as_str()),
            pool: crossbeam_pad::Padded::default(),
            low_water: AtomicU64::new(first_lease.div_ceil(2)),
            want: AtomicBool::new(true),
            want_tokens: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            retry_ns: AtomicU64::new(100_000),
            share,
            share_spent: AtomicU64::new(0),
            lease_size: AtomicU64::new(first_lease),
            round_trips: AtomicU64::new(0),
            members: AtomicU64::new(1),
            granted: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            capacity,
            windows,
            handle,
            agent: OnceLock::new(),
            outbox: OnceLock::new(),
        })
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Tokens leased into this process and not spent.
    pub fn leased(&self) -> u64 {
        self.pool.0.load(Ordering::Relaxed)
    }

    /// Whether the budget runs on its local share (Redis unreachable).
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Put `n` leased tokens into the pool (coordination thread).
    pub(crate) fn fill(&self, n: u64) {
        // Release: nothing else is published with the tokens; Relaxed would do, but the
        // pairing documents that a grant happens-before its spending.
        self.pool.0.fetch_add(n, Ordering::Release);
    }

    /// Take every unspent token out of the pool (to give them back).
    pub(crate) fn drain(&self) -> u64 {
        self.pool.0.swap(0, Ordering::AcqRel)
    }

    /// Ask the coordination thread for a refill (once until it serves it).
    #[cold]
    fn ask(&self, tokens: u64) {
        self.want_tokens.fetch_max(tokens, Ordering::Relaxed);
        if !self.want.load(Ordering::Relaxed) && !self.want.swap(true, Ordering::AcqRel) {
            if let Some(t) = self.agent.get() {
                t.unpark();
            }
        }
    }

    /// The degraded path: the local share of every window, all or nothing.
    #[cold]
    fn take_share(&self, now_ns: u64, n: u64) -> Result<(), PacingError> {
        for (i, b) in self.share.iter().enumerate() {
            if let Err(e) = b.try_acquire_at(now_ns, n) {
                for earlier in &self.share[..i] {
                    earlier.refund(n);
                }
                return Err(e);
            }
        }
        self.share_spent.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Take every token out of the local share (it refills at its rate from now).
    pub(crate) fn empty_share(&self) {
        let now = self.handle.clock().now_ns();
        for b in &self.share {
            b.take_up_to_at(now, b.capacity());
        }
    }

    /// Set the local share of every window to `fraction` of it (at least one token, at
    /// least one token per period).
    pub(crate) fn set_share(&self, fraction: f64) {
        let fraction = fraction.clamp(1e-6, 1.0);
        for (b, w) in self.share.iter().zip(&self.windows) {
            let cap = ((w.capacity as f64 * fraction).floor() as u64).max(1);
            // `cap` tokens per `cap / (rate · fraction)`: the window's rate times the share.
            let period_ns = cap as f64 * w.interval_us * 1e3 / fraction;
            if let Ok(l) = BucketLimits::per_period(cap, Duration::from_nanos(period_ns as u64)) {
                b.set_limits(l);
            }
        }
    }
}

impl SharedBudget for RedisBudget {
    #[inline]
    fn try_take(&self, now_ns: u64, tokens: u64) -> Result<(), PacingError> {
        if tokens > self.capacity {
            return Err(PacingError::ExceedsCapacity {
                requested: tokens,
                capacity: self.capacity,
            });
        }
        // Relaxed: the pool guards no other memory; every admission is a successful
        // read-modify-write of this one word, so together they never spend more than was put
        // in.
        let pool = &self.pool.0;
        let mut cur = pool.load(Ordering::Relaxed);
        while cur >= tokens {
            match pool.compare_exchange_weak(
                cur,
                cur - tokens,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if cur - tokens < self.low_water.load(Ordering::Relaxed) {
                        self.ask(tokens);
                    }
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
        self.ask(tokens);
        if self.degraded.load(Ordering::Acquire) {
            return self.take_share(now_ns, tokens);
        }
        Err(PacingError::RateLimited {
            retry_after: Duration::from_nanos(self.retry_ns.load(Ordering::Relaxed).max(1)),
        })
    }

    fn give_back(&self, tokens: u64) {
        self.fill(tokens);
    }

    fn cooldown_triggered(&self, scope: &str, duration: Duration) {
        crate::agent::publish_cooldown(self, scope, duration);
    }

    fn status(&self) -> SharedBudgetStatus {
        SharedBudgetStatus {
            degraded: self.is_degraded(),
            leased: self.leased(),
            lease_size: self.lease_size.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            members: self.members.load(Ordering::Relaxed),
        }
    }
}
