//! `RoundRobin`, `Fastest` and `Arbitrate`, scenario by scenario with a manual clock.

mod router_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::clock::SharedClock;
use market_data_pipeline::exec::Task;
use market_data_pipeline::fanout::FanoutHub;
use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter, SwitchReason};
use market_data_pipeline::source::{FaultKind, SourcePoll};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{ManualClock, Tick, TickSource};
use router_support::*;

fn cfg(strategy: RoutingStrategy) -> RouterConfig {
    RouterConfig {
        hold_down: Duration::from_secs(1),
        default_staleness: Duration::from_millis(50),
        breaker_threshold: 3,
        breaker_timeout: Duration::from_secs(5),
        round_robin_chunks: 2,
        probe_interval: Duration::from_millis(100),
        ..RouterConfig::new(strategy)
    }
}

// ---------------------------------------------------------------- RoundRobin

/// Sources a (1), b (2, with `b_faults`), c (3); two 8-tick chunks per turn.
fn round_robin(b_faults: Vec<market_data_pipeline::source::Fault>) -> Run {
    let sources = vec![
        synth("a", 1, vec![]),
        synth("b", 2, b_faults),
        synth("c", 3, vec![]),
    ];
    Run::new(sources, cfg(RoutingStrategy::RoundRobin), 8)
}

/// The source ids delivered by each of `n` polls.
fn sources_of_polls(run: &mut Run, n: usize) -> Vec<u16> {
    let mut order = Vec::new();
    for _ in 0..n {
        run.poll();
        order.extend(run.last_sources());
    }
    order
}

#[test]
fn round_robin_rotates_every_n_chunks_and_each_source_continues_where_it_was() {
    let mut run = round_robin(vec![]);
    let order = sources_of_polls(&mut run, 12);
    assert_eq!(order, [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    assert_eq!(run.reasons(), [SwitchReason::RoundRobin; 5]);
    assert_each_source_in_order(&run.got, true);
    assert_switches_flagged(&run.got, 5);
    let s = run.router.stats();
    assert_eq!(
        s.sources.iter().map(|x| x.selected).collect::<Vec<_>>(),
        [2, 2, 2]
    );
}

#[test]
fn round_robin_skips_a_failing_source_until_its_hold_down_ends() {
    let mut run = round_robin(vec![fault(0, FaultKind::Error)]);
    let order = sources_of_polls(&mut run, 8);
    // b errors when its turn comes; c takes over in the same poll; b is skipped next round.
    assert_eq!(order, [1, 1, 3, 3, 1, 1, 3, 3]);
    assert_eq!(
        run.reasons()[..3],
        [
            SwitchReason::RoundRobin,
            SwitchReason::Error,
            SwitchReason::RoundRobin
        ]
    );
    run.advance_ns(SEC); // hold-down over: b (its one error behind it) rejoins the rotation
    run.polls(6);
    assert!(run.got[run.got.len() - 48..].iter().any(|t| t.source == 2));
    assert_each_source_in_order(&run.got, true);
}

// ---------------------------------------------------------------- Fastest

struct Lags {
    a: Arc<AtomicU64>,
    b: Arc<AtomicU64>,
}

fn fastest_pair(a_ns: u64, b_ns: u64) -> (Run, Lags) {
    let lags = Lags {
        a: Arc::new(AtomicU64::new(a_ns)),
        b: Arc::new(AtomicU64::new(b_ns)),
    };
    let a = SeqFeed::all("a", 1, 1_000_000, 16).lag(lags.a.clone());
    let b = SeqFeed::all("b", 2, 1_000_000, 16).lag(lags.b.clone());
    let run = Run::new(
        vec![Box::new(a), Box::new(b)],
        cfg(RoutingStrategy::Fastest),
        64,
    );
    (run, lags)
}

/// Poll every 100 ms for `secs` seconds.
fn run_for(run: &mut Run, tenths: u32) {
    for _ in 0..tenths {
        run.advance_ns(100 * MS);
        run.poll();
    }
}

#[test]
fn fastest_moves_to_a_faster_standby_after_the_hold_down() {
    let (mut run, _lags) = fastest_pair(5 * MS, MS);
    run.poll();
    assert_eq!(run.last_sources(), [1], "no estimate yet: priority order");
    run_for(&mut run, 9);
    assert_eq!(run.last_sources(), [1], "switched inside the hold-down");
    run_for(&mut run, 1);
    assert_eq!(run.last_sources(), [2]);
    assert_eq!(run.reasons(), [SwitchReason::Faster]);
    assert!(run.last[0].flags & flags::FIRST_AFTER_SWITCH != 0);
    let s = run.router.stats();
    assert_eq!(s.source("a").unwrap().latency_ns, Some(5 * MS));
    assert_eq!(s.source("b").unwrap().latency_ns, Some(MS));
}

#[test]
fn fastest_hysteresis_ignores_a_standby_that_is_only_slightly_faster() {
    let (mut run, lags) = fastest_pair(5 * MS, 4_500_000); // 10 % faster, hysteresis 20 %
    run_for(&mut run, 50);
    assert!(run.switches().is_empty());
    lags.b.store(3 * MS, Ordering::Relaxed); // now 40 % faster
    run_for(&mut run, 30);
    assert_eq!(run.reasons(), [SwitchReason::Faster]);
    assert_eq!(run.router.active_name(), Some("b"));
}

#[test]
fn fastest_counts_the_standby_samples_it_discards() {
    let (mut run, _lags) = fastest_pair(MS, 5 * MS);
    run_for(&mut run, 20);
    let s = run.router.stats();
    let b = s.source("b").unwrap();
    assert!(b.discarded > 0);
    for x in &s.sources {
        assert_eq!(x.delivered + x.discarded, x.produced, "{}", x.name);
    }
    // What was delivered of each source is in order and never twice.
    assert_each_source_in_order(&run.got, false);
}

// ---------------------------------------------------------------- Arbitrate

/// Tiny deterministic RNG (splitmix64) for fault and loss schedules.
fn rng(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn arbitrate(sources: Vec<Box<dyn TickSource>>, chunk: usize) -> Run {
    Run::new(sources, cfg(RoutingStrategy::Arbitrate), chunk)
}

fn drain(run: &mut Run, max_polls: usize) {
    for _ in 0..max_polls {
        if run.poll() == SourcePoll::Ended {
            return;
        }
        run.advance_ns(MS);
    }
    panic!("not ended after {max_polls} polls");
}

#[test]
fn arbitrate_over_two_feeds_each_missing_5_percent_delivers_every_tick_one_of_them_carried() {
    const N: u32 = 100_000;
    let mut seed = 7;
    let mut a = Vec::new();
    let mut b = Vec::new();
    for s in 1..=N {
        if rng(&mut seed) % 100 >= 5 {
            a.push(s);
        }
        if rng(&mut seed) % 100 >= 5 {
            b.push(s);
        }
    }
    let sa: BTreeSet<u32> = a.iter().copied().collect();
    let sb: BTreeSet<u32> = b.iter().copied().collect();
    let union: BTreeSet<u32> = sa.union(&sb).copied().collect();
    let (lo, hi) = (*union.first().unwrap(), *union.last().unwrap());
    let both_missed = (lo..=hi).filter(|s| !union.contains(s)).count() as u64;
    assert!(
        both_missed > 100,
        "the schedule should have gaps ({both_missed})"
    );
    // The feeds run up to 40 seqs apart (jittered release patterns).
    let fa = SeqFeed::new("a", 1, a.clone(), 0).pattern(vec![30, 70, 50]);
    let fb = SeqFeed::new("b", 2, b.clone(), 0).pattern(vec![70, 30, 50]);
    let mut run = arbitrate(vec![Box::new(fa), Box::new(fb)], 1024);
    drain(&mut run, 10_000);

    let mut seen = BTreeSet::new();
    for t in &run.got {
        assert!(seen.insert(t.seq), "seq {} delivered twice", t.seq);
    }
    assert_eq!(seen, union, "delivered ≠ what at least one feed carried");
    let s = run.router.stats();
    assert_eq!(
        s.gaps, both_missed,
        "gaps are exactly the seqs both feeds missed"
    );
    assert_eq!(
        s.duplicates + s.late,
        (a.len() + b.len() - union.len()) as u64
    );
    assert_eq!(s.late, 0, "feeds 40 apart never fall out of a 1024 window");
    let flagged = run
        .got
        .iter()
        .filter(|t| t.flags & flags::GAP_BEFORE != 0)
        .count() as u64;
    assert!(flagged > 0 && flagged <= both_missed);
}

#[test]
fn arbitrate_over_identical_feeds_suppresses_every_duplicate() {
    let fa = SeqFeed::all("a", 1, 10_000, 64);
    let fb = SeqFeed::all("b", 2, 10_000, 64);
    let mut run = arbitrate(vec![Box::new(fa), Box::new(fb)], 256);
    drain(&mut run, 1_000);
    assert_eq!(run.got.len(), 10_000);
    let s = run.router.stats();
    assert_eq!((s.duplicates, s.gaps, s.late), (10_000, 0, 0));
    // Ties rotate: both feeds win some.
    assert!(s.sources.iter().all(|x| x.delivered > 0));
}

#[test]
fn arbitrate_drops_a_silent_feed_from_the_hot_set_and_takes_it_back_when_it_speaks() {
    // b carries seqs 1..=100 only, then nothing until it "reconnects" with 2001.. .
    let fa = SeqFeed::all("a", 1, 20_000, 10);
    let mut bs: Vec<u32> = (1..=100).collect();
    bs.extend(2_001..=20_000);
    let fb = SeqFeed::new("b", 2, bs, 10);
    let mut run = arbitrate(vec![Box::new(fa), Box::new(fb)], 256);
    drain(&mut run, 3_000);
    let sw = run.switches();
    assert_eq!(route(&sw[0]), ("b".into(), "-".into(), SwitchReason::Stale));
    assert_eq!(
        route(&sw[1]),
        ("-".into(), "b".into(), SwitchReason::FailBack)
    );
    // Stale after 50 ms of silence; polled again after its hold-down (1 s) and back in the
    // hot set when it speaks (its release position only moves while it is polled: 140 polls).
    assert_eq!(sw[0].at_ns, T0 + 59 * MS); // last tick at T0 + 9 ms
    assert_eq!(sw[1].at_ns, T0 + 1_199 * MS);
    assert_eq!(run.got.len(), 20_000);
    assert_eq!(run.router.stats().gaps, 0);
}

#[test]
fn regression_every_strategy_publishes_per_source_counts_that_sum_to_what_it_delivered() {
    // Was: the control plane's stats were published every `stats_interval` and on a switch;
    // a stream left before its end (the clock standing still) never published its last
    // chunks.
    for strategy in [
        RoutingStrategy::RoundRobin,
        RoutingStrategy::Fastest,
        RoutingStrategy::Arbitrate,
    ] {
        let clock = market_data_pipeline::ManualClock::shared(T0);
        // Feed a carries seqs 1..=1000 and ends (a switch, or leaving the hot set); b all.
        let sources: Vec<Box<dyn TickSource>> = vec![
            Box::new(SeqFeed::all("a", 1, 1_000, 64)),
            Box::new(SeqFeed::all("b", 2, 5_000, 64)),
        ];
        let router =
            market_data_pipeline::SourceRouter::with_config(sources, cfg(strategy), clock.clone())
                .unwrap();
        let control = router.control();
        let taken = router.tick_stream(clock).take(2_000).count();
        assert_eq!(taken, 2_000, "{strategy:?}");
        let stats = control.stats();
        let per_source: u64 = stats.sources.iter().map(|s| s.delivered).sum();
        assert!(stats.switches_total > 0, "{strategy:?}: {stats:?}");
        assert!(stats.delivered >= 2_000, "{strategy:?}: {stats:?}");
        assert_eq!(per_source, stats.delivered, "{strategy:?}: {stats:?}");
    }
}

/// `Arbitrate` over two fan-out subscribers, whose hubs are stepped here (feed b's only while
/// `b_speaks(poll)`), one poll a millisecond: the router and its clock, and the hubs (kept
/// alive: a dropped hub ends its subscribers).
fn arbitrate_over_subscribers(polls: u64, b_speaks: impl Fn(u64) -> bool) -> (Run, Vec<FanoutHub>) {
    let clock = ManualClock::shared(T0);
    let (mut hubs, subs) = hubbed_feeds(&(clock.clone() as SharedClock), 1);
    let mut router =
        SourceRouter::with_config(subs, cfg(RoutingStrategy::Arbitrate), clock.clone()).unwrap();
    router.start(T0).unwrap();
    let mut run = Run {
        clock,
        router,
        got: Vec::new(),
        buf: vec![Tick::default(); 64],
        last: Vec::new(),
    };
    for k in 0..polls {
        run.advance_ns(MS);
        hubs[0].step();
        if b_speaks(k) {
            hubs[1].step();
        }
        run.poll();
    }
    (run, hubs)
}

#[test]
fn arbitrate_judges_an_empty_subscriber_feed_stale_from_its_empty_ring() {
    // b's hub produces for the first 10 polls (its last tick read at T0 + 10 ms), then stops:
    // its ring stays empty, the router skips its poll, and judges it stale 50 ms later.
    let (run, _hubs) = arbitrate_over_subscribers(100, |k| k < 10);
    let sw = run.switches();
    assert_eq!(sw.len(), 1, "{sw:?}");
    assert_eq!(route(&sw[0]), ("b".into(), "-".into(), SwitchReason::Stale));
    assert_eq!(sw[0].at_ns, T0 + 60 * MS);
    assert_eq!(run.got.len(), 100, "feed a carries the stream alone");
    let s = run.router.stats();
    assert_eq!((s.gaps, s.late), (0, 0));
    // Every tick read is delivered or discarded: b's 10 were duplicates or won ties.
    let b = &s.sources[1];
    assert_eq!(b.delivered + b.discarded, 10);
    assert_eq!(s.sources[0].delivered + s.sources[0].discarded, 100);
}

#[test]
fn arbitrate_does_not_judge_an_empty_feed_with_an_open_breaker() {
    // b goes silent after 10 polls and its breaker is opened from outside at once: an empty
    // feed that is not usable is not judged (as a poll it would not have had): no `Stale`
    // while the breaker is open (5 s), then `Stale` at the first poll it is HALF_OPEN.
    let clock_at_open = T0 + 10 * MS;
    let (mut run, mut hubs) = arbitrate_over_subscribers(10, |_| true);
    let breaker = run.router.breaker("b").unwrap();
    for _ in 0..3 {
        breaker.record_failure_at(clock_at_open);
    }
    for _ in 0..5_100 {
        run.advance_ns(MS);
        hubs[0].step();
        run.poll();
    }
    let sw = run.switches();
    assert_eq!(sw.len(), 1, "{sw:?}");
    assert_eq!(route(&sw[0]), ("b".into(), "-".into(), SwitchReason::Stale));
    assert_eq!(sw[0].at_ns, clock_at_open + 5 * SEC);
}
