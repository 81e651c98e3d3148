//! A loom-visible stand-in for the `rtrb` ring, used by the edges under `--cfg loom` only.
//!
//! `rtrb` keeps its indices and its abandonment flag in `std` atomics, which loom can neither
//! see nor schedule around. Under loom the edges run over this instead: the subset of `rtrb`'s
//! API that [`EdgeTx`](super::EdgeTx) and [`EdgeRx`](super::EdgeRx) call, with the slots in a
//! mutex-guarded queue (bounded by the capacity) and `rtrb`'s abandonment protocol (the first
//! side to be dropped sets a flag with `Release`; `is_abandoned` reads it with `Acquire`, so
//! everything the dropped side did before is visible after). What the models check is the
//! edge's own protocol around the ring — its counters, its waits, its handling of a gone peer,
//! `is_finished` — not `rtrb`'s lock-free indices, which are `rtrb`'s to check.

use std::collections::VecDeque;
use std::fmt;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex, MutexGuard};

struct Ring<T> {
    slots: Mutex<VecDeque<T>>,
    capacity: usize,
    abandoned: AtomicBool,
}

impl<T> Ring<T> {
    fn slots(&self) -> MutexGuard<'_, VecDeque<T>> {
        // A panic while the lock is held fails the model anyway.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn abandon(&self) {
        // Release: what the dropped side did happens-before an Acquire read of the flag.
        self.abandoned.store(true, Ordering::Release);
    }

    fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }
}

/// Makes the two ends, like `rtrb::RingBuffer::new`.
pub(crate) struct RingBuffer;

impl RingBuffer {
    /// A ring of `capacity` slots.
    #[allow(clippy::new_ret_no_self)] // `rtrb`'s signature
    pub(crate) fn new<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
        let ring = Arc::new(Ring {
            slots: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            abandoned: AtomicBool::new(false),
        });
        (Producer { ring: ring.clone() }, Consumer { ring })
    }
}

/// The writing end.
pub(crate) struct Producer<T> {
    ring: Arc<Ring<T>>,
}

impl<T: Copy> Producer<T> {
    /// Push one item, or hand it back when the ring is full.
    pub(crate) fn push(&mut self, item: T) -> Result<(), T> {
        let mut slots = self.ring.slots();
        if slots.len() == self.ring.capacity {
            return Err(item);
        }
        slots.push_back(item);
        Ok(())
    }

    /// Push the leading items that fit; returns (pushed, rest).
    pub(crate) fn push_partial_slice<'a>(&mut self, items: &'a [T]) -> (&'a [T], &'a [T]) {
        let mut slots = self.ring.slots();
        let n = items.len().min(self.ring.capacity - slots.len());
        slots.extend(&items[..n]);
        items.split_at(n)
    }

    /// Free slots.
    pub(crate) fn slots(&self) -> usize {
        self.ring.capacity - self.ring.slots().len()
    }

    /// Push items from `items` into at most `max` free slots, like `rtrb`'s
    /// `write_chunk_uninit(max)` + `fill_from_iter`: returns how many went in.
    pub(crate) fn fill_from_iter<I: Iterator<Item = T>>(&mut self, max: usize, items: I) -> usize {
        let mut slots = self.ring.slots();
        let n = max.min(self.ring.capacity - slots.len());
        let before = slots.len();
        slots.extend(items.take(n));
        slots.len() - before
    }
}

impl<T> Producer<T> {
    /// Whether the consumer is gone.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.ring.is_abandoned()
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.ring.abandon();
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

/// The reading end.
pub(crate) struct Consumer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Consumer<T> {
    /// Items ready to read.
    pub(crate) fn slots(&self) -> usize {
        self.ring.slots().len()
    }

    /// The first `n` ready items, held until [`ReadChunk::commit_all`].
    pub(crate) fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, ()> {
        let slots = self.ring.slots();
        if slots.len() < n {
            return Err(());
        }
        Ok(ReadChunk { slots, n })
    }

    /// Whether the producer is gone.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.ring.is_abandoned()
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.ring.abandon();
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

/// `n` items being read.
pub(crate) struct ReadChunk<'a, T> {
    slots: MutexGuard<'a, VecDeque<T>>,
    n: usize,
}

impl<T> ReadChunk<'_, T> {
    /// The items, in order, as two slices.
    pub(crate) fn as_slices(&self) -> (&[T], &[T]) {
        let (a, b) = self.slots.as_slices();
        if a.len() >= self.n {
            (&a[..self.n], &[])
        } else {
            (a, &b[..self.n - a.len()])
        }
    }

    /// Release the items.
    pub(crate) fn commit_all(mut self) {
        self.slots.drain(..self.n);
    }
}
