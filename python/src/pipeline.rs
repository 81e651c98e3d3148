//! `create_pipeline` (the original's existing API) and pipeline reports for Python.

use std::time::Duration;

use market_data_pipeline::{
    create_pipeline_with, PipelineReport, PipelineSettings, StreamingPipeline,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors;

/// A pipeline's final counts.
#[pyclass(
    frozen,
    get_all,
    name = "PipelineReport",
    module = "market_data_pipeline._native"
)]
#[derive(Clone)]
pub(crate) struct ReportDict {
    /// Ticks the source produced.
    produced: u64,
    /// Ticks into the operator (or read by a stream's reader).
    ticks_in: u64,
    /// Records delivered to the sink (or ticks to a stream's reader).
    delivered: u64,
    /// Batches written.
    batches: u64,
    /// Ticks lost (dropped under backpressure).
    lost: u64,
    /// Source errors.
    source_errors: u64,
    /// Seconds from start to the last worker's exit.
    elapsed_sec: f64,
    /// The first error of a stage, if one failed.
    error: Option<String>,
    /// `produced == delivered + dropped + in_flight` held.
    conserved: bool,
}

impl From<&PipelineReport> for ReportDict {
    fn from(r: &PipelineReport) -> ReportDict {
        ReportDict {
            produced: r.stats.produced,
            ticks_in: r.stats.ticks_in,
            delivered: r.stats.delivered,
            batches: r.stats.batches,
            lost: r.stats.lost,
            source_errors: r.stats.source_errors,
            elapsed_sec: r.elapsed.as_secs_f64(),
            error: r.error.as_ref().map(ToString::to_string),
            conserved: r.stats.is_conserved(),
        }
    }
}

#[pymethods]
impl ReportDict {
    fn __repr__(&self) -> String {
        format!(
            "PipelineReport(produced={}, delivered={}, lost={}, elapsed_sec={:.3}, error={:?})",
            self.produced, self.delivered, self.lost, self.elapsed_sec, self.error
        )
    }
}

/// A pipeline built by `create_pipeline` (not started).
#[pyclass(name = "Pipeline", module = "market_data_pipeline._native")]
pub(crate) struct PyPipeline {
    inner: std::sync::Mutex<Option<StreamingPipeline>>,
}

impl PyPipeline {
    /// A pipeline not started yet.
    pub(crate) fn new(p: StreamingPipeline) -> PyPipeline {
        PyPipeline {
            inner: std::sync::Mutex::new(Some(p)),
        }
    }
}

#[pymethods]
impl PyPipeline {
    /// Run until the source ends, or for `duration_sec` and then stop gracefully (GIL
    /// released); the final report. A pipeline runs once.
    #[pyo3(signature = (duration_sec=None))]
    fn run(&mut self, py: Python<'_>, duration_sec: Option<f64>) -> PyResult<ReportDict> {
        let p = self
            .inner
            .get_mut()
            .map_err(|_| PyValueError::new_err("pipeline lock poisoned"))?
            .take()
            .ok_or_else(|| PyValueError::new_err("this pipeline has already run"))?;
        let report = match duration_sec {
            None => py.allow_threads(|| p.run()),
            Some(s) => {
                let d = Duration::try_from_secs_f64(s)
                    .map_err(|e| PyValueError::new_err(format!("duration_sec: {e}")))?;
                py.allow_threads(|| p.run_for(d))
            }
        }
        .map_err(errors::pipeline)?;
        Ok(ReportDict::from(&report))
    }
}

/// The original's `create_pipeline(tenant_id, pipeline_id, source, symbols)`; `source_rate`
/// (ticks/s, `None` unpaced), `seed` and `max_ticks` tune the synthetic source.
#[pyfunction]
#[pyo3(signature = (tenant_id, pipeline_id, source, symbols, source_rate=Some(1000), seed=42, max_ticks=None))]
pub(crate) fn create_pipeline(
    tenant_id: &str,
    pipeline_id: &str,
    source: &str,
    symbols: Vec<String>,
    source_rate: Option<u64>,
    seed: u64,
    max_ticks: Option<u64>,
) -> PyResult<PyPipeline> {
    let settings = PipelineSettings {
        source_rate,
        seed,
        max_ticks,
        ..PipelineSettings::default()
    };
    let p = create_pipeline_with(tenant_id, pipeline_id, source, &symbols, &settings)
        .map_err(errors::pipeline)?;
    Ok(PyPipeline::new(p))
}
