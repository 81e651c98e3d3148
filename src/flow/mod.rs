//! Flow control: pacing token bucket (and, with the flow-control work, the shared GCRA bucket,
//! circuit breaker and rate coordinator).

pub mod pacer;

pub use pacer::Pacer;
