//! `SourceRouter` for Python: routes engine sources and Python sources alike; `stream()`
//! runs it on an engine thread and hands its quotes over through a ring.

use std::sync::Arc;

use market_data_pipeline::{SourceRouter, StreamingPipeline, SymbolTable, TickSource};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors;
use crate::registry::{python_source, PySource};
use crate::stream::{Feed, PyQuoteStream};

/// Meta-source with fallback between sources in priority order (the original's
/// `SourceRouter`).
#[pyclass(name = "SourceRouter", module = "market_data_pipeline._native")]
pub(crate) struct PySourceRouter {
    inner: std::sync::Mutex<Option<SourceRouter>>,
}

impl PySourceRouter {
    /// Take the router out (streaming it or putting it in a pipeline).
    pub(crate) fn take(&mut self) -> PyResult<SourceRouter> {
        self.inner
            .get_mut()
            .map_err(|_| PyValueError::new_err("router lock poisoned"))?
            .take()
            .ok_or_else(|| PyValueError::new_err("this router is already streaming"))
    }
}

#[pymethods]
impl PySourceRouter {
    /// Route `sources` (engine sources from a registry, or Python objects with the
    /// TickSource methods) with `strategy` (`"first"`, `"round_robin"`, `"fastest"`,
    /// `"arbitrate"`).
    #[new]
    #[pyo3(signature = (sources, strategy="first"))]
    fn new(py: Python<'_>, sources: &Bound<'_, PyList>, strategy: &str) -> PyResult<Self> {
        // Engine sources first: Python objects intern their symbols into the table of the
        // first engine source (a registry's), so every source's ids name the same symbols.
        let mut slots: Vec<Option<Box<dyn TickSource>>> = Vec::with_capacity(sources.len());
        for s in sources.iter() {
            slots.push(match s.downcast::<PySource>() {
                Ok(native) => Some(native.borrow_mut().take()?),
                Err(_) => None,
            });
        }
        let table = slots
            .iter()
            .flatten()
            .find_map(|s| s.symbol_table().cloned())
            .unwrap_or_else(|| Arc::new(SymbolTable::new()));
        let mut boxed: Vec<Box<dyn TickSource>> = Vec::with_capacity(slots.len());
        for (i, (slot, s)) in slots.into_iter().zip(sources.iter()).enumerate() {
            boxed.push(match slot {
                Some(native) => native,
                None => {
                    // Registries number their sources from 1: Python objects routed as
                    // they are take ids from the top of the range, so ids stay distinct.
                    let id = u16::MAX - u16::try_from(i).unwrap_or(u16::MAX - 1);
                    python_source(py, &s, id, table.clone())?.take()?
                }
            });
        }
        let router = SourceRouter::new(boxed, strategy).map_err(errors::config)?;
        Ok(PySourceRouter {
            inner: std::sync::Mutex::new(Some(router)),
        })
    }

    /// The routed quotes: iterate with `for` or (through the Python wrapper) `async for`.
    fn _stream(&mut self, py: Python<'_>) -> PyResult<PyQuoteStream> {
        let router = self.take()?;
        let table = router
            .symbol_table()
            .cloned()
            .unwrap_or_else(|| Arc::new(SymbolTable::new()));
        let (handle, ticks) = py
            .allow_threads(|| {
                StreamingPipeline::builder()
                    .source(router)
                    .build()?
                    .start_tick_stream()
            })
            .map_err(errors::pipeline)?;
        Ok(PyQuoteStream::new(Feed::Ticks(ticks, Some(handle)), table))
    }

    /// The source being read now (`None` before the first poll or once streaming).
    #[getter]
    fn active(&self) -> Option<String> {
        self.inner
            .lock()
            .ok()?
            .as_ref()
            .and_then(|r| r.active_name().map(str::to_string))
    }
}
