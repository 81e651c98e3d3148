//! The seed's `StreamingPipeline(source=router, operator=…, batcher=…, sink=…, ctx=…)`: the
//! stage objects for Python and the builder call that joins them.

use std::sync::Mutex;
use std::time::Duration;

use market_data_pipeline::{
    BarConfig, BarOperator, CountingSink, HybridBatcher, PipelineContext, StreamingPipeline,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors;
use crate::pipeline::PyPipeline;
use crate::registry::PySource;
use crate::router::PySourceRouter;

fn secs(v: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(v).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

fn take<T>(slot: &Mutex<Option<T>>, what: &str) -> PyResult<T> {
    slot.lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| PyValueError::new_err(format!("this {what} is already in a pipeline")))
}

/// OHLCV bars over `window_sec` by event time, with `allowed_lateness_sec`.
#[pyclass(frozen, name = "BarOperator", module = "market_data_pipeline._native")]
pub(crate) struct PyBarOperator(Mutex<Option<BarOperator>>);

#[pymethods]
impl PyBarOperator {
    #[new]
    #[pyo3(signature = (window_sec=1.0, allowed_lateness_sec=0.0))]
    fn new(window_sec: f64, allowed_lateness_sec: f64) -> PyResult<Self> {
        let config = BarConfig::new(
            secs(window_sec, "window_sec")?,
            secs(allowed_lateness_sec, "allowed_lateness_sec")?,
        );
        let op =
            BarOperator::new(config).map_err(|e| errors::ConfigError::new_err(e.to_string()))?;
        Ok(PyBarOperator(Mutex::new(Some(op))))
    }
}

/// Batches of at most `max_rows`, flushed after `max_age_sec`.
#[pyclass(
    frozen,
    name = "HybridBatcher",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PyHybridBatcher(Mutex<Option<HybridBatcher>>);

#[pymethods]
impl PyHybridBatcher {
    #[new]
    #[pyo3(signature = (max_rows=500, max_age_sec=0.25))]
    fn new(max_rows: usize, max_age_sec: f64) -> PyResult<Self> {
        let b = HybridBatcher::new(max_rows, secs(max_age_sec, "max_age_sec")?)
            .map_err(|e| errors::ConfigError::new_err(e.to_string()))?;
        Ok(PyHybridBatcher(Mutex::new(Some(b))))
    }
}

/// A sink that counts what it receives (the report says how much).
#[pyclass(frozen, name = "CountingSink", module = "market_data_pipeline._native")]
pub(crate) struct PyCountingSink(Mutex<Option<CountingSink>>);

#[pymethods]
impl PyCountingSink {
    #[new]
    fn new() -> Self {
        PyCountingSink(Mutex::new(Some(CountingSink::new())))
    }
}

/// Tenant and pipeline id of a pipeline.
#[pyclass(
    frozen,
    get_all,
    name = "PipelineContext",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PyPipelineContext {
    tenant_id: String,
    pipeline_id: String,
}

#[pymethods]
impl PyPipelineContext {
    #[new]
    #[pyo3(signature = (tenant_id="default", pipeline_id="default"))]
    fn new(tenant_id: &str, pipeline_id: &str) -> Self {
        PyPipelineContext {
            tenant_id: tenant_id.to_string(),
            pipeline_id: pipeline_id.to_string(),
        }
    }
}

/// The seed's `StreamingPipeline(source=…, operator=…, batcher=…, sink=…, ctx=…)`: `source`
/// is a router or a source; the stages are taken over (each can be in one pipeline).
#[pyfunction]
#[pyo3(signature = (source, operator=None, batcher=None, sink=None, ctx=None))]
pub(crate) fn streaming_pipeline(
    source: &Bound<'_, PyAny>,
    operator: Option<&Bound<'_, PyBarOperator>>,
    batcher: Option<&Bound<'_, PyHybridBatcher>>,
    sink: Option<&Bound<'_, PyCountingSink>>,
    ctx: Option<&Bound<'_, PyPipelineContext>>,
) -> PyResult<PyPipeline> {
    let mut b = StreamingPipeline::builder();
    b = if let Ok(r) = source.downcast::<PySourceRouter>() {
        b.source(r.borrow_mut().take()?)
    } else if let Ok(s) = source.downcast::<PySource>() {
        b.source(s.borrow_mut().take()?)
    } else {
        return Err(PyValueError::new_err(
            "source: a SourceRouter or a source made by a source class is required",
        ));
    };
    if let Some(o) = operator {
        b = b.operator(take(&o.get().0, "operator")?);
    }
    if let Some(x) = batcher {
        b = b.batcher(take(&x.get().0, "batcher")?);
    }
    if let Some(s) = sink {
        b = b.sink(take(&s.get().0, "sink")?);
    }
    if let Some(c) = ctx {
        let c = c.get();
        b = b.ctx(PipelineContext::new(
            c.tenant_id.clone(),
            c.pipeline_id.clone(),
        ));
    }
    Ok(PyPipeline::new(b.build().map_err(errors::pipeline)?))
}
