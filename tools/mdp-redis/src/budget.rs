//! `RedisBudget`: the local, lock-free side of a provider budget shared through Redis.
//!
//! Tokens leased from Redis sit in one atomic pool; [`try_take`](SharedBudget::try_take) is a
//! compare-and-swap on it. When the pool runs low the request wakes the coordination thread
//! (one flag, set once per lease), which leases more. While Redis is unreachable the budget is
//! *degraded*: it spends the pool, then a local bucket holding this process's declared share.
//!
//! A provider's high-priority reserve: normal leases never take a window in Redis below its
//! reserve `K`; a high-priority request that finds the pool empty is served from a second
//! pool, leased (for just what it needs) with the reserve allowed. The same type holds a
//! tenant's budget (one window, its own keys, no reserve).
//!
//! Live changes: [`SharedBudget::limits_changed`] / [`SharedBudget::scale_changed`] queue
//! the new limits; the coordination thread stores them in Redis (a versioned spec, the
//! windows' state re-expressed atomically) and every host adopts them at its next lease.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use market_data_pipeline::flow::{
    BucketLimits, Priority, ProviderHandle, ProviderLimits, SharedBudget, SharedBudgetStatus,
    TenantHandle, TokenBucket,
};
use market_data_pipeline::PacingError;

use crate::error::CoordError;

/// One budget window as Redis sees it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WindowSpec {
    /// Microseconds per token at scale 1.
    pub interval_us: f64,
    /// Burst capacity.
    pub capacity: u64,
    /// Tokens kept for high-priority requests.
    pub reserve: u64,
}

/// A budget's limits as every host shares them: the windows, the scale, and the version of
/// the last live change stored in Redis (0: none yet; each host uses its registered limits).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Params {
    pub version: u64,
    pub scale: f64,
    pub windows: Vec<WindowSpec>,
}

impl Params {
    /// `scale;T,C,K;T,C,K…`, as the scripts parse it.
    pub fn spec(&self) -> String {
        let mut s = format!("{}", self.scale);
        for w in &self.windows {
            s.push_str(&format!(";{},{},{}", w.interval_us, w.capacity, w.reserve));
        }
        s
    }

    /// Read a spec stored by another host; it must have `windows` windows.
    pub fn parse(version: u64, spec: &str, windows: usize) -> Result<Params, String> {
        let bad = || format!("limits spec {spec:?} (version {version}) is not valid here");
        let mut parts = spec.split(';');
        let scale: f64 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        if !(0.0..=1.0).contains(&scale) {
            return Err(bad());
        }
        let windows_parsed = parts
            .map(|w| {
                let mut f = w.split(',');
                let interval_us: f64 = f.next()?.parse().ok()?;
                let capacity: u64 = f.next()?.parse().ok()?;
                let reserve: u64 = f.next()?.parse().ok()?;
                (f.next().is_none()
                    && interval_us.is_finite()
                    && interval_us > 0.0
                    && capacity > 0
                    && reserve < capacity)
                    .then_some(WindowSpec {
                        interval_us,
                        capacity,
                        reserve,
                    })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        if windows_parsed.len() != windows {
            return Err(bad());
        }
        Ok(Params {
            version,
            scale,
            windows: windows_parsed,
        })
    }

    /// The windows of a provider's limits (main window first), with their reserves.
    pub fn windows_of(name: &str, limits: &ProviderLimits) -> Result<Vec<WindowSpec>, CoordError> {
        let main = BucketLimits::new(limits.capacity, limits.refill_rate).map_err(|e| {
            CoordError::Config(format!("providers.{name}.{}: {}", e.field, e.reason))
        })?;
        Ok(std::iter::once(main)
            .chain(limits.windows.iter().copied())
            .map(|l| WindowSpec {
                interval_us: 1e6 / l.rate_per_sec(),
                capacity: l.capacity(),
                reserve: (l.capacity() as f64 * limits.high_priority_reserve).floor() as u64,
            })
            .collect())
    }

    /// The microseconds per token in force (scale applied; the base interval while
    /// suspended, when nothing is leased anyway).
    pub fn interval_in_force(&self, w: &WindowSpec) -> f64 {
        if self.scale > 0.0 {
            w.interval_us / self.scale
        } else {
            w.interval_us
        }
    }
}

/// The budget of one provider shared through Redis (see the module docs).
#[derive(Debug)]
pub struct RedisBudget {
    pub(crate) provider: Arc<str>,
    /// The tenant whose budget this is (`None`: the provider's own).
    pub(crate) tenant: Option<Arc<str>>,
    /// Leased tokens not spent yet. Its own cache line: every admission writes it.
    pool: crossbeam_pad::Padded,
    /// Tokens leased from the reserve for high-priority requests (only they spend them).
    high_pool: AtomicU64,
    /// The largest high-priority request refused for want of tokens since the last such lease.
    pub(crate) want_high: AtomicU64,
    /// Some window has a reserve (high priority leases separately).
    has_reserve: AtomicBool,
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
    capacity: AtomicU64,
    /// The same less the reserve: a larger normal-priority request can never pass.
    normal_capacity: AtomicU64,
    /// The key of the limits hash, and of every window's TAT.
    pub(crate) params_key: String,
    pub(crate) keys: Vec<String>,
    /// The limits in force here (the coordination thread changes them).
    params: Mutex<Params>,
    /// A live change made here, not yet stored in Redis.
    pending: Mutex<Option<Params>>,
    /// `params.version`, readable without the lock.
    version: AtomicU64,
    /// Tokens spent here (leased, not returned, not in a pool) when the last version was adopted.
    pub(crate) spent_at_adopt: AtomicU64,
    /// The local share's fraction (f64 bits), and the tokens of each share window kept for high
    /// priority.
    share_fraction: AtomicU64,
    share_keep: Vec<AtomicU64>,
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
        let name = handle.name().to_string();
        let windows = Params::windows_of(&name, &handle.limits())?;
        let base = format!("{prefix}:budget:{name}");
        Ok(Self::build(handle, None, &base, windows, first_lease))
    }

    /// The budget of `tenant` at its provider: one window, no reserve.
    pub(crate) fn for_tenant(tenant: &TenantHandle, prefix: &str, first_lease: u64) -> RedisBudget {
        let l = tenant.limits();
        let windows = vec![WindowSpec {
            interval_us: 1e6 / l.rate_per_sec(),
            capacity: l.capacity(),
            reserve: 0,
        }];
        let handle = tenant.provider().clone();
        let base = format!("{prefix}:tenant:{}:{}", handle.name(), tenant.name());
        Self::build(
            handle,
            Some(Arc::from(tenant.name())),
            &base,
            windows,
            first_lease,
        )
    }

    fn build(
        handle: ProviderHandle,
        tenant: Option<Arc<str>>,
        base: &str,
        windows: Vec<WindowSpec>,
        first_lease: u64,
    ) -> RedisBudget {
        let clock = handle.clock().clone();
        let share = windows
            .iter()
            .map(|w| {
                let l = BucketLimits::per_period(
                    w.capacity,
                    Duration::from_nanos((w.capacity as f64 * w.interval_us * 1e3) as u64),
                )
                .or_else(|_| BucketLimits::new(w.capacity, 1))
                .expect("a capacity > 0 at 1 token/s is valid");
                TokenBucket::with_clock(l, clock.clone())
            })
            .collect();
        let params = Params {
            version: 0,
            scale: 1.0,
            windows,
        };
        let b = RedisBudget {
            provider: Arc::from(handle.name()),
            tenant,
            pool: crossbeam_pad::Padded::default(),
            high_pool: AtomicU64::new(0),
            want_high: AtomicU64::new(0),
            has_reserve: AtomicBool::new(false),
            low_water: AtomicU64::new(first_lease.div_ceil(2)),
            want: AtomicBool::new(true),
            want_tokens: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            retry_ns: AtomicU64::new(100_000),
            share_keep: params.windows.iter().map(|_| AtomicU64::new(0)).collect(),
            share,
            share_spent: AtomicU64::new(0),
            lease_size: AtomicU64::new(first_lease),
            round_trips: AtomicU64::new(0),
            members: AtomicU64::new(1),
            granted: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            capacity: AtomicU64::new(1),
            normal_capacity: AtomicU64::new(1),
            params_key: format!("{base}:limits"),
            keys: (0..params.windows.len())
                .map(|i| format!("{base}:w{i}"))
                .collect(),
            params: Mutex::new(params.clone()),
            pending: Mutex::new(None),
            version: AtomicU64::new(0),
            spent_at_adopt: AtomicU64::new(0),
            share_fraction: AtomicU64::new(1f64.to_bits()),
            handle,
            agent: OnceLock::new(),
            outbox: OnceLock::new(),
        };
        b.install(&params);
        b
    }

    /// The smallest capacity of the windows in force.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Relaxed)
    }

    /// The smallest capacity less the reserve of the windows in force.
    pub(crate) fn normal_capacity(&self) -> u64 {
        self.normal_capacity.load(Ordering::Relaxed)
    }

    /// The limits in force here.
    pub(crate) fn params(&self) -> Params {
        lock(&self.params).clone()
    }

    /// The version of the shared limits this host admits under (0: the registered limits, no
    /// live change stored yet).
    pub fn limits_version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Tokens this host has spent from its leases so far (leased, not given back, not in a
    /// pool).
    pub fn spent(&self) -> u64 {
        self.granted
            .load(Ordering::Relaxed)
            .saturating_sub(self.returned.load(Ordering::Relaxed))
            .saturating_sub(self.leased())
    }

    /// [`spent`](Self::spent) when the current limits version was adopted (its pools emptied
    /// first): what was spent after it was all leased under the current limits.
    pub fn spent_at_adopt(&self) -> u64 {
        self.spent_at_adopt.load(Ordering::Acquire)
    }

    /// Tokens admitted from the local share while degraded, so far.
    pub fn share_spent(&self) -> u64 {
        self.share_spent.load(Ordering::Relaxed)
    }

    /// The tenant whose budget this is (`None`: the provider's).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Take the live change queued here, if any.
    pub(crate) fn take_pending(&self) -> Option<Params> {
        lock(&self.pending).take()
    }

    /// Put back a change that could not be stored (unless a newer one was queued meanwhile).
    pub(crate) fn requeue(&self, p: Params) {
        let mut pending = lock(&self.pending);
        if pending.is_none() {
            *pending = Some(p);
        }
    }

    /// Queue a live change for the coordination thread (`f` edits the newest limits known
    /// here).
    fn queue(&self, f: impl FnOnce(&mut Params)) {
        {
            let mut pending = lock(&self.pending);
            let mut next = pending.clone().unwrap_or_else(|| self.params());
            f(&mut next);
            *pending = Some(next);
        }
        if let Some(t) = self.agent.get() {
            t.unpark();
        }
    }

    /// Admit under `params` from now on (coordination thread): the capacity check, the
    /// reserve, the local share. The caller empties the pools.
    pub(crate) fn install(&self, params: &Params) {
        let capacity = params.windows.iter().map(|w| w.capacity).min().unwrap_or(1);
        self.capacity.store(capacity, Ordering::Relaxed);
        let normal = params
            .windows
            .iter()
            .map(|w| w.capacity - w.reserve)
            .min()
            .unwrap_or(1);
        self.normal_capacity.store(normal, Ordering::Relaxed);
        self.has_reserve.store(
            params.windows.iter().any(|w| w.reserve > 0),
            Ordering::Relaxed,
        );
        *lock(&self.params) = params.clone();
        self.set_share(f64::from_bits(self.share_fraction.load(Ordering::Relaxed)));
        self.version.store(params.version, Ordering::Release);
    }

    /// Take every unspent token out of both pools.
    pub(crate) fn drain_all(&self) -> u64 {
        self.drain() + self.high_pool.swap(0, Ordering::AcqRel)
    }

    /// Put `n` tokens leased from the reserve into the high-priority pool.
    pub(crate) fn fill_high(&self, n: u64) {
        self.high_pool.fetch_add(n, Ordering::Release);
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Tokens leased into this process and not spent.
    pub fn leased(&self) -> u64 {
        self.pool.0.load(Ordering::Relaxed) + self.high_pool.load(Ordering::Relaxed)
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

    /// Ask the coordination thread for a lease from the reserve.
    #[cold]
    fn ask_high(&self, tokens: u64) {
        if self.want_high.fetch_max(tokens, Ordering::AcqRel) == 0 {
            if let Some(t) = self.agent.get() {
                t.unpark();
            }
        }
    }

    /// The degraded path: the local share of every window, all or nothing (normal priority
    /// keeps the share's part of the reserve).
    #[cold]
    fn take_share(&self, now_ns: u64, n: u64, high: bool) -> Result<(), PacingError> {
        for (i, b) in self.share.iter().enumerate() {
            let keep = if high {
                0
            } else {
                self.share_keep[i].load(Ordering::Relaxed)
            };
            if let Err(e) = b.try_acquire_keeping_at(now_ns, n, keep) {
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
    /// least one token per period), at the scale in force.
    pub(crate) fn set_share(&self, fraction: f64) {
        let fraction = fraction.clamp(1e-6, 1.0);
        self.share_fraction
            .store(fraction.to_bits(), Ordering::Relaxed);
        let params = self.params();
        for ((b, w), keep) in self.share.iter().zip(&params.windows).zip(&self.share_keep) {
            let cap = ((w.capacity as f64 * fraction).floor() as u64).max(1);
            // `cap` tokens per `cap / (rate · fraction)`: the window's rate times the share.
            let period_ns = cap as f64 * w.interval_us * 1e3 / fraction;
            if let Ok(l) = BucketLimits::per_period(cap, Duration::from_nanos(period_ns as u64)) {
                b.set_limits(l);
            }
            let _ = b.set_scale(params.scale);
            keep.store(
                (cap as f64 * w.reserve as f64 / w.capacity as f64).floor() as u64,
                Ordering::Relaxed,
            );
        }
    }

    /// Take `tokens` for a request (`high`: it may spend the reserve).
    #[inline]
    fn take(&self, now_ns: u64, tokens: u64, high: bool) -> Result<(), PacingError> {
        // As a local window: a normal request above the capacity less the reserve never fits.
        let capacity = if high {
            &self.capacity
        } else {
            &self.normal_capacity
        }
        .load(Ordering::Relaxed);
        if tokens > capacity {
            return Err(PacingError::ExceedsCapacity {
                requested: tokens,
                capacity,
            });
        }
        // Relaxed: the pools guard no other memory; every admission is a successful
        // read-modify-write of one word, so together they never spend more than was put in.
        if let Some(left) = cas_take(&self.pool.0, tokens) {
            if left < self.low_water.load(Ordering::Relaxed) {
                self.ask(tokens);
            }
            return Ok(());
        }
        self.ask(tokens);
        let high = high && self.has_reserve.load(Ordering::Relaxed);
        if high {
            if cas_take(&self.high_pool, tokens).is_some() {
                return Ok(());
            }
            self.ask_high(tokens);
        }
        if self.degraded.load(Ordering::Acquire) {
            return self.take_share(now_ns, tokens, high);
        }
        Err(PacingError::RateLimited {
            retry_after: Duration::from_nanos(self.retry_ns.load(Ordering::Relaxed).max(1)),
        })
    }
}

/// Take `n` from `pool` if it holds them; the tokens left.
#[inline(always)]
fn cas_take(pool: &AtomicU64, n: u64) -> Option<u64> {
    let mut cur = pool.load(Ordering::Relaxed);
    while cur >= n {
        match pool.compare_exchange_weak(cur, cur - n, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(cur - n),
            Err(now) => cur = now,
        }
    }
    None
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedBudget for RedisBudget {
    #[inline]
    fn try_take(&self, now_ns: u64, tokens: u64) -> Result<(), PacingError> {
        self.take(now_ns, tokens, false)
    }

    #[inline]
    fn try_take_as(&self, now_ns: u64, tokens: u64, priority: Priority) -> Result<(), PacingError> {
        self.take(now_ns, tokens, priority == Priority::High)
    }

    fn give_back(&self, tokens: u64) {
        self.fill(tokens);
    }

    fn limits_changed(&self, limits: &ProviderLimits) {
        if let Ok(windows) = Params::windows_of(&self.provider, limits) {
            self.queue(|p| p.windows = windows);
        }
    }

    fn scale_changed(&self, scale: f64) {
        self.queue(|p| p.scale = scale);
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
