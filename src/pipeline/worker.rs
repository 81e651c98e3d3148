//! The stage loops. A source stage polls its source and hands chunks downstream (fused: a
//! direct call; split: an rtrb edge). A process stage runs operator → batcher → sink.
//!
//! The clock is read once per chunk; counters are published once per chunk; nothing here
//! allocates, locks or logs per tick.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::batcher::HybridBatcher;
use crate::clock::SharedClock;
use crate::error::{PipelineError, SinkError, SourceError};
use crate::idle::{IdleStrategy, Idler};
use crate::operator::Operator;
use crate::pipeline::stats::{
    latency_histogram, lock, record_latency_runs, PipelineShared, PipelineState,
};
use crate::record::Record;
use crate::ring::{EdgeRx, EdgeTx};
use crate::sink::Sink;
use crate::source::{SourcePoll, TickSource};
use crate::sync::Ordering;
use crate::tick::Tick;

/// How often (ns) a worker merges its latency histogram and operator counters into the shared
/// ones.
const PUBLISH_EVERY_NS: u64 = 20_000_000;

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

/// Where a source stage sends its chunks.
pub(crate) enum Downstream {
    /// Across threads.
    Edge(EdgeTx<Tick>),
    /// Fused on the same thread.
    Fused(Box<Process>),
}

/// Settings of one stage loop.
#[derive(Clone)]
pub(crate) struct LoopConfig {
    pub clock: SharedClock,
    pub idle: IdleStrategy,
    pub chunk: usize,
    pub max_consecutive_errors: u32,
}

/// What a panic carried, for the report: the message of `panic!("…")` (a `&str` or a
/// `String`), or a note that it was something else.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// The error for a panic on the calling worker thread.
fn panicked(payload: &(dyn Any + Send)) -> PipelineError {
    PipelineError::Worker {
        worker: std::thread::current()
            .name()
            .unwrap_or("worker")
            .to_string(),
        reason: format!("panicked: {}", panic_message(payload)),
    }
}

/// Run a source stage to the end of its stream or a stop request. A panic (of the source, or
/// of the fused process stage) is reported with its message, and the chunk in hand is
/// counted as lost.
pub(crate) fn run_source(
    source: Box<dyn TickSource>,
    down: Downstream,
    cfg: LoopConfig,
    shared: Arc<PipelineShared>,
) {
    let fused = matches!(down, Downstream::Fused(_));
    // AssertUnwindSafe: after a panic nothing of the stage is used again but the shared
    // counters, which are atomics.
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        source_loop(source, down, &cfg, &shared);
    }));
    if let Err(payload) = r {
        shared.fail(panicked(&*payload));
        if fused {
            shared.lose_chunk_in_hand();
        }
        // Split: the edge's producer was dropped while unwinding; the process stage drains it.
    }
}

fn source_loop(
    mut source: Box<dyn TickSource>,
    mut down: Downstream,
    cfg: &LoopConfig,
    shared: &PipelineShared,
) {
    let mut buf = vec![Tick::default(); cfg.chunk];
    let mut idler = Idler::new(cfg.idle);
    let mut produced = 0u64;
    let mut errors = 0u64;
    let mut consecutive = 0u32;
    let mut now = cfg.clock.now_ns();
    if let Err(e) = source.start(now) {
        shared.fail(e.into());
    } else {
        shared.set_state(PipelineState::Running);
        // Relaxed is enough for the stop flag: it only asks the loop to end; nothing else is
        // published through it.
        while !shared.stop.load(Ordering::Relaxed) {
            now = cfg.clock.now_ns();
            match source.poll(now, &mut buf) {
                Ok(SourcePoll::Ready(n)) => {
                    consecutive = 0;
                    idler.reset();
                    let n = n.min(buf.len());
                    produced += n as u64;
                    shared.produced.store(produced, Ordering::Release);
                    let ok = match &mut down {
                        Downstream::Edge(tx) => tx.send(&buf[..n], &mut idler).is_ok(),
                        Downstream::Fused(p) => {
                            p.on_ticks(&buf[..n]);
                            // A short poll means the source has nothing more right now.
                            p.step(now) && (n == buf.len() || p.caught_up())
                        }
                    };
                    if !ok {
                        break;
                    }
                }
                Ok(SourcePoll::Pending) => {
                    let ok = match &mut down {
                        Downstream::Edge(tx) => {
                            tx.flush_pending();
                            !tx.is_disconnected()
                        }
                        Downstream::Fused(p) => p.step(now) && p.caught_up(),
                    };
                    if !ok {
                        break;
                    }
                    idler.idle();
                }
                Ok(SourcePoll::Ended) => break,
                Err(e) => {
                    errors += 1;
                    shared.source_errors.store(errors, Ordering::Relaxed);
                    consecutive += 1;
                    if !e.is_retryable() || consecutive > cfg.max_consecutive_errors {
                        shared.fail(give_up(e, consecutive));
                        break;
                    }
                    idler.idle();
                }
            }
        }
    }
    shared.set_state(PipelineState::Draining);
    source.close();
    match down {
        Downstream::Edge(mut tx) => {
            // Conflated quotes still waiting go in before the edge is closed.
            let mut idler = Idler::new(cfg.idle);
            while !tx.flush_pending() && !tx.is_disconnected() {
                idler.idle();
            }
            drop(tx);
        }
        Downstream::Fused(mut p) => {
            if let Err(e) = p.finish(cfg.clock.now_ns()) {
                shared.fail(e.into());
            }
            shared.set_state(PipelineState::Stopped);
        }
    }
}

fn give_up(e: SourceError, consecutive: u32) -> PipelineError {
    if e.is_retryable() {
        PipelineError::Worker {
            worker: "source".into(),
            reason: format!("{e} ({consecutive} consecutive errors; giving up)"),
        }
    } else {
        e.into()
    }
}

/// Run a process stage until its edge is finished (upstream gone and drained).
///
/// If the stage fails (a sink error, or a panic, reported with its message), the ticks left in
/// the edge can never be processed: the source is asked to stop, and everything still in the
/// edge or arriving until the source has stopped is taken out and counted as lost.
pub(crate) fn run_process(
    mut rx: EdgeRx<Tick>,
    mut p: Process,
    cfg: LoopConfig,
    shared: Arc<PipelineShared>,
) {
    // AssertUnwindSafe: after a panic the stage is not used again; only the edge (whose
    // unread slots are intact: a chunk is released only after its ticks were handled) is
    // drained.
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        process_loop(&mut rx, &mut p, &cfg, &shared)
    }));
    let finished = match r {
        Ok(finished) => finished,
        Err(payload) => {
            shared.fail(panicked(&*payload));
            false
        }
    };
    if finished {
        shared.set_state(PipelineState::Stopped);
    } else {
        discard_stranded(&mut rx, &cfg, &shared);
    }
}

/// True when the edge finished and the stage flushed; false when the stage failed.
fn process_loop(
    rx: &mut EdgeRx<Tick>,
    p: &mut Process,
    cfg: &LoopConfig,
    shared: &PipelineShared,
) -> bool {
    let mut idler = Idler::new(cfg.idle);
    let mut now = cfg.clock.now_ns();
    loop {
        let n = rx.read(cfg.chunk, |ticks| p.on_ticks(ticks));
        if n == 0 && rx.is_finished() {
            break;
        }
        let caught_up = n > 0 && rx.ready() == 0;
        now = cfg.clock.now_ns();
        if !p.step(now) || (caught_up && !p.caught_up()) {
            return false;
        }
        if n > 0 {
            idler.reset();
        } else {
            idler.idle();
        }
    }
    if let Err(e) = p.finish(now.max(cfg.clock.now_ns())) {
        shared.fail(e.into());
    }
    true
}

/// The process stage failed: stop the source and count what is left in the edge as lost.
fn discard_stranded(rx: &mut EdgeRx<Tick>, cfg: &LoopConfig, shared: &PipelineShared) {
    // Relaxed: as in PipelineHandle::stop.
    shared.stop.store(true, Ordering::Relaxed);
    let mut idler = Idler::new(cfg.idle);
    let mut lost = shared.lost.load(Ordering::Acquire);
    loop {
        let n = rx.read(cfg.chunk, |ticks| lost += ticks.len() as u64);
        if n > 0 {
            // Release: pairs with the Acquire in PipelineShared::snapshot.
            shared.lost.store(lost, Ordering::Release);
            idler.reset();
        } else if rx.is_finished() {
            break;
        } else {
            idler.idle();
        }
    }
}
