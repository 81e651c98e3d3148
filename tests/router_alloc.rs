//! No allocation on the router's poll path in steady state: a counting global allocator
//! counts every allocation of the polling thread while a router is polled (stats published
//! every few polls).
//!
//! Only the polling thread's allocations are counted. The process-wide count made this test
//! fail on a loaded machine (`case 1: first`, 4 allocations): libtest's main thread books a test
//! in right after spawning its thread, and when it is descheduled in between it does that while
//! case 1 measures. The router never allocated.

mod common;
mod router_support;

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::clock::SharedClock;
use market_data_pipeline::exec::Task;
use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter};
use market_data_pipeline::{Clock, ManualClock, SourcePoll, Tick, TickSource};
use router_support::*;

use common::counting_alloc::{thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of this thread during `polls` polls (1 ms apart) after `warm` warm-up polls.
fn allocations_while_polled(
    sources: Vec<Box<dyn TickSource>>,
    cfg: RouterConfig,
    warm: usize,
    polls: usize,
) -> u64 {
    allocations_of(Run::new(sources, cfg, 64), warm, polls)
}

/// `run`'s router with its sources gated by a coordinator's provider `a` of `capacity` tokens
/// refilled at `refill_rate` per second.
fn gated(run: Run, capacity: u64, refill_rate: u64) -> Run {
    let c = Arc::new(RateCoordinator::with_clock(run.clock.clone()));
    let limits = ProviderLimits::new()
        .capacity(capacity)
        .refill_rate(refill_rate);
    c.register_provider_with("a", limits).unwrap();
    Run {
        router: run.router.with_coordinator(c).unwrap(),
        ..run
    }
}

fn allocations_of(mut run: Run, warm: usize, polls: usize) -> u64 {
    let step = |run: &mut Run| {
        run.advance_ns(MS);
        let now = run.now();
        run.router.poll(now, &mut run.buf).unwrap();
    };
    for _ in 0..warm {
        step(&mut run);
    }
    let before = thread_allocations();
    for _ in 0..polls {
        step(&mut run);
    }
    thread_allocations() - before
}

/// The cases as one table (each counts its own thread's allocations only).
#[test]
fn steady_state_polling_allocates_nothing() {
    // 1. A healthy First router (standby never polled, stats published every 5 polls).
    let sources = vec![synth("a", 1, vec![]), synth("b", 2, vec![])];
    assert_eq!(
        allocations_while_polled(sources, RouterConfig::default(), 10, 10_000),
        0,
        "case 1: first"
    );

    // 2. Arbitrate over two hot-hot feeds.
    let feeds: Vec<Box<dyn TickSource>> = vec![
        Box::new(SeqFeed::all("a", 1, 1_000_000, 32)),
        Box::new(SeqFeed::all("b", 2, 1_000_000, 32)),
    ];
    let cfg = RouterConfig::new(RoutingStrategy::Arbitrate);
    assert_eq!(
        allocations_while_polled(feeds, cfg, 10, 10_000),
        0,
        "case 2: arbitrate"
    );

    // 3. RoundRobin switching every 2 polls: once the history (16 records) and its published
    //    copy are full, later switches reuse their space.
    let sources = vec![synth("a", 1, vec![]), synth("b", 2, vec![])];
    let cfg = RouterConfig {
        round_robin_chunks: 2,
        switch_history: 16,
        hold_down: Duration::from_secs(1),
        ..RouterConfig::new(RoutingStrategy::RoundRobin)
    };
    assert_eq!(
        allocations_while_polled(sources, cfg, 200, 10_000),
        0,
        "case 3: round robin"
    );

    // 4. A request-based source behind its provider's gate, admitted at every poll: one token
    //    per poll (a budget that never runs out), then one per second (most polls refused
    //    "not now", which builds a refusal value but allocates nothing).
    for (case, capacity, rate) in [("4a", 1_000_000, 1_000_000), ("4b", 1, 1)] {
        let sources: Vec<Box<dyn TickSource>> = vec![
            Box::new(SeqFeed::all("a", 1, 1_000_000, 32).request_based()),
            synth("b", 2, vec![]),
        ];
        let run = gated(
            Run::new(sources, RouterConfig::default(), 64),
            capacity,
            rate,
        );
        assert_eq!(
            allocations_of(run, 10, 10_000),
            0,
            "case {case}: a gated source"
        );
    }

    // 5. Arbitrate over two fan-out subscribers, read in place (`poll_visit`). The hubs are
    //    stepped on this thread between the polls; only the router's polls are counted.
    assert_eq!(
        arbitrate_over_subscribers(10, 10_000),
        0,
        "case 5: subscribers"
    );
}

/// Allocations of this thread inside `polls` router polls (after `warm`) of an `Arbitrate`
/// router over two fan-out subscribers whose hubs are stepped here before each poll; also
/// asserts that the polls delivered every seq the hubs fanned out exactly once.
fn arbitrate_over_subscribers(warm: usize, polls: usize) -> u64 {
    let clock = ManualClock::shared(T0);
    let (mut hubs, subs) = hubbed_feeds(&(clock.clone() as SharedClock), 32);
    let cfg = RouterConfig::new(RoutingStrategy::Arbitrate);
    let mut router = SourceRouter::with_config(subs, cfg, clock.clone()).unwrap();
    router.start(T0).unwrap();
    let mut buf = vec![Tick::default(); 64];
    let (mut allocations, mut delivered, mut next_seq) = (0, 0u64, 1u32);
    for k in 0..warm + polls {
        clock.advance_ns(MS);
        for h in &mut hubs {
            h.step();
        }
        let before = thread_allocations();
        let r = router.poll(clock.now_ns(), &mut buf).unwrap();
        if k >= warm {
            allocations += thread_allocations() - before;
        }
        if let SourcePoll::Ready(n) = r {
            for t in &buf[..n] {
                assert_eq!(t.seq, next_seq, "each seq once, in order");
                next_seq += 1;
            }
            delivered += n as u64;
        }
    }
    assert!(
        delivered >= polls as u64,
        "the router delivered ({delivered})"
    );
    allocations
}
