//! `Quote` for Python, and the per-stream maker that turns ticks into them with one cached
//! `str` per symbol (no string is built per quote).

use std::sync::Arc;

use market_data_pipeline::quote::QuoteMaker;
use market_data_pipeline::{SymbolTable, Tick};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A quote (the original's): `symbol`, `price` (last trade, else mid), `bid`, `ask`, sizes
/// and both timestamps (ns). Prices are floats here, at the edge; the engine keeps them as
/// fixed-point integers (the raw values are in the NumPy tick arrays).
#[pyclass(
    frozen,
    get_all,
    name = "Quote",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PyQuote {
    /// Symbol name.
    symbol: Py<PyString>,
    /// Last trade price, else the mid.
    price: f64,
    /// Best bid (0 when the tick carries no quote).
    bid: f64,
    /// Best ask (0 when the tick carries no quote).
    ask: f64,
    /// Trade size (0 for a quote-only tick).
    size: u32,
    /// Bid size.
    bid_size: u32,
    /// Ask size.
    ask_size: u32,
    /// Exchange timestamp, ns.
    ts_event: u64,
    /// Local receive timestamp, ns.
    ts_recv: u64,
    /// Source id.
    source: u16,
    /// Per-source sequence number.
    seq: u32,
    /// Tick flag bits.
    flags: u8,
    /// `trade`, `quote` or `both`.
    kind: &'static str,
}

#[pymethods]
impl PyQuote {
    /// Mid of bid and ask (the price for a trade-only tick).
    #[getter]
    fn mid(&self) -> f64 {
        if self.bid > 0.0 && self.ask > 0.0 {
            (self.bid + self.ask) / 2.0
        } else {
            self.price
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Quote(symbol={:?}, price={}, bid={}, ask={}, bid_size={}, ask_size={}, size={}, ts_event={}, ts_recv={}, kind={:?})",
            self.symbol.bind(py).to_string_lossy(),
            self.price,
            self.bid,
            self.ask,
            self.bid_size,
            self.ask_size,
            self.size,
            self.ts_event,
            self.ts_recv,
            self.kind
        )
    }

    fn __str__(&self, py: Python<'_>) -> String {
        let sym = self.symbol.bind(py).to_string_lossy();
        if self.kind == "trade" {
            format!("{sym} {} (trade x {})", self.price, self.size)
        } else {
            format!(
                "{sym} {} (bid {} x {}, ask {} x {})",
                self.price, self.bid, self.bid_size, self.ask, self.ask_size
            )
        }
    }
}

/// Makes [`PyQuote`]s from ticks: the engine's [`QuoteMaker`] for the price, plus one Python
/// `str` per symbol id, made the first time the id shows up.
pub(crate) struct PyQuoteMaker {
    quotes: QuoteMaker,
    names: Vec<Option<Py<PyString>>>,
}

/// Symbol ids above this are named without caching (a table this large is not a real one).
const MAX_CACHED_ID: usize = 1 << 20;

impl PyQuoteMaker {
    /// A maker naming symbols from `table`.
    pub(crate) fn new(table: Arc<SymbolTable>) -> PyQuoteMaker {
        PyQuoteMaker {
            quotes: QuoteMaker::new(table),
            names: Vec::new(),
        }
    }

    /// The quote of `tick`.
    pub(crate) fn make(&mut self, py: Python<'_>, tick: &Tick) -> PyResult<Py<PyQuote>> {
        let q = self.quotes.quote(tick);
        let id = tick.symbol.0 as usize;
        let symbol = match self.names.get(id) {
            Some(Some(s)) => s.clone_ref(py),
            _ => {
                let s = PyString::intern(py, &q.symbol).unbind();
                if id < MAX_CACHED_ID {
                    if id >= self.names.len() {
                        self.names.resize_with(id + 1, || None);
                    }
                    self.names[id] = Some(s.clone_ref(py));
                }
                s
            }
        };
        Py::new(
            py,
            PyQuote {
                symbol,
                price: q.price.to_f64(),
                bid: q.bid.to_f64(),
                ask: q.ask.to_f64(),
                size: q.size,
                bid_size: q.bid_size,
                ask_size: q.ask_size,
                ts_event: q.ts_event,
                ts_recv: q.ts_recv,
                source: q.source,
                seq: tick.seq,
                flags: tick.flags,
                kind: q.kind.as_str(),
            },
        )
    }
}
