//! # market-data-pipeline
//!
//! A lock-free market-data engine: sources, operators, batchers and sinks on pinned worker
//! threads joined by SPSC rings, with rate coordination, circuit breakers and source routing.

pub mod clock;
pub mod error;
pub mod flow;
pub mod idle;
pub mod operator;
pub mod price;
pub mod record;
pub mod sink;
pub mod source;
pub mod symbol;
pub(crate) mod sync;
pub mod tick;

pub use clock::{Clock, ManualClock, MonotonicClock, SharedClock};
pub use error::{
    BatcherError, ConfigError, DataError, DataErrorKind, DataLocation, OperatorError, PacingError,
    PipelineError, SinkError, SourceError,
};
pub use flow::{
    BreakerState, BucketLimits, CircuitBreaker, CircuitBreakerOpen, CoordinatorError, Pacer,
    ProviderHandle, ProviderLimits, RateCoordinator, TokenBucket,
};
pub use idle::{IdleStrategy, Idler};
pub use operator::{Operator, OperatorStats};
pub use price::Price;
pub use record::{Bar, Record};
pub use sink::Sink;
pub use source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, SourceStream, TickSource};
pub use symbol::{SymbolId, SymbolTable};
pub use tick::{Tick, TickKind};
