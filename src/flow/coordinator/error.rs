//! `CoordinatorError`: why the coordinator refused, with what to do next.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{bounded, bounded_list, ConfigError};
use crate::flow::breaker::CircuitBreakerOpen;

/// A refusal of the [`RateCoordinator`](super::RateCoordinator).
///
/// "Not now" (`RateLimited`, `CoolingDown`, `CircuitOpen`, `Suspended`) is separate from
/// "never" (`UnknownProvider`, `ExceedsCapacity`, `TooManyScopes`, `Config`): see
/// [`is_retryable`](Self::is_retryable).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// No provider of that name is registered (the message lists a bounded number of names:
    /// a coordinator may hold a quarter million).
    #[error("unknown provider {:?} (registered: {})", bounded(.name), bounded_list(.registered))]
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The names that are registered, sorted.
        registered: Vec<String>,
    },
    /// The provider's circuit breaker is open.
    #[error("provider {}: {err}", bounded(&.0.breaker), err = .0)]
    CircuitOpen(CircuitBreakerOpen),
    /// A cooldown of the provider (its `global` scope or the scope asked for) is running.
    #[error(
        "provider {}: scope {} cooling down for {remaining:?} more",
        bounded(.provider),
        bounded(.scope)
    )]
    CoolingDown {
        /// Provider name.
        provider: Arc<str>,
        /// The scope whose cooldown refused (`global` for the provider-wide one).
        scope: Arc<str>,
        /// The clock reading (ns) at which it ends.
        until_ns: u64,
        /// How long that is from the request.
        remaining: Duration,
    },
    /// A budget window (or the tenant's budget) has no room now.
    #[error(
        "provider {}: rate limited by {}; retry after {retry_after:?}",
        bounded(.provider),
        bounded(.window)
    )]
    RateLimited {
        /// Provider name.
        provider: Arc<str>,
        /// Which budget refused: `window 0` is `capacity`/`refill_rate`, then the extra
        /// windows in order, or `tenant <name>`.
        window: Arc<str>,
        /// Earliest time the same request can pass.
        retry_after: Duration,
    },
    /// The request costs more than a budget can ever hold.
    #[error(
        "provider {}: request of {requested} exceeds the capacity {capacity} of {}",
        bounded(.provider),
        bounded(.window)
    )]
    ExceedsCapacity {
        /// Provider name.
        provider: Arc<str>,
        /// Which budget.
        window: Arc<str>,
        /// Tokens asked for.
        requested: u64,
        /// Tokens available to this priority when full.
        capacity: u64,
    },
    /// The provider's budget is scaled to zero.
    #[error("provider {}: admission suspended (scale 0)", bounded(.provider))]
    Suspended {
        /// Provider name.
        provider: Arc<str>,
    },
    /// No room for another cooldown scope.
    #[error("provider {}: more than {max} cooldown scopes", bounded(.provider))]
    TooManyScopes {
        /// Provider name.
        provider: Arc<str>,
        /// The limit.
        max: usize,
    },
    /// Invalid limits.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl CoordinatorError {
    /// Whether the same request may pass later without any change of configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CoordinatorError::CircuitOpen(_)
                | CoordinatorError::CoolingDown { .. }
                | CoordinatorError::RateLimited { .. }
                | CoordinatorError::Suspended { .. }
        )
    }

    /// How long to wait before retrying, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CoordinatorError::CircuitOpen(e) => e.retry_after,
            CoordinatorError::CoolingDown { remaining, .. } => Some(*remaining),
            CoordinatorError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
