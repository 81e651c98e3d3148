//! `TickStream`: the caller's thread as the consumer of a pipeline's source edge.
//!
//! [`StreamingPipeline::start_tick_stream`](super::StreamingPipeline::start_tick_stream) runs
//! only the source stage; its 64-byte ticks cross one rtrb edge to whoever iterates the
//! stream. Reading publishes `ticks_in` and `delivered` once per chunk, so the pipeline's
//! counters (and conservation) hold as for any pipeline.

use std::sync::Arc;

use crate::idle::{IdleStrategy, Idler};
use crate::pipeline::stats::PipelineShared;
use crate::ring::EdgeRx;
use crate::sync::Ordering;
use crate::tick::Tick;

/// A blocking iterator over a pipeline's ticks; ends when the source stage has finished and
/// everything was read. Dropping it makes the source stage stop.
#[derive(Debug)]
pub struct TickStream {
    rx: EdgeRx<Tick>,
    shared: Arc<PipelineShared>,
    buf: Vec<Tick>,
    pos: usize,
    read: u64,
    chunk: usize,
    idler: Idler,
}

impl TickStream {
    pub(crate) fn new(
        rx: EdgeRx<Tick>,
        shared: Arc<PipelineShared>,
        chunk: usize,
        idle: IdleStrategy,
    ) -> Self {
        TickStream {
            rx,
            shared,
            buf: Vec::with_capacity(chunk),
            pos: 0,
            read: 0,
            chunk,
            idler: Idler::new(idle),
        }
    }

    #[inline]
    fn publish(&mut self, n: usize) {
        self.read += n as u64;
        // Release: pairs with the Acquire loads of PipelineShared::snapshot.
        self.shared.ticks_in.store(self.read, Ordering::Release);
        self.shared.delivered.store(self.read, Ordering::Release);
    }

    /// Move up to `max` ready ticks into `out` without waiting; returns how many.
    pub fn try_recv_into(&mut self, out: &mut Vec<Tick>, max: usize) -> usize {
        self.read_with(max, |s| out.extend_from_slice(s))
    }

    /// Hand up to `max` ready ticks to `f` as slices (one to three, in order) without waiting,
    /// copying or allocating; returns how many. 0 when none is ready, `max` is 0 or the
    /// stream has ended.
    pub fn read_with(&mut self, max: usize, mut f: impl FnMut(&[Tick])) -> usize {
        let mut n = 0;
        if self.pos < self.buf.len() {
            n = (self.buf.len() - self.pos).min(max);
            f(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
        }
        let more = self.rx.read(max - n, &mut f);
        if more > 0 {
            self.publish(more);
        }
        n + more
    }

    /// Copy up to `out.len()` ready ticks into `out` without waiting or allocating; returns
    /// how many (see [`read_with`](Self::read_with)).
    pub fn read_into(&mut self, out: &mut [Tick]) -> usize {
        let mut at = 0;
        self.read_with(out.len(), |s| {
            out[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        })
    }

    /// [`read_with`](Self::read_with), first waiting with the stream's idle strategy while
    /// nothing is ready and `go_on()` holds. Returns 0 only when `max` is 0, the stream has
    /// ended or `go_on()` turned false.
    pub fn read_with_while(
        &mut self,
        max: usize,
        mut f: impl FnMut(&[Tick]),
        mut go_on: impl FnMut() -> bool,
    ) -> usize {
        loop {
            let n = self.read_with(max, &mut f);
            if n > 0 || max == 0 || self.is_finished() {
                self.idler.reset();
                return n;
            }
            if !go_on() {
                return 0;
            }
            self.idler.idle();
        }
    }

    /// Ticks that a read would return now without waiting.
    pub fn ready(&self) -> usize {
        (self.buf.len() - self.pos) + self.rx.ready()
    }

    /// Wait with the stream's idle strategy until a tick is ready or the stream has ended,
    /// for at most `timeout`; returns `true` when a read would now return a tick or the
    /// stream has ended, `false` on timeout. Consumes nothing: a binding waits on one thread
    /// (with its interpreter lock released) and reads on another.
    pub fn wait_ready(&mut self, timeout: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            if self.pos < self.buf.len() || self.rx.ready() > 0 || self.rx.is_finished() {
                self.idler.reset();
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            self.idler.idle();
        }
    }

    /// The next tick if one is ready now; `Err(true)` when the stream has ended, `Err(false)`
    /// when nothing is ready yet.
    #[inline]
    pub fn try_next(&mut self) -> Result<Tick, bool> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let buf = &mut self.buf;
            let n = self.rx.read(self.chunk, |s| buf.extend_from_slice(s));
            if n == 0 {
                return Err(self.rx.is_finished());
            }
            self.publish(n);
        }
        let t = self.buf[self.pos];
        self.pos += 1;
        Ok(t)
    }

    /// True when the source stage has finished and every tick was read.
    pub fn is_finished(&self) -> bool {
        self.pos == self.buf.len() && self.rx.is_finished()
    }
}

impl Iterator for TickStream {
    type Item = Tick;

    #[inline]
    fn next(&mut self) -> Option<Tick> {
        loop {
            match self.try_next() {
                Ok(t) => {
                    self.idler.reset();
                    return Some(t);
                }
                Err(true) => return None,
                Err(false) => self.idler.idle(),
            }
        }
    }
}
