//! The control plane: live add/remove, live strategy and config changes, stats published to
//! another thread, and rate-coordinated (request-based) sources.

mod router_support;

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
use market_data_pipeline::router::{
    RouterConfig, RouterControl, RoutingStrategy, SourceRouter, SwitchReason,
};
use market_data_pipeline::source::{FaultKind, SourcePoll};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{Clock, ManualClock, Tick, TickSource};
use router_support::*;

fn cfg(strategy: RoutingStrategy) -> RouterConfig {
    RouterConfig {
        hold_down: Duration::from_secs(1),
        default_staleness: Duration::from_millis(50),
        round_robin_chunks: 2,
        probe_interval: Duration::from_millis(100),
        ..RouterConfig::new(strategy)
    }
}

#[test]
fn the_control_is_clone_send_and_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<RouterControl>();
    fn send<T: Send + 'static>() {}
    send::<SourceRouter>();
}

/// `First` over two healthy synthetic sources a (1) and b (2), 16-tick chunks.
fn healthy_pair() -> Run {
    let sources = vec![synth("a", 1, vec![]), synth("b", 2, vec![])];
    Run::new(sources, cfg(RoutingStrategy::First), 16)
}

#[test]
fn removing_the_active_source_switches_at_the_next_poll_and_flags_it() {
    let mut run = healthy_pair();
    run.poll();
    run.router.control().remove_source("a").unwrap();
    run.poll();
    assert_eq!(run.last_sources(), [2]);
    assert!(run.last[0].flags & flags::FIRST_AFTER_SWITCH != 0);
    run.assert_switch(0, ("a", "b", SwitchReason::Removed), T0);
    let names: Vec<String> = run
        .router
        .stats()
        .sources
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["b"]);
}

/// The per-source accounts and the removed sources' sum add up to the router's totals.
fn assert_accounts_add_up(stats: &market_data_pipeline::RouterStats, what: &str) {
    let kept: u64 = stats.sources.iter().map(|s| s.delivered).sum();
    assert_eq!(
        kept + stats.removed.delivered,
        stats.delivered,
        "{what}: {stats:?}"
    );
    let drained: u64 = stats.sources.iter().map(|s| s.drained).sum();
    assert_eq!(
        drained + stats.removed.drained,
        stats.drained,
        "{what}: {stats:?}"
    );
}

#[test]
fn regression_a_removed_source_took_its_delivered_ticks_out_of_the_per_source_accounts() {
    // Was: after `remove_source`, the sources' `delivered` no longer summed to the router's.
    for strategy in [RoutingStrategy::First, RoutingStrategy::RoundRobin] {
        let sources = vec![synth("a", 1, vec![]), synth("b", 2, vec![])];
        let mut run = Run::new(sources, cfg(strategy), 16);
        run.polls(8);
        let before = run.router.stats();
        assert_accounts_add_up(&before, "before");
        assert_eq!(before.removed.count, 0);
        let a = before.source("a").expect("a is routed").clone();
        assert!(a.delivered > 0, "{strategy:?}: a delivered");
        run.router.control().remove_source("a").unwrap();
        run.polls(8);
        let after = run.router.stats();
        assert_eq!(after.removed.count, 1, "{strategy:?}");
        assert_eq!(
            after.removed.delivered, a.delivered,
            "{strategy:?}: a's ticks kept"
        );
        assert_eq!(after.removed.selected, a.selected, "{strategy:?}");
        assert!(after.removed.produced >= a.produced, "{strategy:?}");
        assert!(
            after.delivered > before.delivered,
            "{strategy:?}: b delivers on"
        );
        assert_accounts_add_up(&after, "after removing a");
        run.router.control().remove_source("b").unwrap();
        run.poll();
        let none = run.router.stats();
        assert!(none.sources.is_empty(), "{strategy:?}");
        assert_eq!(none.removed.count, 2, "{strategy:?}");
        assert_eq!(none.removed.delivered, none.delivered, "{strategy:?}");
        assert_accounts_add_up(&none, "after removing both");
    }
}

#[test]
fn a_source_added_live_is_started_and_taken_when_nothing_else_delivers() {
    let mut run = Run::new(
        vec![synth("a", 1, vec![fault(16, FaultKind::Fail)])],
        cfg(RoutingStrategy::First),
        16,
    );
    run.poll();
    assert_eq!(run.poll(), SourcePoll::Pending);
    run.router
        .control()
        .add_source(synth("b", 2, vec![]))
        .unwrap();
    assert_eq!(run.poll(), SourcePoll::Ready(16));
    assert_eq!(run.last_sources(), [2]);
    assert_eq!(run.reasons(), [SwitchReason::Error, SwitchReason::Added]);
    assert_eq!(
        run.last[0].seq, 1,
        "the added source was started, from its beginning"
    );
}

#[test]
fn a_live_strategy_change_takes_effect_at_the_next_poll() {
    let mut run = healthy_pair();
    let control = run.router.control();
    run.polls(4);
    assert!(run.switches().is_empty());
    control.set_strategy(RoutingStrategy::RoundRobin).unwrap();
    run.polls(4);
    assert_eq!(run.reasons(), [SwitchReason::RoundRobin]);
    assert_eq!(run.last_sources(), [2]);
    control.set_strategy(RoutingStrategy::First).unwrap();
    run.advance_ns(100 * MS); // next fail-back probe: a is healthy and preferred
    run.poll();
    assert_eq!(run.last_sources(), [1]);
    assert_eq!(run.reasons()[1], SwitchReason::FailBack);
    assert_each_source_in_order(&run.got, true);
}

#[test]
fn switching_to_arbitrate_live_does_not_deliver_again_what_first_delivered() {
    let a = SeqFeed::all("a", 1, 1_000, 16);
    let b = SeqFeed::all("b", 2, 1_000, 16);
    let mut run = Run::new(
        vec![Box::new(a), Box::new(b)],
        cfg(RoutingStrategy::First),
        64,
    );
    run.polls(3); // a: seqs 1..=48 (b, a standby, has not been polled)
    run.router
        .control()
        .set_strategy(RoutingStrategy::Arbitrate)
        .unwrap();
    for _ in 0..200 {
        run.poll();
        run.advance_ns(MS);
    }
    let mut seqs: Vec<u32> = run.got.iter().map(|t| t.seq).collect();
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "a seq delivered twice");
    assert_eq!(seqs, (1..=1_000).collect::<Vec<_>>());
    let r = run.reasons();
    assert_eq!(
        r,
        [
            SwitchReason::Manual,
            SwitchReason::Ended,
            SwitchReason::Ended
        ]
    );
}

#[test]
fn stats_reach_another_thread_while_the_router_is_polled() {
    let clock = ManualClock::shared(T0);
    let mut router = SourceRouter::with_config(
        vec![synth("a", 1, vec![]), synth("b", 2, vec![])],
        cfg(RoutingStrategy::First),
        clock.clone(),
    )
    .unwrap();
    let control = router.control();
    router.start(T0).unwrap();
    let worker = std::thread::spawn(move || {
        let mut buf = vec![Tick::default(); 64];
        for _ in 0..2_000 {
            clock.advance_ns(MS);
            router.poll(clock.now_ns(), &mut buf).unwrap();
        }
        router
    });
    let mut last = 0;
    for _ in 0..1_000 {
        let s = control.stats();
        assert!(s.polls >= last, "published stats went backwards");
        last = s.polls;
    }
    let router = worker.join().unwrap();
    let s = control.stats();
    assert!(
        s.polls >= 1_995,
        "last published after {} of 2000 polls",
        s.polls
    );
    assert_eq!(s.active.as_deref(), Some("a"));
    assert_eq!(router.stats().delivered, 2_000 * 64);
}

fn limited(capacity: u64) -> (Arc<ManualClock>, Arc<RateCoordinator>) {
    let clock = ManualClock::shared(T0);
    let c = Arc::new(RateCoordinator::with_clock(clock.clone()));
    let limits = ProviderLimits {
        capacity,
        refill_rate: 1,
        ..ProviderLimits::default()
    };
    c.register_provider_with("a", limits).unwrap();
    (clock, c)
}

fn limited_router(clock: &Arc<ManualClock>, c: &Arc<RateCoordinator>) -> SourceRouter {
    let a = SeqFeed::all("a", 1, 1_000, 8).request_based();
    let b = SeqFeed::all("b", 2, 1_000, 8);
    let mut r = SourceRouter::with_config(
        vec![Box::new(a), Box::new(b)],
        cfg(RoutingStrategy::First),
        clock.clone(),
    )
    .unwrap()
    .with_coordinator(c.clone())
    .unwrap();
    r.start(T0).unwrap();
    r
}

#[test]
fn a_rate_limited_source_is_not_polled_and_not_failed_over() {
    let (clock, c) = limited(2);
    let mut r = limited_router(&clock, &c);
    let mut buf = vec![Tick::default(); 64];
    assert_eq!(r.poll(T0, &mut buf).unwrap(), SourcePoll::Ready(8));
    assert_eq!(r.poll(T0, &mut buf).unwrap(), SourcePoll::Ready(8));
    assert_eq!(
        r.poll(T0, &mut buf).unwrap(),
        SourcePoll::Pending,
        "budget spent: not now"
    );
    clock.advance(Duration::from_secs(1));
    let now = clock.now_ns();
    assert_eq!(r.poll(now, &mut buf).unwrap(), SourcePoll::Ready(8));
    let s = r.stats();
    assert_eq!(s.switches_total, 0);
    assert_eq!(s.source("a").unwrap().errors, 0);
}

#[test]
fn an_open_provider_breaker_fails_the_source_over() {
    let (clock, c) = limited(100);
    let mut r = limited_router(&clock, &c);
    let mut buf = vec![Tick::default(); 64];
    r.poll(T0, &mut buf).unwrap();
    for _ in 0..5 {
        c.record_failure("a").unwrap(); // another pipeline's failures trip the provider
    }
    assert_eq!(r.poll(T0, &mut buf).unwrap(), SourcePoll::Ready(8));
    assert_eq!(buf[0].source, 2);
    assert_eq!(r.stats().switches[0].reason, SwitchReason::BreakerOpen);
}

#[test]
fn a_request_based_source_unknown_to_the_coordinator_is_a_config_error() {
    let c = Arc::new(RateCoordinator::with_clock(ManualClock::shared(0)));
    let a = SeqFeed::all("a", 1, 10, 8).request_based();
    let e = SourceRouter::new(vec![Box::new(a)], RoutingStrategy::First)
        .unwrap()
        .with_coordinator(c)
        .unwrap_err();
    assert_eq!(e.field, "sources[0]");
}

#[test]
fn subscribe_and_unsubscribe_reach_every_routed_source() {
    use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
    use market_data_pipeline::SymbolTable;
    let table = Arc::new(SymbolTable::new());
    let feed = |name: &str, id: u16, max: Option<u64>| {
        let cfg = SyntheticConfig {
            name: name.to_string(),
            source_id: id,
            max_ticks: max,
            ..SyntheticConfig::new(&["AAPL"])
        };
        SyntheticSource::new(cfg, table.clone()).unwrap()
    };
    // `a` ends after 512 ticks; the standby `b` then delivers.
    let mut router =
        SourceRouter::new(vec![feed("a", 1, Some(512)), feed("b", 2, None)], "first").unwrap();
    let (aapl, msft) = (table.get("AAPL").unwrap(), table.intern("MSFT").unwrap());
    router.subscribe(&[msft]).unwrap();
    assert_eq!(router.symbols(), ["AAPL", "MSFT"]);
    router.start(0).unwrap();
    let mut buf = vec![Tick::default(); 64];
    // (source, symbol) pairs seen, over a bounded number of polls.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        if let SourcePoll::Ready(n) = router.poll(0, &mut buf).unwrap() {
            seen.extend(buf[..n].iter().map(|t| (t.source, t.symbol)));
        }
    }
    assert!(
        seen.contains(&(1, msft)) && seen.contains(&(2, msft)),
        "{seen:?}"
    );
    router.unsubscribe(&[aapl]).unwrap();
    let mut symbols = std::collections::BTreeSet::new();
    for _ in 0..4 {
        if let SourcePoll::Ready(n) = router.poll(0, &mut buf).unwrap() {
            symbols.extend(buf[..n].iter().map(|t| t.symbol));
        }
    }
    assert_eq!(
        symbols.into_iter().collect::<Vec<_>>(),
        [msft],
        "b unsubscribed AAPL"
    );
}
