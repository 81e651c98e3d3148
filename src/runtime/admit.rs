//! `Admitted`: a runtime source wrapped with its provider's admission.
//!
//! Per poll chunk (never per tick): a request-based source takes one token of its provider's
//! budget (when rate coordination is on); every source passes its provider's breaker, whose
//! permit is reported with the poll's outcome (ticks: success; error: failure; quiet or ended:
//! released, so a HALF_OPEN probe never stays out). A refusal that may pass later (rate limited,
//! cooling down, breaker open) is `Pending`: the pipeline waits with its idle strategy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::SourceError;
use crate::flow::{Permit, ProviderHandle, Request};
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::tick::Tick;

/// Runtime switches the data path reads once per chunk.
#[derive(Debug)]
pub(crate) struct Flags {
    /// `enable_rate_coordination` of the current settings.
    pub rate_coordination: AtomicBool,
}

/// A source behind its provider's budget and breaker, optionally bounded.
pub(crate) struct Admitted {
    inner: Box<dyn TickSource>,
    provider: Option<ProviderHandle>,
    flags: Arc<Flags>,
    request_based: bool,
    remaining: Option<u64>,
}

impl Admitted {
    /// Wrap `inner`; `provider: None` is a plain (bounded) source.
    pub fn new(
        inner: Box<dyn TickSource>,
        provider: Option<ProviderHandle>,
        flags: Arc<Flags>,
        request_based: bool,
        max_ticks: Option<u64>,
    ) -> Admitted {
        Admitted {
            inner,
            provider,
            flags,
            request_based,
            remaining: max_ticks,
        }
    }
}

/// Poll `inner`, producing at most `remaining` more ticks.
#[inline]
fn bounded(
    inner: &mut dyn TickSource,
    remaining: &mut Option<u64>,
    now_ns: u64,
    out: &mut [Tick],
) -> Result<SourcePoll, SourceError> {
    let room = match *remaining {
        Some(0) => return Ok(SourcePoll::Ended),
        Some(r) => out.len().min(usize::try_from(r).unwrap_or(usize::MAX)),
        None => out.len(),
    };
    let r = inner.poll(now_ns, &mut out[..room]);
    if let (Ok(SourcePoll::Ready(n)), Some(rem)) = (&r, remaining) {
        *rem -= (*n as u64).min(*rem);
    }
    r
}

/// Report a poll's outcome to the breaker permit it ran under: ticks are a success, an error a
/// failure; nothing (quiet, no ticks, ended) releases a probe without counting.
#[inline]
fn resolve(permit: Permit<'_>, r: &Result<SourcePoll, SourceError>, now_ns: u64) {
    match r {
        Ok(SourcePoll::Ready(n)) if *n > 0 => permit.success(),
        Err(_) => permit.failure_at(now_ns),
        Ok(_) => drop(permit),
    }
}

impl TickSource for Admitted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        self.inner.start(now_ns)
    }

    #[inline]
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let inner = &mut *self.inner;
        let Some(p) = &self.provider else {
            return bounded(inner, &mut self.remaining, now_ns, out);
        };
        // Relaxed: an independent switch; a chunk admitted under the old value is fine.
        if self.request_based && self.flags.rate_coordination.load(Ordering::Relaxed) {
            // The request's breaker permit resolves with the poll: success for ticks, failure
            // for an error, released (dropped) when the source is quiet or ended, so a
            // HALF_OPEN probe is never left out for ever.
            let permit = match p.try_request_permit_at(now_ns, Request::cost(1)) {
                Ok(permit) => permit,
                Err(e) if e.is_retryable() => return Ok(SourcePoll::Pending),
                Err(e) => {
                    return Err(SourceError::Failed {
                        source_name: inner.name().to_string(),
                        reason: e.to_string(),
                    })
                }
            };
            let r = bounded(inner, &mut self.remaining, now_ns, out);
            resolve(permit, &r, now_ns);
            return r;
        }
        let Ok(permit) = p.breaker().allow_at(now_ns) else {
            return Ok(SourcePoll::Pending);
        };
        let r = bounded(inner, &mut self.remaining, now_ns, out);
        resolve(permit, &r, now_ns);
        r
    }

    fn close(&mut self) {
        self.inner.close()
    }

    fn status(&self) -> SourceStatus {
        self.inner.status()
    }

    fn health(&self) -> SourceHealth {
        self.inner.health()
    }

    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            request_based: self.request_based,
            ..self.inner.capabilities()
        }
    }

    fn symbol_table(&self) -> Option<&Arc<crate::symbol::SymbolTable>> {
        self.inner.symbol_table()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::clock::ManualClock;
    use crate::flow::{BreakerState, ProviderLimits, RateCoordinator};
    use crate::source::Capabilities;

    const SEC: u64 = 1_000_000_000;

    /// A source that answers each poll from a script.
    struct Scripted(VecDeque<Result<SourcePoll, SourceError>>);

    impl TickSource for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
            Ok(())
        }
        fn poll(&mut self, _now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
            let r = self.0.pop_front().unwrap_or(Ok(SourcePoll::Pending));
            if let Ok(SourcePoll::Ready(n)) = r {
                out[..n].fill(Tick::default());
            }
            r
        }
        fn close(&mut self) {}
        fn status(&self) -> SourceStatus {
            SourceStatus::Running
        }
        fn health(&self) -> SourceHealth {
            SourceHealth::default()
        }
        fn symbols(&self) -> &[String] {
            &[]
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
    }

    #[test]
    fn regression_a_half_open_probe_that_found_the_source_quiet_or_ended_stayed_out_for_ever() {
        // (case, what the probe poll finds)
        let cases = [
            (1, SourcePoll::Pending),
            (2, SourcePoll::Ended),
            (3, SourcePoll::Ready(0)),
        ];
        for (case, probe) in cases {
            let clock = ManualClock::shared(SEC);
            let coordinator = RateCoordinator::with_clock(clock.clone());
            let limits = ProviderLimits {
                capacity: 1_000,
                refill_rate: 1_000,
                breaker_threshold: 1,
                breaker_timeout: 1.0,
                ..ProviderLimits::default()
            };
            let p = coordinator.register_provider_with("p", limits).unwrap();
            let fail = SourceError::Failed {
                source_name: "scripted".into(),
                reason: "down".into(),
            };
            let script = VecDeque::from([Err(fail), Ok(probe), Ok(SourcePoll::Ready(1))]);
            let flags = Arc::new(Flags {
                rate_coordination: AtomicBool::new(true),
            });
            let mut s = Admitted::new(
                Box::new(Scripted(script)),
                Some(p.clone()),
                flags,
                true,
                None,
            );
            let mut out = [Tick::default(); 4];
            assert!(s.poll(SEC, &mut out).is_err(), "case {case}");
            assert_eq!(p.breaker().state(), BreakerState::Open, "case {case}");
            clock.advance_ns(2 * SEC);
            assert_eq!(p.breaker().state(), BreakerState::HalfOpen, "case {case}");
            let now = 3 * SEC;
            assert_eq!(
                s.poll(now, &mut out).unwrap(),
                probe,
                "case {case}: the probe poll"
            );
            let st = p.breaker().stats();
            assert_eq!(
                st.probes_in_flight, 0,
                "case {case}: the probe was released"
            );
            assert_eq!(st.state, BreakerState::HalfOpen, "case {case}");
            // The next request is admitted as a new probe, which succeeds and closes it.
            assert_eq!(
                s.poll(now, &mut out).unwrap(),
                SourcePoll::Ready(1),
                "case {case}"
            );
            assert_eq!(p.breaker().state(), BreakerState::Closed, "case {case}");
        }
    }
}
