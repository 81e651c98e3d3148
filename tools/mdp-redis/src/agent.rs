//! `Coordination`: the process's link to Redis. One thread leases tokens into the budgets'
//! pools, gives unspent ones back, claims and releases shared breakers' probe slots, keeps this
//! process's membership alive and reconnects with back-off; a second thread (the pusher) waits
//! on the queue of cooldowns and breaker transitions triggered here and pushes each the moment
//! it is queued, on its own connection (never behind a lease's round trip); a third listens
//! for other hosts' cooldowns and breaker transitions.
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

use crate::breaker::RedisBreaker;
use crate::budget::RedisBudget;
use crate::config::CoordinationConfig;
use crate::error::{redis_err, CoordError};
use crate::live;
use crate::scripts::Scripts;

/// A transition triggered here, to push to Redis (and so to every other host).
#[derive(Debug)]
pub(crate) enum Push {
    /// A cooldown: provider, scope, duration.
    Cooldown(Arc<str>, String, Duration),
    /// A shared breaker opened: provider, OPEN period, when.
    Open(Arc<str>, Duration, Instant),
    /// A shared breaker closed: provider.
    Close(Arc<str>),
}

/// What the threads share.
struct Inner {
    config: CoordinationConfig,
    client: redis::Client,
    scripts: Scripts,
    member: String,
    budgets: Mutex<Vec<Arc<RedisBudget>>>,
    breakers: Mutex<Vec<Arc<RedisBreaker>>>,
    pushes: Sender<Push>,
    stop: AtomicBool,
    /// The listener is subscribed (and has caught up with what was published before).
    listening: AtomicBool,
    /// Last connection error (for the snapshot).
    last_error: Mutex<Option<String>>,
}

/// Queue a cooldown triggered locally for the other hosts (never blocks on Redis).
pub(crate) fn publish_cooldown(budget: &RedisBudget, scope: &str, duration: Duration) {
    if let Some(tx) = budget.outbox.get() {
        let tx = tx.lock().unwrap_or_else(|p| p.into_inner());
        // The pusher waits on this queue: the send wakes it.
        let _ = tx.send(Push::Cooldown(
            budget.provider.clone(),
            scope.to_string(),
            duration,
        ));
    }
}

/// Lock `m`, recovering the data of a poisoned lock (the threads only copy lists out).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A process's coordination through Redis. Dropping it stops its threads and gives unspent
/// leased tokens back.
pub struct Coordination {
    inner: Arc<Inner>,
    agent: Option<JoinHandle<()>>,
    pusher: Option<JoinHandle<()>>,
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
            breakers: Mutex::new(Vec::new()),
            pushes: tx,
            stop: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            last_error: Mutex::new(None),
        });
        let a = inner.clone();
        let agent = std::thread::Builder::new()
            .name("mdp-coord".into())
            .spawn(move || run_agent(&a))
            .map_err(|e| {
                CoordError::Config(format!("cannot start the coordination thread: {e}"))
            })?;
        let p = inner.clone();
        let pusher = std::thread::Builder::new()
            .name("mdp-coord-push".into())
            .spawn(move || run_pusher(&p, &rx))
            .map_err(|e| CoordError::Config(format!("cannot start the pusher thread: {e}")))?;
        let l = inner.clone();
        let listener = std::thread::Builder::new()
            .name("mdp-coord-listen".into())
            .spawn(move || run_listener(&l))
            .map_err(|e| CoordError::Config(format!("cannot start the listener thread: {e}")))?;
        Ok(Coordination {
            inner,
            agent: Some(agent),
            pusher: Some(pusher),
            listener: Some(listener),
        })
    }

    /// This process's member id.
    pub fn member(&self) -> &str {
        &self.inner.member
    }

    /// Whether the listener is subscribed to other hosts' cooldowns and breaker transitions
    /// (and has applied those still running when it subscribed).
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
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

    /// Share `provider`'s circuit breaker with every process coordinated through the same Redis
    /// and key prefix (opt-in per provider; independent of [`share`](Self::share)): a trip
    /// here opens it on every host until the OPEN period ends, and in HALF_OPEN at most the
    /// breaker's `half_open_max_probes` probes are out over all hosts together; a probe's
    /// success closes it everywhere, its failure re-opens it everywhere. Each slot expires
    /// `probe_ttl_ms` after its claim, renewed every third of that while its probe is out
    /// here. Every host sharing a provider's breaker should give it
    /// the same `half_open_max_probes` (the first to claim sets no limit for the others: each
    /// claim checks against its own).
    ///
    /// # Errors
    /// [`CoordError::Config`] when the provider's breaker is already shared.
    pub fn share_breaker(
        &self,
        provider: &ProviderHandle,
    ) -> Result<Arc<RedisBreaker>, CoordError> {
        let agent = self
            .agent
            .as_ref()
            .map(|t| t.thread().clone())
            .ok_or_else(|| CoordError::Config("coordination stopped".into()))?;
        let breaker = Arc::new(RedisBreaker::new(
            provider.clone(),
            self.inner.pushes.clone(),
            agent.clone(),
        ));
        provider
            .attach_shared_breaker(breaker.clone())
            .map_err(|e| CoordError::Config(format!("{}: {}", e.field, e.reason)))?;
        lock(&self.inner.breakers).push(breaker.clone());
        agent.unpark();
        Ok(breaker)
    }

    /// Stop the threads, give unspent tokens back and leave the membership.
    pub fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        for t in [self.agent.take(), self.pusher.take(), self.listener.take()]
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

fn channel_breakers(prefix: &str) -> String {
    format!("{prefix}:breakers")
}

/// A shared breaker's keys: its OPEN deadline and its probe slots.
fn keys_breaker(prefix: &str, provider: &str) -> (String, String) {
    (
        format!("{prefix}:breaker:{provider}:open"),
        format!("{prefix}:breaker:{provider}:probes"),
    )
}

/// The coordination thread's view of one shared breaker's probe slots.
#[derive(Default)]
struct Slots {
    /// Ids of the slots this process holds in Redis (ready or handed out; they are
    /// interchangeable: Redis only counts them).
    ids: Vec<String>,
    /// The generation they belong to.
    generation: u64,
    /// Do not claim again before this (an OPEN period left, or every slot out).
    retry_at: Option<Instant>,
    /// Slots claimed so far (for their ids).
    claimed: u64,
    /// Renew the slots held here at this time (while a probe of this process is out).
    renew_at: Option<Instant>,
}

/// How often the slots of an unresolved probe are renewed: a third of their TTL, so that a
/// renewal may be late by up to two thirds of it before the slot expires.
fn renew_every(cfg: &CoordinationConfig) -> Duration {
    Duration::from_millis((cfg.probe_ttl_ms / 3).max(1))
}

/// While a probe handed out here is unresolved, extend the expiry of every slot this process
/// holds (a probe longer than `probe_ttl_ms` keeps its exclusivity); slots found expired or
/// dropped are forgotten. The first renewal is at once (the probe was just handed out),
/// then every [`renew_every`]. Returns when to renew next, if a probe is out.
fn renew_slots(
    inner: &Inner,
    c: &mut redis::Connection,
    b: &RedisBreaker,
    slots: &mut Slots,
    probes_key: &str,
    now: Instant,
) -> redis::RedisResult<Option<Duration>> {
    if slots.ids.is_empty() || b.held.load(Ordering::Acquire) == 0 {
        slots.renew_at = None;
        return Ok(None);
    }
    let every = renew_every(&inner.config);
    let at = *slots.renew_at.get_or_insert(now);
    if now < at {
        return Ok(Some(at - now));
    }
    let mut s = inner.scripts.renew.key(probes_key);
    s.arg(inner.config.probe_ttl_ms);
    for id in &slots.ids {
        s.arg(id);
    }
    let renewed: Vec<i64> = s.invoke(c)?;
    let mut flags = renewed.into_iter();
    slots.ids.retain(|_| flags.next() == Some(1));
    slots.renew_at = Some(now + every);
    Ok(Some(every))
}

/// One shared breaker's turn: release slots given back, claim one when a call wants a probe.
fn serve_breaker(
    inner: &Inner,
    c: &mut redis::Connection,
    b: &RedisBreaker,
    slots: &mut Slots,
) -> redis::RedisResult<Option<Duration>> {
    let generation = b.generation.load(Ordering::Acquire);
    if generation != slots.generation {
        slots.ids.clear();
        slots.generation = generation;
        slots.retry_at = None;
    }
    let (open_key, probes_key) = keys_breaker(&inner.config.key_prefix, b.provider());
    let release = b.to_release.swap(0, Ordering::AcqRel);
    for _ in 0..release {
        let Some(id) = slots.ids.pop() else { break };
        let _: i64 = redis::cmd("ZREM").arg(&probes_key).arg(&id).query(c)?;
    }
    let now = Instant::now();
    let renew = renew_slots(inner, c, b, slots, &probes_key, now)?;
    if !b.want.load(Ordering::Acquire) {
        return Ok(renew);
    }
    if let Some(at) = slots.retry_at.filter(|at| now < *at) {
        return Ok(Some((at - now).min(renew.unwrap_or(Duration::MAX))));
    }
    slots.claimed += 1;
    let id = format!("{}:{}", inner.member, slots.claimed);
    let (_, max_probes, _) = b.handle.breaker().limits();
    let (granted, retry_ms): (u64, u64) = inner
        .scripts
        .claim
        .key(&open_key)
        .key(&probes_key)
        .arg(max_probes)
        .arg(inner.config.probe_ttl_ms)
        .arg(&id)
        .invoke(c)?;
    if granted == 1 {
        if b.generation.load(Ordering::Acquire) == generation {
            slots.ids.push(id);
            b.ready.fetch_add(1, Ordering::AcqRel);
            b.want.store(false, Ordering::Release);
        }
        slots.retry_at = None;
        return Ok(renew);
    }
    // An OPEN period left (another host's trip, its message on the way), or every slot out:
    // ask again then (a slot is released, dropped or expires meanwhile).
    let wait = if retry_ms > 0 {
        Duration::from_millis(retry_ms)
    } else {
        PROBE_POLL
    };
    slots.retry_at = Some(now + wait);
    Ok(Some(wait.min(renew.unwrap_or(Duration::MAX))))
}

/// How often a process that wants a probe asks again while every shared slot is out.
const PROBE_POLL: Duration = Duration::from_millis(10);

fn run_agent(inner: &Arc<Inner>) {
    let cfg = &inner.config;
    let mut con: Option<redis::Connection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(cfg.backoff_max_ms));
    let mut next_attempt = Instant::now();
    let mut next_heartbeat = Instant::now();
    let mut leases: HashMap<usize, Lease> = HashMap::new();
    let mut slots: HashMap<usize, Slots> = HashMap::new();
    let mut members: u64 = cfg.fallback_members;
    while !inner.stop.load(Ordering::Acquire) {
        let budgets: Vec<Arc<RedisBudget>> = lock(&inner.budgets).clone();
        let breakers: Vec<Arc<RedisBreaker>> = lock(&inner.breakers).clone();
        let now = Instant::now();
        if con.is_none() && now >= next_attempt {
            match connect(inner).and_then(|mut c| {
                resync(inner, &mut c, &budgets, &mut leases, &mut members)?;
                resync_breakers(inner, &mut c, &breakers)?;
                Ok(c)
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
                    degrade_breakers(&breakers);
                }
            }
        }
        let mut wait = Duration::from_millis(1);
        if let Some(c) = con.as_mut() {
            let step = (|| -> redis::RedisResult<()> {
                for b in &breakers {
                    if b.degraded.load(Ordering::Acquire) {
                        // Shared after the connection came up: its OPEN period, if any.
                        resync_breakers(inner, c, std::slice::from_ref(b))?;
                    }
                    let s = slots.entry(Arc::as_ptr(b) as usize).or_default();
                    if let Some(w) = serve_breaker(inner, c, b, s)? {
                        wait = wait.min(w);
                    }
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
                degrade_breakers(&breakers);
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

/// The pusher: pushes every cooldown and breaker transition triggered here as soon as it is
/// queued (the queue's send wakes it), on its own connection; keeps what it could not push and
/// pushes it after reconnecting (a trip whose OPEN period has ended meanwhile is dropped).
fn run_pusher(inner: &Arc<Inner>, queue: &Receiver<Push>) {
    let mut con: Option<redis::Connection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(inner.config.backoff_max_ms));
    let mut pending: std::collections::VecDeque<Push> = std::collections::VecDeque::new();
    loop {
        let stopping = inner.stop.load(Ordering::Acquire);
        if pending.is_empty() {
            if stopping {
                match queue.try_recv() {
                    Ok(p) => pending.push_back(p),
                    Err(_) => return,
                }
            } else {
                // Bounded: the stop flag is looked at every 50 ms.
                match queue.recv_timeout(Duration::from_millis(50)) {
                    Ok(p) => pending.push_back(p),
                    Err(_) => continue,
                }
            }
        }
        pending.extend(queue.try_iter());
        if con.is_none() {
            match connect(inner) {
                Ok(c) => {
                    con = Some(c);
                    backoff.reset();
                }
                Err(_) if stopping => return,
                Err(_) => {
                    std::thread::park_timeout(backoff.step());
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        while let Some(p) = pending.front() {
            if let Err(_e) = push(inner, c, p) {
                con = None;
                break;
            }
            pending.pop_front();
        }
        if con.is_none() && stopping {
            return;
        }
    }
}

/// Push one transition.
fn push(inner: &Inner, c: &mut redis::Connection, p: &Push) -> redis::RedisResult<()> {
    let prefix = &inner.config.key_prefix;
    match p {
        Push::Cooldown(..) => push_cooldown(inner, c, p),
        Push::Open(provider, _, _) | Push::Close(provider) => {
            let (script, open_us) = match p {
                Push::Open(_, open_for, at) => {
                    let left = open_for.saturating_sub(at.elapsed());
                    if left.is_zero() {
                        return Ok(()); // ended before it could be pushed
                    }
                    let us = u64::try_from(left.as_micros()).unwrap_or(u64::MAX);
                    (&inner.scripts.trip, us.min(1 << 50))
                }
                _ => (&inner.scripts.close, 0),
            };
            let (open_key, probes_key) = keys_breaker(prefix, provider);
            let _: i64 = script
                .key(open_key)
                .key(probes_key)
                .arg(open_us)
                .arg(channel_breakers(prefix))
                .arg(&**provider)
                .arg(&inner.member)
                .invoke(c)?;
            forget_slots(inner, provider);
            Ok(())
        }
    }
}

/// Every probe slot of `provider`'s shared breaker is gone from Redis (a trip or a recovery
/// ran there): the ones this process held are forgotten.
fn forget_slots(inner: &Inner, provider: &str) {
    for b in lock(&inner.breakers)
        .iter()
        .filter(|b| b.provider() == provider)
    {
        b.slots_gone();
    }
}

/// Redis lost: every shared breaker decides its probes locally until it is back.
fn degrade_breakers(breakers: &[Arc<RedisBreaker>]) {
    for b in breakers {
        if !b.degraded.swap(true, Ordering::AcqRel) {
            b.slots_gone();
        }
    }
}

/// After a (re)connection: apply each shared breaker's running OPEN period (a trip another
/// host pushed while this one could not hear it).
fn resync_breakers(
    inner: &Inner,
    c: &mut redis::Connection,
    breakers: &[Arc<RedisBreaker>],
) -> redis::RedisResult<()> {
    for b in breakers {
        apply_open_left(inner, c, b)?;
        b.slots_gone();
        b.degraded.store(false, Ordering::Release);
    }
    Ok(())
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
        apply_running_cooldowns(inner, c, b)?;
        b.degraded.store(false, Ordering::Release);
    }
    Ok(())
}

fn push_cooldown(inner: &Inner, c: &mut redis::Connection, p: &Push) -> redis::RedisResult<()> {
    let prefix = &inner.config.key_prefix;
    let Push::Cooldown(provider, scope, duration) = p else {
        return Ok(());
    };
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

/// The listener: applies cooldowns and breaker transitions other hosts triggered, as they are
/// published.
fn run_listener(inner: &Arc<Inner>) {
    let prefix = inner.config.key_prefix.clone();
    let chan = channel_cooldowns(&prefix);
    let breakers = channel_breakers(&prefix);
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
        if ps.subscribe(&[&chan, &breakers]).is_err()
            || ps
                .set_read_timeout(Some(Duration::from_millis(50)))
                .is_err()
        {
            std::thread::park_timeout(backoff.step());
            continue;
        }
        backoff.reset();
        // What was published before the subscription (or while it was down) is not heard:
        // catch up with the running cooldowns and OPEN periods now.
        if catch_up(inner).is_err() {
            std::thread::park_timeout(backoff.step());
            continue;
        }
        inner.listening.store(true, Ordering::Release);
        while !inner.stop.load(Ordering::Acquire) {
            match ps.get_message() {
                Ok(msg) => {
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if msg.get_channel_name() == breakers {
                        apply_breaker_message(inner, &payload);
                    } else {
                        apply_message(inner, &payload);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
        inner.listening.store(false, Ordering::Release);
    }
}

/// Apply the cooldowns and shared breakers' OPEN periods running in Redis (on a connection of
/// its own: the listener's is subscribed).
fn catch_up(inner: &Inner) -> redis::RedisResult<()> {
    let mut c = connect(inner)?;
    let breakers: Vec<Arc<RedisBreaker>> = lock(&inner.breakers).clone();
    for b in &breakers {
        apply_open_left(inner, &mut c, b)?;
    }
    let budgets: Vec<Arc<RedisBudget>> = lock(&inner.budgets).clone();
    for b in &budgets {
        apply_running_cooldowns(inner, &mut c, b)?;
    }
    Ok(())
}

/// Apply the OPEN period of `b` still running in Redis, if any.
fn apply_open_left(
    inner: &Inner,
    c: &mut redis::Connection,
    b: &RedisBreaker,
) -> redis::RedisResult<()> {
    let (open_key, _) = keys_breaker(&inner.config.key_prefix, b.provider());
    let left_us: u64 = inner.scripts.open_left.key(open_key).invoke(c)?;
    if left_us > 0 {
        b.handle
            .breaker()
            .apply_open(Duration::from_micros(left_us));
    }
    Ok(())
}

/// Apply the cooldowns of `b`'s provider still running in Redis.
fn apply_running_cooldowns(
    inner: &Inner,
    c: &mut redis::Connection,
    b: &RedisBudget,
) -> redis::RedisResult<()> {
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
    Ok(())
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

/// `provider \t open|close \t remaining_us \t member`: apply another host's trip or recovery
/// to the shared breaker here (this host's own messages come back too: they are skipped).
fn apply_breaker_message(inner: &Inner, payload: &str) {
    let mut parts = payload.splitn(4, '\t');
    let (Some(provider), Some(kind), Some(us), Some(member)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if member == inner.member {
        return;
    }
    let Ok(us) = us.parse::<u64>() else { return };
    let breakers = lock(&inner.breakers);
    for b in breakers.iter().filter(|b| b.provider() == provider) {
        let breaker = b.handle.breaker();
        match kind {
            "open" => breaker.apply_open(Duration::from_micros(us)),
            "close" if breaker.state() != market_data_pipeline::flow::BreakerState::Closed => {
                breaker.apply_close();
            }
            _ => continue,
        }
        // The trip or recovery dropped every slot in Redis before it was published.
        b.slots_gone();
        b.applied.fetch_add(1, Ordering::Relaxed);
    }
}
