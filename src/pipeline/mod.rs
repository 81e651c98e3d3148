//! `StreamingPipeline`: source → operator → batcher → sink, as tasks on dedicated (pinned)
//! threads or on a shared [`WorkerSet`](crate::exec::WorkerSet).
//!
//! ```
//! use std::sync::Arc;
//! use market_data_pipeline::pipeline::{PipelineContext, StreamingPipeline};
//! use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
//! use market_data_pipeline::{CountingSink, HybridBatcher, Passthrough, SymbolTable};
//! use std::time::Duration;
//!
//! let symbols = Arc::new(SymbolTable::new());
//! let source = SyntheticSource::new(
//!     SyntheticConfig { max_ticks: Some(10_000), ..SyntheticConfig::new(&["AAPL", "MSFT"]) },
//!     symbols.clone(),
//! )?;
//! let sink = CountingSink::new();
//! let counts = sink.counts();
//! let pipeline = StreamingPipeline::builder()
//!     .source(source)
//!     .operator(Passthrough::new())
//!     .batcher(HybridBatcher::new(500, Duration::from_millis(250))?)
//!     .sink(sink)
//!     .ctx(PipelineContext::new("my_tenant", "my_pipeline"))
//!     .build()?;
//! let report = pipeline.run()?;
//! assert_eq!(report.stats.delivered, 10_000);
//! assert_eq!(counts.records(), 10_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buckets;
mod builder;
mod create;
mod handle;
mod process;
mod ring_size;
mod stages;
mod start;
pub mod stats;
mod tick_stream;

#[cfg(all(test, loom))]
mod loom_model;

pub use buckets::LatencyBuckets;
pub use builder::{Placement, StreamingPipeline, StreamingPipelineBuilder};
pub use create::{create_pipeline, create_pipeline_with, PipelineSettings};
pub use handle::{PipelineHandle, PipelineMonitor, StopTimeout};
pub use ring_size::{StageHost, DEDICATED_RING_CAPACITY, SHARED_RING_CHUNKS};
pub use stats::{LatencySummary, PipelineReport, PipelineState, PipelineStats};
pub use tick_stream::TickStream;

use std::collections::BTreeMap;

/// Who a pipeline belongs to and what it is called, carried into stats and errors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineContext {
    /// Tenant.
    pub tenant_id: String,
    /// Pipeline id (unique per tenant).
    pub pipeline_id: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
}

impl PipelineContext {
    /// A context with no labels.
    pub fn new(tenant_id: impl Into<String>, pipeline_id: impl Into<String>) -> PipelineContext {
        PipelineContext {
            tenant_id: tenant_id.into(),
            pipeline_id: pipeline_id.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Add a label.
    pub fn label(mut self, k: impl Into<String>, v: impl Into<String>) -> PipelineContext {
        self.labels.insert(k.into(), v.into());
        self
    }

    /// `tenant/pipeline`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.pipeline_id)
    }
}
