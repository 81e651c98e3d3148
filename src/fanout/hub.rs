//! `FanoutHub`: one running upstream source fanned out to its subscribers' rings, as a
//! cooperative [`Task`].

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::SourceError;
use crate::exec::{Step, Task};
use crate::ring::{Backpressure, EdgeTx};
use crate::source::{SourcePoll, SourceStatus, TickSource};
use crate::symbol::SymbolId;
use crate::sync::Ordering;
use crate::tick::Tick;

use super::control::{Command, ErrorSlot, HubShared};
use super::symbols::SymbolSet;
use super::{FanoutHandle, HubConfig};

/// One subscriber as the hub sees it.
#[derive(Debug)]
struct Sub {
    id: u64,
    tx: EdgeTx<Tick>,
    symbols: SymbolSet,
    slot: Arc<ErrorSlot>,
    /// How far into the chunk in hand this subscriber has been offered.
    pos: usize,
}

impl Sub {
    /// Ticks pushed into its ring so far (where a new error goes in its stream).
    fn pushed(&self) -> u64 {
        self.tx.counters().pushed.load(Ordering::Relaxed)
    }

    /// Offer it what it takes of `chunk[self.pos..]`. Returns whether it has taken all of it
    /// (`Err`: its consumer is gone).
    #[inline]
    fn offer(&mut self, chunk: &[Tick]) -> Result<bool, ()> {
        let policy = self.tx.policy();
        if self.symbols.is_all() {
            // The whole rest in one offer: no copy but the ring's.
            while self.pos < chunk.len() {
                let taken = self.tx.offer(&chunk[self.pos..]).map_err(|_| ())?;
                self.pos += taken;
                if self.pos < chunk.len() && !self.give_up_one(policy) {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        while self.pos < chunk.len() {
            // The next run of ticks it takes.
            let mut start = self.pos;
            while start < chunk.len() && !self.symbols.contains(chunk[start].symbol) {
                start += 1;
            }
            let mut end = start;
            while end < chunk.len() && self.symbols.contains(chunk[end].symbol) {
                end += 1;
            }
            self.pos = start;
            while self.pos < end {
                let taken = self.tx.offer(&chunk[self.pos..end]).map_err(|_| ())?;
                self.pos += taken;
                if self.pos < end && !self.give_up_one(policy) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The tick at `pos` must wait for room. Under `Block` it waits (false: the hub keeps the
    /// chunk); otherwise (a trade behind conflated quotes) it is dropped and counted: the
    /// hub does not wait for a subscriber that did not ask for `Block`.
    fn give_up_one(&mut self, policy: Backpressure) -> bool {
        if policy == Backpressure::Block {
            return false;
        }
        self.tx.discard(1);
        self.pos += 1;
        true
    }
}

fn drop_ref(refs: &mut [u32], id: SymbolId) {
    if let Some(r) = refs.get_mut(id.0 as usize) {
        *r = r.saturating_sub(1);
    }
}

/// Take a removed subscriber's symbols out of the union's counts.
fn forget(refs: &mut [u32], all_subs: &mut usize, sub: &Sub) {
    if sub.symbols.is_all() {
        *all_subs -= 1;
    } else {
        for s in sub.symbols.ids() {
            drop_ref(refs, s);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The upstream is not started yet.
    Starting,
    /// Polling the upstream.
    Running,
    /// The upstream ended or failed: delivering what subscribers are owed, then done.
    Draining,
    /// Finished.
    Done,
}

/// A provider's one running source, fanned out. See the [module docs](super).
pub struct FanoutHub {
    upstream: Box<dyn TickSource>,
    shared: Arc<HubShared>,
    clock: SharedClock,
    config: HubConfig,
    subs: Vec<Sub>,
    buf: Vec<Tick>,
    /// Ticks of the chunk in hand (`buf[..len]`); 0: none.
    len: usize,
    phase: Phase,
    applied: u64,
    inbox: Vec<Command>,
    /// Filtered subscribers wanting each symbol id.
    refs: Vec<u32>,
    /// Subscribers taking every symbol.
    all_subs: usize,
    /// What the upstream produces, as far as the hub knows (its initial symbols, then what
    /// it subscribed).
    upstream_set: SymbolSet,
    /// The upstream's symbols when the hub was built: what "every symbol" asks for.
    initial: Vec<SymbolId>,
    name: String,
}

impl std::fmt::Debug for FanoutHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutHub")
            .field("provider", &self.shared.name)
            .field("subscribers", &self.subs.len())
            .field("phase", &self.phase)
            .field("chunk_in_hand", &self.len)
            .finish()
    }
}

impl FanoutHub {
    /// A hub over `upstream` (not started: the hub starts it at its first step), reading
    /// time from `clock`.
    ///
    /// # Errors
    /// A chunk size of 0 or above the ring bound ([`SourceError::Config`] naming the
    /// provider and `fanout.chunk_size`).
    pub fn new(
        upstream: Box<dyn TickSource>,
        config: HubConfig,
        clock: SharedClock,
    ) -> Result<FanoutHub, SourceError> {
        let name = upstream.name().to_string();
        crate::ring::check_capacity::<Tick>(config.chunk_size).map_err(|mut error| {
            error.field = "fanout.chunk_size".into();
            SourceError::Config {
                source_name: name.clone(),
                error,
            }
        })?;
        let table = upstream.symbol_table().cloned();
        let all_symbols = upstream.symbols().to_vec();
        let mut upstream_set = SymbolSet::default();
        if let Some(t) = &table {
            for s in &all_symbols {
                if let Some(id) = t.get(s) {
                    upstream_set.insert(id);
                }
            }
        }
        let shared = Arc::new(HubShared::new(
            name.clone(),
            upstream.capabilities(),
            table,
            all_symbols,
        ));
        Ok(FanoutHub {
            buf: vec![Tick::default(); config.chunk_size],
            upstream,
            shared,
            clock,
            config,
            subs: Vec::new(),
            len: 0,
            phase: Phase::Starting,
            applied: 0,
            inbox: Vec::new(),
            refs: Vec::new(),
            all_subs: 0,
            initial: upstream_set.ids().collect(),
            upstream_set,
            name: format!("{name}/fanout"),
        })
    }

    /// A handle to subscribe through (cheap to clone, usable from any thread).
    pub fn handle(&self) -> FanoutHandle {
        FanoutHandle {
            shared: self.shared.clone(),
        }
    }

    /// Subscribers attached now.
    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Whether a chunk is held for a subscriber that has not taken it yet (a full `Block`
    /// subscriber): the upstream is not polled meanwhile.
    pub fn is_holding(&self) -> bool {
        self.len > 0
    }

    /// Apply posted commands; at most one lock. Returns whether anything changed.
    fn apply_commands(&mut self) -> bool {
        if self.shared.posted() == self.applied {
            return false;
        }
        self.shared.take_commands(&mut self.inbox, false);
        let mut inbox = std::mem::take(&mut self.inbox);
        let changed = !inbox.is_empty();
        for command in inbox.drain(..) {
            self.applied += 1;
            self.apply(command);
        }
        self.inbox = inbox;
        if changed {
            self.reconcile();
        }
        changed
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Add {
                id,
                tx,
                symbols,
                slot,
            } => {
                if self.phase == Phase::Draining || self.phase == Phase::Done {
                    // Ended before it was seen: the ring is dropped (end of its stream).
                    return;
                }
                if symbols.is_all() {
                    self.all_subs += 1;
                } else {
                    for s in symbols.ids() {
                        self.add_ref(s);
                    }
                }
                // It joins at the next chunk: the one in hand is not its business.
                let pos = self.len;
                self.subs.push(Sub {
                    id,
                    tx,
                    symbols,
                    slot,
                    pos,
                });
            }
            Command::Subscribe { id, symbols } => {
                let Some(i) = self.subs.iter().position(|s| s.id == id) else {
                    return;
                };
                for s in symbols {
                    if self.subs[i].symbols.insert(s) {
                        self.add_ref(s);
                    }
                }
            }
            Command::Unsubscribe { id, symbols } => {
                let Some(i) = self.subs.iter().position(|s| s.id == id) else {
                    return;
                };
                for s in symbols {
                    if self.subs[i].symbols.remove(s) {
                        self.drop_ref(s);
                    }
                }
            }
            Command::Remove { id } => {
                if let Some(i) = self.subs.iter().position(|s| s.id == id) {
                    self.remove_at(i);
                }
            }
        }
    }

    fn add_ref(&mut self, id: SymbolId) {
        let i = id.0 as usize;
        if i >= self.refs.len() {
            self.refs.resize(i + 1, 0);
        }
        self.refs[i] += 1;
    }

    fn drop_ref(&mut self, id: SymbolId) {
        drop_ref(&mut self.refs, id);
    }

    /// Its consumer left (closed or dropped, after its last read): what it left unread is
    /// counted as `after_close`.
    fn remove_at(&mut self, i: usize) {
        let mut sub = self.subs.swap_remove(i);
        forget(&mut self.refs, &mut self.all_subs, &sub);
        sub.tx.consumer_left();
        // Dropping its ring's producer ends its stream.
    }

    /// Bring the upstream's subscription to the union of the subscribers' symbols: what the
    /// union gained is subscribed, what it lost (when no subscriber takes everything) is
    /// unsubscribed. Only while the upstream runs.
    fn reconcile(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        let everything = if self.all_subs > 0 {
            &self.initial[..]
        } else {
            &[]
        };
        let mut wanted: Vec<SymbolId> = (0..self.refs.len() as u32)
            .map(SymbolId)
            .filter(|s| self.refs[s.0 as usize] > 0)
            .chain(everything.iter().copied())
            .filter(|s| !self.upstream_set.contains(*s))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            match self.upstream.subscribe(&wanted) {
                Ok(()) => wanted.iter().for_each(|&s| {
                    self.upstream_set.insert(s);
                }),
                Err(e) => {
                    // Reported to each subscriber that asked for one of them.
                    for sub in &self.subs {
                        if wanted.iter().any(|&s| sub.symbols.contains(s)) && !sub.symbols.is_all()
                        {
                            sub.slot.put(e.clone(), sub.pushed(), false);
                        }
                    }
                }
            }
        }
        if self.all_subs > 0 {
            return;
        }
        let unwanted: Vec<SymbolId> = self
            .upstream_set
            .ids()
            .filter(|s| self.refs.get(s.0 as usize).is_none_or(|&r| r == 0))
            .collect();
        if !unwanted.is_empty() && self.upstream.unsubscribe(&unwanted).is_ok() {
            for s in unwanted {
                self.upstream_set.remove(s);
            }
        }
    }

    /// Offer the chunk in hand to every subscriber that has not taken it. Returns whether
    /// all have; removes subscribers whose consumer is gone.
    fn deliver(&mut self) -> bool {
        let chunk = &self.buf[..self.len];
        let mut all = true;
        let mut i = 0;
        let mut gone = false;
        while i < self.subs.len() {
            match self.subs[i].offer(chunk) {
                Ok(done) => {
                    all &= done;
                    i += 1;
                }
                Err(()) => {
                    // Counted as `after_close` by the edge; the subscriber is gone.
                    let sub = self.subs.swap_remove(i);
                    forget(&mut self.refs, &mut self.all_subs, &sub);
                    gone = true;
                }
            }
        }
        if gone {
            self.reconcile();
        }
        all
    }

    /// Move conflated quotes still waiting into rings with room; true when none waits.
    fn flush_pending(&mut self) -> bool {
        let mut empty = true;
        for s in &mut self.subs {
            if s.tx.pending_len() > 0 {
                empty &= s.tx.flush_pending() || s.tx.is_disconnected();
            }
        }
        empty
    }

    /// Report `e` to every subscriber, after what it has been sent (`last`: the upstream's
    /// final error).
    fn report(&self, e: &SourceError, last: bool) {
        for s in &self.subs {
            s.slot.put(e.clone(), s.pushed(), last);
        }
    }

    /// The upstream ended or failed for good: close the queue (late subscribers are refused
    /// or, if already queued, ended) and drain.
    fn end(&mut self, status: SourceStatus, error: Option<&SourceError>) {
        self.upstream.close();
        self.shared.publish(status, &self.upstream.health());
        let mut late = Vec::new();
        self.shared.close(&mut late);
        for command in late {
            self.applied += 1;
            if let Command::Add { slot, .. } = &command {
                if let Some(e) = error {
                    slot.put(e.clone(), 0, true);
                }
            }
            self.apply(command);
        }
        if let Some(e) = error {
            self.report(e, true);
        }
        self.phase = Phase::Draining;
    }

    /// Give up on everything owed (runtime shutdown): counted as dropped per subscriber.
    fn abandon(&mut self) {
        for s in &mut self.subs {
            if s.pos < self.len {
                s.tx.discard(self.len - s.pos);
                s.pos = self.len;
            }
            s.tx.discard_pending();
        }
        self.len = 0;
    }

    fn finish(&mut self) -> Step {
        self.subs.clear();
        self.phase = Phase::Done;
        Step::Done
    }

    fn poll_upstream(&mut self, now: u64) -> Step {
        match self.upstream.poll(now, &mut self.buf) {
            Ok(SourcePoll::Ready(n)) => {
                self.len = n.min(self.buf.len());
                for s in &mut self.subs {
                    s.pos = 0;
                }
                self.shared
                    .publish(self.upstream.status(), &self.upstream.health());
                if self.deliver() {
                    self.len = 0;
                }
                Step::Progress
            }
            Ok(SourcePoll::Pending) => {
                self.shared
                    .publish(self.upstream.status(), &self.upstream.health());
                Step::Idle
            }
            Ok(SourcePoll::Ended) => {
                self.end(SourceStatus::Ended, None);
                Step::Progress
            }
            Err(e) => {
                if e.is_retryable() {
                    self.shared
                        .publish(self.upstream.status(), &self.upstream.health());
                    self.report(&e, false);
                } else {
                    self.end(SourceStatus::Failed, Some(&e));
                }
                Step::Idle
            }
        }
    }
}

impl Task for FanoutHub {
    fn name(&self) -> &str {
        &self.name
    }

    fn step(&mut self) -> Step {
        if self.phase == Phase::Done {
            return Step::Done;
        }
        let mut progress = self.apply_commands();
        if self.shared.stop.load(Ordering::Relaxed) && self.phase != Phase::Draining {
            self.abandon();
            self.end(SourceStatus::Closed, None);
        }
        if self.phase == Phase::Starting {
            let now = self.clock.now_ns();
            match self.upstream.start(now) {
                Ok(()) => {
                    self.phase = Phase::Running;
                    self.shared
                        .publish(self.upstream.status(), &self.upstream.health());
                    self.reconcile();
                }
                Err(e) => self.end(SourceStatus::Failed, Some(&e)),
            }
            progress = true;
        }
        if self.len > 0 {
            if !self.deliver() {
                self.flush_pending();
                return if progress { Step::Progress } else { Step::Idle };
            }
            self.len = 0;
            progress = true;
        }
        let flushed = self.flush_pending();
        if self.phase == Phase::Draining {
            if self.shared.stop.load(Ordering::Relaxed) {
                self.abandon();
            } else if !flushed {
                return if progress { Step::Progress } else { Step::Idle };
            }
            return self.finish();
        }
        if self.subs.is_empty() && !self.config.keep_open {
            // The last subscriber left: close, unless one is queued (then apply it next).
            if self.shared.take_commands(&mut self.inbox, true) {
                self.end(SourceStatus::Closed, None);
                return self.finish();
            }
            // Commands came in between: put them through now.
            let mut inbox = std::mem::take(&mut self.inbox);
            for c in inbox.drain(..) {
                self.applied += 1;
                self.apply(c);
            }
            self.inbox = inbox;
            self.reconcile();
            return Step::Progress;
        }
        let now = self.clock.now_ns();
        match self.poll_upstream(now) {
            Step::Idle if progress => Step::Progress,
            s => s,
        }
    }

    fn panicked(&mut self, message: String) -> Step {
        let e = SourceError::Failed {
            source_name: self.shared.name.clone(),
            reason: format!("fan-out panicked: {message}"),
        };
        self.shared.set_status(SourceStatus::Failed);
        let mut late = Vec::new();
        self.shared.close(&mut late);
        self.report(&e, true);
        for c in late {
            if let Command::Add { slot, .. } = c {
                slot.put(e.clone(), 0, true);
            }
        }
        // Reported to every subscriber and closed: nothing is left to step.
        Step::Done
    }

    /// A worker set shutting down: finish at the next step, as `FanoutHandle::stop`.
    fn request_stop(&mut self) {
        // Relaxed: a request; the hub reads it at its next step.
        self.shared.stop.store(true, crate::sync::Ordering::Relaxed);
    }
}
