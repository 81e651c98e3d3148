//! The sink-side work of a fair baseline: what a pipeline's sink stage does per batch.

use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::clock::Clock;
use crate::pipeline::stats::{latency_histogram, record_latency_runs};
use crate::sink::{CountingSink, Sink};
use crate::sync::{AtomicU64, Ordering};
use crate::tick::Tick;

/// A baseline's consumer end doing, per delivered batch, what the pipeline's measured sink
/// does (`pipeline::process`): hand the batch to a [`CountingSink`] (a checksum of every
/// tick), then read the clock once and record `now − ts_recv` with
/// [`record_latency_runs`] (one histogram update per run of equal `ts_recv`), then publish
/// the delivered and batch counters (two `Release` stores), as the pipeline publishes its own.
#[derive(Debug)]
pub struct BaselineSink {
    sink: CountingSink,
    hist: Histogram<u64>,
    published: Arc<[AtomicU64; 2]>,
    delivered: u64,
    batches: u64,
}

impl Default for BaselineSink {
    fn default() -> BaselineSink {
        BaselineSink::new()
    }
}

impl BaselineSink {
    /// Nothing delivered yet.
    pub fn new() -> BaselineSink {
        BaselineSink {
            sink: CountingSink::new(),
            hist: latency_histogram(),
            published: Arc::default(),
            delivered: 0,
            batches: 0,
        }
    }

    /// One delivered batch; an empty one is not a batch (as the pipeline's sink).
    #[inline]
    pub fn deliver(&mut self, clock: &dyn Clock, ticks: &[Tick]) {
        if ticks.is_empty() {
            return;
        }
        // The counting sink cannot fail.
        let _ = self.sink.write_ticks(ticks);
        let now = clock.now_ns();
        record_latency_runs(&mut self.hist, now, ticks.iter().map(|t| t.ts_recv));
        self.delivered += ticks.len() as u64;
        self.batches += 1;
        // Release: as the pipeline's sink publishes for its readers (none here; the cost is
        // what is measured).
        self.published[0].store(self.delivered, Ordering::Release);
        self.published[1].store(self.batches, Ordering::Release);
    }

    /// Ticks delivered.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Ticks the counting sink counted (equal to [`delivered`](Self::delivered) unless it is
    /// broken).
    pub fn counted(&self) -> u64 {
        self.sink.snapshot().ticks
    }

    /// The latency histogram (ns).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The latency histogram (ns), taken.
    pub fn into_histogram(self) -> Histogram<u64> {
        self.hist
    }
}
