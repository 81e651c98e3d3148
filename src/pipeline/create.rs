//! `create_pipeline`: the original's one-call constructor, with its defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::batcher::HybridBatcher;
use crate::error::{ConfigError, PipelineError};
use crate::operator::{BarConfig, BarOperator};
use crate::pipeline::{PipelineContext, Placement, StreamingPipeline};
use crate::ring::Backpressure;
use crate::source::{SyntheticConfig, SyntheticSource};
use crate::symbol::SymbolTable;

/// Knobs of [`create_pipeline`] beyond the four arguments. `Default` gives the original's
/// behaviour: synthetic ticks at 1,000/s, 1-second OHLCV bars, batches of 500 rows or 250 ms.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineSettings {
    /// Synthetic tick rate (ticks/s); `None` = unpaced.
    pub source_rate: Option<u64>,
    /// Synthetic seed.
    pub seed: u64,
    /// Stop the synthetic source after this many ticks.
    pub max_ticks: Option<u64>,
    /// Bar window.
    pub bar_window: Duration,
    /// Allowed lateness of bar windows.
    pub allowed_lateness: Duration,
    /// Batcher rows.
    pub max_rows: usize,
    /// Batcher age.
    pub max_age: Duration,
    /// Source edge policy.
    pub backpressure: Backpressure,
    /// Source edge slots.
    pub ring_capacity: usize,
    /// Stage placement.
    pub placement: Placement,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            source_rate: Some(1_000),
            seed: 42,
            max_ticks: None,
            bar_window: Duration::from_secs(1),
            allowed_lateness: Duration::ZERO,
            max_rows: 500,
            max_age: Duration::from_millis(250),
            backpressure: Backpressure::Block,
            ring_capacity: 1 << 14,
            placement: Placement::default(),
        }
    }
}

/// Sources `create_pipeline` knows by name.
pub const BUILTIN_SOURCES: &[&str] = &["synthetic"];

/// The original's constructor: `create_pipeline(tenant_id, pipeline_id, source, symbols)`.
///
/// ```
/// use market_data_pipeline::create_pipeline;
/// let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
/// let handle = pipeline.start()?;
/// handle.stop();
/// let report = handle.join();
/// assert!(report.error.is_none());
/// assert!(report.stats.is_conserved());
/// # Ok::<(), market_data_pipeline::PipelineError>(())
/// ```
///
/// # Errors
/// An unknown source name (the error lists the known ones), no symbols, or an invalid symbol.
pub fn create_pipeline<S: AsRef<str>>(
    tenant_id: &str,
    pipeline_id: &str,
    source: &str,
    symbols: &[S],
) -> Result<StreamingPipeline, PipelineError> {
    create_pipeline_with(
        tenant_id,
        pipeline_id,
        source,
        symbols,
        &PipelineSettings::default(),
    )
}

/// [`create_pipeline`] with explicit settings.
///
/// # Errors
/// As [`create_pipeline`], plus invalid settings (named by field).
pub fn create_pipeline_with<S: AsRef<str>>(
    tenant_id: &str,
    pipeline_id: &str,
    source: &str,
    symbols: &[S],
    settings: &PipelineSettings,
) -> Result<StreamingPipeline, PipelineError> {
    if tenant_id.is_empty() {
        return Err(ConfigError::new("tenant_id", "must not be empty").into());
    }
    if pipeline_id.is_empty() {
        return Err(ConfigError::new("pipeline_id", "must not be empty").into());
    }
    let table = Arc::new(SymbolTable::new());
    let src = match source {
        "synthetic" => SyntheticSource::new(
            SyntheticConfig {
                rate: settings.source_rate,
                seed: settings.seed,
                max_ticks: settings.max_ticks,
                ..SyntheticConfig::new(symbols)
            },
            table,
        )?,
        other => {
            return Err(ConfigError::new(
                "source",
                format!(
                    "unknown source {other:?}; known: {}",
                    BUILTIN_SOURCES.join(", ")
                ),
            )
            .into())
        }
    };
    let bars = BarOperator::new(BarConfig::new(
        settings.bar_window,
        settings.allowed_lateness,
    ))?;
    StreamingPipeline::builder()
        .source(src)
        .operator(bars)
        .batcher(HybridBatcher::new(settings.max_rows, settings.max_age)?)
        .ctx(PipelineContext::new(tenant_id, pipeline_id))
        .backpressure(settings.backpressure)
        .ring_capacity(settings.ring_capacity)
        .placement(settings.placement)
        .build()
}
