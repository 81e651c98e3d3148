//! SPSC edges between stages: `rtrb` rings moved in chunks, with a declared backpressure policy
//! and exact counters.
//!
//! Conservation holds for every edge in each side's own totals, from the producer's side:
//! `offered == pushed + dropped + conflated + after_close + pending`, and from the consumer's
//! side `pushed == popped + in_ring`. So
//! `offered == popped + dropped + conflated + after_close + in_flight` where
//! `in_flight = in_ring + pending`, exactly in a snapshot taken once both sides are done; a
//! snapshot of a live edge can mix publications (see [`EdgeCounters::snapshot`]).
//!
//! `dropped` is backpressure's loss (and, on a pipeline's own edges, what a stage that is gone
//! never took). `after_close` is only used by an edge whose consumer may leave while it is fed
//! (a fan-out subscription, [`EdgeTx::count_departure_apart`]): what it was offered after it
//! stopped reading — left unread in the ring when it left, or offered once it was gone.

use std::sync::Arc;

use crossbeam::utils::CachePadded;
#[cfg(not(loom))]
use rtrb::{Consumer, Producer, RingBuffer};

#[cfg(loom)]
mod loom_ring;
#[cfg(loom)]
use loom_ring::{Consumer, Producer, RingBuffer};

use crate::error::ConfigError;
use crate::idle::Idler;
use crate::record::Record;
use crate::sync::{AtomicU64, Ordering};
use crate::tick::{Tick, TickKind};

/// What a full edge does with what does not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backpressure {
    /// Wait for room: nothing is ever lost (the producer slows to the consumer's pace).
    #[default]
    Block,
    /// Drop what does not fit, counting it.
    DropNewest,
    /// Quotes that do not fit are conflated: only the latest per symbol waits at the producer
    /// and goes in as soon as there is room; replaced quotes are counted. Trades are never
    /// conflated: they wait (after the pending quotes, so per-symbol order holds).
    ConflateLatest,
}

impl Backpressure {
    /// Parse `block`, `drop-newest`, `conflate-latest`.
    pub fn parse(s: &str) -> Result<Backpressure, ConfigError> {
        match s {
            "block" => Ok(Backpressure::Block),
            "drop-newest" | "drop_newest" => Ok(Backpressure::DropNewest),
            "conflate-latest" | "conflate_latest" | "conflate" => Ok(Backpressure::ConflateLatest),
            other => Err(ConfigError::new(
                "backpressure",
                format!("unknown policy {other:?} (expected block, drop-newest, conflate-latest)"),
            )),
        }
    }
}

/// Items that can be conflated: quotes by symbol.
pub trait Conflatable: Copy {
    /// The conflation key (the symbol id) for items that may be replaced by a later one.
    fn conflation_key(&self) -> Option<u32>;
}

impl Conflatable for Tick {
    #[inline]
    fn conflation_key(&self) -> Option<u32> {
        (self.kind == TickKind::Quote).then_some(self.symbol.0)
    }
}

impl Conflatable for Record {
    #[inline]
    fn conflation_key(&self) -> Option<u32> {
        match self {
            Record::Tick(t) => t.conflation_key(),
            Record::Bar(_) => None,
        }
    }
}

/// Live counters of one edge. Each field has a single writer (producer or consumer side), which
/// stores its local total (`Release`) when it publishes.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    /// Items offered to `send`.
    pub offered: CachePadded<AtomicU64>,
    /// Items that entered the ring.
    pub pushed: AtomicU64,
    /// Items dropped (`DropNewest`, or lost because the consumer is gone, unless the edge
    /// counts that as `after_close`).
    pub dropped: AtomicU64,
    /// Items offered after the consumer stopped reading, never read: left in the ring when it
    /// left, or offered once it was gone (edges that [`EdgeTx::count_departure_apart`]).
    pub after_close: AtomicU64,
    /// Quotes replaced by a later quote of the same symbol (`ConflateLatest`).
    pub conflated: AtomicU64,
    /// Conflated quotes waiting at the producer.
    pub pending: AtomicU64,
    /// Items taken out of the ring by the consumer.
    pub popped: CachePadded<AtomicU64>,
}

/// A consistent-enough snapshot of [`EdgeCounters`] (each field read once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeStats {
    /// Items offered.
    pub offered: u64,
    /// Items pushed into the ring.
    pub pushed: u64,
    /// Items dropped (backpressure; see [`EdgeCounters::dropped`]).
    pub dropped: u64,
    /// Items offered after the consumer stopped reading (see [`EdgeCounters::after_close`]).
    pub after_close: u64,
    /// Quotes conflated away.
    pub conflated: u64,
    /// Quotes pending at the producer.
    pub pending: u64,
    /// Items consumed.
    pub popped: u64,
}

impl EdgeStats {
    /// Items in the ring or pending at the producer.
    pub fn in_flight(&self) -> u64 {
        self.pushed.saturating_sub(self.popped) + self.pending
    }
}

impl EdgeCounters {
    /// Read every counter once. Exact once both sides are done (their ends dropped or their
    /// threads joined). On a live edge the fields can come from different publications: the
    /// consumer can already have taken, and counted, items whose push the producer has not
    /// published yet, so `popped` can pass `pushed` for a moment (`in_flight` then reads 0) and
    /// the conservation sum need not balance.
    pub fn snapshot(&self) -> EdgeStats {
        // Acquire pairs with each side's Release stores: the snapshot sees at least every
        // publication that happened before the ones it read. Reading the consumer's counter
        // first keeps `popped` from running ahead of `pushed` by more than the items the
        // producer has pushed and not yet published.
        let popped = self.popped.load(Ordering::Acquire);
        EdgeStats {
            popped,
            offered: self.offered.load(Ordering::Acquire),
            pushed: self.pushed.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            after_close: self.after_close.load(Ordering::Acquire),
            conflated: self.conflated.load(Ordering::Acquire),
            pending: self.pending.load(Ordering::Acquire),
        }
    }
}

/// The consumer side went away: `unsent` items were counted as dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("downstream stage is gone; {unsent} items dropped")]
pub struct Disconnected {
    /// Items that could not be delivered.
    pub unsent: usize,
}

/// Most bytes one edge's ring may take (1 GiB): a larger ring is refused, never allocated.
pub const MAX_RING_BYTES: usize = 1 << 30;

/// The most slots an edge of `T` may have: [`MAX_RING_BYTES`] of them (2^24 ticks).
pub const fn max_capacity<T>() -> usize {
    match MAX_RING_BYTES.checked_div(std::mem::size_of::<T>()) {
        Some(n) => n,
        None => MAX_RING_BYTES,
    }
}

/// Check an edge capacity of `T` slots: 1 to [`max_capacity`].
///
/// # Errors
/// A [`ConfigError`] on `ring_capacity` naming the bound.
pub fn check_capacity<T>(capacity: usize) -> Result<(), ConfigError> {
    if capacity == 0 {
        return Err(ConfigError::new("ring_capacity", "must be greater than 0"));
    }
    let max = max_capacity::<T>();
    if capacity > max {
        return Err(ConfigError::new(
            "ring_capacity",
            format!(
                "{capacity} slots: at most {max} ({MAX_RING_BYTES} bytes of {}-byte items)",
                std::mem::size_of::<T>()
            ),
        ));
    }
    Ok(())
}

/// Make an edge of `capacity` slots.
///
/// # Errors
/// A capacity of 0 or above [`max_capacity`] (a [`ConfigError`] on `ring_capacity`): the ring
/// is not allocated.
pub fn edge<T: Conflatable + Send>(
    capacity: usize,
    policy: Backpressure,
) -> Result<(EdgeTx<T>, EdgeRx<T>), ConfigError> {
    check_capacity::<T>(capacity)?;
    let (tx, rx) = RingBuffer::new(capacity);
    let counters = Arc::new(EdgeCounters::default());
    Ok((
        EdgeTx {
            tx,
            policy,
            counters: counters.clone(),
            offered: 0,
            pushed: 0,
            dropped: 0,
            after_close: 0,
            apart: false,
            left: false,
            conflated: 0,
            stash: Stash::default(),
            unclaimed: 0,
        },
        EdgeRx {
            rx,
            counters,
            popped: 0,
        },
    ))
}

/// Latest pending item per key, in first-stashed order.
#[derive(Debug)]
struct Stash<T> {
    slots: Vec<Option<T>>,
    order: Vec<u32>,
    head: usize,
}

impl<T> Default for Stash<T> {
    fn default() -> Self {
        Stash {
            slots: Vec::new(),
            order: Vec::new(),
            head: 0,
        }
    }
}

impl<T: Copy> Stash<T> {
    fn len(&self) -> usize {
        self.order.len() - self.head
    }

    /// Stash `item` under `key`; true if it replaced an earlier one.
    fn put(&mut self, key: u32, item: T) -> bool {
        let k = key as usize;
        if k >= self.slots.len() {
            // Grows once per new symbol, never in steady state.
            self.slots.resize(k + 1, None);
        }
        let replaced = self.slots[k].replace(item).is_some();
        if !replaced {
            self.order.push(key);
        }
        replaced
    }

    fn front(&self) -> Option<T> {
        self.order
            .get(self.head)
            .and_then(|&k| self.slots[k as usize])
    }

    fn pop_front(&mut self) {
        let k = self.order[self.head] as usize;
        self.slots[k] = None;
        self.head += 1;
        if self.head == self.order.len() {
            self.order.clear();
            self.head = 0;
        }
    }
}

/// Producer side of an edge.
#[derive(Debug)]
pub struct EdgeTx<T> {
    tx: Producer<T>,
    policy: Backpressure,
    counters: Arc<EdgeCounters>,
    offered: u64,
    pushed: u64,
    dropped: u64,
    after_close: u64,
    /// The consumer leaving is counted as `after_close`, not `dropped`.
    apart: bool,
    /// The consumer has left and its leftovers were counted (`apart` only).
    left: bool,
    conflated: u64,
    stash: Stash<T>,
    /// Items written through [`EdgeSlots`] that the producer has not yet claimed
    /// ([`claim_written`](EdgeTx::claim_written)).
    unclaimed: u64,
}

/// Free slots of an edge's ring that a producer writes items straight into, with no buffer
/// between (see [`EdgeTx::slots`]). What goes in is pushed, and counted as offered and pushed,
/// at once; the counters are published when the slots are dropped (also while unwinding), so
/// conservation holds whatever happens to the writer.
#[derive(Debug)]
pub struct EdgeSlots<'a, T: Conflatable> {
    tx: &'a mut EdgeTx<T>,
    left: usize,
}

impl<T: Conflatable> EdgeSlots<'_, T> {
    /// Slots still free to write.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.left
    }

    /// Write items from `items` into the free slots, in order, until either runs out; returns
    /// how many were written. Nothing is copied twice: each item is written once, into its
    /// slot.
    #[inline]
    pub fn fill<I: IntoIterator<Item = T>>(&mut self, items: I) -> usize {
        let n = fill_ring(&mut self.tx.tx, self.left, items.into_iter());
        self.count(n);
        n
    }

    /// Copy the leading items of `items` that fit; returns how many were copied.
    #[inline]
    pub fn copy_from(&mut self, items: &[T]) -> usize {
        let take = items.len().min(self.left);
        let (done, _) = self.tx.tx.push_partial_slice(&items[..take]);
        let n = done.len();
        self.count(n);
        n
    }

    #[inline]
    fn count(&mut self, n: usize) {
        self.left -= n;
        let tx = &mut *self.tx;
        tx.offered += n as u64;
        tx.pushed += n as u64;
        tx.unclaimed += n as u64;
    }
}

impl<T: Conflatable> Drop for EdgeSlots<'_, T> {
    fn drop(&mut self) {
        if self.tx.unclaimed > 0 {
            self.tx.publish();
        }
    }
}

/// `rtrb`'s uninitialised write chunk filled from an iterator: each item is written once,
/// into its slot, and the filled slots are committed.
#[cfg(not(loom))]
#[inline]
fn fill_ring<T>(tx: &mut Producer<T>, max: usize, items: impl Iterator<Item = T>) -> usize {
    match tx.write_chunk_uninit(max) {
        Ok(chunk) => chunk.fill_from_iter(items),
        // Never with `max` ≤ the free slots counted by `EdgeTx::slots` (only this side
        // fills them); nothing is written then.
        Err(_) => 0,
    }
}

#[cfg(loom)]
fn fill_ring<T: Copy>(tx: &mut Producer<T>, max: usize, items: impl Iterator<Item = T>) -> usize {
    tx.fill_from_iter(max, items)
}

impl<T: Conflatable> EdgeTx<T> {
    /// `max` free slots of the ring to write straight into, when `max` slots are free now and
    /// no conflated quote waits at the producer: what is written then goes in exactly as
    /// [`offer`](Self::offer) would have taken it under any policy (a chunk that fits is
    /// pushed whole, behind everything offered before). `None` otherwise (or for `max` 0):
    /// offer instead. The producer claims what was written with
    /// [`claim_written`](Self::claim_written).
    #[inline]
    pub fn slots(&mut self, max: usize) -> Option<EdgeSlots<'_, T>> {
        if max == 0 || self.stash.len() > 0 || self.tx.slots() < max {
            return None;
        }
        Some(EdgeSlots {
            tx: self,
            left: max,
        })
    }

    /// Items written through [`slots`](Self::slots) since the last claim (already counted
    /// as offered and pushed); the count restarts at 0.
    #[inline]
    pub fn claim_written(&mut self) -> u64 {
        std::mem::take(&mut self.unclaimed)
    }

    /// The edge's live counters.
    pub fn counters(&self) -> Arc<EdgeCounters> {
        self.counters.clone()
    }

    /// The backpressure policy.
    pub fn policy(&self) -> Backpressure {
        self.policy
    }

    /// Whether the consumer is gone.
    pub fn is_disconnected(&self) -> bool {
        self.tx.is_abandoned()
    }

    /// Count what the consumer is offered after it stops reading as `after_close`, not as
    /// `dropped`: for a consumer that may leave while it is fed (a fan-out subscriber), so that
    /// `dropped` stays backpressure's loss alone. See [`consumer_left`](Self::consumer_left).
    pub fn count_departure_apart(&mut self) {
        self.apart = true;
    }

    /// The consumer has left for good (its end is dropped, or it said it reads no more and
    /// its last read happened before the caller learned that): with
    /// [`count_departure_apart`](Self::count_departure_apart), what it left unread in the ring
    /// and conflated quotes still waiting are counted as `after_close` (taken back from
    /// `pushed` and `pending`), so nothing of it stays in flight. Once per edge; without
    /// `count_departure_apart`, nothing is counted (what the ring holds stays in flight).
    pub fn consumer_left(&mut self) {
        if !self.apart || self.left {
            return;
        }
        self.left = true;
        // Acquire: pairs with the consumer's Release of its last `popped`, published before
        // it dropped its end or said it left.
        let popped = self.counters.popped.load(Ordering::Acquire);
        let unread = self.pushed.saturating_sub(popped);
        self.pushed -= unread;
        let stashed = self.stash.len() as u64;
        while self.stash.len() > 0 {
            self.stash.pop_front();
        }
        self.after_close += unread + stashed;
        self.publish();
    }

    fn publish(&self) {
        // Release: a reader that acquires these sees totals at least this new (see snapshot).
        let c = &self.counters;
        c.pushed.store(self.pushed, Ordering::Release);
        c.dropped.store(self.dropped, Ordering::Release);
        c.after_close.store(self.after_close, Ordering::Release);
        c.conflated.store(self.conflated, Ordering::Release);
        c.pending.store(self.stash.len() as u64, Ordering::Release);
        c.offered.store(self.offered, Ordering::Release);
    }

    /// Push as much of `items` as fits now; returns the rest.
    #[inline]
    fn push_some<'a>(&mut self, items: &'a [T]) -> &'a [T] {
        let (done, rest) = self.tx.push_partial_slice(items);
        self.pushed += done.len() as u64;
        rest
    }

    fn lose(&mut self, n: usize) -> Disconnected {
        self.dropped += n as u64;
        Disconnected { unsent: n }
    }

    /// Move stashed items into the ring while there is room. True when the stash is empty.
    pub fn flush_pending(&mut self) -> bool {
        let mut moved = false;
        while let Some(item) = self.stash.front() {
            if self.tx.push(item).is_err() {
                break;
            }
            self.stash.pop_front();
            self.pushed += 1;
            moved = true;
        }
        if moved {
            self.publish();
        }
        self.stash.len() == 0
    }

    /// Send a chunk under the edge's policy, waiting (paced by `idler`) where the policy
    /// waits: for room under `Block`, and for trades under `ConflateLatest`. A dedicated
    /// thread's loop over [`offer`](Self::offer).
    ///
    /// # Errors
    /// [`Disconnected`] when the consumer is gone; what was not delivered is counted as
    /// dropped, so conservation still holds.
    pub fn send(&mut self, items: &[T], idler: &mut Idler) -> Result<(), Disconnected> {
        let mut rest = items;
        loop {
            let taken = self.offer(rest)?;
            rest = &rest[taken..];
            if rest.is_empty() {
                idler.reset();
                return Ok(());
            }
            idler.idle();
        }
    }

    /// Take as much of `items` as the policy allows right now, never waiting: returns how
    /// many leading items were taken (pushed, dropped under `DropNewest`, or stashed or
    /// conflated under `ConflateLatest`). The rest (from the first item that must wait for
    /// room: any item under `Block`, a trade under `ConflateLatest`) is the caller's to offer
    /// again; it is not counted as offered until taken. This is the cooperative stages' send.
    ///
    /// # Errors
    /// [`Disconnected`] when the consumer is gone and something had to wait: everything not
    /// delivered (the rest, and conflated quotes still stashed) is counted as offered and
    /// dropped (`after_close` with [`count_departure_apart`](Self::count_departure_apart),
    /// with what the ring still holds: see [`consumer_left`](Self::consumer_left)).
    pub fn offer(&mut self, items: &[T]) -> Result<usize, Disconnected> {
        let rest = match self.policy {
            Backpressure::Block => self.push_some(items),
            Backpressure::DropNewest => {
                let rest = self.push_some(items);
                if !rest.is_empty() && !self.tx.is_abandoned() {
                    self.dropped += rest.len() as u64;
                    self.offered += items.len() as u64;
                    self.publish();
                    return Ok(items.len());
                }
                rest
            }
            Backpressure::ConflateLatest => self.offer_conflating(items),
        };
        let taken = items.len() - rest.len();
        self.offered += taken as u64;
        if !rest.is_empty() && self.tx.is_abandoned() {
            self.offered += rest.len() as u64;
            if self.apart {
                // Offered once it was gone: not backpressure's loss.
                self.after_close += rest.len() as u64;
                self.consumer_left();
                self.publish();
                return Err(Disconnected { unsent: rest.len() });
            }
            let stashed = self.stash.len();
            while self.stash.len() > 0 {
                self.stash.pop_front();
            }
            let e = self.lose(rest.len() + stashed);
            self.publish();
            return Err(e);
        }
        self.publish();
        Ok(taken)
    }

    /// `ConflateLatest` without waiting: quotes that do not fit are stashed (the latest per
    /// symbol); a trade goes in only once everything stashed before it has. Returns the rest,
    /// starting at the first trade that must wait.
    fn offer_conflating<'a>(&mut self, items: &'a [T]) -> &'a [T] {
        self.flush_pending();
        let mut rest = items;
        while !rest.is_empty() {
            if self.stash.len() == 0 {
                rest = self.push_some(rest);
                if rest.is_empty() {
                    break;
                }
                // The ring is full: `rest[0]` takes the slow path below.
            }
            match rest[0].conflation_key() {
                Some(key) => {
                    if self.stash.put(key, rest[0]) {
                        self.conflated += 1;
                    }
                    rest = &rest[1..];
                }
                None => {
                    // A trade: everything stashed before it goes first, then it needs room.
                    if !self.flush_pending() || self.tx.push(rest[0]).is_err() {
                        break;
                    }
                    self.pushed += 1;
                    rest = &rest[1..];
                }
            }
            if self.stash.len() > 0 {
                self.flush_pending();
            }
        }
        rest
    }

    /// Give up on `n` items the caller could not [`offer`](Self::offer) and will not offer
    /// again (a fan-out that cannot wait for one consumer): they are counted as offered and
    /// dropped, so conservation holds.
    pub fn discard(&mut self, n: usize) {
        self.offered += n as u64;
        self.dropped += n as u64;
        self.publish();
    }

    /// Give up on the conflated quotes still waiting at the producer (counted as dropped):
    /// the producer is ending without waiting for the consumer. Returns how many.
    pub fn discard_pending(&mut self) -> usize {
        let n = self.stash.len();
        while self.stash.len() > 0 {
            self.stash.pop_front();
        }
        self.dropped += n as u64;
        self.publish();
        n
    }

    /// Conflated items waiting at the producer.
    pub fn pending_len(&self) -> usize {
        self.stash.len()
    }
}

/// Consumer side of an edge.
#[derive(Debug)]
pub struct EdgeRx<T> {
    rx: Consumer<T>,
    counters: Arc<EdgeCounters>,
    popped: u64,
}

impl<T: Copy> EdgeRx<T> {
    /// The edge's live counters.
    pub fn counters(&self) -> Arc<EdgeCounters> {
        self.counters.clone()
    }

    /// Items ready now.
    #[inline]
    pub fn ready(&self) -> usize {
        self.rx.slots()
    }

    /// Hand up to `max` ready items to `f` without copying (one or two slices), then release
    /// them. Returns how many were consumed.
    #[inline]
    pub fn read<F: FnMut(&[T])>(&mut self, max: usize, mut f: F) -> usize {
        let n = self.rx.slots().min(max);
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.rx.read_chunk(n) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        f(a);
        if !b.is_empty() {
            f(b);
        }
        chunk.commit_all();
        self.popped += n as u64;
        // Release: see EdgeCounters::snapshot.
        self.counters.popped.store(self.popped, Ordering::Release);
        n
    }

    /// The producer is gone and everything it pushed has been read.
    #[inline]
    pub fn is_finished(&self) -> bool {
        // is_abandoned is an Acquire load of a flag the producer sets on drop, after its last
        // push, so a zero slot count read afterwards is final.
        self.rx.is_abandoned() && self.rx.slots() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idle::IdleStrategy;
    use crate::symbol::SymbolId;

    fn quote(sym: u32, seq: u32) -> Tick {
        Tick {
            kind: TickKind::Quote,
            symbol: SymbolId(sym),
            seq,
            ..Tick::default()
        }
    }

    fn trade(sym: u32, seq: u32) -> Tick {
        Tick {
            kind: TickKind::Trade,
            ..quote(sym, seq)
        }
    }

    fn drain(rx: &mut EdgeRx<Tick>) -> Vec<Tick> {
        let mut v = Vec::new();
        while rx.read(usize::MAX, |s| v.extend_from_slice(s)) > 0 {}
        v
    }

    fn conserved(c: &EdgeCounters) -> bool {
        let s = c.snapshot();
        s.offered == s.popped + s.dropped + s.conflated + s.after_close + s.in_flight()
    }

    #[test]
    fn zero_capacity_is_a_config_error() {
        let e = edge::<Tick>(0, Backpressure::Block).unwrap_err();
        assert_eq!(e.field, "ring_capacity");
    }

    /// `mdp bench --ring 8589934592` aborted on allocation and `--ring u64::MAX` panicked in
    /// rtrb: every capacity past the bound is an error, before anything is allocated.
    #[test]
    fn ring_capacities_rtrb_cannot_allocate_are_errors_not_aborts() {
        assert_eq!(max_capacity::<Tick>(), 1 << 24);
        for cap in [
            max_capacity::<Tick>() + 1,
            1 << 28,
            8_589_934_592,
            usize::MAX / 64 + 1,
            usize::MAX,
        ] {
            let e = edge::<Tick>(cap, Backpressure::Block).unwrap_err();
            assert_eq!(e.field, "ring_capacity", "{cap}");
            assert!(e.to_string().contains("at most 16777216"), "{cap}: {e}");
            let e = edge::<Record>(cap, Backpressure::Block).unwrap_err();
            assert_eq!(e.field, "ring_capacity", "{cap}");
        }
        // The bound itself is allowed (checked without allocating: Miri runs this module).
        assert!(check_capacity::<Tick>(max_capacity::<Tick>()).is_ok());
    }

    #[test]
    fn unknown_policy_name_is_a_config_error() {
        assert_eq!(
            Backpressure::parse("drop-newest"),
            Ok(Backpressure::DropNewest)
        );
        let e = Backpressure::parse("drop-oldest-maybe").unwrap_err();
        assert!(e.reason.contains("drop-oldest-maybe"));
    }

    #[test]
    fn drop_newest_counts_every_drop() {
        let (mut tx, mut rx) = edge::<Tick>(8, Backpressure::DropNewest).unwrap();
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        let items: Vec<Tick> = (0..20).map(|i| quote(0, i)).collect();
        tx.send(&items, &mut idler).unwrap();
        let c = tx.counters();
        assert_eq!(c.snapshot().dropped, 12);
        assert!(conserved(&c));
        let got = drain(&mut rx);
        assert_eq!(
            got.iter().map(|t| t.seq).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        assert!(conserved(&c));
        assert_eq!(c.snapshot().in_flight(), 0);
    }

    #[test]
    fn conflate_latest_keeps_the_latest_quote_per_symbol_and_never_conflates_trades() {
        let (mut tx, mut rx) = edge::<Tick>(4, Backpressure::ConflateLatest).unwrap();
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        // Fill the ring, then 3 quotes for symbol 1 and 2 for symbol 2 while it is full.
        let items = [
            quote(0, 1),
            quote(0, 2),
            quote(0, 3),
            quote(0, 4),
            quote(1, 5),
            quote(2, 6),
            quote(1, 7),
            quote(2, 8),
            quote(1, 9),
        ];
        tx.send(&items, &mut idler).unwrap();
        let c = tx.counters();
        let s = c.snapshot();
        assert_eq!((s.pushed, s.conflated, s.pending), (4, 3, 2));
        assert!(conserved(&c));
        assert_eq!(drain(&mut rx).len(), 4);
        assert!(tx.flush_pending());
        let got: Vec<u32> = drain(&mut rx).iter().map(|t| t.seq).collect();
        // Latest per symbol, in first-stashed order.
        assert_eq!(got, vec![9, 8]);
        assert!(conserved(&c));
        // A trade never gets conflated: it waits for room (here there is room).
        tx.send(&[trade(1, 10)], &mut idler).unwrap();
        assert_eq!(drain(&mut rx)[0].seq, 10);
        assert!(conserved(&c));
    }

    #[test]
    fn block_waits_and_loses_nothing_across_threads() {
        let (mut tx, mut rx) = edge::<Tick>(64, Backpressure::Block).unwrap();
        let n: u32 = if cfg!(miri) { 2_000 } else { 100_000 };
        let producer = std::thread::spawn(move || {
            let mut idler = Idler::new(IdleStrategy::default());
            let chunk: Vec<Tick> = (0..100).map(|i| quote(0, i)).collect();
            for base in (0..n).step_by(100) {
                let mut c = chunk.clone();
                for (i, t) in c.iter_mut().enumerate() {
                    t.seq = base + i as u32;
                }
                tx.send(&c, &mut idler).unwrap();
            }
            tx.counters()
        });
        let mut expect = 0u32;
        let mut idler = Idler::new(IdleStrategy::default());
        // Bounded: the producer finishes, so the edge finishes.
        while !rx.is_finished() {
            let got = rx.read(256, |s| {
                for t in s {
                    assert_eq!(t.seq, expect);
                    expect += 1;
                }
            });
            if got == 0 {
                idler.idle();
            }
        }
        let c = producer.join().unwrap();
        assert_eq!(expect, n);
        let s = c.snapshot();
        assert_eq!((s.offered, s.popped, s.dropped), (n as u64, n as u64, 0));
    }

    #[test]
    fn sending_to_a_gone_consumer_is_an_error_and_counted() {
        let (mut tx, rx) = edge::<Tick>(2, Backpressure::Block).unwrap();
        drop(rx);
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        let items: Vec<Tick> = (0..5).map(|i| quote(0, i)).collect();
        let e = tx.send(&items, &mut idler).unwrap_err();
        assert_eq!(e.unsent, 3);
        assert!(conserved(&tx.counters()));
    }

    #[test]
    fn offer_never_waits_and_hands_back_what_must_wait_under_each_policy() {
        // Block: what does not fit is handed back, not counted as offered.
        let (mut tx, mut rx) = edge::<Tick>(4, Backpressure::Block).unwrap();
        let items: Vec<Tick> = (0..6).map(|i| quote(0, i)).collect();
        assert_eq!(tx.offer(&items).unwrap(), 4);
        assert_eq!(tx.counters().snapshot().offered, 4);
        assert!(conserved(&tx.counters()));
        assert_eq!(drain(&mut rx).len(), 4);
        assert_eq!(tx.offer(&items[4..]).unwrap(), 2);
        assert_eq!(
            drain(&mut rx).iter().map(|t| t.seq).collect::<Vec<_>>(),
            [4, 5]
        );

        // DropNewest: everything is taken; what does not fit is dropped.
        let (mut tx, _rx) = edge::<Tick>(4, Backpressure::DropNewest).unwrap();
        assert_eq!(tx.offer(&items).unwrap(), 6);
        assert_eq!(tx.counters().snapshot().dropped, 2);
        assert!(conserved(&tx.counters()));

        // ConflateLatest: quotes are stashed; a trade behind a stash is handed back.
        let (mut tx, mut rx) = edge::<Tick>(2, Backpressure::ConflateLatest).unwrap();
        let mixed = [
            quote(0, 0),
            quote(1, 1),
            quote(0, 2),
            quote(0, 3),
            trade(1, 4),
            quote(1, 5),
        ];
        assert_eq!(tx.offer(&mixed).unwrap(), 4);
        assert_eq!(tx.pending_len(), 1);
        assert!(conserved(&tx.counters()));
        assert_eq!(drain(&mut rx).len(), 2);
        // Room again: the stashed quote goes first, then the trade, then the rest.
        assert_eq!(tx.offer(&mixed[4..]).unwrap(), 2);
        let seqs: Vec<u32> = drain(&mut rx).iter().map(|t| t.seq).collect();
        assert_eq!(seqs[..2], [3, 4]);
        assert!(tx.flush_pending());
        assert!(conserved(&tx.counters()));
    }

    #[test]
    fn regression_a_departing_consumer_is_counted_after_close_not_dropped() {
        // Was: a fan-out subscriber that left (a bounded pipeline done reading) while the hub
        // held a chunk for it had the rest counted as dropped (96 in one CI run), and what
        // it left in its ring stayed in flight.
        for policy in [
            Backpressure::Block,
            Backpressure::DropNewest,
            Backpressure::ConflateLatest,
        ] {
            let (mut tx, mut rx) = edge::<Tick>(4, policy).unwrap();
            tx.count_departure_apart();
            let items: Vec<Tick> = (0..4).map(|i| trade(0, i)).collect();
            assert_eq!(tx.offer(&items).unwrap(), 4, "{policy:?}");
            assert_eq!(rx.read(1, |_| {}), 1);
            drop(rx);
            let more: Vec<Tick> = (4..7).map(|i| trade(0, i)).collect();
            // Room for one more (pushed, never read), then the consumer is found gone.
            let e = tx.offer(&more).unwrap_err();
            assert_eq!(e.unsent, 2, "{policy:?}");
            let s = tx.counters().snapshot();
            assert_eq!(
                (s.offered, s.popped, s.dropped),
                (7, 1, 0),
                "{policy:?}: {s:?}"
            );
            assert_eq!((s.after_close, s.in_flight()), (6, 0), "{policy:?}: {s:?}");
            assert!(conserved(&tx.counters()), "{policy:?}: {s:?}");
            // Told again (the hub removing it): nothing counted twice.
            tx.consumer_left();
            assert_eq!(tx.counters().snapshot(), s);
        }
    }

    #[test]
    fn offer_to_a_gone_consumer_counts_the_rest_and_the_stash_as_dropped() {
        for policy in [
            Backpressure::Block,
            Backpressure::DropNewest,
            Backpressure::ConflateLatest,
        ] {
            let (mut tx, rx) = edge::<Tick>(2, policy).unwrap();
            drop(rx);
            let items = [
                quote(0, 0),
                quote(1, 1),
                quote(2, 2),
                trade(0, 3),
                quote(0, 4),
            ];
            let e = tx.offer(&items).unwrap_err();
            let s = tx.counters().snapshot();
            assert_eq!(s.offered, 5, "{policy:?}");
            assert_eq!(s.pushed + s.dropped + s.conflated, 5, "{policy:?}");
            assert_eq!(s.pending, 0, "{policy:?}");
            assert!(e.unsent >= 1, "{policy:?}");
        }
    }

    fn seqs(ticks: &[Tick]) -> Vec<u32> {
        ticks.iter().map(|t| t.seq).collect()
    }

    #[test]
    fn slots_are_offered_only_for_a_whole_chunk_with_nothing_waiting_in_the_stash() {
        for policy in [
            Backpressure::Block,
            Backpressure::DropNewest,
            Backpressure::ConflateLatest,
        ] {
            let (mut tx, mut rx) = edge::<Tick>(4, policy).unwrap();
            assert!(tx.slots(0).is_none(), "{policy:?}: zero slots");
            assert!(tx.slots(5).is_none(), "{policy:?}: more than the ring");
            assert_eq!(tx.slots(4).map(|s| s.capacity()), Some(4), "{policy:?}");
            tx.offer(&[trade(1, 0), trade(1, 1)]).unwrap();
            assert!(tx.slots(3).is_none(), "{policy:?}: two free");
            assert_eq!(tx.slots(2).map(|s| s.capacity()), Some(2), "{policy:?}");
            assert_eq!(seqs(&drain(&mut rx)), [0, 1], "{policy:?}");
            assert!(tx.slots(4).is_some(), "{policy:?}: read, so free again");
        }
        // A quote waiting in the stash goes first: no slots until it is in the ring.
        let (mut tx, mut rx) = edge::<Tick>(2, Backpressure::ConflateLatest).unwrap();
        tx.offer(&[quote(1, 0), quote(2, 1), quote(3, 2)]).unwrap();
        assert_eq!(tx.pending_len(), 1);
        drain(&mut rx);
        assert!(tx.slots(1).is_none(), "a quote is stashed");
        assert!(tx.flush_pending());
        assert!(tx.slots(1).is_some());
    }

    #[test]
    fn what_is_written_into_slots_is_pushed_counted_and_read_in_order_across_the_wrap() {
        // A ring of 5 filled 3 (or fewer) at a time wraps every other round; `fill` from an
        // iterator that runs out, and `copy_from` a slice longer than the slots.
        let (mut tx, mut rx) = edge::<Tick>(5, Backpressure::Block).unwrap();
        let (mut next, mut read) = (0u32, Vec::new());
        for round in 0..12u32 {
            let mut slots = tx.slots(3).expect("drained each round");
            let n = if round % 2 == 0 {
                let short = if round % 4 == 0 { 3 } else { 2 };
                slots.fill((next..next + short).map(|s| trade(1, s)))
            } else {
                let more: Vec<Tick> = (next..next + 4).map(|s| trade(1, s)).collect();
                slots.copy_from(&more)
            };
            assert_eq!(slots.capacity(), 3 - n, "round {round}");
            drop(slots);
            next += n as u32;
            assert_eq!(tx.claim_written(), n as u64, "round {round}");
            assert_eq!(tx.claim_written(), 0, "a claim restarts the count");
            let c = tx.counters().snapshot();
            assert_eq!((c.offered, c.pushed), (u64::from(next), u64::from(next)));
            read.extend(seqs(&drain(&mut rx)));
            assert!(conserved(&tx.counters()), "round {round}");
        }
        assert_eq!(read, (0..next).collect::<Vec<_>>());
    }

    #[test]
    fn slots_written_before_a_panic_are_pushed_and_counted_and_a_panicking_iterator_pushes_none() {
        let (mut tx, mut rx) = edge::<Tick>(8, Backpressure::Block).unwrap();
        // The writer panics after writing two: those two are in the ring and counted.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut slots = tx.slots(4).unwrap();
            slots.fill([trade(1, 0), trade(1, 1)]);
            panic!("writer failed");
        }));
        assert!(r.is_err());
        assert_eq!(tx.claim_written(), 2);
        let c = tx.counters().snapshot();
        assert_eq!((c.offered, c.pushed), (2, 2), "published while unwinding");
        // The iterator panics at its third item: nothing of that fill is committed.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut slots = tx.slots(4).unwrap();
            slots.fill((2..6).map(|s| {
                assert!(s < 4, "iterator failed");
                trade(1, s)
            }));
        }));
        assert!(r.is_err());
        assert_eq!(tx.claim_written(), 0);
        assert_eq!(seqs(&drain(&mut rx)), [0, 1]);
        assert!(conserved(&tx.counters()));
        assert_eq!(tx.counters().snapshot().in_flight(), 0);
    }
}
