//! `ProviderState`: what `provider_state(name)` reports.

use std::time::Duration;

use super::shared::SharedBudgetStatus;
use crate::flow::breaker::BreakerStats;

/// Admissions and refusals counted per provider, refusals by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderCounters {
    /// Requests admitted by the budget (every window, the tenant's if any, and the breaker).
    pub admitted: u64,
    /// Refused by a budget window (or a tenant budget).
    pub rate_limited: u64,
    /// Refused by the open breaker.
    pub circuit_open: u64,
    /// Refused by a running cooldown.
    pub cooling_down: u64,
}

/// A snapshot of one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderState {
    /// The provider's name.
    pub name: String,
    /// Whole tokens in each window (window 0 first).
    pub tokens: Vec<u64>,
    /// The breaker's state and transition counters.
    pub breaker: BreakerStats,
    /// Running cooldowns: scope and time remaining.
    pub cooldowns: Vec<(String, Duration)>,
    /// The budget scale factor.
    pub scale: f64,
    /// Refusal counters.
    pub counters: ProviderCounters,
    /// The shared budget's status (`degraded` among others), when one is attached.
    pub shared: Option<SharedBudgetStatus>,
    /// The shared breaker's status (`degraded` among others), when one is attached.
    pub shared_breaker: Option<crate::flow::SharedBreakerStatus>,
}
