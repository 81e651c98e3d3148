//! The engine's `PipelineRuntime` for Python (the wrapper in `orchestration.py` adds
//! `async with` and awaitable results).

use std::collections::BTreeMap;
use std::time::Duration;

use market_data_pipeline::runtime::OperatorSpec;
use market_data_pipeline::{PipelineKey, PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use market_data_pipeline::{MonotonicClock, SourceRegistry};

use crate::errors;
use crate::flow::PyRateCoordinator;
use crate::pipeline::ReportDict;
use crate::registry::factory_of;
use crate::stream::{Feed, PyQuoteStream};
use crate::value::to_table;

/// A running runtime.
#[pyclass(frozen, name = "Runtime", module = "market_data_pipeline._native")]
pub(crate) struct PyRuntime {
    inner: std::sync::Mutex<Option<PipelineRuntime>>,
}

fn key_of(key: &str) -> PyResult<PipelineKey> {
    let (tenant, pipeline) = key.split_once('/').ok_or_else(|| {
        PyValueError::new_err(format!(
            "pipeline key {key:?}: expected \"<tenant_id>/<pipeline_id>\""
        ))
    })?;
    Ok(PipelineKey::new(tenant, pipeline))
}

impl PyRuntime {
    fn with<T>(&self, f: impl FnOnce(&PipelineRuntime) -> PyResult<T>) -> PyResult<T> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| errors::PipelineRuntimeError::new_err("runtime lock poisoned"))?;
        match guard.as_ref() {
            Some(r) => f(r),
            None => Err(errors::PipelineRuntimeError::new_err(
                "the runtime has been shut down",
            )),
        }
    }
}

#[pymethods]
impl PyRuntime {
    /// Start with `settings` (a dict of the TOML settings' keys; `None`: the defaults).
    ///
    /// `providers`: `(name, source class)` pairs registered besides the built-ins and the
    /// providers linked into the engine (the Python wrapper passes the discovered ones).
    #[new]
    #[pyo3(signature = (settings=None, providers=Vec::new()))]
    fn new(
        py: Python<'_>,
        settings: Option<&Bound<'_, PyDict>>,
        providers: Vec<(String, Bound<'_, PyAny>)>,
    ) -> PyResult<Self> {
        let registry = SourceRegistry::new();
        registry.discover_entrypoints();
        for (name, cls) in &providers {
            registry.register(name, factory_of(name, cls)?);
        }
        let settings = match settings {
            None => PipelineRuntimeSettings::default(),
            Some(d) => {
                let table = to_table(d, "")?;
                let text = toml::to_string(&table)
                    .map_err(|e| errors::ConfigError::new_err(format!("settings: {e}")))?;
                PipelineRuntimeSettings::from_toml_str(&text).map_err(errors::settings)?
            }
        };
        let rt = py
            .allow_threads(|| {
                PipelineRuntime::start_with(settings, registry, MonotonicClock::shared())
            })
            .map_err(errors::runtime)?;
        Ok(PyRuntime {
            inner: std::sync::Mutex::new(Some(rt)),
        })
    }

    /// Quotes of `symbols` from the default sources.
    fn stream_quotes(&self, py: Python<'_>, symbols: Vec<String>) -> PyResult<PyQuoteStream> {
        self.with(|rt| {
            let s = py
                .allow_threads(|| rt.stream_quotes(&symbols))
                .map_err(errors::runtime)?;
            let table = s.symbols().clone();
            Ok(PyQuoteStream::new(Feed::Runtime(s), table))
        })
    }

    /// Start a pipeline; its key (`"<tenant_id>/<pipeline_id>"`).
    #[pyo3(signature = (tenant_id, pipeline_id, sources=Vec::new(), symbols=Vec::new(), max_ticks=None, dedicated=false, bar_window_sec=None))]
    #[allow(clippy::too_many_arguments)]
    fn run_pipeline(
        &self,
        py: Python<'_>,
        tenant_id: &str,
        pipeline_id: &str,
        sources: Vec<String>,
        symbols: Vec<String>,
        max_ticks: Option<u64>,
        dedicated: bool,
        bar_window_sec: Option<f64>,
    ) -> PyResult<String> {
        let mut spec = PipelineSpec::new(tenant_id, pipeline_id)
            .sources(&sources)
            .symbols(&symbols)
            .dedicated(dedicated);
        if let Some(n) = max_ticks {
            spec = spec.max_ticks(n);
        }
        if let Some(s) = bar_window_sec {
            let window = Duration::try_from_secs_f64(s)
                .map_err(|e| PyValueError::new_err(format!("bar_window_sec: {e}")))?;
            spec = spec.operator(OperatorSpec::Bars { window });
        }
        self.with(|rt| {
            let key = py
                .allow_threads(|| rt.run_pipeline(spec))
                .map_err(errors::runtime)?;
            Ok(key.as_str().to_string())
        })
    }

    /// The running pipelines: one dict each (`key`, `kind`, `sources`, `state`, counters).
    fn list_pipelines<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.with(|rt| {
            let mut out = Vec::new();
            for info in rt.list_pipelines() {
                let d = PyDict::new(py);
                d.set_item("key", info.key.as_str())?;
                d.set_item("kind", format!("{:?}", info.kind))?;
                d.set_item("sources", info.sources.clone())?;
                d.set_item("state", info.state.as_str())?;
                d.set_item("produced", info.stats.produced)?;
                d.set_item("delivered", info.stats.delivered)?;
                d.set_item("lost", info.stats.lost)?;
                out.push(d);
            }
            Ok(out)
        })
    }

    /// Stop pipeline `key` (drains; GIL released) and report.
    fn stop_pipeline(&self, py: Python<'_>, key: &str) -> PyResult<ReportDict> {
        let key = key_of(key)?;
        self.with(|rt| {
            let r = py
                .allow_threads(|| rt.stop_pipeline(&key))
                .map_err(errors::runtime)?;
            Ok(ReportDict::from(&r))
        })
    }

    /// Stop everything (GIL released); the pipelines' reports by key. Idempotent.
    fn shutdown(&self, py: Python<'_>) -> PyResult<BTreeMap<String, ReportDict>> {
        let rt = self
            .inner
            .lock()
            .map_err(|_| errors::PipelineRuntimeError::new_err("runtime lock poisoned"))?
            .take();
        let Some(rt) = rt else {
            return Ok(BTreeMap::new());
        };
        let reports = py.allow_threads(|| rt.shutdown());
        Ok(reports
            .iter()
            .map(|(k, r)| (k.as_str().to_string(), ReportDict::from(r)))
            .collect())
    }

    /// The runtime's rate coordinator (every provider registered).
    #[getter]
    fn coordinator(&self) -> PyResult<PyRateCoordinator> {
        self.with(|rt| {
            Ok(PyRateCoordinator {
                inner: rt.coordinator().clone(),
            })
        })
    }
}

impl Drop for PyRuntime {
    fn drop(&mut self) {
        if let Ok(mut g) = self.inner.lock() {
            if let Some(rt) = g.take() {
                Python::with_gil(|py| py.allow_threads(|| drop(rt.shutdown())));
            }
        }
    }
}
