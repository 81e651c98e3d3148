//! `CircuitBreakerOpen`: the refusal of an open breaker, naming it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A call refused because the named circuit breaker is open (or HALF_OPEN with all its probe
/// slots taken).
///
/// ```
/// use market_data_pipeline::flow::CircuitBreakerOpen;
/// let e = CircuitBreakerOpen::new("IBKR");
/// assert_eq!(e.to_string(), "circuit breaker IBKR is open");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreakerOpen {
    /// The breaker's name.
    pub breaker: Arc<str>,
    /// When the open timeout ends (`None` when the breaker is HALF_OPEN and its probes are
    /// taken: retry when one of them finishes).
    pub retry_after: Option<Duration>,
}

impl CircuitBreakerOpen {
    /// The error for breaker `name`, with no retry time.
    pub fn new(name: impl Into<Arc<str>>) -> CircuitBreakerOpen {
        CircuitBreakerOpen {
            breaker: name.into(),
            retry_after: None,
        }
    }
}

impl fmt::Display for CircuitBreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit breaker {} is open",
            crate::error::bounded(&self.breaker)
        )?;
        match self.retry_after {
            Some(d) => write!(f, " (probing in {d:?})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for CircuitBreakerOpen {}
