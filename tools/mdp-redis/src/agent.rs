//! `Coordination`: the process's link to Redis. One thread leases tokens into the budgets'
//! pools, gives unspent ones back, keeps this process's membership alive, pushes cooldowns
//! and reconnects with back-off; a second thread listens for other hosts' cooldowns.
//!
//! Nothing on a data path waits for Redis: admissions spend the local pool (see
//! [`RedisBudget`]); only these threads make round trips, each bounded by
//! `coordination.timeout_ms`. A failed call marks every budget degraded (local share) until a
//! reconnection succeeds and the state is resynced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use market_data_pipeline::flow::{ProviderHandle, TenantHandle};

use crate::budget::RedisBudget;
use crate::config::CoordinationConfig;
use crate::error::{redis_err, CoordError};
use crate::live;
use crate::scripts::Scripts;

/// A cooldown to push to Redis: provider, scope, duration.
pub(crate) type Push = (Arc<str>, String, Duration);

/// What the threads share.
struct Inner {
    config: CoordinationConfig,
    client: redis::Client,
    scripts: Scripts,
    member: String,
    budgets: Mutex<Vec<Arc<RedisBudget>>>,
    pushes: Sender<Push>,
    stop: AtomicBool,
    /// Last connection error (for the snapshot).
    last_error: Mutex<Option<String>>,
}

/// Queue a cooldown triggered locally for the other hosts (never blocks on Redis).
pub(crate) fn publish_cooldown(budget: &RedisBudget, scope: &str, duration: Duration) {
    if let Some(tx) = budget.outbox.get() {
        let tx = tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = tx.send((budget.provider.clone(), scope.to_string(), duration));
    }
    if let Some(t) = budget.agent.get() {
        t.unpark();
    }
}

/// A process's coordination through Redis. Dropping it stops its threads and gives unspent
/// leased tokens back.
pub struct Coordination {
    inner: Arc<Inner>,
    agent: Option<JoinHandle<()>>,
    listener: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Coordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordination")
            .field("url", &self.inner.config.url)
            .field("member", &self.inner.member)
            .finish()
    }
}

impl Coordination {
    /// Start the coordination threads. Redis need not be reachable now: budgets start
    /// degraded and resync when it is.
    ///
    /// # Errors
    /// [`CoordError::Config`] for invalid settings.
    pub fn start(config: CoordinationConfig) -> Result<Coordination, CoordError> {
        config.validate()?;
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| redis_err("coordination.url", &e))?;
        let member = config.member.clone().unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("pid-{}-{t}", std::process::id())
        });
        let (tx, rx) = channel();
        let inner = Arc::new(Inner {
            config,
            client,
            scripts: Scripts::new(),
            member,
            budgets: Mutex::new(Vec::new()),
            pushes: tx,
            stop: AtomicBool::new(false),
            last_error: Mutex::new(None),
        });
        let a = inner.clone();
        let agent = std::thread::Builder::new()
            .name("mdp-coord".into())
            .spawn(move || run_agent(&a, &rx))
            .map_err(|e| {
                CoordError::Config(format!("cannot start the coordination thread: {e}"))
            })?;
        let l = inner.clone();
        let listener = std::thread::Builder::new()
            .name("mdp-coord-listen".into())
            .spawn(move || run_listener(&l))
            .map_err(|e| CoordError::Config(format!("cannot start the listener thread: {e}")))?;
        Ok(Coordination {
            inner,
            agent: Some(agent),
            listener: Some(listener),
        })
    }

    /// This process's member id.
    pub fn member(&self) -> &str {
        &self.inner.member
    }

    /// The last Redis error met, if the link is down.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Share `provider`'s budget, cooldowns included, with every process coordinated through
    /// the same Redis and key prefix: from the next request on, its admissions spend tokens
    /// leased from Redis.
    ///
    /// # Errors
    /// [`CoordError::Config`] when the provider already has a shared budget or its limits
    /// cannot be expressed.
    pub fn share(&self, provider: &ProviderHandle) -> Result<Arc<RedisBudget>, CoordError> {
        let c = &self.inner.config;
        let budget = Arc::new(RedisBudget::new(
            provider.clone(),
            &c.key_prefix,
            c.lease_min.max(1),
        )?);
        self.enlist(budget, |b| {
            provider
                .attach_shared_budget(b)
                .map_err(|e| CoordError::Config(format!("{}: {}", e.field, e.reason)))
        })
    }

    /// Share `tenant`'s budget at its provider with every process coordinated through the
    /// same Redis and key prefix that shares the same tenant name at the same provider name:
    /// its bucket is held in Redis (one GCRA window, leased into a local pool like a
    /// provider's), so the tenant's limit holds across all hosts. The provider's own budget
    /// is shared separately ([`share`](Self::share)).
    ///
    /// # Errors
    /// [`CoordError::Config`] when the tenant handle already has a shared budget.
    pub fn share_tenant(&self, tenant: &TenantHandle) -> Result<Arc<RedisBudget>, CoordError> {
        let c = &self.inner.config;
        let budget = Arc::new(RedisBudget::for_tenant(
            tenant,
            &c.key_prefix,
            c.lease_min.max(1),
        ));
        self.enlist(budget, |b| {
            tenant
                .attach_shared_budget(b)
                .map_err(|e| CoordError::Config(format!("{}: {}", e.field, e.reason)))
        })
    }

    /// Start `budget` degraded (empty local share), attach it with `attach` and serve it.
    fn enlist(
        &self,
        budget: Arc<RedisBudget>,
        attach: impl FnOnce(Arc<RedisBudget>) -> Result<(), CoordError>,
    ) -> Result<Arc<RedisBudget>, CoordError> {
        let c = &self.inner.config;
        budget.degraded.store(true, Ordering::Release);
        budget.set_share(c.local_share.unwrap_or(1.0 / c.fallback_members as f64));
        // Until Redis is first reached the share starts empty (it refills at its rate): a
        // starting host must not add a burst on top of the account's.
        budget.empty_share();
        if let Some(t) = self.agent.as_ref() {
            let _ = budget.agent.set(t.thread().clone());
        }
        let _ = budget.outbox.set(Mutex::new(self.inner.pushes.clone()));
        attach(budget.clone())?;
        self.inner
            .budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(budget.clone());
        if let Some(t) = self.agent.as_ref() {
            t.thread().unpark();
        }
        Ok(budget)
    }

    /// Stop the threads, give unspent tokens back and leave the membership.
    pub fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        for t in [self.agent.take(), self.listener.take()]
            .into_iter()
            .flatten()
        {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Coordination {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Exponential back-off between reconnection attempts.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff {
            next: Duration::from_millis(10),
            max,
        }
    }
    fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    fn reset(&mut self) {
        self.next = Duration::from_millis(10);
    }
}

/// The coordination thread's view of one budget's lease.
struct Lease {
    /// Unspent tokens go back after this (the last grant + TTL).
    expires: Option<Instant>,
    /// Redis said the next lease cannot be granted before this.
    retry_at: Instant,
    /// The same for a lease from the reserve.
    retry_high: Instant,
    sampled_at: Instant,
    consumed_at_sample: u64,
    /// Demand, tokens per second (smoothed).
    demand: f64,
    /// Tokens spent from the local share at the start of the degraded spell.
    share_mark: u64,
}

impl Lease {
    fn new(now: Instant) -> Lease {
        Lease {
            expires: None,
            retry_at: now,
            retry_high: now,
            sampled_at: now,
            consumed_at_sample: 0,
            demand: 0.0,
            share_mark: 0,
        }
    }
}

fn connect(inner: &Inner) -> Result<redis::Connection, redis::RedisError> {
    let t = inner.config.timeout();
    let con = inner.client.get_connection_with_timeout(t)?;
    con.set_read_timeout(Some(t))?;
    con.set_write_timeout(Some(t))?;
    Ok(con)
}

fn key_members(inner: &Inner) -> String {
    format!("{}:members", inner.config.key_prefix)
}

fn key_cooldowns(prefix: &str, provider: &str) -> String {
    format!("{prefix}:cooldown:{provider}")
}

fn channel_cooldowns(prefix: &str) -> String {
    format!("{prefix}:cooldowns")
}

fn run_agent(inner: &Arc<Inner>, pushes: &Receiver<Push>) {
    let cfg = &inner.config;
    let mut con: Option<redis::Connection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(cfg.backoff_max_ms));
    let mut next_attempt = Instant::now();
    let mut next_heartbeat = Instant::now();
    let mut leases: HashMap<usize, Lease> = HashMap::new();
    let mut pending: Vec<Push> = Vec::new();
    let mut members: u64 = cfg.fallback_members;
    while !inner.stop.load(Ordering::Acquire) {
        pending.extend(pushes.try_iter());
        let budgets: Vec<Arc<RedisBudget>> = inner
            .budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = Instant::now();
        if con.is_none() && now >= next_attempt {
            match connect(inner).and_then(|mut c| {
                resync(inner, &mut c, &budgets, &mut leases, &mut members).map(|()| c)
            }) {
                Ok(c) => {
                    con = Some(c);
                    backoff.reset();
                    next_heartbeat = Instant::now() + heartbeat_every(cfg);
                    *inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Err(e) => {
                    next_attempt = now + backoff.step();
                    degrade(inner, &budgets, &mut leases, members, &e);
                }
            }
        }
        let mut wait = Duration::from_millis(1);
        if let Some(c) = con.as_mut() {
            let step = (|| -> redis::RedisResult<()> {
                while let Some(p) = pending.first() {
                    push_cooldown(inner, c, p)?;
                    pending.remove(0);
                }
                if Instant::now() >= next_heartbeat {
                    members = heartbeat(inner, c)?;
                    next_heartbeat = Instant::now() + heartbeat_every(cfg);
                }
                for b in &budgets {
                    let key = Arc::as_ptr(b) as usize;
                    let lease = leases
                        .entry(key)
                        .or_insert_with(|| Lease::new(Instant::now()));
                    if b.degraded.load(Ordering::Acquire) {
                        // Shared after the connection came up: nothing to resync yet.
                        b.degraded.store(false, Ordering::Release);
                    }
                    b.members.store(members, Ordering::Relaxed);
                    if let Some(w) = serve(inner, c, b, lease, members)? {
                        wait = wait.min(w);
                    }
                }
                Ok(())
            })();
            if let Err(e) = step {
                con = None;
                next_attempt = Instant::now() + backoff.step();
                degrade(inner, &budgets, &mut leases, members, &e);
            }
        }
        std::thread::park_timeout(wait);
    }
    // Stopping: give every unspent token back and leave the membership.
    let budgets: Vec<Arc<RedisBudget>> = inner
        .budgets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for b in &budgets {
        b.degraded.store(true, Ordering::Release);
    }
    if let Some(c) = con.as_mut() {
        for p in pending.drain(..).chain(pushes.try_iter()) {
            let _ = push_cooldown(inner, c, &p);
        }
        for b in &budgets {
            let left = b.drain_all();
            if left > 0 {
                let _ = live::give_back(&inner.scripts, c, b, left);
            }
        }
        let _: redis::RedisResult<()> = redis::cmd("ZREM")
            .arg(key_members(inner))
            .arg(&inner.member)
            .query(c);
    }
}

fn heartbeat_every(cfg: &CoordinationConfig) -> Duration {
    Duration::from_millis((cfg.membership_ttl_ms / 3).max(1))
}

fn heartbeat(inner: &Inner, c: &mut redis::Connection) -> redis::RedisResult<u64> {
    let n: u64 = inner
        .scripts
        .heartbeat
        .key(key_members(inner))
        .arg(&inner.member)
        .arg(inner.config.membership_ttl_ms)
        .invoke(c)?;
    Ok(n.max(1))
}

/// Mark every budget degraded: each spends its local share from now on.
fn degrade(
    inner: &Inner,
    budgets: &[Arc<RedisBudget>],
    leases: &mut HashMap<usize, Lease>,
    members: u64,
    e: &redis::RedisError,
) {
    *inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    let share = inner
        .config
        .local_share
        .unwrap_or(1.0 / members.max(1) as f64);
    for b in budgets {
        if !b.degraded.load(Ordering::Acquire) {
            b.set_share(share);
            if let Some(l) = leases.get_mut(&(Arc::as_ptr(b) as usize)) {
                l.share_mark = b.share_spent.load(Ordering::Relaxed);
            }
            b.degraded.store(true, Ordering::Release);
        }
    }
}

/// After a (re)connection: join the membership, charge Redis with what the local shares
/// admitted meanwhile (at most one share's burst per window), fetch the running cooldowns.
fn resync(
    inner: &Inner,
    c: &mut redis::Connection,
    budgets: &[Arc<RedisBudget>],
    leases: &mut HashMap<usize, Lease>,
    members: &mut u64,
) -> redis::RedisResult<()> {
    *members = heartbeat(inner, c)?;
    for b in budgets {
        let lease = leases
            .entry(Arc::as_ptr(b) as usize)
            .or_insert_with(|| Lease::new(Instant::now()));
        let spent = b.share_spent.load(Ordering::Relaxed) - lease.share_mark;
        lease.share_mark = b.share_spent.load(Ordering::Relaxed);
        let cap = b.share.iter().map(|s| s.capacity()).min().unwrap_or(1);
        let charge = spent.min(cap);
        if charge > 0 {
            let ask = live::Ask {
                want: charge,
                min: charge,
                floor: charge,
                force: true,
                high: true,
                max_wait: Duration::ZERO,
            };
            live::lease(&inner.scripts, c, b, ask)?;
        }
        let running: Vec<String> = inner
            .scripts
            .cooldowns
            .key(key_cooldowns(&inner.config.key_prefix, b.provider()))
            .invoke(c)?;
        for pair in running.chunks_exact(2) {
            if let Ok(us) = pair[1].parse::<u64>() {
                let _ = b.handle.apply_cooldown(&pair[0], Duration::from_micros(us));
            }
        }
        b.degraded.store(false, Ordering::Release);
    }
    Ok(())
}

fn push_cooldown(inner: &Inner, c: &mut redis::Connection, p: &Push) -> redis::RedisResult<()> {
    let prefix = &inner.config.key_prefix;
    let (provider, scope, duration) = p;
    let us = u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .min(1 << 50);
    let _: i64 = inner
        .scripts
        .cooldown
        .key(key_cooldowns(prefix, provider))
        .arg(scope)
        .arg(us)
        .arg(channel_cooldowns(prefix))
        .arg(&**provider)
        .invoke(c)?;
    Ok(())
}

/// One budget's turn: sample demand, give an expired lease back, lease when low. Returns
/// how soon it wants another turn.
fn serve(
    inner: &Inner,
    c: &mut redis::Connection,
    b: &RedisBudget,
    lease: &mut Lease,
    members: u64,
) -> redis::RedisResult<Option<Duration>> {
    let cfg = &inner.config;
    let now = Instant::now();
    let pool = b.leased();
    let granted = b.granted.load(Ordering::Relaxed);
    let returned = b.returned.load(Ordering::Relaxed);
    let consumed = granted.saturating_sub(returned).saturating_sub(pool);
    let dt = now.duration_since(lease.sampled_at);
    if dt >= Duration::from_millis(10) {
        let rate = consumed.saturating_sub(lease.consumed_at_sample) as f64 / dt.as_secs_f64();
        lease.demand = 0.7 * lease.demand + 0.3 * rate;
        if b.want.load(Ordering::Relaxed) && pool == 0 {
            // Starved: demand is above what the grants showed.
            lease.demand *= 1.25;
        }
        lease.sampled_at = now;
        lease.consumed_at_sample = consumed;
    }
    live::push_limits(&inner.scripts, c, b)?;
    // Leases never above what a normal request may spend (the capacity less the reserve);
    // `lo <= hi` even when `lease_min` is above the capacity (clamp would panic).
    let hi = b.normal_capacity().max(1);
    let lo = cfg.lease_min.max(1).min(hi);
    let max = cfg
        .lease_max
        .unwrap_or(b.capacity() / (2 * members.max(1)))
        .clamp(lo, hi);
    let size = ((lease.demand * cfg.lease_target_ms as f64 / 1e3) as u64).clamp(lo, max);
    b.lease_size.store(size, Ordering::Relaxed);
    b.low_water.store(size.div_ceil(2), Ordering::Relaxed);

    let max_wait = Duration::from_millis(cfg.lease_target_ms);
    if now >= lease.retry_high {
        match live::lease_high(&inner.scripts, c, b, max_wait)? {
            live::High::Idle => {}
            live::High::Granted => {
                lease.expires = Some(now + Duration::from_millis(cfg.lease_ttl_ms));
            }
            live::High::Wait(w) => lease.retry_high = now + w,
        }
    }
    let wanted = b.want.load(Ordering::Acquire);
    if !wanted && pool > 0 && lease.expires.is_some_and(|e| now >= e) {
        let left = b.drain_all();
        lease.expires = None;
        if left > 0 {
            live::give_back(&inner.scripts, c, b, left)?;
        }
        return Ok(None);
    }
    if !(wanted || pool < size.div_ceil(2)) {
        return Ok(None);
    }
    if now < lease.retry_at {
        return Ok(Some(lease.retry_at - now));
    }
    // A normal lease never takes the reserve: no more than the capacity less it.
    let need = b
        .want_tokens
        .load(Ordering::Relaxed)
        .min(b.normal_capacity());
    let want = size.max(need);
    let min = size.div_ceil(2).max(need).max(1).min(want);
    let floor = need.max(1).min(want);
    let ask = live::Ask {
        want,
        min,
        floor,
        force: false,
        high: false,
        max_wait,
    };
    let (grant, wait_us) = live::lease(&inner.scripts, c, b, ask)?;
    if grant > 0 {
        b.granted.fetch_add(grant, Ordering::Relaxed);
        b.fill(grant);
        b.want_tokens.store(0, Ordering::Relaxed);
        b.want.store(false, Ordering::Release);
        b.retry_ns.store(20_000, Ordering::Relaxed);
        lease.expires = Some(now + Duration::from_millis(cfg.lease_ttl_ms));
        lease.retry_at = now;
        Ok(None)
    } else {
        let wait = Duration::from_micros(wait_us.max(50));
        b.retry_ns.store(
            u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        lease.retry_at = now + wait;
        Ok(Some(wait))
    }
}

/// The listener: applies cooldowns other hosts triggered, as they are published.
fn run_listener(inner: &Arc<Inner>) {
    let prefix = inner.config.key_prefix.clone();
    let chan = channel_cooldowns(&prefix);
    let mut backoff = Backoff::new(Duration::from_millis(inner.config.backoff_max_ms));
    while !inner.stop.load(Ordering::Acquire) {
        let mut con = match connect(inner) {
            Ok(c) => c,
            Err(_) => {
                std::thread::park_timeout(backoff.step());
                continue;
            }
        };
        let mut ps = con.as_pubsub();
        if ps.subscribe(&chan).is_err()
            || ps
                .set_read_timeout(Some(Duration::from_millis(50)))
                .is_err()
        {
            std::thread::park_timeout(backoff.step());
            continue;
        }
        backoff.reset();
        while !inner.stop.load(Ordering::Acquire) {
            match ps.get_message() {
                Ok(msg) => {
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    apply_message(inner, &payload);
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
}

/// `provider \t scope \t remaining_us`: apply locally (never shortening a running one).
fn apply_message(inner: &Inner, payload: &str) {
    let mut parts = payload.splitn(3, '\t');
    let (Some(provider), Some(scope), Some(us)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(us) = us.parse::<u64>() else { return };
    let budgets = inner.budgets.lock().unwrap_or_else(|p| p.into_inner());
    for b in budgets.iter().filter(|b| b.provider() == provider) {
        let _ = b.handle.apply_cooldown(scope, Duration::from_micros(us));
    }
}
