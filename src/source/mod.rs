//! The `TickSource` protocol and the built-in sources.
//!
//! A source is polled, never awaited: `poll` fills a caller-provided buffer with whatever is
//! ready and returns at once. The worker that owns the source reads the clock once per poll and
//! passes it in, so sources stamp `ts_recv` and pace without reading time themselves (and tests
//! drive them with a manual clock).

pub mod feed;
pub mod replay;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::error::SourceError;
use crate::idle::{IdleStrategy, Idler};
use crate::ring::EdgeSlots;
use crate::symbol::{SymbolId, SymbolTable};
use crate::tick::Tick;

mod common;
pub mod synthetic;
pub mod vec;

pub use common::SourceCore;
pub use synthetic::{EventTime, Fault, FaultKind, SyntheticConfig, SyntheticSource};
pub use vec::VecSource;

/// What one `poll` produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// `n` ticks were written to the front of the buffer (`n ≥ 1`).
    Ready(usize),
    /// Nothing right now; poll again later (pacing, quiet market, stall).
    Pending,
    /// The stream is finished (end of file, or closed); nothing more will come.
    Ended,
}

/// Life-cycle state of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceStatus {
    /// Built, not started.
    Idle,
    /// Producing.
    Running,
    /// Running but currently stalled (no data although data is expected).
    Stalled,
    /// Lost its connection; may come back.
    Disconnected,
    /// Finished normally.
    Ended,
    /// Failed and will not recover by itself.
    Failed,
    /// Closed by its owner.
    Closed,
}

impl SourceStatus {
    /// Lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Idle => "idle",
            SourceStatus::Running => "running",
            SourceStatus::Stalled => "stalled",
            SourceStatus::Disconnected => "disconnected",
            SourceStatus::Ended => "ended",
            SourceStatus::Failed => "failed",
            SourceStatus::Closed => "closed",
        }
    }
}

/// Health counters of a source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceHealth {
    /// Ticks produced so far.
    pub produced: u64,
    /// Errors returned by `poll` so far.
    pub errors: u64,
    /// `now_ns` of the last poll that produced ticks.
    pub last_tick_ns: Option<u64>,
    /// Reconnects (or recoveries) so far.
    pub reconnects: u64,
}

/// What a source can do, for routers and runtimes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Produces trades.
    pub trades: bool,
    /// Produces quotes.
    pub quotes: bool,
    /// Replays recorded data (finite).
    pub replay: bool,
    /// Each poll costs a request against a provider budget (rate-coordinated).
    pub request_based: bool,
    /// Upper bound on its rate in ticks/s, when known.
    pub max_rate: Option<u64>,
    /// A running source that produces nothing for this long is stale.
    pub staleness_bound: Option<Duration>,
    /// Ticks carry one sequence shared with redundant feeds of the same stream (hot-hot).
    pub shared_sequence: bool,
    /// Produced elsewhere whether or not it is polled, its ticks waiting in a queue until read
    /// (a [fan-out subscriber](crate::fanout::Subscriber) reads its own ring): what a reader
    /// leaves unread ages there. A router keeps such a source's queue drained while it is a
    /// standby, so a switch to it continues from live data.
    pub queued: bool,
}

/// A producer of ticks. Non-blocking and batch-oriented.
///
/// Implementations must not block in `poll`, must not allocate per tick, and must write only
/// into `out[..n]` for a returned `Ready(n)`.
///
/// A source implements `start`, `poll` and `close`, and either returns a [`SourceCore`] from
/// [`core`](Self::core) (the accessors `name`, `status`, `health`, `symbols`,
/// `capabilities` and `symbol_table` then read it) or implements those accessors itself (a
/// source that does neither reports an empty name, no symbols, `Idle`, zero health and no
/// capabilities).
///
/// # Subscriptions
///
/// A provider runs once and fans out to every pipeline that uses it (see [`crate::fanout`]).
/// The fan-out hub keeps the upstream's subscription equal to the union of its subscribers'
/// symbols: it calls [`subscribe`](Self::subscribe) with the symbols that the union gained and
/// [`unsubscribe`](Self::unsubscribe) with those it lost, on the hub's thread, between two
/// polls (after `start`, never concurrently with `poll`; `&mut self` says so), with ids of
/// [`symbol_table`](Self::symbol_table). A subscriber that takes all symbols adds nothing.
///
/// - A source that can change what it produces (a network feed, the synthetic source) does
///   so from its next poll and reports the new set in [`symbols`](Self::symbols).
/// - The default accepts and ignores both: right for a source that always produces all of
///   its symbols (a recording, a canned vector). Nothing is lost by that: the hub filters
///   every chunk per subscriber anyway.
/// - An error means the change did not happen (nothing was added, or the symbol may still
///   come); the hub reports it to the subscriber that asked and keeps running. Unsubscribing
///   a symbol that is not produced, or subscribing one twice, is not an error.
pub trait TickSource: Send {
    /// The source's name (for errors, routing records and stats).
    fn name(&self) -> &str {
        self.core().map_or("", |c| &c.name)
    }

    /// Open connections / files. Called once before the first `poll`.
    fn start(&mut self, now_ns: u64) -> Result<(), SourceError>;

    /// Fill `out` with ready ticks (at most `out.len()`), stamping `ts_recv = now_ns`.
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError>;

    /// As [`poll`](Self::poll), for ticks the caller throws away (a router draining a queued
    /// standby): for a returned `Ready(n)` only `out[n - 1]`, the newest tick taken, need be
    /// written, so a source that reads a queue can take the others without copying them. Every
    /// other outcome means what it means for `poll`. The default polls.
    fn poll_discard(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        self.poll(now_ns, out)
    }

    /// As [`poll`](Self::poll) for a caller that reads each tick once where it lies (a
    /// router's `Arbitrate` judging each `seq`): up to `scratch.len()` ticks are handed to
    /// `visit`, in order, in one or more slices, and `Ready(n)` counts them all. A source that
    /// reads a queue (a fan-out subscriber) hands over its ring's slices in place, copying
    /// nothing; the default polls into `scratch` and hands that over. Every other outcome
    /// means what it means for `poll`, with nothing visited.
    fn poll_visit(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        visit: &mut dyn FnMut(&[Tick]),
    ) -> Result<SourcePoll, SourceError> {
        let r = self.poll(now_ns, scratch);
        if let Ok(SourcePoll::Ready(n)) = r {
            let n = n.min(scratch.len());
            if n > 0 {
                visit(&scratch[..n]);
            }
            return Ok(SourcePoll::Ready(n));
        }
        r
    }

    /// As [`poll`](Self::poll), writing the ticks straight into `slots`: free slots of the
    /// ring to the next stage (a split pipeline's source stage offers them when a whole chunk
    /// fits), at most [`slots.capacity()`](crate::ring::EdgeSlots::capacity) ticks, each
    /// written once where the next stage reads it. `Ready(n)` counts the ticks written; every
    /// other outcome means what it means for `poll`, with nothing written. A source that
    /// builds each tick from its own input (a file's records) writes them in as it builds them
    /// ([`EdgeSlots::fill`](crate::ring::EdgeSlots::fill)); the default polls into `scratch`
    /// and copies ([`poll_via_scratch`]).
    fn poll_into(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        slots: &mut TickSlots<'_>,
    ) -> Result<SourcePoll, SourceError> {
        poll_via_scratch(self, now_ns, scratch, slots)
    }

    /// Whether a poll now could return anything but `Pending`, when the source can tell
    /// cheaply: `Some(false)` means nothing waits (an empty queue, no error or end to
    /// report), so a caller that polls many sources in turn (a router's `Arbitrate`) may skip
    /// this one for now. The default, `None`, cannot tell: the caller polls.
    fn has_waiting(&self) -> Option<bool> {
        None
    }

    /// Release resources; later polls return `Ended` or an error.
    fn close(&mut self);

    /// Current state.
    fn status(&self) -> SourceStatus {
        self.core().map_or(SourceStatus::Idle, |c| c.status)
    }

    /// Health counters.
    fn health(&self) -> SourceHealth {
        self.core().map_or_else(SourceHealth::default, |c| c.health)
    }

    /// Symbols this source produces.
    fn symbols(&self) -> &[String] {
        self.core().map_or(&[], |c| &c.symbols)
    }

    /// What the source can do.
    fn capabilities(&self) -> Capabilities {
        self.core()
            .map_or_else(Capabilities::default, |c| c.capabilities.clone())
    }

    /// The symbol table its ticks' symbol ids refer to, when it knows it (the built-in
    /// sources do). Quote streams name symbols from it.
    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        self.core().and_then(|c| c.symbol_table.as_ref())
    }

    /// The source's [`SourceCore`], when it keeps one: the accessors above read it unless
    /// the source overrides them.
    fn core(&self) -> Option<&SourceCore> {
        None
    }

    /// Add `symbols` (ids in [`symbol_table`](Self::symbol_table)) to what the source
    /// produces. See [Subscriptions](TickSource#subscriptions).
    ///
    /// # Errors
    /// The source cannot produce a symbol (unknown id, refused upstream); nothing changed.
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        let _ = symbols;
        Ok(())
    }

    /// Stop producing `symbols`. See [Subscriptions](TickSource#subscriptions).
    ///
    /// # Errors
    /// The source could not drop a symbol upstream; it may still produce it.
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        let _ = symbols;
        Ok(())
    }
}

/// Free slots of the ring after a source stage, for [`TickSource::poll_into`].
pub type TickSlots<'a> = EdgeSlots<'a, Tick>;

/// [`TickSource::poll_into`] through a buffer: `source` polls into `scratch` (no more ticks
/// than `slots` can take), and what it produced is copied into `slots`. The default of
/// `poll_into`, and the fallback of a source that writes straight into the slots only on
/// some paths.
///
/// # Errors
/// As the source's `poll`.
pub fn poll_via_scratch<S: TickSource + ?Sized>(
    source: &mut S,
    now_ns: u64,
    scratch: &mut [Tick],
    slots: &mut TickSlots<'_>,
) -> Result<SourcePoll, SourceError> {
    let cap = slots.capacity().min(scratch.len());
    let r = source.poll(now_ns, &mut scratch[..cap]);
    if let Ok(SourcePoll::Ready(n)) = r {
        return Ok(SourcePoll::Ready(slots.copy_from(&scratch[..n.min(cap)])));
    }
    r
}

impl<S: TickSource + ?Sized> TickSource for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        (**self).start(now_ns)
    }
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        (**self).poll(now_ns, out)
    }
    fn poll_discard(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        (**self).poll_discard(now_ns, out)
    }
    fn poll_visit(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        visit: &mut dyn FnMut(&[Tick]),
    ) -> Result<SourcePoll, SourceError> {
        (**self).poll_visit(now_ns, scratch, visit)
    }
    fn poll_into(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        slots: &mut TickSlots<'_>,
    ) -> Result<SourcePoll, SourceError> {
        (**self).poll_into(now_ns, scratch, slots)
    }
    fn has_waiting(&self) -> Option<bool> {
        (**self).has_waiting()
    }
    fn close(&mut self) {
        (**self).close()
    }
    fn status(&self) -> SourceStatus {
        (**self).status()
    }
    fn health(&self) -> SourceHealth {
        (**self).health()
    }
    fn symbols(&self) -> &[String] {
        (**self).symbols()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        (**self).symbol_table()
    }
    fn core(&self) -> Option<&SourceCore> {
        (**self).core()
    }
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        (**self).subscribe(symbols)
    }
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        (**self).unsubscribe(symbols)
    }
}

/// A blocking iterator over a source on the caller's thread (the seed's `source.stream()`).
///
/// Errors are yielded once and end the iteration; `Ended` ends it. While the source is pending
/// the iterator waits with its idle strategy.
pub struct SourceStream<S: TickSource> {
    source: S,
    clock: SharedClock,
    buf: Vec<Tick>,
    pos: usize,
    len: usize,
    idler: Idler,
    started: bool,
    done: bool,
}

impl<S: TickSource> std::fmt::Debug for SourceStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceStream")
            .field("source", &self.source.name())
            .field("buffered", &(self.len - self.pos))
            .field("started", &self.started)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: TickSource> SourceStream<S> {
    /// Stream `source`, reading time from `clock`.
    pub fn new(source: S, clock: SharedClock) -> SourceStream<S> {
        SourceStream {
            source,
            clock,
            buf: vec![Tick::default(); 256],
            pos: 0,
            len: 0,
            idler: Idler::new(IdleStrategy::default()),
            started: false,
            done: false,
        }
    }

    /// The source being streamed.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Give the source back.
    pub fn into_inner(self) -> S {
        self.source
    }
}

impl<S: TickSource> Iterator for SourceStream<S> {
    type Item = Result<Tick, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pos < self.len {
                let t = self.buf[self.pos];
                self.pos += 1;
                return Some(Ok(t));
            }
            if self.done {
                return None;
            }
            let now = self.clock.now_ns();
            if !self.started {
                self.started = true;
                if let Err(e) = self.source.start(now) {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            match self.source.poll(now, &mut self.buf) {
                Ok(SourcePoll::Ready(n)) => {
                    self.idler.reset();
                    self.pos = 0;
                    self.len = n.min(self.buf.len());
                }
                Ok(SourcePoll::Pending) => self.idler.idle(),
                Ok(SourcePoll::Ended) => {
                    self.done = true;
                    self.source.close();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
