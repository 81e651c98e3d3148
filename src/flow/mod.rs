//! Flow control: the lock-free GCRA token bucket (and the `Pacer` built on it), the circuit
//! breaker and the rate coordinator.

pub mod breaker;
pub mod bucket;
pub mod coordinator;
mod gcra;
pub mod limits;
pub mod pacer;

pub use breaker::{
    BreakerState, BreakerStats, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerOpen, Permit,
    SharedBreaker, SharedBreakerStatus,
};
pub use bucket::TokenBucket;
pub use coordinator::{
    CoordinatorError, Pressure, Priority, ProviderCounters, ProviderHandle, ProviderLimits,
    ProviderState, RateCoordinator, Request, ScopeId, SharedBudget, SharedBudgetStatus,
    TenantHandle, MAX_PROVIDERS,
};
pub use gcra::UNITS_PER_NS;
pub use limits::BucketLimits;
pub use pacer::Pacer;
