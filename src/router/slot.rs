//! One routed source: the source itself, its admission gate (its one breaker, and its
//! provider's budget when it has a provider), and what the router knows about its health.

use std::sync::Arc;

use crate::admission::{AdmissionGate, CoordinationSwitch, Refusal, Resolution};
use crate::clock::{duration_ns, SharedClock};
use crate::error::{ConfigError, SourceError};
use crate::flow::{BreakerState, CircuitBreaker, RateCoordinator};
use crate::source::{Capabilities, SourcePoll, TickSource};
use crate::tick::Tick;

use super::{RouterConfig, SwitchReason};

/// What one poll of a slot came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotPoll {
    /// `n ≥ 1` ticks were written to the front of the buffer.
    Data(usize),
    /// The source had nothing (it may be going stale).
    Quiet,
    /// The gate said "not now" (budget, cooldown); the source was not polled.
    NotNow,
    /// The source failed for this reason (the breaker has been told), or its gate's breaker
    /// refused it (`BreakerOpen`).
    Failed(SwitchReason),
}

/// Most polls of one standby's queue per router poll when draining it: a queue refilled as
/// fast as it is read (an unpaced feed) cannot hold the router's poll.
const DRAIN_ROUNDS: usize = 16;

/// Integer EWMA (weight 1/8) of a latency in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ewma(Option<u64>);

#[cfg(test)]
mod tests {
    use super::Ewma;

    #[test]
    fn the_ewma_starts_at_the_first_sample_and_moves_an_eighth_of_the_way() {
        let mut e = Ewma::default();
        assert_eq!(e.get(), None);
        e.add(800);
        assert_eq!(e.get(), Some(800));
        e.add(0);
        assert_eq!(e.get(), Some(700));
        e.add(1_500);
        assert_eq!(e.get(), Some(800));
        e.add(u64::MAX); // clamped, no overflow
        assert!(e.get().unwrap() > 800);
    }
}

impl Ewma {
    #[inline]
    pub(crate) fn add(&mut self, sample_ns: u64) {
        self.0 = Some(match self.0 {
            None => sample_ns,
            Some(e) => {
                // i64 and a shift (÷8 rounding toward −∞): no 128-bit division on the poll
                // path. Latencies are far below 2^62 ns.
                let s = sample_ns.min(1 << 62) as i64;
                let e = e as i64;
                (e + ((s - e) >> 3)) as u64
            }
        });
    }

    pub(crate) fn get(self) -> Option<u64> {
        self.0
    }
}

/// Counters kept per slot (published in stats).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SlotCounters {
    pub selected: u64,
    pub delivered: u64,
    pub errors: u64,
    pub discarded: u64,
    /// Ticks of a queued standby drained from its queue and not delivered.
    pub drained: u64,
}

pub(crate) struct RoutedSource {
    pub source: Box<dyn TickSource>,
    pub name: Arc<str>,
    pub caps: Capabilities,
    /// Its one breaker, and its provider's budget when it has a provider.
    pub gate: AdmissionGate,
    /// The gate is applied where the source is produced (a provider's fan-out hub): polls
    /// read the source directly, and the breaker is only read (its state decides whether
    /// the source is usable) or told of staleness, never given a poll's outcome twice.
    pub fed: bool,
    /// Its ticks wait in a queue until read (`Capabilities::queued`): drained while it is a
    /// standby of a single-active strategy.
    pub queued: bool,
    /// When draining it last found ticks (a queued standby producing).
    pub drained_at: Option<u64>,
    /// Declared staleness bound in ns, if the source declares one.
    pub staleness_ns: Option<u64>,
    /// When the source last produced ticks (or was started / made active).
    pub last_data_ns: u64,
    /// When the source last failed (error, disconnect, stale, breaker).
    pub failed_at: Option<u64>,
    /// Returned a non-retryable error: never polled again.
    pub dead: bool,
    /// Returned `Ended`: never polled again.
    pub ended: bool,
    /// The last error it returned (start or poll), for "all sources failed".
    pub last_error: Option<SourceError>,
    /// `Arbitrate`: a member of the hot set.
    pub in_service: bool,
    pub started: bool,
    /// The router poll (count) in which it was last probed for activation.
    pub probed_in_poll: u64,
    /// `seq` of the newest tick polled from it.
    pub last_seq: Option<u32>,
    pub latency: Ewma,
    pub counters: SlotCounters,
}

fn make_breaker(
    name: &Arc<str>,
    cfg: &RouterConfig,
    clock: &SharedClock,
) -> Result<Arc<CircuitBreaker>, ConfigError> {
    CircuitBreaker::builder(cfg.breaker_threshold, cfg.breaker_timeout)
        .name(name.clone())
        .clock(clock.clone())
        .build()
        .map(Arc::new)
        .map_err(|e| ConfigError::new("router.breaker_threshold", e.reason))
}

fn reason_of(e: &SourceError) -> SwitchReason {
    match e {
        SourceError::Disconnected { .. } => SwitchReason::Disconnected,
        _ => SwitchReason::Error,
    }
}

impl RoutedSource {
    pub(crate) fn new(
        source: Box<dyn TickSource>,
        cfg: &RouterConfig,
        clock: &SharedClock,
    ) -> Result<RoutedSource, ConfigError> {
        let name: Arc<str> = Arc::from(source.name());
        let caps = source.capabilities();
        Ok(RoutedSource {
            gate: AdmissionGate::for_breaker(make_breaker(&name, cfg, clock)?),
            fed: false,
            queued: caps.queued,
            drained_at: None,
            staleness_ns: caps.staleness_bound.map(duration_ns),
            name,
            caps,
            source,
            last_data_ns: 0,
            failed_at: None,
            dead: false,
            ended: false,
            last_error: None,
            in_service: true,
            started: false,
            probed_in_poll: u64::MAX,
            last_seq: None,
            latency: Ewma::default(),
            counters: SlotCounters::default(),
        })
    }

    /// Start the source (once). A failure counts against the breaker like a poll error.
    pub(crate) fn start(&mut self, now_ns: u64) -> Result<(), SwitchReason> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.last_data_ns = now_ns;
        self.source.start(now_ns).map_err(|e| self.fail(now_ns, &e))
    }

    fn fail(&mut self, now_ns: u64, e: &SourceError) -> SwitchReason {
        self.counters.errors += 1;
        self.failed_at = Some(now_ns);
        if !e.is_retryable() {
            self.dead = true;
        }
        // Kept for the report when every source has failed; errors are rare (not per tick).
        self.last_error = Some(e.clone());
        reason_of(e)
    }

    /// Not dead, not ended, breaker not OPEN, and (if `respect_hold`) out of its hold-down.
    pub(crate) fn usable(&self, now_ns: u64, hold_down_ns: u64, respect_hold: bool) -> bool {
        let out = self.dead
            || self.ended
            || self.gate.breaker().state_at(now_ns) == BreakerState::Open
            || (respect_hold && self.held(now_ns, hold_down_ns));
        !out
    }

    /// Failed less than `hold_down_ns` ago.
    pub(crate) fn held(&self, now_ns: u64, hold_down_ns: u64) -> bool {
        self.failed_at
            .is_some_and(|t| now_ns.saturating_sub(t) < hold_down_ns)
    }

    /// No data for its staleness bound (its own, or `default_ns`).
    #[inline]
    pub(crate) fn stale(&self, now_ns: u64, default_ns: u64) -> bool {
        now_ns.saturating_sub(self.last_data_ns) >= self.staleness_ns.unwrap_or(default_ns)
    }

    /// Mark it stale: a failure for the breaker and the hold-down.
    pub(crate) fn mark_stale(&mut self, now_ns: u64) {
        self.gate.record_failure_at(now_ns);
        self.failed_at = Some(now_ns);
    }

    /// Nothing waits in the source (its [`has_waiting`](TickSource::has_waiting) says so),
    /// and skipping the poll changes nothing at its gate: an empty poll through a breaker (or
    /// a provider's breaker) only takes and releases a permit, but a request-based source
    /// behind its provider's gate spends a token per poll, so it is always polled.
    #[inline]
    pub(crate) fn nothing_waiting(&self) -> bool {
        (self.fed || !self.caps.request_based) && self.source.has_waiting() == Some(false)
    }

    /// Poll through the gate into `out` (see [`crate::admission`] for what the gate decides
    /// and how each outcome resolves its grant), or straight from the source when it is
    /// `fed` (its gate was applied upstream).
    #[inline]
    pub(crate) fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> SlotPoll {
        match self.call(now_ns, |s| s.poll(now_ns, out)) {
            Ok(n) => {
                let n = n.min(out.len());
                self.took(now_ns, &out[n - 1]);
                SlotPoll::Data(n)
            }
            Err(p) => p,
        }
    }

    /// As [`poll`](Self::poll), handing the ticks to `visit` where they lie
    /// ([`TickSource::poll_visit`]: a queued source's ring slices, in place) instead of
    /// copying them out; at most `scratch.len()` ticks. `Data(n)`: `n` ticks were visited.
    ///
    /// `visit` is inlined into the one closure the source calls, which also notes the newest
    /// tick: one dynamic call per slice.
    #[inline]
    pub(crate) fn poll_visit(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        mut visit: impl FnMut(&[Tick]),
    ) -> SlotPoll {
        // What `took` needs of the newest tick visited (not the whole tick: a copy per slice).
        let mut last: Option<(u32, u64)> = None;
        let mut visit_noting_last = |s: &[Tick]| {
            if let Some(t) = s.last() {
                last = Some((t.seq, t.ts_recv.saturating_sub(t.ts_event)));
            }
            visit(s);
        };
        let r = self.call(now_ns, |s| {
            s.poll_visit(now_ns, scratch, &mut visit_noting_last)
        });
        match (r, last) {
            (Ok(n), Some((seq, latency_ns))) => {
                self.took_seq(now_ns, seq, latency_ns);
                SlotPoll::Data(n)
            }
            // `Ready(n ≥ 1)` with nothing visited: a source breaking `poll_visit`'s contract
            // delivered nothing.
            (Ok(_), None) => SlotPoll::Quiet,
            (Err(p), _) => p,
        }
    }

    /// One call of the source (`poll` or `poll_visit`, by `f`) through the gate, or straight
    /// when `fed`: `Ok(n)` for `Ready(n ≥ 1)`, otherwise what the poll came to.
    #[inline]
    fn call(
        &mut self,
        now_ns: u64,
        f: impl FnOnce(&mut dyn TickSource) -> Result<SourcePoll, SourceError>,
    ) -> Result<usize, SlotPoll> {
        if self.dead || self.ended {
            return Err(SlotPoll::Failed(if self.ended {
                SwitchReason::Ended
            } else {
                SwitchReason::Error
            }));
        }
        let source = &mut *self.source;
        let polled = if self.fed {
            f(source)
        } else if let Some(breaker) = self.gate.own_breaker() {
            // The gate of a source with no provider: its breaker's permit, resolved by the
            // poll's outcome as `AdmissionGate::poll` resolves a grant, without the refusal's
            // and the grant's layers.
            let Ok(permit) = breaker.allow_at(now_ns) else {
                return Err(SlotPoll::Failed(SwitchReason::BreakerOpen));
            };
            let r = f(source);
            match Resolution::of(&r) {
                Resolution::Success => permit.success(),
                Resolution::Failure => permit.failure_at(now_ns),
                Resolution::Released => drop(permit),
            }
            r
        } else {
            match self.gate.poll(now_ns, || f(source)) {
                Ok(r) => r,
                Err(Refusal::NotNow(_)) => return Err(SlotPoll::NotNow),
                Err(Refusal::BreakerOpen(_)) => {
                    return Err(SlotPoll::Failed(SwitchReason::BreakerOpen))
                }
                Err(Refusal::Never(e)) => {
                    self.dead = true;
                    self.counters.errors += 1;
                    self.last_error = Some(SourceError::Failed {
                        source_name: self.name.to_string(),
                        reason: e.to_string(),
                    });
                    return Err(SlotPoll::Failed(SwitchReason::Error));
                }
            }
        };
        match polled {
            Ok(SourcePoll::Ready(n)) if n > 0 => Ok(n),
            Ok(SourcePoll::Ready(_)) | Ok(SourcePoll::Pending) => Err(SlotPoll::Quiet),
            Ok(SourcePoll::Ended) => {
                self.ended = true;
                Err(SlotPoll::Failed(SwitchReason::Ended))
            }
            Err(e) => Err(SlotPoll::Failed(self.fail(now_ns, &e))),
        }
    }
}

impl RoutedSource {
    /// It produced ticks at `now_ns`, `last` the newest: that updates its latency estimate and
    /// last `seq`; it is not stale.
    #[inline]
    fn took(&mut self, now_ns: u64, last: &Tick) {
        self.took_seq(now_ns, last.seq, last.ts_recv.saturating_sub(last.ts_event));
    }

    /// As [`took`](Self::took), given the newest tick's `seq` and `ts_recv − ts_event`.
    #[inline]
    fn took_seq(&mut self, now_ns: u64, seq: u32, latency_ns: u64) {
        self.latency.add(latency_ns);
        self.last_seq = Some(seq);
        self.last_data_ns = now_ns;
    }

    /// Drain a queued standby: take what waits in its queue (`poll_discard` into `scratch`:
    /// a subscriber releases its ring in place, copying only the newest tick) and discard it,
    /// counted as `drained` (at most [`DRAIN_ROUNDS`] reads). The source is read directly, not
    /// through its gate: reading a queue spends no budget and is no probe (its producer is
    /// gated where it runs, or not at all). An error or end is taken as from a poll: errors
    /// counted (and told to the router's own breaker when the gate is not applied upstream),
    /// a hold-down from now; an end ends it.
    pub(crate) fn drain(&mut self, now_ns: u64, scratch: &mut [Tick]) {
        if self.dead || self.ended || !self.started || scratch.is_empty() {
            return;
        }
        for _ in 0..DRAIN_ROUNDS {
            // Only the newest tick is looked at (`took`): a queue may skip the others.
            match self.source.poll_discard(now_ns, scratch) {
                Ok(SourcePoll::Ready(n)) if n > 0 => {
                    let n = n.min(scratch.len());
                    self.took(now_ns, &scratch[n - 1]);
                    self.drained_at = Some(now_ns);
                    self.counters.drained += n as u64;
                }
                Ok(SourcePoll::Ready(_)) | Ok(SourcePoll::Pending) => return,
                Ok(SourcePoll::Ended) => {
                    self.ended = true;
                    return;
                }
                Err(e) => {
                    if !self.fed {
                        self.gate.record_failure_at(now_ns);
                    }
                    self.fail(now_ns, &e);
                    return;
                }
            }
        }
    }

    /// A queued standby that draining found producing since its last failure, within its
    /// staleness bound (its own, or `default_ns`): recovered, as far as its queue shows.
    pub(crate) fn drained_live(&self, now_ns: u64, default_ns: u64) -> bool {
        self.drained_at.is_some_and(|t| {
            self.failed_at.is_none_or(|f| t > f)
                && now_ns.saturating_sub(t) < self.staleness_ns.unwrap_or(default_ns)
        })
    }
}

impl RoutedSource {
    /// Guard the source with its provider's gate when `coordinator` has a provider of its name
    /// (its budget spent when it is request-based and `switch`, if any, is on); a
    /// request-based source must have one. Others keep their own breaker.
    ///
    /// # Errors
    /// [`ConfigError`] naming `field` for a request-based source with no provider.
    pub(crate) fn attach(
        &mut self,
        coordinator: &RateCoordinator,
        switch: Option<&Arc<CoordinationSwitch>>,
        field: &str,
    ) -> Result<(), ConfigError> {
        match coordinator.handle(&self.name) {
            Ok(h) => {
                let gate = AdmissionGate::for_provider(h, self.caps.request_based);
                self.gate = match switch {
                    Some(s) => gate.with_switch(s.clone()),
                    None => gate,
                };
                Ok(())
            }
            Err(e) if self.caps.request_based => Err(ConfigError::new(
                field,
                format!("request-based source {:?}: {e}", &*self.name),
            )),
            Err(_) => Ok(()),
        }
    }

    /// A new own breaker after a config change (a provider's breaker is the provider's).
    pub(crate) fn renew_breaker(&mut self, cfg: &RouterConfig, clock: &SharedClock) {
        if self.gate.provider().is_some() {
            return;
        }
        if let Ok(b) = make_breaker(&self.name, cfg, clock) {
            self.gate = AdmissionGate::for_breaker(b);
        }
    }
}
