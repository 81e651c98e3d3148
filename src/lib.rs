// The README's link to the `seed` module points at its Markdown file (right on GitHub); in the
// crate docs this earlier definition of the same label wins (the first definition counts) and
// points at the module page instead.
#![doc = "[`seed`]: crate::seed"]
#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_code)]

pub mod admission;
pub mod batcher;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod benchkit;
pub mod clock;
pub mod error;
pub mod exec;
pub mod fanout;
pub mod file;
pub mod flow;
pub mod idle;
pub mod metrics;
pub mod operator;
pub mod pin;
pub mod pipeline;
pub mod price;
pub mod quote;
pub mod record;
pub mod registry;
pub mod ring;
pub mod router;
pub mod runtime;
pub mod seed;
pub(crate) mod seq_window;
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
    create_pipeline, create_pipeline_with, PipelineContext, PipelineHandle, PipelineReport,
    PipelineSettings, PipelineStats, StopTimeout, StreamingPipeline,
};
pub use price::Price;
pub use quote::{Quote, QuoteMaker};
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
