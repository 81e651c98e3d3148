//! Switch records: every change of the delivered source, with its time and reason.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// Why a router switched sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SwitchReason {
    /// The source's `poll` (or `start`) returned an error other than a disconnect.
    Error,
    /// The source reported `SourceError::Disconnected`.
    Disconnected,
    /// The source produced nothing for its staleness bound.
    Stale,
    /// The source's circuit breaker (the router's, or its rate coordinator's) refused it.
    BreakerOpen,
    /// A recovered source was taken back: a higher-priority one after its hold-down (`First`),
    /// any source when none was delivering, or a source rejoining the hot set (`Arbitrate`).
    FailBack,
    /// `RoundRobin` rotated.
    RoundRobin,
    /// `Fastest` found a standby faster than the active source (beyond the hysteresis).
    Faster,
    /// A source was added live.
    Added,
    /// The active source was removed live.
    Removed,
    /// The strategy was changed live.
    Manual,
    /// The source ended its stream (`SourcePoll::Ended`).
    Ended,
}

impl SwitchReason {
    /// Every reason, in declaration order (the index [`index`](Self::index) gives).
    pub const ALL: [SwitchReason; 11] = [
        SwitchReason::Error,
        SwitchReason::Disconnected,
        SwitchReason::Stale,
        SwitchReason::BreakerOpen,
        SwitchReason::FailBack,
        SwitchReason::RoundRobin,
        SwitchReason::Faster,
        SwitchReason::Added,
        SwitchReason::Removed,
        SwitchReason::Manual,
        SwitchReason::Ended,
    ];

    /// Its position in [`ALL`](Self::ALL).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SwitchReason::Error => "error",
            SwitchReason::Disconnected => "disconnected",
            SwitchReason::Stale => "stale",
            SwitchReason::BreakerOpen => "breaker_open",
            SwitchReason::FailBack => "fail_back",
            SwitchReason::RoundRobin => "round_robin",
            SwitchReason::Faster => "faster",
            SwitchReason::Added => "added",
            SwitchReason::Removed => "removed",
            SwitchReason::Manual => "manual",
            SwitchReason::Ended => "ended",
        }
    }
}

impl fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One switch: at `at_ns` the router stopped delivering `from` and started delivering `to`.
///
/// `from: None` means nothing was being delivered (all sources down, or `Arbitrate` adding a
/// source to its hot set); `to: None` means nothing is delivered after it (no fallback left, or
/// `Arbitrate` dropping a source from its hot set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchRecord {
    /// Router clock reading (ns) of the poll that switched.
    pub at_ns: u64,
    /// The source left.
    pub from: Option<Arc<str>>,
    /// The source taken.
    pub to: Option<Arc<str>>,
    /// Why.
    pub reason: SwitchReason,
}

/// The bounded history of switches (oldest dropped first), the total count and the count
/// by reason.
#[derive(Debug)]
pub(crate) struct SwitchLog {
    records: VecDeque<SwitchRecord>,
    cap: usize,
    total: u64,
    by_reason: [u64; SwitchReason::ALL.len()],
}

impl SwitchLog {
    pub(super) fn new(cap: usize) -> SwitchLog {
        SwitchLog {
            records: VecDeque::with_capacity(cap),
            cap,
            total: 0,
            by_reason: [0; SwitchReason::ALL.len()],
        }
    }

    pub(super) fn push(&mut self, r: SwitchRecord) {
        if self.records.len() == self.cap {
            self.records.pop_front();
        }
        tracing::info!(
            target: "market_data_pipeline::router",
            from = r.from.as_deref().unwrap_or("-"),
            to = r.to.as_deref().unwrap_or("-"),
            reason = r.reason.as_str(),
            at_ns = r.at_ns,
            "router switched source"
        );
        self.by_reason[r.reason.index()] += 1;
        self.records.push_back(r);
        self.total += 1;
    }

    /// Switches ever recorded, by reason (indexed by [`SwitchReason::index`]).
    pub(super) fn by_reason(&self) -> &[u64; SwitchReason::ALL.len()] {
        &self.by_reason
    }

    pub(super) fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
        while self.records.len() > cap {
            self.records.pop_front();
        }
    }

    pub(super) fn total(&self) -> u64 {
        self.total
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &SwitchRecord> {
        self.records.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_at_its_index() {
        for (i, r) in SwitchReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }

    #[test]
    fn the_log_keeps_the_newest_records_and_counts_all() {
        let mut log = SwitchLog::new(2);
        for at_ns in 0..5 {
            log.push(SwitchRecord {
                at_ns,
                from: None,
                to: None,
                reason: SwitchReason::Manual,
            });
        }
        assert_eq!(log.total(), 5);
        assert_eq!(log.by_reason()[SwitchReason::Manual.index()], 5);
        assert_eq!(log.by_reason().iter().sum::<u64>(), 5);
        let kept: Vec<u64> = log.iter().map(|r| r.at_ns).collect();
        assert_eq!(kept, [3, 4]);
        log.set_cap(1);
        assert_eq!(log.iter().count(), 1);
    }
}
