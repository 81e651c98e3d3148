//! # market-data-pipeline
//!
//! A lock-free market-data engine: sources, operators, batchers and sinks on pinned worker
//! threads joined by SPSC rings, with rate coordination, circuit breakers and source routing.
//!
//! ## Quick start: the orchestration runtime
//!
//! ```
//! use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Default settings: one built-in synthetic provider, registered with the coordinator.
//! let runtime = PipelineRuntime::start(PipelineRuntimeSettings::default())?;
//! let quotes: Vec<_> = runtime.stream_quotes(&["AAPL", "MSFT"])?.take(100).collect();
//! assert_eq!(quotes.len(), 100);
//!
//! let key = runtime.run_pipeline(PipelineSpec::new("my_tenant", "p").symbols(&["AAPL"]))?;
//! let report = runtime.stop_pipeline(&key)?; // drains; exact counts
//! assert!(report.stats.is_conserved());
//! # Ok(()) }
//! ```
//!
//! Settings load from TOML ([`PipelineRuntimeSettings::from_file`]); `mdp run --config FILE`
//! runs one (see `examples/config/`). Providers in other crates register with
//! [`register_source_provider!`] and are found by
//! [`SourceRegistry::discover_entrypoints`].

pub mod batcher;
pub mod clock;
pub mod error;
pub mod file;
pub mod flow;
pub mod idle;
pub mod operator;
pub mod pin;
pub mod pipeline;
pub mod price;
pub mod record;
pub mod registry;
pub mod ring;
pub mod router;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod symbol;
pub(crate) mod sync;
pub mod tick;

pub use batcher::{BatcherStats, HybridBatcher};
pub use clock::{Clock, ManualClock, MonotonicClock, SharedClock};
pub use error::{
    BatcherError, ConfigError, DataError, DataErrorKind, DataLocation, OperatorError, PacingError,
    PipelineError, SinkError, SourceError,
};
pub use file::{TickFile, TickFileWriter};
pub use flow::{
    BreakerState, BucketLimits, CircuitBreaker, CircuitBreakerOpen, CoordinatorError, Pacer,
    ProviderHandle, ProviderLimits, RateCoordinator, TokenBucket,
};
pub use idle::{IdleStrategy, Idler};
pub use operator::{
    BarConfig, BarOperator, Conflate, Dedupe, Operator, OperatorStats, Passthrough, SymbolFilter,
};
pub use pipeline::{
    create_pipeline, PipelineContext, PipelineHandle, PipelineReport, PipelineStats,
    StreamingPipeline,
};
pub use price::Price;
pub use record::{Bar, Record};
pub use registry::{RegistryError, SourceFactory, SourceRegistry, SourceSpec};
pub use router::{
    RouterConfig, RouterControl, RouterStats, RoutingStrategy, SourceRouter, SwitchReason,
    SwitchRecord,
};
pub use runtime::{
    PipelineInfo, PipelineKey, PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, QuoteStream,
    RuntimeError, RuntimeSnapshot, SettingsError,
};
pub use sink::{CallbackSink, CountingSink, CsvSink, NullSink, Sink};
pub use source::replay::{Repeat, ReplayConfig, ReplaySource, ReplaySpeed};
pub use source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, SourceStream, TickSource};
pub use symbol::{SymbolId, SymbolTable};
pub use tick::{Tick, TickKind};
