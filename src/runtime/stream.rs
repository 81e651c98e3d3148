//! `QuoteStream`: the ticks of a runtime pipeline, read on the caller's thread from a ring, as
//! [`Quote`]s (or as raw ticks).

use std::sync::Arc;
use std::time::Duration;

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

    /// Copy up to `out.len()` ready ticks into `out` without waiting or allocating (the poll
    /// form of the bulk read, for callers with a buffer of their own: the C ABI, NumPy).
    /// Returns how many; 0 when none is ready, `out` is empty, or the stream has ended (see
    /// [`is_finished`](Self::is_finished)).
    ///
    /// ```
    /// # use market_data_pipeline::runtime::PipelineRuntime;
    /// # use market_data_pipeline::Tick;
    /// # use std::time::Duration;
    /// # let runtime = PipelineRuntime::start(Default::default()).unwrap();
    /// let mut stream = runtime.stream_quotes(&["AAPL"]).unwrap();
    /// let mut buf = [Tick::default(); 256];
    /// // Wait for the first ticks, then poll.
    /// let mut got = stream.read_ticks_timeout(&mut buf, Duration::from_secs(60));
    /// assert!(got > 0);
    /// assert_eq!(&*stream.symbol_name(&buf[0]), "AAPL");
    /// got += stream.read_ticks(&mut buf[got..]);
    /// assert!(got <= buf.len());
    /// ```
    pub fn read_ticks(&mut self, out: &mut [Tick]) -> usize {
        self.ticks.read_into(out)
    }

    /// [`read_ticks`](Self::read_ticks), waiting up to `timeout` (by the runtime's clock)
    /// for at least one tick. Returns 0 only when `out` is empty, the stream has ended
    /// ([`is_finished`](Self::is_finished)) or the timeout passed with nothing ready.
    pub fn read_ticks_timeout(&mut self, out: &mut [Tick], timeout: Duration) -> usize {
        let mut at = 0;
        self.read_chunks_timeout(out.len(), timeout, |s| {
            out[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        })
    }

    /// The zero-copy form of [`read_ticks`](Self::read_ticks): hand up to `max` ready ticks
    /// to `f` as slices, in order, without waiting; returns how many.
    pub fn read_chunks(&mut self, max: usize, f: impl FnMut(&[Tick])) -> usize {
        self.ticks.read_with(max, f)
    }

    /// The zero-copy form of [`read_ticks_timeout`](Self::read_ticks_timeout).
    pub fn read_chunks_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
        f: impl FnMut(&[Tick]),
    ) -> usize {
        let clock = &self.runtime.clock;
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline = clock.now_ns().saturating_add(timeout_ns);
        self.ticks
            .read_with_while(max, f, || clock.now_ns() < deadline)
    }

    /// Ticks that a read would return now without waiting (a binding sizes its buffer by it).
    pub fn ready(&self) -> usize {
        self.ticks.ready()
    }

    /// Wait until a tick is ready or the stream has ended, for at most `timeout` (`false` on
    /// timeout); consumes nothing (see [`TickStream::wait_ready`]). With
    /// [`read_chunks`](Self::read_chunks) it is the wait-here, read-there pair that bindings
    /// with an event loop use.
    pub fn wait_ready(&mut self, timeout: Duration) -> bool {
        self.ticks.wait_ready(timeout)
    }

    /// True when its pipeline has ended (stopped, failed or bounded) and every tick was read.
    pub fn is_finished(&self) -> bool {
        self.ticks.is_finished()
    }

    /// Stop the pipeline, drain it, and report its final counts.
    pub fn stop(mut self) -> PipelineReport {
        self.finish().unwrap_or_else(|| PipelineReport {
            stats: PipelineStats::default(),
            error: None,
            elapsed: std::time::Duration::ZERO,
            latency_histogram: crate::pipeline::stats::latency_histogram(),
            routing: None,
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
