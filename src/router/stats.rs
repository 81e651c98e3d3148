//! `RouterStats`: what the router has done, per source and overall.

use std::sync::Arc;

use crate::flow::BreakerState;
use crate::source::SourceStatus;

use super::{RoutingStrategy, SourceRouter, SwitchReason, SwitchRecord};

/// Whose breaker guards a routed source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerOwner {
    /// A breaker of the router's, for this source alone (`RouterConfig::breaker_threshold`).
    Router,
    /// The source's provider's breaker in the rate coordinator
    /// ([`ProviderState::breaker`](crate::flow::ProviderState::breaker)).
    Provider,
}

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
    /// Ticks of it drained from its queue while it was a standby and not delivered (a queued
    /// source, `Capabilities::queued`, of a single-active strategy): what it produced while
    /// another source was delivered, kept from piling up and being delivered late.
    pub drained: u64,
    /// Ticks it says it produced (`SourceHealth::produced`).
    pub produced: u64,
    /// Errors it returned to the router (start and poll).
    pub errors: u64,
    /// The state of its one breaker (see `breaker_owner`).
    pub breaker: BreakerState,
    /// Whose breaker that is: the router's own, or its provider's (then the same breaker the
    /// provider's state reports, not a second one).
    pub breaker_owner: BreakerOwner,
    /// EWMA (weight 1/8) of `ts_recv − ts_event` of the newest tick of each chunk polled from
    /// it, in ns; `None` before its first tick.
    pub latency_ns: Option<u64>,
    /// Time since it last delivered data to the router (or since it was added), ns: how
    /// stale it is.
    pub since_data_ns: u64,
    /// Its own status.
    pub status: SourceStatus,
    /// Could it be chosen now (not dead or ended, breaker not open, out of its hold-down)?
    pub usable: bool,
}

/// The counters of the sources removed from a router
/// ([`RouterControl::remove_source`](crate::router::RouterControl::remove_source)), summed
/// as they stood when each was removed: with [`RouterStats::sources`] they add up to the
/// router's totals (`delivered` = Σ `sources[i].delivered` + `removed.delivered`, and so for
/// `drained`), so a removal never makes ticks disappear from the per-source accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemovedSources {
    /// Sources removed.
    pub count: u64,
    /// Times they were made the delivered source.
    pub selected: u64,
    /// Ticks of theirs the router delivered.
    pub delivered: u64,
    /// Ticks of theirs polled and not delivered (see [`SourceStats::discarded`]).
    pub discarded: u64,
    /// Ticks of theirs drained from their queues (see [`SourceStats::drained`]).
    pub drained: u64,
    /// Ticks they said they produced.
    pub produced: u64,
    /// Errors they returned to the router.
    pub errors: u64,
}

/// A snapshot of a router.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Strategy in force.
    pub strategy: RoutingStrategy,
    /// The delivered source (`None` for `Arbitrate`, or when none is usable); in the stats
    /// published when the router is closed, the one delivered last.
    pub active: Option<Arc<str>>,
    /// Per source, in priority order.
    pub sources: Vec<SourceStats>,
    /// The sources removed so far, summed (their ticks stay counted: see [`RemovedSources`]).
    pub removed: RemovedSources,
    /// The most recent switches (at most `switch_history`), oldest first.
    pub switches: Vec<SwitchRecord>,
    /// Every switch ever recorded (including those dropped from `switches`).
    pub switches_total: u64,
    /// Every switch ever recorded, counted by reason (indexed by [`SwitchReason::index`]).
    pub switches_by_reason: [u64; SwitchReason::ALL.len()],
    /// Ticks delivered.
    pub delivered: u64,
    /// `Arbitrate`: sequence numbers no source carried within the window.
    pub gaps: u64,
    /// `Arbitrate`: ticks suppressed because their `seq` was already delivered.
    pub duplicates: u64,
    /// `Arbitrate`: ticks that arrived after their `seq` left the window (already delivered or
    /// already reported as a gap); dropped.
    pub late: u64,
    /// Ticks drained from queued standbys and not delivered (the sum of
    /// [`SourceStats::drained`] and of the removed sources').
    pub drained: u64,
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

impl SourceRouter {
    /// Fill `s` in place, reusing its space (no allocation once it has room for every source
    /// and for `switch_history` records); the switch records only when `with_switches`.
    pub(super) fn fill_stats(&self, s: &mut RouterStats, now_ns: u64, with_switches: bool) {
        s.strategy = self.cfg.strategy;
        s.active = self.active.map(|a| self.slots[a].name.clone());
        s.sources.truncate(self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            let h = slot.source.health();
            let st = SourceStats {
                name: slot.name.clone(),
                selected: slot.counters.selected,
                delivered: slot.counters.delivered,
                discarded: slot.counters.discarded,
                drained: slot.counters.drained,
                produced: h.produced,
                errors: slot.counters.errors,
                breaker: slot.gate.breaker().state_at(now_ns),
                breaker_owner: if slot.gate.provider().is_some() {
                    BreakerOwner::Provider
                } else {
                    BreakerOwner::Router
                },
                latency_ns: slot.latency.get(),
                since_data_ns: now_ns.saturating_sub(slot.last_data_ns),
                status: slot.source.status(),
                usable: slot.usable(now_ns, self.tuning.hold_down_ns, true),
            };
            match s.sources.get_mut(i) {
                Some(x) => *x = st,
                None => s.sources.push(st),
            }
        }
        if with_switches {
            s.switches.clear();
            s.switches.extend(self.log.iter().cloned());
        }
        s.switches_total = self.log.total();
        s.switches_by_reason = *self.log.by_reason();
        s.delivered = self.delivered;
        s.removed = self.removed;
        s.drained =
            self.removed.drained + self.slots.iter().map(|x| x.counters.drained).sum::<u64>();
        s.gaps = self.window.gaps;
        s.duplicates = self.window.duplicates;
        s.late = self.window.late;
        s.polls = self.polls;
        s.at_ns = now_ns;
    }

    /// A fresh snapshot, taken on the poll thread (the control plane's
    /// [`RouterControl::stats`](crate::router::RouterControl::stats) is the last published one).
    pub fn stats(&self) -> RouterStats {
        let mut s = RouterStats::default();
        self.fill_stats(&mut s, self.clock.now_ns(), true);
        s
    }

    /// Publish the final stats for the control plane, waiting for the lock if a reader holds
    /// it (a reader only clones): called when the routed stream ends or fails, when the router
    /// is closed and when it is dropped, so that what the control plane reports afterwards
    /// counts every tick delivered — the sources' `delivered` sum to the router's (and so to
    /// the pipeline's `produced`). Not on the data path: at most a few times per router.
    pub(super) fn publish_final(&mut self, now_ns: u64) {
        let mut s = crate::sync::lock(&self.shared.stats);
        self.fill_stats(&mut s, now_ns, true);
        drop(s);
        self.stats_dirty = false;
        self.next_publish_ns = now_ns.saturating_add(self.tuning.stats_ns);
    }

    /// Publish stats for the control plane if the lock is free (never waits).
    pub(super) fn publish(&mut self, now_ns: u64) {
        let Ok(mut s) = self.shared.stats.try_lock() else {
            return; // a reader holds it; try again at the next poll
        };
        let with_switches = self.stats_dirty;
        self.fill_stats(&mut s, now_ns, with_switches);
        drop(s);
        self.stats_dirty = false;
        self.next_publish_ns = now_ns.saturating_add(self.tuning.stats_ns);
    }
}
