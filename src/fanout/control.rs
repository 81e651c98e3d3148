//! What a fan-out hub shares with its subscribers and handles: the command queue, the
//! upstream's published status and health, and each subscriber's error slot.
//!
//! The data path never takes a lock: the hub reads one counter per step to learn whether
//! commands were posted, publishes the upstream's status once per chunk, and a subscriber
//! reads one word per poll to learn whether an error waits for it. Locks are taken only to
//! post or take commands and errors (control plane, rare).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::SourceError;
use crate::ring::EdgeTx;
use crate::source::{Capabilities, SourceHealth, SourceStatus};
use crate::symbol::{SymbolId, SymbolTable};
use crate::sync::{model_lock, AtomicBool, AtomicU64, AtomicU8, ModelMutex, Ordering};
use crate::tick::Tick;

use super::symbols::SymbolSet;

/// A change a subscriber or handle asks of the hub, applied at the start of its next step.
#[derive(Debug)]
pub(crate) enum Command {
    /// A new subscriber: its ring's producer side, its symbols and its error slot.
    Add {
        id: u64,
        tx: EdgeTx<Tick>,
        symbols: SymbolSet,
        slot: Arc<ErrorSlot>,
    },
    /// Add symbols to subscriber `id`.
    Subscribe { id: u64, symbols: Vec<SymbolId> },
    /// Take symbols from subscriber `id`.
    Unsubscribe { id: u64, symbols: Vec<SymbolId> },
    /// Subscriber `id` left: drop its ring.
    Remove { id: u64 },
}

/// The queue behind the counter.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(super) commands: Vec<Command>,
    /// The hub has finished: new subscribers are refused (under the same lock as the queue,
    /// so a subscriber is either seen by the hub or refused, never stranded).
    pub(super) closed: bool,
}

/// State of one hub shared with its handles and subscribers.
#[derive(Debug)]
pub(crate) struct HubShared {
    /// The provider's name (the upstream source's).
    pub(super) name: String,
    /// The upstream's capabilities (fixed).
    pub(super) capabilities: Capabilities,
    /// The upstream's symbol table, when it has one.
    pub(super) table: Option<Arc<SymbolTable>>,
    /// The upstream's symbols when the hub was built (what "all symbols" means).
    pub(super) all_symbols: Vec<String>,
    queue: ModelMutex<Queue>,
    /// Commands posted so far (each under the queue lock).
    posted: AtomicU64,
    next_id: AtomicU64,
    /// Ask the hub to finish at its next step (runtime shutdown).
    pub(super) stop: AtomicBool,
    status: AtomicU8,
    produced: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    /// `u64::MAX`: none.
    last_tick_ns: AtomicU64,
}

const STATUSES: [SourceStatus; 7] = [
    SourceStatus::Idle,
    SourceStatus::Running,
    SourceStatus::Stalled,
    SourceStatus::Disconnected,
    SourceStatus::Ended,
    SourceStatus::Failed,
    SourceStatus::Closed,
];

impl HubShared {
    pub(super) fn new(
        name: String,
        capabilities: Capabilities,
        table: Option<Arc<SymbolTable>>,
        all_symbols: Vec<String>,
    ) -> HubShared {
        HubShared {
            name,
            capabilities,
            table,
            all_symbols,
            queue: ModelMutex::new(Queue::default()),
            posted: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            status: AtomicU8::new(0),
            produced: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_tick_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// A fresh subscriber id.
    pub(super) fn next_id(&self) -> u64 {
        // Relaxed: uniqueness comes from the increment itself.
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Post `command` unless the hub has closed (then false, and the command is dropped).
    /// `Remove` and symbol changes are posted even then (they are harmless), only `Add` is
    /// refused.
    pub(super) fn post(&self, command: Command) -> bool {
        let mut q = model_lock(&self.queue);
        if q.closed && matches!(command, Command::Add { .. }) {
            return false;
        }
        q.commands.push(command);
        // Release (under the lock too): the hub's Acquire load that sees the new count then
        // takes the lock and finds the command.
        self.posted.fetch_add(1, Ordering::Release);
        true
    }

    /// Commands posted so far (the hub compares with what it applied; one load per step).
    #[inline]
    pub(super) fn posted(&self) -> u64 {
        self.posted.load(Ordering::Acquire)
    }

    /// Swap the queued commands into `into` (empty); with `close`, refuse new subscribers
    /// from now on — only when nothing was queued, so that no subscriber is stranded.
    /// Returns whether the hub is now closed.
    pub(super) fn take_commands(&self, into: &mut Vec<Command>, close: bool) -> bool {
        let mut q = model_lock(&self.queue);
        std::mem::swap(&mut q.commands, into);
        if close && into.is_empty() {
            q.closed = true;
        }
        q.closed
    }

    /// Close for good and hand back whatever is queued (the hub is finishing).
    pub(super) fn close(&self, into: &mut Vec<Command>) {
        let mut q = model_lock(&self.queue);
        q.closed = true;
        into.append(&mut q.commands);
    }

    /// Whether the hub has closed (a subscribe would be refused).
    pub(super) fn is_closed(&self) -> bool {
        model_lock(&self.queue).closed
    }

    /// Publish the upstream's status and health (once per chunk, from the hub).
    pub(super) fn publish(&self, status: SourceStatus, health: &SourceHealth) {
        // Relaxed: independent gauges, each read on its own; nothing is published through
        // them.
        let s = STATUSES.iter().position(|&x| x == status).unwrap_or(0) as u8;
        self.status.store(s, Ordering::Relaxed);
        self.produced.store(health.produced, Ordering::Relaxed);
        self.errors.store(health.errors, Ordering::Relaxed);
        self.reconnects.store(health.reconnects, Ordering::Relaxed);
        self.last_tick_ns
            .store(health.last_tick_ns.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Publish only the status.
    pub(super) fn set_status(&self, status: SourceStatus) {
        let s = STATUSES.iter().position(|&x| x == status).unwrap_or(0) as u8;
        self.status.store(s, Ordering::Relaxed);
    }

    /// The upstream's status as last published.
    pub(super) fn status(&self) -> SourceStatus {
        STATUSES[usize::from(self.status.load(Ordering::Relaxed)).min(STATUSES.len() - 1)]
    }

    /// The upstream's health as last published.
    pub(super) fn health(&self) -> SourceHealth {
        let last = self.last_tick_ns.load(Ordering::Relaxed);
        SourceHealth {
            produced: self.produced.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            last_tick_ns: (last != u64::MAX).then_some(last),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// Most errors kept for a subscriber that has not read them; beyond that retryable ones are
/// not kept (the upstream's `health().errors` counts them all), and a final one replaces the
/// last kept.
pub(crate) const MAX_WAITING_ERRORS: usize = 16;

/// One subscriber's errors waiting to be reported, each with its position in the
/// subscriber's stream (reported once the subscriber has read that many ticks).
#[derive(Debug)]
pub(crate) struct ErrorSlot {
    errors: ModelMutex<VecDeque<(u64, SourceError)>>,
    /// Position of the first waiting error; `u64::MAX`: none.
    at: AtomicU64,
}

impl Default for ErrorSlot {
    fn default() -> Self {
        ErrorSlot {
            errors: ModelMutex::new(VecDeque::new()),
            at: AtomicU64::new(u64::MAX),
        }
    }
}

impl ErrorSlot {
    /// Leave `error` for the subscriber after its first `at` ticks (`last`: the upstream's
    /// final error, always kept).
    pub(super) fn put(&self, error: SourceError, at: u64, last: bool) {
        let mut q = model_lock(&self.errors);
        if q.len() >= MAX_WAITING_ERRORS {
            if !last {
                return;
            }
            q.pop_back();
        }
        q.push_back((at, error));
        // Release (under the lock): a subscriber whose Acquire load sees the position finds
        // the error under the lock, taken after the load.
        self.at.store(q[0].0, Ordering::Release);
    }

    /// Where the first waiting error goes in the subscriber's stream (`u64::MAX`: none): it
    /// must not read past it before taking the error.
    #[inline]
    pub(super) fn due_at(&self) -> u64 {
        // Acquire: pairs with the Release in `put` (see there).
        self.at.load(Ordering::Acquire)
    }

    /// The first error waiting for a subscriber that has read `read` ticks, if it is due.
    #[inline]
    pub(super) fn take(&self, read: u64) -> Option<SourceError> {
        if self.due_at() > read {
            return None;
        }
        let mut q = model_lock(&self.errors);
        let e = q.pop_front().map(|(_, e)| e);
        let next = q.front().map_or(u64::MAX, |f| f.0);
        // Relaxed: only this subscriber reads it outside the lock, and it wrote it.
        self.at.store(next, Ordering::Relaxed);
        e
    }

    /// The first error waiting, due or not (at the end of the stream everything is due).
    pub(super) fn take_any(&self) -> Option<SourceError> {
        self.take(u64::MAX - 1)
    }
}
