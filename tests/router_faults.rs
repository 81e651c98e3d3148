//! Generated fault schedules: 10 000 seeded schedules (100 polls each) of errors, stalls, disconnects and
//! permanent failures on 2–3 sequenced sources, for each single-active strategy, plus 1 000
//! schedules of lossy hot-hot feeds for `Arbitrate`. Manual clock, bounded loops.
//!
//! Properties checked on every schedule:
//! 1. nothing is delivered twice (per source, by `seq`), and each source's ticks come in order;
//! 2. losses only where the strategy declares them: `First` and `RoundRobin` deliver every
//!    tick they poll (each source's delivered seqs are 1, 2, 3, … with no hole), `Fastest`
//!    delivers or counts as discarded every tick a source produced; `Arbitrate` delivers
//!    every seq at least one feed carried and reports exactly the others as gaps;
//! 3. every switch is recorded: records chain (`from` of one is `to` of the previous), the
//!    last one names the active source, and every change of source in the delivered stream
//!    carries `FIRST_AFTER_SWITCH`.
//!
//! A failure prints the seed; rerun one with `ROUTER_SEED=<seed>`.

mod router_support;

use std::collections::BTreeSet;
use std::time::Duration;

use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{Fault, FaultKind, SourcePoll};
use market_data_pipeline::{ManualClock, Tick, TickSource};
use router_support::*;

const SCHEDULES: u64 = 10_000;
const ARBITRATE_SCHEDULES: u64 = 1_000;
/// Polls per schedule (0–20 ms apart: up to 2 s of faults, hold-downs and breaker timeouts).
const POLLS: usize = 100;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

fn faults(rng: &mut Rng) -> Vec<Fault> {
    let mut at = 0;
    (0..rng.below(5))
        .map(|_| {
            at += 1 + rng.below(200);
            let kind = match rng.below(10) {
                0..=3 => FaultKind::Error,
                4..=5 => FaultKind::Stall(rng.ms(1, 200)),
                6..=8 => FaultKind::Disconnect(rng.ms(1, 500)),
                _ => FaultKind::Fail,
            };
            fault(at, kind)
        })
        .collect()
}

fn config(rng: &mut Rng, strategy: RoutingStrategy) -> RouterConfig {
    RouterConfig {
        hold_down: rng.ms(10, 500),
        default_staleness: rng.ms(5, 50),
        breaker_threshold: 1 + rng.below(4) as u32,
        breaker_timeout: rng.ms(50, 1_000),
        round_robin_chunks: 1 + rng.below(4) as u32,
        probe_interval: rng.ms(5, 100),
        switch_history: 4_096,
        stats_interval: Duration::from_secs(1),
        ..RouterConfig::new(strategy)
    }
}

struct Outcome {
    got: Vec<Tick>,
    router: SourceRouter,
}

fn run_schedule(seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let strategy = [
        RoutingStrategy::First,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::Fastest,
    ][rng.below(3) as usize];
    let n = 2 + rng.below(2) as u16;
    let sources: Vec<Box<dyn TickSource>> = (1..=n)
        .map(|id| {
            let f = faults(&mut rng);
            let name = format!("s{id}");
            if rng.below(2) == 0 {
                synth(&name, id, f)
            } else {
                synth_stale(&name, id, f, rng.ms(5, 100))
            }
        })
        .collect();
    let cfg = config(&mut rng, strategy);
    let clock = ManualClock::shared(T0);
    let mut router = SourceRouter::with_config(sources, cfg, clock.clone()).unwrap();
    router.start(T0).unwrap();
    let mut buf = vec![Tick::default(); [4, 8, 16][rng.below(3) as usize]];
    let mut got = Vec::new();
    for _ in 0..POLLS {
        clock.advance_ns(rng.below(20 * MS));
        let now = market_data_pipeline::Clock::now_ns(&*clock);
        match router.poll(now, &mut buf).unwrap() {
            SourcePoll::Ready(k) => got.extend_from_slice(&buf[..k]),
            SourcePoll::Ended => break,
            SourcePoll::Pending => {}
        }
    }
    Outcome { got, router }
}

/// Check one schedule; returns (switches, ticks delivered).
fn check(seed: u64) -> (u64, u64) {
    let Outcome { got, router } = run_schedule(seed);
    let stats = router.stats();
    let strategy = stats.strategy;
    let lossless = strategy != RoutingStrategy::Fastest;
    let ctx = || format!("seed {seed} ({strategy})");
    // 1 + 2: per source, in order, nothing twice; no hole unless the strategy declares it.
    let r = std::panic::catch_unwind(|| assert_each_source_in_order(&got, lossless));
    assert!(r.is_ok(), "{}", ctx());
    for s in &stats.sources {
        assert_eq!(
            s.delivered + s.discarded,
            s.produced,
            "{}: {} unaccounted",
            ctx(),
            s.name
        );
        if lossless {
            assert_eq!(s.discarded, 0, "{}: {} discarded", ctx(), s.name);
        }
    }
    assert_eq!(stats.delivered, got.len() as u64, "{}", ctx());
    // 3: every switch recorded and chained; every change of source flagged.
    assert_eq!(
        stats.switches.len() as u64,
        stats.switches_total,
        "{}",
        ctx()
    );
    let mut current = stats.switches.first().and_then(|r| r.from.clone());
    let mut t = 0;
    for (i, r) in stats.switches.iter().enumerate() {
        assert_eq!(r.from, current, "{}: record {i} does not chain", ctx());
        assert!(r.at_ns >= t, "{}: record {i} goes back in time", ctx());
        assert_ne!(r.from, r.to, "{}: record {i} switches to itself", ctx());
        current = r.to.clone();
        t = r.at_ns;
    }
    if !stats.switches.is_empty() {
        assert_eq!(
            current,
            stats.active,
            "{}: last record is not the active source",
            ctx()
        );
    }
    let r = std::panic::catch_unwind(|| assert_switches_flagged(&got, stats.switches_total));
    assert!(r.is_ok(), "{}", ctx());
    (stats.switches_total, got.len() as u64)
}

#[test]
fn generated_fault_schedules_lose_nothing_undeclared_and_record_every_switch() {
    if let Ok(seed) = std::env::var("ROUTER_SEED") {
        let _ = check(seed.parse().unwrap());
        return;
    }
    // Two halves on two threads (the build machines have two cores).
    let half = |range: std::ops::Range<u64>| {
        move || {
            range
                .map(check)
                .fold((0, 0), |(a, b), (n, k)| (a + n, b + k))
        }
    };
    let (s1, d1, s2, d2) = std::thread::scope(|s| {
        let h = s.spawn(half(0..SCHEDULES / 2));
        let (s2, d2) = half(SCHEDULES / 2..SCHEDULES)();
        let (s1, d1) = h.join().unwrap();
        (s1, d1, s2, d2)
    });
    let (switches, delivered) = (s1 + s2, d1 + d2);
    // The schedules do exercise failover (not 10 000 quiet runs).
    assert!(
        switches > SCHEDULES,
        "only {switches} switches in {SCHEDULES} schedules"
    );
    assert!(delivered > SCHEDULES * 500);
}

/// `Arbitrate` over 2–3 feeds of one stream, each missing 0–20 % of it, with jittered
/// release patterns (rotations of one pattern: same mean rate, feeds up to ~120 seqs apart,
/// well inside the window).
fn check_arbitrate(seed: u64) {
    let mut rng = Rng(seed ^ 0xa5a5);
    const N: u32 = 1_000;
    let feeds = 2 + rng.below(2);
    let mut carried: Vec<Vec<u32>> = Vec::new();
    for _ in 0..feeds {
        let loss = rng.below(21);
        carried.push((1..=N).filter(|_| rng.below(100) >= loss).collect());
    }
    let union: BTreeSet<u32> = carried.iter().flatten().copied().collect();
    let base: Vec<u32> = (0..3).map(|_| 10 + rng.below(60) as u32).collect();
    let sources: Vec<Box<dyn TickSource>> = carried
        .iter()
        .enumerate()
        .map(|(i, seqs)| {
            let mut pattern = base.clone();
            pattern.rotate_left(i);
            let f = SeqFeed::new(&format!("f{i}"), i as u16, seqs.clone(), 0).pattern(pattern);
            Box::new(f) as Box<dyn TickSource>
        })
        .collect();
    let cfg = RouterConfig {
        hold_down: Duration::ZERO,
        ..RouterConfig::new(RoutingStrategy::Arbitrate)
    };
    let clock = ManualClock::shared(T0);
    let mut router = SourceRouter::with_config(sources, cfg, clock.clone()).unwrap();
    router.start(T0).unwrap();
    let mut buf = vec![Tick::default(); 512];
    let mut got = BTreeSet::new();
    let mut ended = false;
    for _ in 0..2_000 {
        clock.advance_ns(MS);
        match router.poll(T0 + 1, &mut buf).unwrap() {
            SourcePoll::Ready(k) => {
                for t in &buf[..k] {
                    assert!(got.insert(t.seq), "seed {seed}: seq {} twice", t.seq);
                }
            }
            SourcePoll::Ended => {
                ended = true;
                break;
            }
            SourcePoll::Pending => {}
        }
    }
    assert!(ended, "seed {seed}: did not end");
    assert_eq!(got, union, "seed {seed}");
    let (lo, hi) = (*union.first().unwrap(), *union.last().unwrap());
    let s = router.stats();
    assert_eq!(
        s.gaps,
        u64::from(hi - lo + 1) - union.len() as u64,
        "seed {seed}"
    );
    let total: usize = carried.iter().map(Vec::len).sum();
    assert_eq!(
        s.duplicates + s.late,
        (total - union.len()) as u64,
        "seed {seed}"
    );
}

#[test]
fn generated_lossy_hot_hot_feeds_are_arbitrated_exactly() {
    for seed in 0..ARBITRATE_SCHEDULES {
        check_arbitrate(seed);
    }
}

/// A source (of AAPL) whose every poll fails for good (a non-retryable error).
struct Broken {
    name: &'static str,
    symbols: Vec<String>,
}

fn broken(name: &'static str) -> Box<dyn TickSource> {
    Box::new(Broken {
        name,
        symbols: vec!["AAPL".to_string()],
    })
}

impl TickSource for Broken {
    fn name(&self) -> &str {
        self.name
    }
    fn start(&mut self, _now_ns: u64) -> Result<(), market_data_pipeline::SourceError> {
        Ok(())
    }
    fn poll(
        &mut self,
        _now_ns: u64,
        _out: &mut [Tick],
    ) -> Result<SourcePoll, market_data_pipeline::SourceError> {
        Err(market_data_pipeline::SourceError::Config {
            source_name: self.name.to_string(),
            error: market_data_pipeline::ConfigError::new(
                "feed.url",
                format!("{} is gone", self.name),
            ),
        })
    }
    fn close(&mut self) {}
    fn status(&self) -> market_data_pipeline::SourceStatus {
        market_data_pipeline::SourceStatus::Running
    }
    fn health(&self) -> market_data_pipeline::SourceHealth {
        market_data_pipeline::SourceHealth::default()
    }
    fn symbols(&self) -> &[String] {
        &self.symbols
    }
    fn capabilities(&self) -> market_data_pipeline::Capabilities {
        market_data_pipeline::Capabilities::default()
    }
}

#[test]
fn regression_a_router_whose_sources_all_failed_for_good_ended_as_if_complete() {
    // Was: `stream()` yielded nothing and no error; a pipeline over it reported Stopped.
    for strategy in [
        RoutingStrategy::First,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::Fastest,
    ] {
        let sources: Vec<Box<dyn TickSource>> = vec![broken("alpha"), broken("beta")];
        let clock = ManualClock::shared(T0);
        let router =
            SourceRouter::with_config(sources, RouterConfig::new(strategy), clock.clone()).unwrap();
        // The raw ticks: one error, then the end.
        let items: Vec<_> = router.tick_stream(clock).take(10).collect();
        assert_eq!(
            items.len(),
            1,
            "{strategy:?}: one error, then the end: {items:?}"
        );
        let e = items[0]
            .as_ref()
            .expect_err("all sources failed is an error");
        let text = e.to_string();
        assert!(!e.is_retryable(), "{strategy:?}");
        assert!(text.contains("all sources failed"), "{strategy:?}: {text}");
        assert!(
            text.contains("alpha: source alpha: invalid configuration: feed.url: alpha is gone"),
            "{strategy:?}: {text}"
        );
        assert!(text.contains("beta: source beta"), "{strategy:?}: {text}");

        // The seed's `router.stream()` of quotes ends holding that error.
        let sources: Vec<Box<dyn TickSource>> = vec![broken("alpha"), broken("beta")];
        let router = SourceRouter::with_config(
            sources,
            RouterConfig::new(strategy),
            ManualClock::shared(T0),
        )
        .unwrap();
        let mut quotes = router.stream();
        assert_eq!(quotes.by_ref().take(10).count(), 0, "{strategy:?}");
        let e = quotes.error().expect("the quote stream holds the error");
        assert!(e.to_string().contains("all sources failed"), "{e}");

        // A pipeline over such a router fails with that error (it reported Stopped, no error).
        let sources: Vec<Box<dyn TickSource>> = vec![broken("alpha"), broken("beta")];
        let clock = ManualClock::shared(T0);
        let router =
            SourceRouter::with_config(sources, RouterConfig::new(strategy), clock.clone()).unwrap();
        let report = market_data_pipeline::StreamingPipeline::builder()
            .boxed_source(Box::new(router))
            .clock(clock)
            .build()
            .unwrap()
            .start()
            .unwrap()
            .join();
        let e = report.error.expect("the pipeline failed");
        assert!(e.to_string().contains("all sources failed"), "{e}");
        assert_eq!(
            report.stats.state,
            market_data_pipeline::pipeline::PipelineState::Failed
        );
    }
}

#[test]
fn a_router_where_one_source_ended_and_the_others_failed_for_good_ends_normally() {
    let ended = synth_cfg_ended();
    let sources: Vec<Box<dyn TickSource>> = vec![broken("alpha"), ended];
    let clock = ManualClock::shared(T0);
    let router =
        SourceRouter::with_config(sources, RouterConfig::default(), clock.clone()).unwrap();
    let items: Vec<_> = router.tick_stream(clock).take(100).collect();
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(items.len(), 10, "the ended source's ticks, then the end");
}

/// A synthetic source that produces 10 ticks and ends.
fn synth_cfg_ended() -> Box<dyn TickSource> {
    use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
    use market_data_pipeline::SymbolTable;
    let cfg = SyntheticConfig {
        name: "gamma".into(),
        max_ticks: Some(10),
        ..SyntheticConfig::new(&["AAPL"])
    };
    Box::new(SyntheticSource::new(cfg, std::sync::Arc::new(SymbolTable::new())).unwrap())
}
