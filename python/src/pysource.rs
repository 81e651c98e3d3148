//! A source written in Python behind the engine's `TickSource`: the router and pipelines poll
//! it on an engine thread, which takes the GIL once per poll (a batch), never per tick.
//!
//! The Python side (`market_data_pipeline._aio.SourceDriver`) adapts the object's own
//! protocol — `poll(max)`, or a sync or async `stream()` — to one call that returns a list of
//! `(symbol, price, bid, ask, size, bid_size, ask_size, ts_event)` tuples, or `None` when the
//! source has ended; this file turns those into ticks.

use std::collections::HashMap;
use std::sync::Arc;

use market_data_pipeline::source::SourceCore;
use market_data_pipeline::{
    Capabilities, Price, SourceError, SourcePoll, SourceStatus, SymbolId, SymbolTable, Tick,
    TickKind, TickSource,
};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;

/// A Python object as a [`TickSource`].
pub(crate) struct PyTickSource {
    core: SourceCore,
    driver: Option<PyObject>,
    obj: PyObject,
    table: Arc<SymbolTable>,
    ids: HashMap<String, SymbolId>,
    source_id: u16,
    seq: u32,
}

/// Tuples read per poll at most (one GIL hold).
const MAX_PER_POLL: usize = 4096;

static DRIVER: GILOnceCell<PyObject> = GILOnceCell::new();

type Row = (String, f64, f64, f64, u32, u32, u32, Option<u64>);

impl PyTickSource {
    /// Wrap `obj`, named `name`, producing `symbols`, interning into `table`, with source id
    /// `source_id`.
    pub(crate) fn new(
        obj: PyObject,
        name: &str,
        symbols: &[String],
        table: Arc<SymbolTable>,
        source_id: u16,
    ) -> PyTickSource {
        let capabilities = Capabilities {
            trades: true,
            quotes: true,
            ..Capabilities::default()
        };
        PyTickSource {
            core: SourceCore::new(name, symbols, capabilities).with_symbol_table(table.clone()),
            driver: None,
            obj,
            table,
            ids: HashMap::new(),
            source_id,
            seq: 0,
        }
    }

    fn failed(&self, py: Python<'_>, e: PyErr) -> SourceError {
        SourceError::Failed {
            source_name: self.core.name.clone(),
            reason: format!("Python: {}", e.value(py)),
        }
    }

    fn tick(&mut self, row: Row, now_ns: u64) -> Result<Tick, SourceError> {
        let (symbol, price, bid, ask, size, bid_size, ask_size, ts_event) = row;
        let bad = |what: &str, v: f64| SourceError::Failed {
            source_name: self.core.name.clone(),
            reason: format!("symbol {symbol:?}: {what} {v} is not a price"),
        };
        let price_of = |what: &str, v: f64| Price::from_f64(v).ok_or_else(|| bad(what, v));
        let id = match self.ids.get(&symbol) {
            Some(id) => *id,
            None => {
                let id = self
                    .table
                    .intern(&symbol)
                    .map_err(|e| SourceError::Failed {
                        source_name: self.core.name.clone(),
                        reason: format!("symbol {symbol:?}: {e}"),
                    })?;
                self.ids.insert(symbol.clone(), id);
                id
            }
        };
        let (price, bid, ask) = (
            price_of("price", price)?,
            price_of("bid", bid)?,
            price_of("ask", ask)?,
        );
        let trade = price > Price::ZERO;
        let quote = bid > Price::ZERO || ask > Price::ZERO;
        let kind = match (trade, quote) {
            (true, true) => TickKind::Both,
            (true, false) => TickKind::Trade,
            _ => TickKind::Quote,
        };
        self.seq = self.seq.wrapping_add(1);
        Ok(Tick {
            ts_event: ts_event.unwrap_or(now_ns),
            ts_recv: now_ns,
            price,
            bid,
            ask,
            seq: self.seq,
            size,
            bid_size,
            ask_size,
            symbol: id,
            source: self.source_id,
            kind,
            flags: 0,
        })
    }
}

impl TickSource for PyTickSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        Python::with_gil(|py| {
            let made = DRIVER
                .get_or_try_init(py, || -> PyResult<PyObject> {
                    Ok(py
                        .import("market_data_pipeline._aio")?
                        .getattr("SourceDriver")?
                        .unbind())
                })
                .and_then(|cls| cls.call1(py, (self.obj.clone_ref(py),)));
            match made {
                Ok(d) => {
                    self.driver = Some(d);
                    self.core.status = SourceStatus::Running;
                    Ok(())
                }
                Err(e) => Err(self.failed(py, e)),
            }
        })
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let Some(driver) = self.driver.as_ref() else {
            return Err(SourceError::NotRunning {
                source_name: self.core.name.clone(),
                state: "not started",
            });
        };
        let max = out.len().min(MAX_PER_POLL);
        let rows = Python::with_gil(|py| -> Result<Option<Vec<Row>>, SourceError> {
            let got = driver
                .call_method1(py, "poll", (max,))
                .map_err(|e| self.failed(py, e))?;
            if got.is_none(py) {
                return Ok(None);
            }
            got.extract::<Vec<Row>>(py)
                .map(Some)
                .map_err(|e| self.failed(py, e))
        })?;
        let Some(rows) = rows else {
            self.core.status = SourceStatus::Ended;
            return Ok(SourcePoll::Ended);
        };
        if rows.is_empty() {
            return Ok(SourcePoll::Pending);
        }
        let n = rows.len().min(max);
        for (slot, row) in out.iter_mut().zip(rows) {
            *slot = self.tick(row, now_ns)?;
        }
        self.core.produced(n, now_ns);
        Ok(SourcePoll::Ready(n))
    }

    fn close(&mut self) {
        self.core.status = SourceStatus::Closed;
        if let Some(d) = self.driver.take() {
            Python::with_gil(|py| {
                if let Err(e) = d.call_method0(py, "close") {
                    e.write_unraisable(py, Some(d.bind(py)));
                }
            });
        }
    }
}
