//! `QuoteStream`: the ticks of a runtime pipeline, read on the caller's thread from a ring.

use std::sync::Arc;

use crate::pipeline::{PipelineHandle, PipelineReport, PipelineStats, TickStream};
use crate::runtime::spec::PipelineKey;
use crate::runtime::Inner;
use crate::symbol::SymbolTable;
use crate::tick::Tick;

/// A blocking iterator over the ticks of [`stream_quotes`](super::PipelineRuntime::stream_quotes).
///
/// Dropping it stops its pipeline gracefully (what is in flight is drained and discarded) and
/// frees its slot in the runtime; [`stop`](Self::stop) does the same and reports the counts.
#[derive(Debug)]
pub struct QuoteStream {
    ticks: TickStream,
    handle: Option<PipelineHandle>,
    key: PipelineKey,
    runtime: Arc<Inner>,
    symbols: Arc<SymbolTable>,
}

impl QuoteStream {
    pub(crate) fn new(
        ticks: TickStream,
        handle: PipelineHandle,
        key: PipelineKey,
        runtime: Arc<Inner>,
        symbols: Arc<SymbolTable>,
    ) -> QuoteStream {
        QuoteStream {
            ticks,
            handle: Some(handle),
            key,
            runtime,
            symbols,
        }
    }

    /// The key of its pipeline (as listed by `list_pipelines`).
    pub fn key(&self) -> &PipelineKey {
        &self.key
    }

    /// The symbol table tick symbols are interned in.
    pub fn symbols(&self) -> &Arc<SymbolTable> {
        &self.symbols
    }

    /// The name of a tick's symbol.
    pub fn symbol_name(&self, tick: &Tick) -> Arc<str> {
        self.symbols
            .name(tick.symbol)
            .unwrap_or_else(|| Arc::from("?"))
    }

    /// Live counters of its pipeline.
    pub fn stats(&self) -> PipelineStats {
        self.handle.as_ref().map(|h| h.stats()).unwrap_or_default()
    }

    /// Move up to `max` ready ticks into `out` without waiting; returns how many were read.
    pub fn try_recv_into(&mut self, out: &mut Vec<Tick>, max: usize) -> usize {
        self.ticks.try_recv_into(out, max)
    }

    /// Stop the pipeline, drain it, and report its final counts.
    pub fn stop(mut self) -> PipelineReport {
        self.finish().unwrap_or_else(|| PipelineReport {
            stats: PipelineStats::default(),
            error: None,
            elapsed: std::time::Duration::ZERO,
            latency_histogram: crate::pipeline::stats::latency_histogram(),
        })
    }

    fn finish(&mut self) -> Option<PipelineReport> {
        let handle = self.handle.take()?;
        handle.stop();
        // The source has stopped; what is in flight is finite. Reading it lets a blocked sink
        // finish, so the join below cannot wait on a full ring.
        for _ in self.ticks.by_ref() {}
        let report = handle.join();
        self.runtime.forget(&self.key);
        Some(report)
    }
}

impl Iterator for QuoteStream {
    type Item = Tick;

    #[inline]
    fn next(&mut self) -> Option<Tick> {
        self.ticks.next()
    }
}

impl Drop for QuoteStream {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
