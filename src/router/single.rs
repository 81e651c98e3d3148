//! The single-active strategies (`First`, `RoundRobin`, `Fastest`): one source is delivered at
//! a time; the others are started standbys, polled only to probe them, and drained when they
//! are queued (see [`SourceRouter::drain_standbys`]).

use crate::source::SourcePoll;
use crate::tick::Tick;

use super::slot::SlotPoll;
use super::{RoutingStrategy, SourceRouter, SwitchReason};

impl SourceRouter {
    /// The source to deliver next, excluding `exclude`: in priority order (`First`), in
    /// rotation after the current one (`RoundRobin`), or the lowest latency estimate
    /// (`Fastest`; sources without one last, in priority order). Sources in their hold-down are
    /// skipped unless `fallback` and nothing else is usable. A source that failed at `now_ns`,
    /// or was already probed in this poll, is not picked.
    pub(super) fn pick(
        &self,
        now_ns: u64,
        exclude: Option<usize>,
        fallback: bool,
    ) -> Option<usize> {
        let n = self.slots.len();
        let hold = self.tuning.hold_down_ns;
        let start = match self.cfg.strategy {
            RoutingStrategy::RoundRobin => self.cursor,
            _ => 0,
        };
        let order = (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| Some(i) != exclude);
        let pass = |respect_hold: bool| {
            let ok = |&i: &usize| {
                let s = &self.slots[i];
                s.usable(now_ns, hold, respect_hold)
                    && s.failed_at != Some(now_ns)
                    && s.probed_in_poll != self.polls
            };
            match self.cfg.strategy {
                RoutingStrategy::Fastest => order
                    .clone()
                    .filter(ok)
                    .min_by_key(|&i| (self.slots[i].latency.get().unwrap_or(u64::MAX), i)),
                _ => order.clone().find(ok),
            }
        };
        pass(true).or_else(|| if fallback { pass(false) } else { None })
    }

    /// One poll of a single-active strategy, then the queued standbys drained.
    pub(super) fn poll_single(&mut self, now_ns: u64, out: &mut [Tick]) -> SourcePoll {
        let r = self.poll_active(now_ns, out);
        self.drain_standbys(now_ns);
        r
    }

    /// Queued standbys (`Capabilities::queued`: fan-out subscribers, produced on their own
    /// workers whether read or not) are drained after every poll, their ticks discarded and
    /// counted (`SourceStats::drained`). A standby is not delivered, so what it produces
    /// meanwhile is not part of the routed stream (as with a standby that is not polled at
    /// all); a switch to it then continues from what it produces now, not from a backlog
    /// queued while another source was delivered, and a `Block` queue never holds its producer
    /// back. With no active source, only those that cannot be candidates now (not usable) are
    /// drained: what waits in the others' queues is what the next probe delivers.
    fn drain_standbys(&mut self, now_ns: u64) {
        let hold = self.tuning.hold_down_ns;
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if !s.queued
                || Some(i) == self.active
                || (self.active.is_none() && s.usable(now_ns, hold, false))
            {
                continue;
            }
            self.slots[i].drain(now_ns, &mut self.scratch);
        }
    }

    /// The active source's poll (after a fail-back probe, rotation or speed check), or the
    /// probe for one.
    fn poll_active(&mut self, now_ns: u64, out: &mut [Tick]) -> SourcePoll {
        match self.cfg.strategy {
            RoutingStrategy::First => {
                if let Some(n) = self.try_fail_back(now_ns, out) {
                    return SourcePoll::Ready(n);
                }
            }
            RoutingStrategy::RoundRobin => self.maybe_rotate(now_ns),
            RoutingStrategy::Fastest => self.maybe_faster(now_ns),
            RoutingStrategy::Arbitrate => return SourcePoll::Pending,
        }
        let Some(a) = self.active else {
            return self.probe_for_active(now_ns, out);
        };
        match self.slots[a].poll(now_ns, out) {
            SlotPoll::Data(n) => {
                self.slots[a].counters.delivered += n as u64;
                self.chunks_on_active = self.chunks_on_active.saturating_add(1);
                SourcePoll::Ready(n)
            }
            SlotPoll::NotNow => SourcePoll::Pending,
            SlotPoll::Quiet => {
                if !self.slots[a].stale(now_ns, self.tuning.staleness_ns) {
                    return SourcePoll::Pending;
                }
                self.slots[a].mark_stale(now_ns);
                self.take_out(now_ns, a, SwitchReason::Stale);
                self.probe_for_active(now_ns, out)
            }
            SlotPoll::Failed(why) => {
                self.take_out(now_ns, a, why);
                self.probe_for_active(now_ns, out)
            }
        }
    }

    /// The active source `a` failed: nothing is delivered until a fallback yields ticks.
    fn take_out(&mut self, now_ns: u64, a: usize, why: SwitchReason) {
        self.slots[a].failed_at = Some(now_ns);
        self.active = None;
        self.pending_switch = Some((a, why));
    }

    /// No source is active: poll the candidates in strategy order (those out of their
    /// hold-down first), straight into `out`. The first that yields ticks becomes the active
    /// source, at that chunk boundary (so a fallback is switched to only when it delivers, and
    /// its ticks are never polled twice). Each candidate is polled at most once per poll. A
    /// queued candidate is drained at every poll while another source is active, so its queue
    /// is often empty at a failover: one that draining found producing since its last failure
    /// (within its staleness bound) is switched to as well, its next tick delivered first.
    fn probe_for_active(&mut self, now_ns: u64, out: &mut [Tick]) -> SourcePoll {
        let (from, why) = match self.pending_switch.take() {
            Some((a, why)) => (Some(a), why),
            None => (None, SwitchReason::FailBack),
        };
        for _ in 0..self.slots.len() {
            let Some(c) = self.pick(now_ns, None, true) else {
                break;
            };
            self.slots[c].probed_in_poll = self.polls;
            match self.slots[c].poll(now_ns, out) {
                SlotPoll::Data(n) => {
                    self.activate(now_ns, from, c, why);
                    self.slots[c].counters.delivered += n as u64;
                    self.chunks_on_active = 1;
                    return SourcePoll::Ready(n);
                }
                SlotPoll::Quiet | SlotPoll::NotNow => {
                    let s = &self.slots[c];
                    if s.queued && s.drained_live(now_ns, self.tuning.staleness_ns) {
                        // Drained at the last poll, so its queue is empty; it is producing.
                        self.activate(now_ns, from, c, why);
                        return SourcePoll::Pending;
                    }
                }
                SlotPoll::Failed(_) => self.slots[c].failed_at = Some(now_ns),
            }
        }
        if from.is_some() {
            self.record(now_ns, from, None, why);
        }
        if self.all_done() {
            SourcePoll::Ended
        } else {
            SourcePoll::Pending
        }
    }

    /// `First`: every `probe_interval`, probe the higher-priority sources that are out of their
    /// hold-down and whose breaker admits a call (a HALF_OPEN breaker admits one probe). The
    /// probe polls straight into `out`: if it yields ticks, the router switches at that chunk
    /// boundary and delivers them, so nothing is polled twice or discarded. A queued source
    /// is drained at every poll, so its queue holds only what came since the last one: one
    /// that yields nothing now but that draining found producing since its last failure
    /// (within its staleness bound) has recovered too — the router switches to it and
    /// delivers from its next tick.
    fn try_fail_back(&mut self, now_ns: u64, out: &mut [Tick]) -> Option<usize> {
        let a = self.active?;
        if a == 0 || now_ns < self.next_probe_ns {
            return None;
        }
        self.next_probe_ns = now_ns.saturating_add(self.tuning.probe_ns);
        for p in 0..a {
            if !self.slots[p].usable(now_ns, self.tuning.hold_down_ns, true) {
                continue;
            }
            match self.slots[p].poll(now_ns, out) {
                SlotPoll::Data(n) => {
                    self.activate(now_ns, Some(a), p, SwitchReason::FailBack);
                    self.slots[p].counters.delivered += n as u64;
                    self.chunks_on_active = 1;
                    return Some(n);
                }
                SlotPoll::Quiet | SlotPoll::NotNow => {
                    let s = &self.slots[p];
                    if s.queued && s.drained_live(now_ns, self.tuning.staleness_ns) {
                        self.activate(now_ns, Some(a), p, SwitchReason::FailBack);
                        return None;
                    }
                }
                SlotPoll::Failed(_) => self.slots[p].failed_at = Some(now_ns),
            }
        }
        None
    }

    /// `RoundRobin`: after `round_robin_chunks` chunks, rotate to the next usable source.
    fn maybe_rotate(&mut self, now_ns: u64) {
        let Some(a) = self.active else { return };
        if self.chunks_on_active < self.cfg.round_robin_chunks {
            return;
        }
        match self.pick(now_ns, Some(a), false) {
            Some(c) => self.activate(now_ns, Some(a), c, SwitchReason::RoundRobin),
            None => self.chunks_on_active = 0,
        }
    }

    /// `Fastest`: every `probe_interval`, sample each usable standby (its ticks are polled into
    /// the scratch buffer and discarded; the newest one updates its latency estimate; a queued
    /// standby is measured as it is drained instead), then
    /// switch if one is faster than the active source by more than the hysteresis and the
    /// last switch is at least `hold_down` ago.
    fn maybe_faster(&mut self, now_ns: u64) {
        // With no active source every candidate is probed into the caller's buffer instead
        // (and measured there): sampling into the scratch buffer would throw ticks away.
        if self.active.is_none() || now_ns < self.next_probe_ns {
            return;
        }
        self.next_probe_ns = now_ns.saturating_add(self.tuning.probe_ns);
        let hold = self.tuning.hold_down_ns;
        for i in 0..self.slots.len() {
            if Some(i) == self.active
                || self.slots[i].queued
                || !self.slots[i].usable(now_ns, hold, true)
            {
                continue;
            }
            match self.slots[i].poll(now_ns, &mut self.scratch) {
                SlotPoll::Data(n) => self.slots[i].counters.discarded += n as u64,
                SlotPoll::Quiet | SlotPoll::NotNow => {}
                SlotPoll::Failed(_) => self.slots[i].failed_at = Some(now_ns),
            }
        }
        let Some(a) = self.active else { return };
        if now_ns.saturating_sub(self.last_switch_ns) < hold {
            return;
        }
        let Some(current) = self.slots[a].latency.get() else {
            return;
        };
        let Some(best) = self.pick(now_ns, Some(a), false) else {
            return;
        };
        let Some(l) = self.slots[best].latency.get() else {
            return;
        };
        if (l as f64) < current as f64 * (1.0 - self.cfg.fastest_hysteresis) {
            self.activate(now_ns, Some(a), best, SwitchReason::Faster);
        }
    }
}
