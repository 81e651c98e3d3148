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

/// Settings of a pipeline: of [`create_pipeline_with`], and the defaults of every pipeline a
/// [`PipelineRuntime`](crate::runtime::PipelineRuntime) starts (the seed's
/// `PipelineRuntimeSettings(pipeline=PipelineSettings(...))`). One type for both.
///
/// `Default` gives the original's behaviour: synthetic ticks at 1,000/s, 1-second OHLCV bars,
/// batches of 500 rows or 250 ms.
///
/// | fields | used by |
/// |---|---|
/// | `source_rate`, `seed`, `max_ticks`, `bar_window`, `allowed_lateness` | `create_pipeline` (a runtime's sources and operators come from its providers and [`PipelineSpec`](crate::runtime::PipelineSpec)s) |
/// | `batch_rows`, `batch_age`, `backpressure`, `ring_capacity`, `chunk_size`, `placement` | both |
/// | `stream_capacity` | the runtime's `stream_quotes` |
///
/// ```
/// use std::time::Duration;
/// use market_data_pipeline::pipeline::{create_pipeline_with, PipelineSettings};
/// let settings = PipelineSettings {
///     source_rate: Some(50_000),
///     bar_window: Duration::from_millis(100),
///     max_ticks: Some(1_000),
///     ..Default::default()
/// };
/// let pipeline = create_pipeline_with("my_tenant", "my_pipeline", "synthetic", &["AAPL"], &settings)?;
/// let report = pipeline.run()?;
/// assert_eq!(report.stats.ticks_in, 1_000);
/// # Ok::<(), market_data_pipeline::PipelineError>(())
/// ```
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
    pub batch_rows: usize,
    /// Batcher age.
    pub batch_age: Duration,
    /// Policy of the source edge when full.
    pub backpressure: Backpressure,
    /// Slots of the source edge (and, in a runtime, of each subscription to a provider's
    /// fan-out). `None` (the default): the default of where the stages run —
    /// [`DEDICATED_RING_CAPACITY`](crate::pipeline::DEDICATED_RING_CAPACITY) (16384) on
    /// dedicated threads, [`SHARED_RING_CHUNKS`](crate::pipeline::SHARED_RING_CHUNKS) chunks
    /// (2048 slots at the default chunk) on a worker set (see
    /// [`StageHost`](crate::pipeline::StageHost)).
    pub ring_capacity: Option<usize>,
    /// Ticks per chunk.
    pub chunk_size: usize,
    /// Stage placement.
    pub placement: Placement,
    /// Slots of the ring to a `stream_quotes` caller.
    pub stream_capacity: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            source_rate: Some(1_000),
            seed: 42,
            max_ticks: None,
            bar_window: Duration::from_secs(1),
            allowed_lateness: Duration::ZERO,
            batch_rows: 500,
            batch_age: Duration::from_millis(250),
            backpressure: Backpressure::Block,
            ring_capacity: None,
            chunk_size: 256,
            placement: Placement::default(),
            stream_capacity: 1 << 14,
        }
    }
}

/// Sources `create_pipeline` knows by name.
pub(super) const BUILTIN_SOURCES: &[&str] = &["synthetic"];

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

/// [`create_pipeline`] with explicit [`PipelineSettings`] (rate, seed, bar window, batch
/// sizes, ring…).
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
    let mut b = StreamingPipeline::builder()
        .source(src)
        .operator(bars)
        .batcher(HybridBatcher::new(settings.batch_rows, settings.batch_age)?)
        .ctx(PipelineContext::new(tenant_id, pipeline_id))
        .backpressure(settings.backpressure)
        .chunk_size(settings.chunk_size)
        .placement(settings.placement);
    if let Some(slots) = settings.ring_capacity {
        b = b.ring_capacity(slots);
    }
    b.build()
}
