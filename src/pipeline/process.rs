//! The process stage's work: operator → batcher → sink, with delivery accounting and latency
//! measured at the sink. Driven by a process task (or, fused, by the source task).
//!
//! The clock is read once per chunk; counters are published once per chunk; nothing here
//! allocates, locks or logs per tick.

use crate::sync::Ordering;
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::batcher::HybridBatcher;
use crate::clock::SharedClock;
use crate::error::SinkError;
use crate::operator::Operator;
use crate::pipeline::stats::{latency_histogram, lock, record_latency_runs, PipelineShared};
use crate::record::Record;
use crate::sink::Sink;
use crate::tick::Tick;

/// How often (ns) a process stage merges its latency histogram and operator counters into the
/// shared ones. A merge walks and clears the whole histogram (~230 KB of counts for 1 ns to
/// 100 s at 3 digits), so its cost is per merge, not per tick: every 20 ms it was 21 % of the
/// CPU of 100 pipelines on 2 workers (`perf`, `mdp bench --pipelines 100`). Live latency in
/// the stats is at most this old; `join` publishes everything.
const PUBLISH_EVERY_NS: u64 = 250_000_000;

/// The sink wrapped with delivery accounting and latency measurement.
struct MeasuredSink {
    inner: Box<dyn Sink>,
    clock: SharedClock,
    shared: Arc<PipelineShared>,
    hist: Histogram<u64>,
    delivered: u64,
    batches: u64,
}

impl Sink for MeasuredSink {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    #[inline]
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.write(batch)?;
        self.delivered_batch(batch.iter().map(Record::ts_recv), batch.len());
        Ok(())
    }

    fn accepts_ticks(&self) -> bool {
        self.inner.accepts_ticks()
    }

    #[inline]
    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        if ticks.is_empty() {
            return Ok(());
        }
        self.inner.write_ticks(ticks)?;
        self.delivered_batch(ticks.iter().map(|t| t.ts_recv), ticks.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.inner.close()
    }
}

impl MeasuredSink {
    /// Account for a delivered batch: latency of each record (`now − ts_recv`), counters.
    #[inline]
    fn delivered_batch(&mut self, stamps: impl Iterator<Item = u64>, len: usize) {
        if len == 0 {
            return;
        }
        let now = self.clock.now_ns();
        record_latency_runs(&mut self.hist, now, stamps);
        self.delivered += len as u64;
        self.batches += 1;
        // Release: pairs with the Acquire in PipelineShared::snapshot.
        self.shared
            .delivered
            .store(self.delivered, Ordering::Release);
        self.shared.batches.store(self.batches, Ordering::Release);
    }
}

/// Operator → batcher → sink, run on one thread.
pub(crate) struct Process {
    op: Box<dyn Operator>,
    out: Vec<Record>,
    batcher: HybridBatcher,
    sink: MeasuredSink,
    shared: Arc<PipelineShared>,
    ticks_in: u64,
    records_out: u64,
    last_publish_ns: u64,
    flush_caught_up: bool,
    /// Time of the last `after_chunk` (the pass-through path stamps batch ages with it).
    now_ns: u64,
    /// A sink error met on the pass-through path, reported by the next `after_chunk`.
    failed: Option<SinkError>,
}

impl Process {
    pub(super) fn new(
        op: Box<dyn Operator>,
        batcher: HybridBatcher,
        sink: Box<dyn Sink>,
        clock: SharedClock,
        shared: Arc<PipelineShared>,
        chunk: usize,
        flush_caught_up: bool,
    ) -> Process {
        Process {
            op,
            // Outputs per chunk never exceed the chunk for the built-in operators; reserve
            // twice that so steady state never grows the vector.
            out: Vec::with_capacity(chunk * 2),
            batcher,
            sink: MeasuredSink {
                inner: sink,
                clock,
                shared: shared.clone(),
                hist: latency_histogram(),
                delivered: 0,
                batches: 0,
            },
            shared,
            ticks_in: 0,
            records_out: 0,
            last_publish_ns: 0,
            flush_caught_up,
            now_ns: 0,
            failed: None,
        }
    }

    #[inline]
    pub(super) fn on_ticks(&mut self, ticks: &[Tick]) {
        self.ticks_in += ticks.len() as u64;
        if self.failed.is_none() && self.op.pass_through(ticks.len()) {
            self.records_out += ticks.len() as u64;
            if let Err(e) = self.batcher.push_ticks(ticks, self.now_ns, &mut self.sink) {
                self.failed = Some(e);
            }
            return;
        }
        self.op.on_ticks(ticks, &mut self.out);
    }

    /// After a chunk (or while idle): time-driven operator output, batching, age flush, and
    /// counter publication.
    #[inline]
    pub(super) fn after_chunk(&mut self, now_ns: u64) -> Result<(), SinkError> {
        self.now_ns = now_ns;
        self.shared.ticks_in.store(self.ticks_in, Ordering::Release);
        self.shared
            .records_out
            .store(self.records_out, Ordering::Release);
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.op.on_idle(now_ns, &mut self.out);
        self.forward(now_ns)?;
        self.batcher.poll_age(now_ns, &mut self.sink)?;
        if now_ns.wrapping_sub(self.last_publish_ns) >= PUBLISH_EVERY_NS {
            self.last_publish_ns = now_ns;
            self.publish_slow(false);
        }
        Ok(())
    }

    #[inline]
    fn forward(&mut self, now_ns: u64) -> Result<(), SinkError> {
        if !self.out.is_empty() {
            self.records_out += self.out.len() as u64;
            self.shared
                .records_out
                .store(self.records_out, Ordering::Release);
            let r = self.batcher.push(&self.out, now_ns, &mut self.sink);
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Merge the latency histogram and operator counters into the shared ones. On the data
    /// path (`force == false`) this only tries the lock.
    fn publish_slow(&mut self, force: bool) {
        *lock(&self.shared.operator) = self.op.stats();
        let guard = if force {
            Some(lock(&self.shared.latency))
        } else {
            self.shared.latency.try_lock().ok()
        };
        if let Some(mut g) = guard {
            // Same bounds on both sides: adding cannot fail.
            let _ = g.add(&self.sink.hist);
            self.sink.hist.reset();
        }
    }

    /// `after_chunk`, recording a failure in the shared state. False when the stage failed.
    #[inline]
    pub(super) fn step(&mut self, now_ns: u64) -> bool {
        match self.after_chunk(now_ns) {
            Ok(()) => true,
            Err(e) => {
                self.abort();
                self.shared.fail(e.into());
                false
            }
        }
    }

    /// The stage has caught up with its input: hand the batcher's rows to the sink now (when
    /// configured). False when the sink failed.
    #[inline]
    pub(super) fn caught_up(&mut self) -> bool {
        if !self.flush_caught_up {
            return true;
        }
        match self.batcher.end_of_batch(&mut self.sink) {
            Ok(()) => true,
            Err(e) => {
                self.abort();
                self.shared.fail(e.into());
                false
            }
        }
    }

    /// A stage failed: publish what is known, drop the rest.
    fn abort(&mut self) {
        self.shared.ticks_in.store(self.ticks_in, Ordering::Release);
        self.publish_slow(true);
    }

    /// End of stream: flush open windows, the batcher and the sink.
    pub(super) fn finish(&mut self, now_ns: u64) -> Result<(), SinkError> {
        self.op.flush(&mut self.out);
        let r = self
            .forward(now_ns)
            .and_then(|()| self.batcher.flush(&mut self.sink))
            .and_then(|()| self.sink.close());
        self.shared.ticks_in.store(self.ticks_in, Ordering::Release);
        self.publish_slow(true);
        r
    }
}
