//! A router over queued sources (fan-out subscribers): a standby's producer runs whether or
//! not the router reads it, so its ring fills while another source is delivered. The hubs are
//! stepped by hand between router polls on a manual clock: nothing is timed.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::exec::Task;
use market_data_pipeline::fanout::{FanoutHub, HubConfig, Subscriber, SubscriberConfig};
use market_data_pipeline::ring::{Backpressure, EdgeCounters};
use market_data_pipeline::router::{
    RouterConfig, RouterStats, RoutingStrategy, SourceRouter, SwitchReason,
};
use market_data_pipeline::source::{
    Fault, FaultKind, SourcePoll, SyntheticConfig, SyntheticSource, TickSource,
};
use market_data_pipeline::{Clock, ManualClock, SymbolTable, Tick};

/// Clock advance per step (one hub step each, then one router poll).
const STEP: u64 = 100_000;
/// Ticks per hub step.
const CHUNK: usize = 64;
/// Each subscriber's ring.
const RING: usize = 1_024;

/// An unpaced synthetic provider writing `id` into `Tick::source`, fanned out by a hub to one
/// `Block` subscriber (the runtime's routed providers are such subscribers).
fn provider(
    clock: &Arc<ManualClock>,
    table: &Arc<SymbolTable>,
    name: &str,
    id: u16,
    faults: Vec<Fault>,
) -> (FanoutHub, Subscriber, Arc<EdgeCounters>) {
    let cfg = SyntheticConfig {
        name: name.into(),
        source_id: id,
        faults,
        ..SyntheticConfig::new(&["AAPL", "MSFT"])
    };
    let source = SyntheticSource::new(cfg, table.clone()).unwrap();
    let hub = FanoutHub::new(
        Box::new(source),
        HubConfig {
            chunk_size: CHUNK,
            keep_open: false,
        },
        clock.clone(),
    )
    .unwrap();
    let sub = hub
        .handle()
        .subscribe(
            SubscriberConfig::all()
                .capacity(RING)
                .backpressure(Backpressure::Block),
        )
        .unwrap();
    let counters = sub.counters();
    (hub, sub, counters)
}

/// `First` with short hold-down, breaker timeout and probe interval, on `clock`.
fn first(clock: &Arc<ManualClock>, sources: Vec<Subscriber>) -> SourceRouter {
    let cfg = RouterConfig {
        strategy: RoutingStrategy::First,
        hold_down: Duration::from_millis(5),
        breaker_threshold: 1,
        breaker_timeout: Duration::from_millis(5),
        probe_interval: Duration::from_millis(1),
        default_staleness: Duration::from_secs(1),
        ..RouterConfig::default()
    };
    let sources = sources
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn TickSource>)
        .collect();
    SourceRouter::with_config(sources, cfg, clock.clone()).unwrap()
}

/// A routed pair on a manual clock: "primary" (source id 1, failing once with a retryable
/// error after `primary_errs_after` ticks, if given) and "backup" (id 2), started.
struct Pair {
    clock: Arc<ManualClock>,
    hubs: [FanoutHub; 2],
    router: SourceRouter,
    rings: [Arc<EdgeCounters>; 2],
}

fn pair(primary_errs_after: Option<u64>) -> Pair {
    let clock = ManualClock::shared(1_000_000_000);
    let table = Arc::new(SymbolTable::new());
    let faults = primary_errs_after
        .map(|at_tick| Fault {
            at_tick,
            kind: FaultKind::Error,
        })
        .into_iter()
        .collect();
    let (hub_p, sub_p, ring_p) = provider(&clock, &table, "primary", 1, faults);
    let (hub_b, sub_b, ring_b) = provider(&clock, &table, "backup", 2, vec![]);
    let mut router = first(&clock, vec![sub_p, sub_b]);
    router.start(clock.now_ns()).unwrap();
    Pair {
        clock,
        hubs: [hub_p, hub_b],
        router,
        rings: [ring_p, ring_b],
    }
}

impl Pair {
    /// Every tick read from a source's ring is delivered, discarded or drained, exactly.
    fn assert_conserved(&self) {
        let stats = self.router.stats();
        for (name, ring) in ["primary", "backup"].iter().zip(&self.rings) {
            let s = stats.source(name).unwrap();
            let e = ring.snapshot();
            assert_eq!(
                e.popped,
                s.delivered + s.discarded + s.drained,
                "{name}: read from its ring vs delivered + discarded + drained: {s:?} {e:?}"
            );
            assert_eq!(
                e.offered,
                e.pushed + e.dropped + e.conflated,
                "{name}: {e:?}"
            );
        }
        assert_eq!(
            stats.delivered,
            stats.sources.iter().map(|s| s.delivered).sum::<u64>()
        );
        assert_eq!(
            stats.drained,
            stats.sources.iter().map(|s| s.drained).sum::<u64>()
        );
    }
}

/// The primary was failed over (its error) and failed back to, nothing else.
fn assert_failed_over_and_back(stats: &RouterStats) {
    let reasons: Vec<_> = stats.switches.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [SwitchReason::Error, SwitchReason::FailBack],
        "{stats:?}"
    );
}

/// What a run delivered: per poll, the poll's time and its ticks' (source, ts_recv).
struct Run {
    /// (poll time, previous poll time, source id, ts_recv) of every delivered tick.
    delivered: Vec<(u64, u64, u16, u64)>,
}

/// `steps` rounds of: advance the clock, step every hub, poll the router once.
fn run(
    clock: &Arc<ManualClock>,
    hubs: &mut [FanoutHub],
    router: &mut SourceRouter,
    steps: usize,
) -> Run {
    let mut buf = vec![Tick::default(); 1_024];
    let mut delivered = Vec::new();
    let mut prev = clock.now_ns();
    for _ in 0..steps {
        clock.advance_ns(STEP);
        for h in hubs.iter_mut() {
            h.step();
        }
        let now = clock.now_ns();
        if let Ok(SourcePoll::Ready(n)) = router.poll(now, &mut buf) {
            delivered.extend(buf[..n].iter().map(|t| (now, prev, t.source, t.ts_recv)));
        }
        prev = now;
    }
    Run { delivered }
}

#[test]
fn regression_a_standby_ring_backlog_is_not_delivered_after_failover_or_fail_back() {
    // The primary fails once (a retryable error) after 30 steps' ticks; its breaker opens for
    // 5 ms, then it is probed back. Meanwhile each standby's hub fills its `Block` ring in
    // 16 steps. Before the fix a switch delivered that ring: ticks up to tens of steps old.
    let mut p = pair(Some(30 * CHUNK as u64));
    let r = run(&p.clock, &mut p.hubs, &mut p.router, 200);

    let stats = p.router.stats();
    assert_failed_over_and_back(&stats);
    let from_backup = r.delivered.iter().filter(|d| d.2 == 2).count();
    assert!(from_backup > 0, "the backup delivered");
    // Each poll reads its active ring whole, so every delivered tick was produced after the
    // previous poll: nothing queued while its source was a standby is delivered.
    for &(now, prev, source, ts_recv) in &r.delivered {
        assert!(
            ts_recv > prev,
            "source {source} delivered a tick of {ts_recv} at {now}, {} ns old (older than \
             the previous poll at {prev})",
            now - ts_recv
        );
    }
    // What the standbys produced meanwhile was drained, and counted.
    assert!(stats.source("backup").unwrap().drained > 0, "{stats:?}");
    assert!(stats.source("primary").unwrap().drained > 0, "{stats:?}");
    p.assert_conserved();
}

#[test]
fn regression_a_queued_standby_is_not_held_back_by_its_block_ring() {
    // The backup is never delivered. Drained at every poll, its `Block` ring never fills, so
    // its hub polls its provider at every step (before, it stopped after 16 steps).
    let mut p = pair(None);
    let steps = 100;
    let r = run(&p.clock, &mut p.hubs, &mut p.router, steps);
    assert!(r.delivered.iter().all(|d| d.2 == 1), "only the primary");
    let stats = p.router.stats();
    let backup = stats.source("backup").unwrap();
    assert_eq!(backup.delivered, 0);
    assert_eq!(
        backup.drained,
        (steps * CHUNK) as u64,
        "every tick the backup produced, drained: {stats:?}"
    );
    assert_eq!(backup.produced, (steps * CHUNK) as u64, "{stats:?}");
    p.assert_conserved();
}

#[test]
fn a_queued_standby_that_draining_finds_producing_passes_a_fail_back_probe() {
    // The primary errs once, then (hub stepped only every other step from then on) its
    // queue is often empty when the probe comes; draining saw it produce, so it is taken back
    // anyway, and its next ticks are delivered.
    let mut p = pair(Some(10 * CHUNK as u64));
    let mut buf = vec![Tick::default(); 1_024];
    let mut last_source = 0;
    for k in 0..200 {
        p.clock.advance_ns(STEP);
        // The primary's hub steps on odd steps only: the router polls right after a step
        // on even ones, so it finds the primary's queue empty at even steps.
        if k % 2 == 1 {
            p.hubs[0].step();
        }
        p.hubs[1].step();
        if let Ok(SourcePoll::Ready(n)) = p.router.poll(p.clock.now_ns(), &mut buf) {
            last_source = buf[n - 1].source;
        }
    }
    let stats = p.router.stats();
    assert_failed_over_and_back(&stats);
    assert_eq!(last_source, 1, "the primary delivers again: {stats:?}");
    p.assert_conserved();
}

#[test]
fn a_failover_switches_to_a_queued_standby_that_draining_found_producing() {
    // The backup's hub is not stepped in the poll where the primary fails, so its queue
    // (drained at the poll before) is empty then: it is switched to at once, not to none.
    let mut p = pair(Some(10 * CHUNK as u64));
    let mut buf = vec![Tick::default(); 1_024];
    let mut backup_ticks = 0;
    for k in 0..40 {
        p.clock.advance_ns(STEP);
        p.hubs[0].step();
        if k != 10 {
            p.hubs[1].step();
        }
        if let Ok(SourcePoll::Ready(n)) = p.router.poll(p.clock.now_ns(), &mut buf) {
            backup_ticks += buf[..n].iter().filter(|t| t.source == 2).count();
        }
    }
    let stats = p.router.stats();
    let to: Vec<_> = stats.switches.iter().map(|s| s.to.as_deref()).collect();
    assert_eq!(to, [Some("backup")], "{stats:?}");
    assert_eq!(stats.switches[0].reason, SwitchReason::Error);
    assert!(backup_ticks > 0, "{stats:?}");
    p.assert_conserved();
}

#[test]
fn a_subscriber_discards_in_place_writing_only_the_newest_tick_taken() {
    let clock = ManualClock::shared(1_000_000_000);
    let table = Arc::new(SymbolTable::new());
    let (mut hub, mut sub, ring) = provider(&clock, &table, "p", 1, vec![]);
    hub.step(); // applies the subscription
    hub.step();
    hub.step();
    let mut out = vec![Tick::default(); 3 * CHUNK];
    let n = match sub.poll_discard(clock.now_ns(), &mut out) {
        Ok(SourcePoll::Ready(n)) => n,
        other => panic!("{other:?}"),
    };
    let e = ring.snapshot();
    assert_eq!(e.popped, n as u64, "every tick taken is released");
    assert_eq!(e.in_flight(), 0, "{e:?}");
    assert_eq!(
        out[n - 1].seq,
        n as u32,
        "the newest tick taken is written last"
    );
    assert!(matches!(
        sub.poll_discard(clock.now_ns(), &mut out),
        Ok(SourcePoll::Pending)
    ));
}
