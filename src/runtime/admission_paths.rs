//! The same admission scenarios driven through the runtime's path (a provider source behind
//! its gate, as a pipeline polls it) and the router's path (the same kind of source routed,
//! as a routed pipeline's router polls it), on the manual clock: every step must come to the
//! same decision with the same effect on the provider.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::admission::{AdmissionGate, CoordinationSwitch};
use crate::clock::{Clock, ManualClock};
use crate::error::SourceError;
use crate::flow::{BreakerState, ProviderHandle, ProviderLimits, RateCoordinator};
use crate::router::{RouterConfig, SourceRouter};
use crate::runtime::admit::GatedSource;
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::tick::Tick;

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// What the scripted source answers when polled, and how often it was polled.
#[derive(Default)]
struct Script {
    answer: Option<Result<SourcePoll, SourceError>>,
    polls: u64,
}

/// A request-based source that answers from a [`Script`] shared with the test.
struct Scripted(Arc<Mutex<Script>>);

impl TickSource for Scripted {
    fn name(&self) -> &str {
        "p"
    }
    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        Ok(())
    }
    fn poll(&mut self, _now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let mut s = self.0.lock().unwrap();
        s.polls += 1;
        let r = s.answer.clone().unwrap_or(Ok(SourcePoll::Pending));
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
        Capabilities {
            request_based: true,
            ..Capabilities::default()
        }
    }
}

/// What the gate decided at one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// The source was polled.
    Polled,
    /// Not polled: budget or cooldown ("not now").
    NotNow,
    /// Not polled: the breaker refused.
    BreakerOpen,
}
use Decision::*;

/// What one step did: the decision and the provider's state after it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    decision: Decision,
    breaker: BreakerState,
    consecutive_failures: u32,
    probes_in_flight: u32,
    transitions: (u64, u64, u64),
    tokens: Vec<u64>,
    rate_limited: u64,
    cooling_down: u64,
}

/// What happens before a step's poll.
#[derive(Clone, Copy, Debug)]
enum Before {
    Nothing,
    /// Trigger a cooldown of the global scope for this long.
    Cooldown(Duration),
    /// Change the refill rate live (tokens held are kept).
    RefillRate(u64),
    /// Turn rate coordination on or off.
    Switch(bool),
}

/// One step: advance the clock, change something, poll with the source answering `answer`;
/// the decision expected.
struct Step {
    advance_ns: u64,
    before: Before,
    answer: Result<SourcePoll, SourceError>,
    want: Decision,
}

fn step(
    advance_ns: u64,
    before: Before,
    answer: Result<SourcePoll, SourceError>,
    want: Decision,
) -> Step {
    Step {
        advance_ns,
        before,
        answer,
        want,
    }
}

fn data() -> Result<SourcePoll, SourceError> {
    Ok(SourcePoll::Ready(4))
}

fn error() -> Result<SourcePoll, SourceError> {
    Err(SourceError::Failed {
        source_name: "p".into(),
        reason: "down".into(),
    })
}

/// Run `steps` through one path, from a fresh provider (capacity 2, refill 1/s, breaker
/// threshold 1, timeout 1 s) at T0 = 1 s; what each step did.
fn run(routed: bool, steps: &[Step]) -> Vec<Seen> {
    let clock = ManualClock::shared(SEC);
    let coordinator = Arc::new(RateCoordinator::with_clock(clock.clone()));
    let limits = ProviderLimits {
        capacity: 2,
        refill_rate: 1,
        breaker_threshold: 1,
        breaker_timeout: 1.0,
        ..ProviderLimits::default()
    };
    let h = coordinator
        .register_provider_with("p", limits.clone())
        .unwrap();
    let switch = Arc::new(CoordinationSwitch::new(true));
    let script = Arc::new(Mutex::new(Script::default()));
    let source = Box::new(Scripted(script.clone()));
    // As `runtime::build` makes them.
    let gate = AdmissionGate::for_provider(h.clone(), true).with_switch(switch.clone());
    // The path a poll takes: the runtime's gated source, or a router over it.
    let mut path: Box<dyn TickSource> = if routed {
        let cfg = RouterConfig {
            // Long enough that the router never judges the quiet source stale here.
            default_staleness: Duration::from_secs(3_600),
            ..RouterConfig::default()
        };
        let router = SourceRouter::with_config(vec![source], cfg, clock.clone())
            .unwrap()
            .with_provider_gates(coordinator.clone(), vec![gate], switch.clone(), false);
        Box::new(router)
    } else {
        Box::new(GatedSource::new(source, Some(gate), None))
    };
    path.start(SEC).unwrap();
    let mut out = [Tick::default(); 8];
    let mut seen = Vec::new();
    for s in steps {
        clock.advance_ns(s.advance_ns);
        match s.before {
            Before::Nothing => {}
            Before::Cooldown(d) => {
                h.trigger_cooldown("global", d).unwrap();
            }
            Before::RefillRate(r) => {
                h.update_limits(&ProviderLimits {
                    refill_rate: r,
                    ..limits.clone()
                })
                .unwrap();
            }
            Before::Switch(on) => switch.set(on),
        }
        let polls_before = {
            let mut sc = script.lock().unwrap();
            sc.answer = Some(s.answer.clone());
            sc.polls
        };
        let counters_before = h.state().counters;
        // What the path makes of the outcome differs (a pipeline sees an error, a router fails
        // over); the decision and its effect on the provider are what is compared.
        let _ = path.poll(clock.now_ns(), &mut out);
        let polled = script.lock().unwrap().polls > polls_before;
        seen.push(observe(&h, polled, counters_before));
    }
    seen
}

fn observe(h: &ProviderHandle, polled: bool, before: crate::flow::ProviderCounters) -> Seen {
    let st = h.state();
    let not_now = st.counters.rate_limited > before.rate_limited
        || st.counters.cooling_down > before.cooling_down;
    let decision = match (polled, not_now) {
        (true, _) => Polled,
        (false, true) => NotNow,
        (false, false) => BreakerOpen,
    };
    let b = st.breaker;
    Seen {
        decision,
        breaker: b.state,
        consecutive_failures: b.consecutive_failures,
        probes_in_flight: b.probes_in_flight,
        transitions: (b.opened, b.half_opened, b.closed),
        tokens: st.tokens,
        rate_limited: st.counters.rate_limited,
        cooling_down: st.counters.cooling_down,
    }
}

fn pending() -> Result<SourcePoll, SourceError> {
    Ok(SourcePoll::Pending)
}

/// Error at +1 ms (opens), refused while OPEN, then at +1 s the HALF_OPEN probe finds
/// `probe`; `then` follows.
fn probe(probe: Result<SourcePoll, SourceError>, then: Vec<Step>) -> Vec<Step> {
    let n = Before::Nothing;
    let mut steps = vec![
        step(MS, n, error(), Polled),
        step(MS, n, data(), BreakerOpen),
        step(SEC, n, probe, Polled),
    ];
    steps.extend(then);
    steps
}

#[test]
fn the_runtime_and_the_router_make_the_same_admission_decisions() {
    let n = Before::Nothing;
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "1. budget exhausted, then refilled",
            vec![
                step(MS, n, data(), Polled),
                step(MS, n, data(), Polled),
                step(MS, n, data(), NotNow),
                step(SEC, n, data(), Polled),
            ],
        ),
        (
            "2. cooldown",
            vec![
                step(MS, Before::Cooldown(Duration::from_secs(5)), data(), NotNow),
                step(4 * SEC, n, data(), NotNow),
                step(SEC + MS, n, data(), Polled),
            ],
        ),
        (
            "3. breaker open until its timeout",
            vec![
                step(MS, n, error(), Polled),
                step(MS, n, data(), BreakerOpen),
                step(900 * MS, n, data(), BreakerOpen),
                step(100 * MS, n, data(), Polled),
            ],
        ),
        (
            "4. HALF_OPEN probe finds ticks: closed",
            probe(data(), vec![step(MS, n, data(), Polled)]),
        ),
        (
            "5. HALF_OPEN probe finds Ready(0): released, the next poll probes",
            probe(Ok(SourcePoll::Ready(0)), vec![step(MS, n, data(), Polled)]),
        ),
        (
            "6. HALF_OPEN probe finds Pending: released, the next poll probes",
            probe(pending(), vec![step(MS, n, data(), Polled)]),
        ),
        (
            "7. HALF_OPEN probe finds Ended: released",
            probe(Ok(SourcePoll::Ended), vec![]),
        ),
        (
            "8. HALF_OPEN probe fails: open again",
            probe(error(), vec![step(MS, n, data(), BreakerOpen)]),
        ),
        (
            "9. live limit change: a faster refill applies from the next poll",
            vec![
                step(MS, n, data(), Polled),
                step(MS, n, data(), Polled),
                step(MS, n, data(), NotNow),
                step(MS, Before::RefillRate(100), data(), NotNow),
                step(20 * MS, n, data(), Polled),
            ],
        ),
        (
            "10. coordination switched off, then on",
            vec![
                step(MS, n, data(), Polled),
                step(MS, n, data(), Polled),
                step(MS, n, data(), NotNow),
                step(MS, Before::Switch(false), data(), Polled),
                step(MS, n, data(), Polled),
                step(MS, Before::Switch(true), data(), NotNow),
            ],
        ),
    ];
    for (name, steps) in &cases {
        let runtime = run(false, steps);
        let router = run(true, steps);
        let want: Vec<Decision> = steps.iter().map(|s| s.want).collect();
        let got: Vec<Decision> = runtime.iter().map(|s| s.decision).collect();
        assert_eq!(got, want, "{name}: the runtime's decisions");
        for (i, (a, b)) in runtime.iter().zip(&router).enumerate() {
            assert_eq!(a, b, "{name}, step {}: runtime vs router", i + 1);
        }
        assert_eq!(runtime.len(), router.len());
    }
}

#[test]
fn regression_a_half_open_probe_that_found_the_source_quiet_or_ended_stayed_out_for_ever() {
    // (case, probe outcome, breaker state after the probe): the probe is resolved whatever
    // the poll found, on both paths; an inconclusive one is released and the next poll probes.
    let cases = [
        ("ticks", data(), BreakerState::Closed),
        ("Ready(0)", Ok(SourcePoll::Ready(0)), BreakerState::HalfOpen),
        ("Pending", pending(), BreakerState::HalfOpen),
        ("Ended", Ok(SourcePoll::Ended), BreakerState::HalfOpen),
        ("an error", error(), BreakerState::Open),
    ];
    for (case, outcome, after) in cases {
        let next = match after {
            BreakerState::Open => vec![step(MS, Before::Nothing, data(), BreakerOpen)],
            // The source ended: neither path polls it again.
            _ if outcome == Ok(SourcePoll::Ended) => vec![],
            _ => vec![step(MS, Before::Nothing, data(), Polled)],
        };
        let steps = probe(outcome, next);
        for routed in [false, true] {
            let seen = run(routed, &steps);
            let after_probe = &seen[2];
            assert_eq!(
                (after_probe.breaker, after_probe.probes_in_flight),
                (after, 0),
                "{case} (routed: {routed})"
            );
            if let Some(last) = seen.get(3) {
                if after == BreakerState::HalfOpen {
                    assert_eq!(
                        last.breaker,
                        BreakerState::Closed,
                        "{case}: a new probe closed it"
                    );
                }
            }
        }
    }
}
