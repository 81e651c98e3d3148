//! `RouterStats`: what the router has done, per source and overall.

use std::sync::Arc;

use crate::flow::BreakerState;
use crate::source::SourceStatus;

use super::{RoutingStrategy, SwitchRecord};

/// Counters of one routed source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStats {
    /// Source name.
    pub name: Arc<str>,
    /// Times it was made the delivered source (`Arbitrate`: times it joined the hot set).
    pub selected: u64,
    /// Ticks of it the router delivered.
    pub delivered: u64,
    /// Ticks it produced that the router polled and did not deliver: `Fastest` standby samples,
    /// and (`Arbitrate`) duplicates and late arrivals.
    pub discarded: u64,
    /// Ticks it says it produced (`SourceHealth::produced`).
    pub produced: u64,
    /// Errors it returned to the router (start and poll).
    pub errors: u64,
    /// Its breaker's state.
    pub breaker: BreakerState,
    /// EWMA (weight 1/8) of `ts_recv − ts_event` of the newest tick of each chunk polled from
    /// it, in ns; `None` before its first tick.
    pub latency_ns: Option<u64>,
    /// Its own status.
    pub status: SourceStatus,
    /// Could it be chosen now (not dead or ended, breaker not open, out of its hold-down)?
    pub usable: bool,
}

/// A snapshot of a router.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Strategy in force.
    pub strategy: RoutingStrategy,
    /// The delivered source (`None` for `Arbitrate`, or when none is usable).
    pub active: Option<Arc<str>>,
    /// Per source, in priority order.
    pub sources: Vec<SourceStats>,
    /// The most recent switches (at most `switch_history`), oldest first.
    pub switches: Vec<SwitchRecord>,
    /// Every switch ever recorded (including those dropped from `switches`).
    pub switches_total: u64,
    /// Ticks delivered.
    pub delivered: u64,
    /// `Arbitrate`: sequence numbers no source carried within the window.
    pub gaps: u64,
    /// `Arbitrate`: ticks suppressed because their `seq` was already delivered.
    pub duplicates: u64,
    /// `Arbitrate`: ticks that arrived after their `seq` left the window (already delivered or
    /// already reported as a gap); dropped.
    pub late: u64,
    /// Polls of the router.
    pub polls: u64,
    /// Router clock reading (ns) of this snapshot.
    pub at_ns: u64,
}

impl RouterStats {
    /// The stats of the source `name`.
    pub fn source(&self, name: &str) -> Option<&SourceStats> {
        self.sources.iter().find(|s| &*s.name == name)
    }
}
