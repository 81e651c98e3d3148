//! `QuoteStream`: the ticks of a runtime pipeline, read on the caller's thread from a ring, as
//! [`Quote`]s (or as raw ticks).

use std::sync::Arc;

use crate::pipeline::{PipelineHandle, PipelineReport, PipelineStats, TickStream};
use crate::quote::{Quote, QuoteMaker};
use crate::runtime::spec::PipelineKey;
use crate::runtime::RuntimeShared;
use crate::symbol::SymbolTable;
use crate::tick::Tick;

/// A blocking iterator over the quotes of [`stream_quotes`](super::PipelineRuntime::stream_quotes).
///
/// Each item is a [`Quote`]: the symbol's name and a price (last trade, else mid), with bid,
/// ask, sizes and both timestamps. For the raw 64-byte ticks, with no per-tick work on this
/// thread, read [`ticks`](Self::ticks) or [`try_recv_into`](Self::try_recv_into) instead.
///
/// Dropping it stops its pipeline gracefully (what is in flight is drained and discarded) and
/// frees its slot in the runtime; [`stop`](Self::stop) does the same and reports the counts.
#[derive(Debug)]
pub struct QuoteStream {
    ticks: TickStream,
    handle: Option<PipelineHandle>,
    key: PipelineKey,
    runtime: Arc<RuntimeShared>,
    symbols: Arc<SymbolTable>,
    quotes: QuoteMaker,
}

/// The raw ticks of a [`QuoteStream`] (see [`QuoteStream::ticks`]).
#[derive(Debug)]
pub struct RawTicks<'a> {
    stream: &'a mut QuoteStream,
}

impl Iterator for RawTicks<'_> {
    type Item = Tick;

    #[inline]
    fn next(&mut self) -> Option<Tick> {
        self.stream.ticks.next()
    }
}

impl QuoteStream {
    pub(crate) fn new(
        ticks: TickStream,
        handle: PipelineHandle,
        key: PipelineKey,
        runtime: Arc<RuntimeShared>,
        symbols: Arc<SymbolTable>,
    ) -> QuoteStream {
        QuoteStream {
            ticks,
            handle: Some(handle),
            key,
            runtime,
            quotes: QuoteMaker::new(symbols.clone()),
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

    /// The raw ticks, blocking like the quote iterator but with no conversion: the zero-copy
    /// path (symbol ids, `price` set on trades only).
    ///
    /// ```
    /// # use market_data_pipeline::runtime::PipelineRuntime;
    /// # let runtime = PipelineRuntime::start(Default::default()).unwrap();
    /// let mut stream = runtime.stream_quotes(&["AAPL"]).unwrap();
    /// let tick = stream.ticks().next().unwrap();
    /// assert_eq!(&*stream.symbol_name(&tick), "AAPL");
    /// ```
    pub fn ticks(&mut self) -> RawTicks<'_> {
        RawTicks { stream: self }
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
    type Item = Quote;

    #[inline]
    fn next(&mut self) -> Option<Quote> {
        let t = self.ticks.next()?;
        Some(self.quotes.quote(&t))
    }
}

impl Drop for QuoteStream {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
