//! Live pipeline counters and latency, shared between the workers and the handle.
//!
//! Every counter has one writer (the stage that owns it), which stores its local total once per
//! chunk; readers take snapshots at any time. The latency histogram is recorded per record on
//! the sink's thread into a thread-local `hdrhistogram` and merged into the shared one every
//! quarter second with a `try_lock` that never makes the data path wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender};
use crossbeam::utils::CachePadded;
use hdrhistogram::Histogram;

use crate::error::PipelineError;
use crate::operator::OperatorStats;
use crate::ring::{EdgeCounters, EdgeStats};
use crate::sync::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Life-cycle of a pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PipelineState {
    /// Workers starting.
    #[default]
    Starting,
    /// Running.
    Running,
    /// Stop requested or the source ended; stages are draining.
    Draining,
    /// Every stage finished cleanly.
    Stopped,
    /// A stage failed; the others drained.
    Failed,
}

impl PipelineState {
    fn from_u8(v: u8) -> PipelineState {
        match v {
            0 => PipelineState::Starting,
            1 => PipelineState::Running,
            2 => PipelineState::Draining,
            3 => PipelineState::Stopped,
            _ => PipelineState::Failed,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineState::Starting => "starting",
            PipelineState::Running => "running",
            PipelineState::Draining => "draining",
            PipelineState::Stopped => "stopped",
            PipelineState::Failed => "failed",
        }
    }
}

/// Latency percentiles, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Records measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl LatencySummary {
    /// Summarise a histogram.
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A new latency histogram: 1 ns to 100 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; failure is impossible.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// Record the latency `now_ns − ts_recv` of a delivered batch whose `ts_recv` stamps are
/// `stamps`, the way a pipeline's sink stage does: sources stamp `ts_recv` once per chunk, so
/// records come in runs of equal stamps, and each run is recorded once with its count (exact,
/// and one histogram update per run). Latencies are at least 1 ns.
///
/// Public so that a baseline measured beside the pipeline (`mdp bench`) records latency
/// exactly the same way.
#[inline]
pub fn record_latency_runs(
    hist: &mut Histogram<u64>,
    now_ns: u64,
    mut stamps: impl Iterator<Item = u64>,
) {
    let Some(mut run_ts) = stamps.next() else {
        return;
    };
    let mut run_len = 1u64;
    for ts in stamps {
        if ts != run_ts {
            hist.saturating_record_n(now_ns.saturating_sub(run_ts).max(1), run_len);
            run_ts = ts;
            run_len = 0;
        }
        run_len += 1;
    }
    hist.saturating_record_n(now_ns.saturating_sub(run_ts).max(1), run_len);
}

/// State shared by a pipeline's workers and its handle.
#[derive(Debug)]
pub(crate) struct PipelineShared {
    pub stop: AtomicBool,
    pub state: AtomicU8,
    pub produced: CachePadded<AtomicU64>,
    pub source_errors: AtomicU64,
    pub ticks_in: CachePadded<AtomicU64>,
    pub records_out: AtomicU64,
    pub delivered: CachePadded<AtomicU64>,
    pub batches: AtomicU64,
    /// Ticks lost to a failed stage (see [`PipelineStats::lost`](PipelineStats#structfield.lost)).
    pub lost: AtomicU64,
    pub edge: Option<Arc<EdgeCounters>>,
    pub latency: Mutex<Histogram<u64>>,
    pub operator: Mutex<OperatorStats>,
    pub errors: Mutex<Vec<PipelineError>>,
    pub warnings: Mutex<Vec<String>>,
    /// Each stage sends its name here as it exits (even after a panic), so a join waits for
    /// stages, not threads, and a stop can wait for them with a deadline.
    pub exits: (Sender<String>, Receiver<String>),
    /// Stages that have exited (each adds one as it sends on `exits`).
    pub exited: AtomicUsize,
}

impl PipelineShared {
    pub(crate) fn new(edge: Option<Arc<EdgeCounters>>) -> PipelineShared {
        PipelineShared {
            stop: AtomicBool::new(false),
            state: AtomicU8::new(0),
            produced: CachePadded::new(AtomicU64::new(0)),
            source_errors: AtomicU64::new(0),
            ticks_in: CachePadded::new(AtomicU64::new(0)),
            records_out: AtomicU64::new(0),
            delivered: CachePadded::new(AtomicU64::new(0)),
            batches: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            edge,
            latency: Mutex::new(latency_histogram()),
            operator: Mutex::new(OperatorStats::default()),
            errors: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            exits: crossbeam::channel::unbounded(),
            exited: AtomicUsize::new(0),
        }
    }

    /// A fused stage panicked: the chunk it had in hand (produced, not yet taken in by the
    /// process stage) is lost. With no edge between them, that is everything produced that is
    /// neither taken in nor already counted lost.
    pub(crate) fn lose_chunk_in_hand(&self) {
        let produced = self.produced.load(Ordering::Acquire);
        let ticks_in = self.ticks_in.load(Ordering::Acquire);
        let lost = self.lost.load(Ordering::Acquire);
        let in_hand = produced.saturating_sub(ticks_in + lost);
        // Release: pairs with the Acquire in snapshot.
        self.lost.fetch_add(in_hand, Ordering::Release);
    }

    pub(crate) fn set_state(&self, s: PipelineState) {
        // Failed is sticky: a later Stopped from another worker must not hide it.
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur != PipelineState::Failed as u8).then_some(s as u8)
            });
    }

    /// The life-cycle state now.
    pub(crate) fn state(&self) -> PipelineState {
        PipelineState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn fail(&self, e: PipelineError) {
        // A state change, once per failing stage (the runtime's stop names the pipeline).
        tracing::error!(target: "market_data_pipeline::pipeline", error = %e, "pipeline stage failed");
        lock(&self.errors).push(e);
        self.set_state(PipelineState::Failed);
    }

    pub(crate) fn warn(&self, w: String) {
        lock(&self.warnings).push(w);
    }

    pub(crate) fn snapshot(&self) -> PipelineStats {
        // Read downstream counters before upstream ones, so a snapshot of a live pipeline never
        // shows more delivered than produced.
        let delivered = self.delivered.load(Ordering::Acquire);
        let batches = self.batches.load(Ordering::Acquire);
        let records_out = self.records_out.load(Ordering::Acquire);
        let ticks_in = self.ticks_in.load(Ordering::Acquire);
        let lost = self.lost.load(Ordering::Acquire);
        let edge = self.edge.as_ref().map(|e| e.snapshot()).unwrap_or_default();
        let produced = self.produced.load(Ordering::Acquire);
        PipelineStats {
            state: self.state(),
            produced,
            source_errors: self.source_errors.load(Ordering::Relaxed),
            edge,
            ticks_in,
            lost,
            records_out,
            delivered,
            batches,
            operator: *lock(&self.operator),
            latency: LatencySummary::of(&lock(&self.latency)),
            warnings: lock(&self.warnings).clone(),
        }
    }
}

pub(crate) use crate::sync::lock;

/// A snapshot of a pipeline's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Life-cycle state.
    pub state: PipelineState,
    /// Ticks produced by the source.
    pub produced: u64,
    /// Errors the source returned.
    pub source_errors: u64,
    /// The source → operator edge (zero when the stages are fused).
    pub edge: EdgeStats,
    /// Ticks consumed by the operator.
    pub ticks_in: u64,
    /// Ticks lost because a stage failed: the chunk a fused stage had in hand when it panicked,
    /// and the ticks left in the source edge when the process stage failed (they will never
    /// be consumed, so they are not `in_flight`).
    pub lost: u64,
    /// Records the operator emitted.
    pub records_out: u64,
    /// Records written to the sink.
    pub delivered: u64,
    /// Batches written to the sink.
    pub batches: u64,
    /// Operator counters (filtered, duplicates, conflated, late).
    pub operator: OperatorStats,
    /// Latency from `ts_recv` to the sink's write.
    pub latency: LatencySummary,
    /// Warnings (e.g. a worker could not be pinned).
    pub warnings: Vec<String>,
}

impl PipelineStats {
    /// Every tick produced that never reached the operator and never will: dropped and
    /// conflated on the source edge (backpressure) plus [`lost`](PipelineStats#structfield.lost)
    /// to a failed stage.
    pub fn lost(&self) -> u64 {
        self.edge.dropped + self.edge.conflated + self.lost
    }

    /// Ticks between the source and the operator right now (still to be consumed).
    pub fn in_flight(&self) -> u64 {
        self.edge.in_flight()
    }

    /// `produced == ticks_in + dropped + conflated + lost + in_flight`. Exact for a finished
    /// pipeline, failed ones included (and for a live one, up to the counters' publication
    /// lag).
    pub fn is_conserved(&self) -> bool {
        self.produced == self.ticks_in + self.lost() + self.in_flight()
    }
}

/// Everything known when a pipeline has finished.
#[derive(Clone, Debug)]
pub struct PipelineReport {
    /// Final counters.
    pub stats: PipelineStats,
    /// The first error, if a stage failed.
    pub error: Option<PipelineError>,
    /// Wall time from start to the last worker's exit.
    pub elapsed: Duration,
    /// The full latency distribution (`ts_recv` → sink write, ns), for percentile exports.
    pub latency_histogram: Histogram<u64>,
    /// For a routed pipeline stopped through its runtime ([`stop_pipeline`], [`shutdown`]):
    /// its router's final counters, published when the router closed, so the per-source
    /// `delivered` counts add up to the pipeline's. `None` for a pipeline without a router
    /// or one joined through its own handle.
    ///
    /// [`stop_pipeline`]: crate::runtime::PipelineRuntime::stop_pipeline
    /// [`shutdown`]: crate::runtime::PipelineRuntime::shutdown
    pub routing: Option<crate::router::RouterStats>,
}

impl PipelineReport {
    /// `Ok(self)` if no stage failed.
    pub fn into_result(self) -> Result<PipelineReport, PipelineError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    /// Delivered records per second of wall time.
    pub fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.stats.delivered as f64 / s
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_recorded_once_per_run_of_equal_stamps_with_its_count() {
        let mut h = latency_histogram();
        // Runs: 3 × 100, 1 × 400, 2 × 100 (a stamp seen again later is a new run); at 1000.
        record_latency_runs(&mut h, 1000, [900, 900, 900, 600, 900, 900].into_iter());
        assert_eq!(h.len(), 6);
        assert_eq!(h.count_at(100), 5);
        assert_eq!(h.count_at(400), 1);
        // A stamp in the future counts as 1 ns; nothing at all records nothing.
        record_latency_runs(&mut h, 1000, [2000].into_iter());
        assert_eq!(h.count_at(1), 1);
        record_latency_runs(&mut h, 1000, std::iter::empty());
        assert_eq!(h.len(), 7);
    }
}
