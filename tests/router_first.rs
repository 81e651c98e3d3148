//! `SourceRouter` with `RoutingStrategy::First`: priority failover and fail-back, specified
//! scenario by scenario with a manual clock. Includes the regressions of the original router
//! (DESIGN.md §5): it never failed back, restarted the fallback from scratch, ignored breakers.

mod router_support;

use std::time::Duration;

use market_data_pipeline::flow::BreakerState;
use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter, SwitchReason};
use market_data_pipeline::source::{FaultKind, SourcePoll};
use market_data_pipeline::tick::flags;
use market_data_pipeline::TickSource;
use router_support::*;

const PRIMARY: u16 = 1;
const BACKUP: u16 = 2;

fn cfg() -> RouterConfig {
    RouterConfig {
        hold_down: Duration::from_secs(2),
        default_staleness: Duration::from_millis(10),
        breaker_threshold: 3,
        breaker_timeout: Duration::from_secs(5),
        probe_interval: Duration::from_millis(100),
        ..RouterConfig::new(RoutingStrategy::First)
    }
}

fn pair(primary_faults: Vec<market_data_pipeline::source::Fault>) -> Run {
    Run::new(
        vec![
            synth("primary", PRIMARY, primary_faults),
            synth("backup", BACKUP, vec![]),
        ],
        cfg(),
        32,
    )
}

fn flagged(t: &market_data_pipeline::Tick) -> bool {
    t.flags & flags::FIRST_AFTER_SWITCH != 0
}

#[test]
fn the_seed_constructor_takes_boxed_sources_and_a_strategy() {
    let r = SourceRouter::new(
        vec![synth("ibkr", 1, vec![]), synth("polygon", 2, vec![])],
        RoutingStrategy::First,
    )
    .unwrap();
    assert_eq!(r.config().strategy, RoutingStrategy::First);
    assert_eq!(r.symbols(), ["AAPL".to_string()]);
}

#[test]
fn a_healthy_primary_is_delivered_and_the_backup_is_never_polled() {
    let mut run = pair(vec![]);
    run.polls(10);
    assert_eq!(run.got.len(), 320);
    assert!(run.got.iter().all(|t| t.source == PRIMARY && !flagged(t)));
    assert!(run.switches().is_empty());
    let s = run.router.stats();
    assert_eq!(s.source("backup").unwrap().produced, 0, "standby polled");
    assert_eq!(s.source("primary").unwrap().delivered, 320);
    assert_eq!(s.active.as_deref(), Some("primary"));
}

#[test]
fn an_error_fails_over_within_the_same_poll_and_flags_the_first_fallback_tick() {
    let mut run = pair(vec![fault(64, FaultKind::Error)]);
    run.polls(2);
    assert_eq!(run.poll(), SourcePoll::Ready(32));
    assert_eq!(run.last_sources(), [BACKUP]);
    assert!(flagged(&run.last[0]));
    assert!(!run.last[1..].iter().any(flagged));
    let sw = run.switches();
    assert_eq!(sw.len(), 1);
    assert_eq!(
        route(&sw[0]),
        ("primary".into(), "backup".into(), SwitchReason::Error)
    );
    assert_eq!(sw[0].at_ns, T0);
    run.poll();
    assert!(
        !run.last.iter().any(flagged),
        "only the first tick after a switch is flagged"
    );
}

#[test]
fn a_disconnect_fails_over_with_reason_disconnected() {
    let mut run = pair(vec![fault(
        32,
        FaultKind::Disconnect(Duration::from_secs(1)),
    )]);
    run.polls(2);
    assert_eq!(run.last_sources(), [BACKUP]);
    assert_eq!(run.reasons(), [SwitchReason::Disconnected]);
}

#[test]
fn a_stall_fails_over_on_the_first_poll_at_the_staleness_bound_not_before() {
    let bound = Duration::from_millis(10);
    let mut run = Run::new(
        vec![
            synth_stale(
                "primary",
                PRIMARY,
                vec![fault(64, FaultKind::Stall(Duration::from_secs(1)))],
                bound,
            ),
            synth("backup", BACKUP, vec![]),
        ],
        cfg(),
        32,
    );
    run.polls(2); // 64 ticks at T0: the primary's last data is at T0
    assert_eq!(run.poll(), SourcePoll::Pending); // stalled
    run.advance_ns(10 * MS - 1);
    assert_eq!(run.poll(), SourcePoll::Pending, "switched before the bound");
    assert!(run.switches().is_empty());
    run.advance_ns(1);
    assert_eq!(
        run.poll(),
        SourcePoll::Ready(32),
        "no switch on the first poll at the bound"
    );
    assert_eq!(run.last_sources(), [BACKUP]);
    run.assert_switch(0, ("primary", "backup", SwitchReason::Stale), T0 + 10 * MS);
}

#[test]
fn a_source_without_a_declared_bound_goes_stale_after_the_default_staleness() {
    let mut run = pair(vec![fault(32, FaultKind::Stall(Duration::from_secs(1)))]);
    run.polls(2);
    run.advance_ns(10 * MS - 1);
    run.poll();
    assert!(run.switches().is_empty());
    run.advance_ns(1);
    run.poll();
    assert_eq!(run.reasons(), [SwitchReason::Stale]);
}

#[test]
fn a_breaker_opened_from_outside_fails_over_at_the_next_poll() {
    let mut run = pair(vec![]);
    run.poll();
    let breaker = run.router.breaker("primary").unwrap();
    for _ in 0..3 {
        breaker.record_failure();
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    run.poll();
    assert_eq!(run.last_sources(), [BACKUP]);
    assert_eq!(run.reasons(), [SwitchReason::BreakerOpen]);
}

#[test]
fn regression_router_never_failed_back_now_fails_back_after_the_hold_down() {
    let mut run = pair(vec![fault(64, FaultKind::Error)]);
    run.polls(3); // the third poll fails over at T0
                  // Within the hold-down (2 s), the recovered primary is not taken back.
    for _ in 0..19 {
        run.advance_ns(100 * MS);
        run.poll();
        assert_eq!(
            run.last_sources(),
            [BACKUP],
            "failed back inside the hold-down"
        );
    }
    run.advance_ns(100 * MS); // T0 + 2 s: hold-down over, probe due
    run.poll();
    assert_eq!(run.last_sources(), [PRIMARY]);
    assert!(flagged(&run.last[0]));
    assert_eq!(
        run.last[0].seq, 65,
        "the primary continues where it was, not from scratch"
    );
    run.assert_switch(
        1,
        ("backup", "primary", SwitchReason::FailBack),
        T0 + 2 * SEC,
    );
}

#[test]
fn fail_back_waits_for_the_breaker_timeout_and_probes_half_open() {
    let mut run = pair(vec![]);
    run.poll();
    let breaker = run.router.breaker("primary").unwrap();
    for _ in 0..3 {
        breaker.record_failure(); // opens at T0 for 5 s
    }
    run.poll();
    assert_eq!(run.last_sources(), [BACKUP]);
    // Hold-down (2 s) ends first, but the breaker is still OPEN until T0 + 5 s.
    for _ in 0..49 {
        run.advance_ns(100 * MS);
        run.poll();
        assert_eq!(run.last_sources(), [BACKUP]);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    run.advance_ns(100 * MS); // T0 + 5 s: HALF_OPEN, one probe
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    run.poll();
    assert_eq!(run.last_sources(), [PRIMARY]);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the probe's success closes it"
    );
    assert_eq!(
        run.reasons(),
        [SwitchReason::BreakerOpen, SwitchReason::FailBack]
    );
}

#[test]
fn regression_fallback_restarted_from_scratch_now_continues_where_it_was() {
    // primary: error at 64 → backup; fail back at 2 s; error at 160 → backup again.
    let mut run = pair(vec![
        fault(64, FaultKind::Error),
        fault(160, FaultKind::Error),
    ]);
    let mut t = 0;
    while run.router.stats().switches_total < 3 && t < 100 {
        run.poll();
        run.advance_ns(100 * MS);
        t += 1;
    }
    run.polls(3);
    assert_eq!(
        run.reasons(),
        [
            SwitchReason::Error,
            SwitchReason::FailBack,
            SwitchReason::Error
        ]
    );
    // Nothing delivered twice, nothing skipped, per source: neither stream was restarted.
    assert_each_source_in_order(&run.got, true);
    assert_switches_flagged(&run.got, 3);
    let s = run.router.stats();
    for src in &s.sources {
        assert_eq!(
            src.delivered, src.produced,
            "{}: polled but not delivered",
            src.name
        );
    }
}

#[test]
fn regression_breakers_ignored_now_a_dead_primary_is_probed_only_until_its_breaker_opens() {
    // The primary fails for good (a retryable error on every poll) after 32 ticks.
    let mut run = pair(vec![fault(32, FaultKind::Fail)]);
    for _ in 0..300 {
        run.poll(); // 30 s, a poll every 100 ms
        run.advance_ns(100 * MS);
    }
    let s = run.router.stats();
    let p = s.source("primary").unwrap();
    // 1 failure at the switch, then probes every hold-down (2 s) until 3 failures open the
    // breaker for 5 s; then one HALF_OPEN probe per timeout, each failing and re-opening it.
    assert!(p.errors <= 3 + 30 / 5, "primary probed {} times", p.errors);
    assert!(p.errors >= 3);
    assert_eq!(s.switches_total, 1, "no flapping");
    assert_eq!(s.active.as_deref(), Some("backup"));
}

#[test]
fn a_probe_that_finds_the_primary_still_down_keeps_the_backup() {
    // Down 3 s: the probes from 2 s find it still disconnected (Pending) — no switch; the
    // first probe after it comes back switches.
    let mut run = pair(vec![fault(
        32,
        FaultKind::Disconnect(Duration::from_secs(3)),
    )]);
    run.poll();
    run.poll(); // fails over at T0
    let mut back_at = None;
    for i in 1..=40 {
        run.advance_ns(100 * MS);
        run.poll();
        if back_at.is_none() && run.last_sources() == [PRIMARY] {
            back_at = Some(i);
        }
    }
    assert_eq!(
        back_at,
        Some(30),
        "fail-back at T0 + 3 s, when the primary is back"
    );
    assert_eq!(
        run.reasons(),
        [SwitchReason::Disconnected, SwitchReason::FailBack]
    );
    assert_each_source_in_order(&run.got, true);
}

#[test]
fn ended_sources_fail_over_and_the_router_ends_with_the_last_one() {
    use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
    use market_data_pipeline::SymbolTable;
    use std::sync::Arc;
    let finite = |name: &str, id: u16, n: u64| -> Box<dyn TickSource> {
        let c = SyntheticConfig {
            name: name.into(),
            source_id: id,
            max_ticks: Some(n),
            ..SyntheticConfig::new(&["AAPL"])
        };
        Box::new(SyntheticSource::new(c, Arc::new(SymbolTable::new())).unwrap())
    };
    let mut run = Run::new(vec![finite("a", 1, 64), finite("b", 2, 32)], cfg(), 32);
    let mut polls = 0;
    while run.poll() != SourcePoll::Ended && polls < 10 {
        polls += 1;
    }
    assert_eq!(run.got.len(), 96);
    assert_eq!(run.reasons(), [SwitchReason::Ended, SwitchReason::Ended]);
    assert_eq!(
        run.router.status(),
        market_data_pipeline::SourceStatus::Ended
    );
}

#[test]
fn with_every_source_down_the_router_is_pending_and_takes_back_the_first_to_recover() {
    let down = |s| fault(32, FaultKind::Disconnect(Duration::from_secs(s)));
    let mut run = Run::new(
        vec![synth("a", 1, vec![down(4)]), synth("b", 2, vec![down(1)])],
        cfg(),
        32,
    );
    run.poll(); // a: 32 ticks
    assert_eq!(run.poll(), SourcePoll::Ready(32)); // a disconnects → b (produces 32 ticks)
    assert_eq!(run.poll(), SourcePoll::Pending); // b disconnects, a in hold-down and down
    let mut back = None;
    for i in 1..=20 {
        run.advance_ns(100 * MS);
        if run.poll() != SourcePoll::Pending && back.is_none() {
            back = Some(i);
        }
    }
    assert_eq!(back, Some(10), "b is back after 1 s");
    assert_eq!(run.last_sources(), [2]);
    let sw = run.switches();
    assert_eq!(
        route(&sw[1]),
        ("b".into(), "-".into(), SwitchReason::Disconnected)
    );
    assert_eq!(
        route(&sw[2]),
        ("-".into(), "b".into(), SwitchReason::FailBack)
    );
}

/// The per-source `delivered` counters the control plane reports, their sum, and the router's
/// own `delivered`.
fn per_source_sum(stats: &market_data_pipeline::router::RouterStats) -> (u64, Vec<(String, u64)>) {
    let each: Vec<(String, u64)> = stats
        .sources
        .iter()
        .map(|s| (s.name.to_string(), s.delivered))
        .collect();
    (each.iter().map(|(_, d)| d).sum(), each)
}

#[test]
fn regression_per_source_delivered_counts_sum_to_a_stopped_pipelines_delivered() {
    // Was: the control plane's stats are published every `stats_interval` and on a switch, not
    // when the pipeline stops: with the clock standing still, the backup's count stayed at what
    // the switch published (the Redis router test read 4,608 of 5,000).
    const PRIMARY_TICKS: u64 = 1_000;
    let clock = market_data_pipeline::ManualClock::shared(T0);
    let sources = vec![
        synth(
            "primary",
            PRIMARY,
            vec![fault(PRIMARY_TICKS, FaultKind::Fail)],
        ),
        synth("backup", BACKUP, vec![]),
    ];
    let router = SourceRouter::with_config(sources, cfg(), clock.clone()).unwrap();
    let control = router.control();
    let handle = market_data_pipeline::StreamingPipeline::builder()
        .boxed_source(Box::new(router))
        .sink(market_data_pipeline::sink::NullSink::new())
        .clock(clock)
        .build()
        .unwrap()
        .start()
        .unwrap();
    // Bounded wait (wall clock only bounds the loop; nothing is judged by it).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while handle.stats().delivered < 5 * PRIMARY_TICKS && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = handle.stop_and_join();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.stats.delivered >= 5 * PRIMARY_TICKS, "{report:?}");
    assert_eq!(
        report.stats.delivered, report.stats.produced,
        "nothing lost"
    );

    let stats = control.stats();
    let (sum, each) = per_source_sum(&stats);
    assert_eq!(stats.switches_total, 1, "{stats:?}");
    assert_eq!(each[0], ("primary".to_string(), PRIMARY_TICKS));
    assert_eq!(sum, report.stats.delivered, "per source {each:?}");
    assert_eq!(stats.delivered, report.stats.delivered);
}

#[test]
fn regression_per_source_delivered_counts_are_published_when_a_tick_stream_is_dropped() {
    // Was: a stream left before its end (`take`) never polled the router again, so its last
    // chunks were never published.
    let clock = market_data_pipeline::ManualClock::shared(T0);
    let sources = vec![
        synth("primary", PRIMARY, vec![fault(1_000, FaultKind::Fail)]),
        synth("backup", BACKUP, vec![]),
    ];
    let router = SourceRouter::with_config(sources, cfg(), clock.clone()).unwrap();
    let control = router.control();
    let taken = router.tick_stream(clock).take(6_000).count();
    assert_eq!(taken, 6_000);
    let stats = control.stats();
    let (sum, each) = per_source_sum(&stats);
    assert_eq!(each[0], ("primary".to_string(), 1_000));
    // The stream reads whole chunks: the router delivered what it took, maybe a part-chunk more.
    assert!(stats.delivered >= 6_000, "{stats:?}");
    assert_eq!(sum, stats.delivered, "per source {each:?}");
}
