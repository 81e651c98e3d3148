//! `RedisBreaker`: the local side of a provider breaker shared through Redis.
//!
//! The breaker itself stays the core's atomic word; this is what it tells of its transitions
//! and asks for HALF_OPEN probe slots. Nothing here makes a round trip on the caller's thread:
//! a trip or a recovery is queued for the coordination's pusher thread (which runs the Lua
//! script that updates Redis and publishes it), and a probe slot is claimed by the coordination
//! thread in the background — a caller that finds none ready is refused for now (the breaker
//! reads as HALF_OPEN with its probes out) and the claim is under way.
//!
//! In Redis, a shared breaker is two keys: its OPEN deadline (µs of Redis's clock) and a
//! sorted set of probe slots, each scored by its expiry. At most the breaker's
//! `half_open_max_probes` unexpired slots exist over all hosts; a slot is released when its
//! probe ends without a transition, dropped with every other one by a trip or a recovery, and
//! expires `probe_ttl_ms` after its claim or its last renewal: the coordination thread renews
//! the slots this process holds every `probe_ttl_ms / 3` while a probe handed out here is
//! unresolved, and stops when its process dies, is stopped or loses Redis.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use market_data_pipeline::flow::{ProviderHandle, SharedBreaker, SharedBreakerStatus};

use crate::agent::Push;

/// The breaker of one provider shared through Redis (see the module docs).
#[derive(Debug)]
pub struct RedisBreaker {
    pub(crate) provider: Arc<str>,
    pub(crate) handle: ProviderHandle,
    /// Redis unreachable: probes are decided locally (the breaker's own limit).
    pub(crate) degraded: AtomicBool,
    /// Shared slots claimed by the coordination thread and not handed to a call yet.
    pub(crate) ready: AtomicU32,
    /// Shared slots handed to calls here and not resolved.
    pub(crate) held: AtomicU32,
    /// A call asked for a probe and none was ready.
    pub(crate) want: AtomicBool,
    /// Slots handed back without a transition, to release in Redis.
    pub(crate) to_release: AtomicU32,
    /// Bumped whenever every slot this process holds in Redis is gone (a trip or a recovery
    /// reached Redis, or the link was lost): a claim answered across a bump is stale.
    pub(crate) generation: AtomicU64,
    /// Other hosts' transitions applied here.
    pub(crate) applied: AtomicU64,
    outbox: Mutex<Sender<Push>>,
    agent: Thread,
}

impl RedisBreaker {
    pub(crate) fn new(handle: ProviderHandle, outbox: Sender<Push>, agent: Thread) -> RedisBreaker {
        RedisBreaker {
            provider: Arc::from(handle.name()),
            handle,
            degraded: AtomicBool::new(true),
            ready: AtomicU32::new(0),
            held: AtomicU32::new(0),
            want: AtomicBool::new(false),
            to_release: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            outbox: Mutex::new(outbox),
            agent,
        }
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether Redis is unreachable (the breaker then acts on local outcomes only).
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Every slot this process held in Redis is gone: forget them.
    pub(crate) fn slots_gone(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.ready.store(0, Ordering::Release);
        self.want.store(false, Ordering::Release);
    }

    fn send(&self, p: Push) {
        let tx = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send(p);
    }

    /// The local breaker left HALF_OPEN: no probe of this process is out any more.
    fn forget_probes(&self) {
        self.held.store(0, Ordering::Relaxed);
        self.want.store(false, Ordering::Relaxed);
    }
}

impl SharedBreaker for RedisBreaker {
    fn try_probe(&self) -> bool {
        if self.degraded.load(Ordering::Acquire) {
            // Local behaviour: the breaker's own probe limit decides.
            self.held.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if self
            .ready
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            self.held.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if !self.want.swap(true, Ordering::AcqRel) {
            self.agent.unpark();
        }
        false
    }

    fn probe_released(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if !self.degraded.load(Ordering::Acquire) {
            self.to_release.fetch_add(1, Ordering::AcqRel);
            self.agent.unpark();
        }
    }

    fn opened(&self, open_for: Duration) {
        self.forget_probes();
        self.send(Push::Open(self.provider.clone(), open_for, Instant::now()));
    }

    fn closed(&self) {
        self.forget_probes();
        self.send(Push::Close(self.provider.clone()));
    }

    fn status(&self) -> SharedBreakerStatus {
        SharedBreakerStatus {
            degraded: self.is_degraded(),
            probes_held: self.held.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
        }
    }
}
