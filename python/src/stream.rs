//! `QuoteStream` for Python: the quotes of `stream_quotes` or `router.stream()`, read in
//! batches straight from the engine's ring.
//!
//! - `next(stream)` converts one buffered tick; when the buffer is empty it reads up to a batch
//!   of ready ticks, and only when none is ready waits with the GIL released.
//! - `async for` is native: `__anext__` converts one buffered tick (refilled in batches from
//!   the ring on the caller's thread) and returns it in a reusable `ReadyQuote` (see
//!   `ready_quote`), an awaitable that finishes at once (no coroutine, future or event-loop round trip per
//!   quote). Only when neither the buffer nor the ring holds a tick does it return a coroutine
//!   (`_aio.wait_quote`) that waits on an executor thread, GIL released, via `wait(timeout)`.
//! - `read_quotes(n)` returns the ready quotes as a list without waiting.
//! - `read_tick_bytes(n, timeout)` copies the ready ticks once, from the ring into a fresh
//!   `bytearray` of 64-byte records that NumPy views without copying.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::pipeline::TickStream;
use market_data_pipeline::runtime::QuoteStream;
use market_data_pipeline::tick::TICK_BYTES;
use market_data_pipeline::{PipelineHandle, PipelineReport, SymbolTable, Tick};
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyList};

use crate::quote::{PyQuote, PyQuoteMaker};

/// Ticks read per refill of the quote buffer.
const BATCH: usize = 1024;
/// Longest single wait with the GIL released before signals (Ctrl-C) are checked again.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Where a stream's ticks come from.
pub(crate) enum Feed {
    /// A runtime's quote stream.
    Runtime(QuoteStream),
    /// A pipeline started for a router (its handle is stopped and joined on close).
    Ticks(TickStream, Option<PipelineHandle>),
}

impl Feed {
    fn read_with<F: FnMut(&[Tick])>(&mut self, max: usize, f: F) -> usize {
        match self {
            Feed::Runtime(s) => s.read_chunks(max, f),
            Feed::Ticks(s, _) => s.read_with(max, f),
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        match self {
            Feed::Runtime(s) => s.wait_ready(timeout),
            Feed::Ticks(s, _) => s.wait_ready(timeout),
        }
    }

    fn ready(&self) -> usize {
        match self {
            Feed::Runtime(s) => s.ready(),
            Feed::Ticks(s, _) => s.ready(),
        }
    }

    fn is_finished(&self) -> bool {
        match self {
            Feed::Runtime(s) => s.is_finished(),
            Feed::Ticks(s, _) => s.is_finished(),
        }
    }

    /// Stop the producer, drain, join; the final report.
    fn stop(self) -> Option<PipelineReport> {
        match self {
            Feed::Runtime(s) => Some(s.stop()),
            Feed::Ticks(mut s, handle) => {
                let handle = handle?;
                handle.stop();
                for _ in s.by_ref() {}
                Some(handle.join())
            }
        }
    }
}

/// A stream of quotes (iterate it with `for` or `async for` through the Python wrapper).
#[pyclass(name = "QuoteStream", module = "market_data_pipeline._native")]
pub(crate) struct PyQuoteStream {
    // A lock only to make the class `Sync` for PyO3: methods take `&mut self` (PyO3's borrow
    // flag excludes concurrent use) and reach the state with `get_mut`, which never locks.
    state: std::sync::Mutex<State>,
}

/// The stream's state.
struct State {
    feed: Option<Feed>,
    maker: PyQuoteMaker,
    buf: Vec<Tick>,
    pos: usize,
    /// The awaitable `__anext__` hands out, reused once the caller has dropped it.
    ready: Option<PyObject>,
}

static WAIT_QUOTE: GILOnceCell<PyObject> = GILOnceCell::new();

impl PyQuoteStream {
    pub(crate) fn new(feed: Feed, table: Arc<SymbolTable>) -> PyQuoteStream {
        PyQuoteStream {
            state: std::sync::Mutex::new(State {
                feed: Some(feed),
                maker: PyQuoteMaker::new(table),
                buf: Vec::with_capacity(BATCH),
                pos: 0,
                ready: None,
            }),
        }
    }

    fn st(&mut self) -> &mut State {
        // Poisoning needs a panic while the state is borrowed; the state stays usable.
        self.state.get_mut().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn feed(&mut self) -> PyResult<&mut Feed> {
        self.feed
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the quote stream is closed"))
    }

    /// Refill the buffer with ready ticks; the count.
    fn refill(&mut self) -> PyResult<usize> {
        self.buf.clear();
        self.pos = 0;
        let buf = &mut self.buf;
        let feed = self.feed.as_mut();
        Ok(feed.map_or(0, |f| f.read_with(BATCH, |s| buf.extend_from_slice(s))))
    }

    /// Wait (GIL released) up to `timeout` for a tick or the end; `true` when ready or ended.
    fn wait_released(&mut self, py: Python<'_>, timeout: Duration) -> PyResult<bool> {
        let feed = self.feed()?;
        Ok(py.allow_threads(|| feed.wait_ready(timeout)))
    }
}

#[pymethods]
impl PyQuoteStream {
    fn __iter__(slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyQuote>> {
        let st = self.st();
        st.next(py)
    }

    fn __aiter__(slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf
    }

    /// A [`ReadyQuote`] when a quote is buffered or ready in the ring; else a coroutine that
    /// waits on an executor thread (GIL released) for the next quote. `StopAsyncIteration`
    /// once the stream has ended and everything was read.
    fn __anext__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyObject> {
        let py = slf.py();
        if let Some(quote) = slf.st().take_ready(py)? {
            return slf.st().ready_quote(py, quote.into_any());
        }
        let native: Py<Self> = slf.into();
        let wait = WAIT_QUOTE.get_or_try_init(py, || -> PyResult<PyObject> {
            Ok(py
                .import("market_data_pipeline._aio")?
                .getattr("wait_quote")?
                .unbind())
        })?;
        wait.call1(py, (native,))
    }

    /// The next ready quote without waiting: `None` when none is ready yet;
    /// `StopAsyncIteration` once the stream has ended and everything was read.
    fn _take_ready(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyQuote>>> {
        self.st().take_ready(py)
    }

    /// The ready quotes (at most `max`) as a list, without waiting; `None` once the stream
    /// has ended and everything was read.
    #[pyo3(signature = (max = BATCH))]
    fn read_quotes(&mut self, py: Python<'_>, max: usize) -> PyResult<Option<Py<PyList>>> {
        self.st().read_quotes(py, max)
    }

    /// Wait with the GIL released until a quote is ready or the stream has ended, at most
    /// `timeout` seconds; `True` when ready or ended.
    #[pyo3(signature = (timeout = 0.05))]
    fn wait(&mut self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        self.st().wait(py, timeout)
    }

    /// Up to `max` raw ticks as a `bytearray` of 64-byte records (NumPy views it with the
    /// tick dtype). Waits up to `timeout` seconds (GIL released) when none is ready; `None`
    /// once the stream has ended and everything was read. The ticks are copied once, from
    /// the ring into the array.
    #[pyo3(signature = (max = 65536, timeout = 0.0))]
    fn read_tick_bytes(
        &mut self,
        py: Python<'_>,
        max: usize,
        timeout: f64,
    ) -> PyResult<Option<Py<PyByteArray>>> {
        self.st().read_tick_bytes(py, max, timeout)
    }

    /// True when the stream has ended and everything was read.
    #[getter]
    fn finished(&mut self) -> bool {
        self.st().finished()
    }

    /// Stop the stream's pipeline (GIL released while it drains); its final counts, or
    /// `None` when already closed.
    fn close(&mut self, py: Python<'_>) -> Option<crate::pipeline::ReportDict> {
        self.st().close(py)
    }
}

impl State {
    /// The next buffered or ready quote; `None` when none is ready, `StopAsyncIteration` at
    /// the end.
    fn take_ready(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyQuote>>> {
        if self.pos == self.buf.len() && self.refill()? == 0 {
            if self.feed.as_ref().is_none_or(Feed::is_finished) {
                return Err(PyStopAsyncIteration::new_err(()));
            }
            return Ok(None);
        }
        let t = self.buf[self.pos];
        self.pos += 1;
        self.maker.make(py, &t).map(Some)
    }

    /// `quote` in the stream's awaitable, reused when nobody else holds it (`async for` drops
    /// it before asking for the next); a fresh one otherwise, so no quote is overwritten.
    fn ready_quote(&mut self, py: Python<'_>, quote: PyObject) -> PyResult<PyObject> {
        if let Some(r) = &self.ready {
            if r.get_refcnt(py) == 1 {
                crate::ready_quote::put(r.bind(py), quote);
                return Ok(r.clone_ref(py));
            }
        }
        let r = crate::ready_quote::new(py, quote)?;
        self.ready = Some(r.clone_ref(py));
        Ok(r)
    }

    fn next(&mut self, py: Python<'_>) -> PyResult<Py<PyQuote>> {
        loop {
            if self.pos < self.buf.len() {
                let t = self.buf[self.pos];
                self.pos += 1;
                return self.maker.make(py, &t);
            }
            if self.refill()? > 0 {
                continue;
            }
            if self.feed.as_ref().is_none_or(Feed::is_finished) {
                return Err(PyStopIteration::new_err(()));
            }
            self.wait_released(py, WAIT_SLICE)?;
            py.check_signals()?;
        }
    }

    fn read_quotes(&mut self, py: Python<'_>, max: usize) -> PyResult<Option<Py<PyList>>> {
        if self.pos == self.buf.len() && self.refill()? == 0 {
            if self.feed.as_ref().is_none_or(Feed::is_finished) {
                return Ok(None);
            }
            return Ok(Some(PyList::empty(py).unbind()));
        }
        let end = (self.pos + max).min(self.buf.len());
        let list = PyList::empty(py);
        for t in &self.buf[self.pos..end] {
            list.append(self.maker.make(py, t)?)?;
        }
        self.pos = end;
        Ok(Some(list.unbind()))
    }

    fn wait(&mut self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        if self.pos < self.buf.len() {
            return Ok(true);
        }
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|e| PyValueError::new_err(format!("timeout: {e}")))?;
        self.wait_released(py, timeout)
    }

    fn read_tick_bytes(
        &mut self,
        py: Python<'_>,
        max: usize,
        timeout: f64,
    ) -> PyResult<Option<Py<PyByteArray>>> {
        if max == 0 {
            return Err(PyValueError::new_err("max: must be greater than 0"));
        }
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|e| PyValueError::new_err(format!("timeout: {e}")))?;
        // Quotes buffered for `next` come first, so no tick is skipped between the two paths.
        let buffered = &self.buf[self.pos..];
        let take_buffered = buffered.len().min(max);
        if take_buffered == 0 && timeout > Duration::ZERO {
            self.wait_released(py, timeout)?;
        }
        // Sized by what is ready (at most `max`): the array is filled, never zeroed in vain.
        let ready = self.feed.as_ref().map_or(0, Feed::ready);
        let want = (take_buffered + ready).min(max);
        let cap = want.checked_mul(TICK_BYTES).ok_or_else(|| {
            PyValueError::new_err(format!("max: {max} ticks do not fit in memory"))
        })?;
        let mut n = 0usize;
        let buffered = &self.buf[self.pos..self.pos + take_buffered];
        let feed = self.feed.as_mut();
        let bytes = PyByteArray::new_with(py, cap, |b| {
            let mut put = |s: &[Tick]| {
                for t in s {
                    b[n * TICK_BYTES..(n + 1) * TICK_BYTES].copy_from_slice(&t.encode());
                    n += 1;
                }
            };
            put(buffered);
            if let Some(f) = feed {
                f.read_with(want - take_buffered, put);
            }
            Ok(())
        })?;
        self.pos += take_buffered;
        if n == 0 && self.feed.as_ref().is_none_or(Feed::is_finished) {
            return Ok(None);
        }
        bytes.resize(n * TICK_BYTES)?;
        Ok(Some(bytes.unbind()))
    }

    fn finished(&self) -> bool {
        self.pos == self.buf.len() && self.feed.as_ref().is_none_or(Feed::is_finished)
    }

    fn close(&mut self, py: Python<'_>) -> Option<crate::pipeline::ReportDict> {
        let feed = self.feed.take()?;
        self.buf.clear();
        self.pos = 0;
        let report = py.allow_threads(|| feed.stop())?;
        Some(crate::pipeline::ReportDict::from(&report))
    }
}

impl Drop for PyQuoteStream {
    fn drop(&mut self) {
        if let Some(feed) = self.st().feed.take() {
            // A routed Python source needs the GIL to finish its last poll: release it while
            // the pipeline drains and joins.
            Python::with_gil(|py| py.allow_threads(|| drop(feed.stop())));
        }
    }
}
