//! `Arbitrate` over two hot-hot feeds produced on two workers, end to end, against a single
//! bare rtrb ring hop, in the same run, with the same payload, pacing and sink-side work.
//!
//! - **Bare hop** (baseline): a producer thread pinned to core 0 polls the paced synthetic
//!   source (stamping `ts_recv` at the poll) into a chunk buffer and writes the chunk into a
//!   16,384-slot rtrb ring; a consumer pinned to core 1 reads chunks (up to 256 ticks) and
//!   does per chunk what the pipeline's sink stage does per batch
//!   (`benchkit::BaselineSink`: the counting sink's checksum, one clock read, `now − ts_recv`
//!   recorded per run of equal stamps, delivered and batch counters published). Both
//!   busy-spin.
//! - **Arbitrate**: a `WorkerSet` of two busy-spinning workers pinned to cores 0 and 1. Two
//!   identical synthetic sources (same seed, `shared_sequence`) each run as a feed
//!   (`fanout::spawn_feed`, `Block`) on worker 0 and worker 1; a `SourceRouter` with
//!   `Arbitrate` over the two rings is the source of a fused pipeline (router → passthrough →
//!   batcher → counting sink) on worker 1. Latency is the pipeline's own: `now − ts_recv` at
//!   the sink, `ts_recv` stamped when the winning feed polled its source.
//!
//! Both sides: `ARB_BENCH_TICKS` ticks (default 500,000) paced at `ARB_BENCH_RATE` ticks/s
//! (default 1,000,000; bursts of one 256-tick chunk). Each of `ARB_BENCH_RUNS` runs (default
//! 7) probes the core 0 ↔ core 1 hop (`benchkit::probe`), measures bare then arbitrate, and
//! probes again; once every run is probed, each is near, far or moved (the probes disagree)
//! at the split `probe::HopSplit` derives from the session's probes, or `single` when they
//! show one level (`ARB_BENCH_FAR_HOP_NS` gives the split instead). Prints each run's probes,
//! the load average (`/proc/loadavg`, 1 min) at its start, p50 and p99 of both and the ratio
//! arbitrate p50 ÷ bare p50 within the run, and the share of ticks the router delivered from
//! feed a (worker 0: the copies that crossed cores; feed b's are produced on the sink's own
//! worker), then the median ratio per placement. Every tick
//! must arrive exactly once on both sides or the bench fails.
//!
//! Run: `cargo bench --bench arbitrate`
//!
//! **Instruction counts** (`ARB_BENCH_MODE=instr`): one thread, a manual clock, no spinning, so
//! `valgrind --tool=callgrind` counts the same instructions whatever the load. Each round moves
//! one chunk of `ARB_BENCH_CHUNK` ticks (default 256; the paced latency runs see chunks of one
//! or two ticks, so 1 shows the per-poll cost): the bare side writes it into an rtrb ring and `bare_consume` reads it in
//! place into a `BaselineSink`; the arbitrate side steps both feeds' hubs (each pushes the
//! chunk into its subscriber ring) and `arb_consume` polls the router until it is `Pending`,
//! handing each poll's ticks to a `BaselineSink`. The consumer sides differ only by the ring
//! read against the router's poll; compare the inclusive counts of the two functions
//! (`callgrind_annotate --inclusive=yes`) divided by the ticks (`ARB_BENCH_TICKS`).

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use market_data_pipeline::benchkit::probe::{hop_ns, HopSplit, Regime};
use market_data_pipeline::benchkit::BaselineSink;
use market_data_pipeline::exec::Task;
use market_data_pipeline::exec::{TaskPlacement, WorkerSet, WorkerSetConfig};
use market_data_pipeline::fanout::FanoutHub;
use market_data_pipeline::fanout::{spawn_feed, HubConfig, SubscriberConfig};
use market_data_pipeline::pin::{pin_current, CoreChoice};
use market_data_pipeline::pipeline::stats::LatencySummary;
use market_data_pipeline::pipeline::{Placement, StreamingPipeline};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::router::{RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    Clock, CountingSink, HybridBatcher, IdleStrategy, ManualClock, MonotonicClock, Passthrough,
    SharedClock, SourcePoll, SymbolTable, Tick, TickSource,
};

const CHUNK: usize = 256;
const RING: usize = 16_384;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn source(name: &str, n: u64, rate: u64, table: &Arc<SymbolTable>) -> SyntheticSource {
    let cfg = SyntheticConfig {
        name: name.to_string(),
        // 0: unpaced (the instruction-count mode).
        rate: (rate > 0).then_some(rate),
        burst: CHUNK as u64,
        max_ticks: Some(n),
        shared_sequence: true,
        ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
    };
    SyntheticSource::new(cfg, Arc::clone(table)).expect("synthetic source")
}

/// One bare rtrb hop, core 0 → core 1.
fn bare(n: u64, rate: u64, clock: &SharedClock) -> LatencySummary {
    let (mut tx, mut rx) = rtrb::RingBuffer::<Tick>::new(RING);
    let table = Arc::new(SymbolTable::new());
    let mut src = source("bare", n, rate, &table);
    let pclock = clock.clone();
    let producer = thread::spawn(move || {
        let _ = pin_current(CoreChoice::Core(0));
        let mut buf = vec![Tick::default(); CHUNK];
        src.start(pclock.now_ns()).expect("start");
        loop {
            let free = tx.slots().min(CHUNK);
            if free == 0 {
                std::hint::spin_loop();
                continue;
            }
            match src.poll(pclock.now_ns(), &mut buf[..free]).expect("poll") {
                SourcePoll::Ready(k) => {
                    let chunk = tx.write_chunk_uninit(k).expect("free slots");
                    chunk.fill_from_iter(buf[..k].iter().copied());
                }
                SourcePoll::Pending => std::hint::spin_loop(),
                SourcePoll::Ended => break,
            }
        }
    });
    let cclock = clock.clone();
    let consumer = thread::spawn(move || {
        let _ = pin_current(CoreChoice::Core(1));
        let mut sink = BaselineSink::new();
        while sink.delivered() < n {
            let k = rx.slots().min(CHUNK);
            if k == 0 {
                std::hint::spin_loop();
                continue;
            }
            let chunk = rx.read_chunk(k).expect("slots");
            let (a, b) = chunk.as_slices();
            sink.deliver(&*cclock, a);
            sink.deliver(&*cclock, b);
            chunk.commit_all();
        }
        sink
    });
    producer.join().expect("producer");
    let sink = consumer.join().expect("consumer");
    assert_eq!(sink.counted(), n, "bare hop counted each tick once");
    LatencySummary::of(sink.histogram())
}

/// Arbitrate over two feeds on two workers, fused into a pipeline on worker 1: its latency and
/// the share of ticks delivered from feed a (worker 0, the copy that crossed cores).
fn arbitrate(n: u64, rate: u64, clock: &SharedClock) -> (LatencySummary, f64) {
    let set = WorkerSet::new(WorkerSetConfig {
        workers: 2,
        idle: IdleStrategy::BusySpin,
        name: "arb".into(),
        ..WorkerSetConfig::default()
    })
    .expect("worker set");
    let table = Arc::new(SymbolTable::new());
    let ring = || SubscriberConfig::all().backpressure(Backpressure::Block);
    let feed = |name: &str, worker: usize| {
        let src = Box::new(source(name, n, rate, &table));
        spawn_feed(
            src,
            ring(),
            HubConfig::default(),
            clock.clone(),
            &set,
            TaskPlacement::Worker(worker),
        )
        .expect("feed")
    };
    let (a, b) = (feed("a", 0), feed("b", 1));
    let router = SourceRouter::with_config(
        vec![Box::new(a), Box::new(b)],
        market_data_pipeline::RouterConfig::new(RoutingStrategy::Arbitrate),
        clock.clone(),
    )
    .expect("router");
    let control = router.control();
    let handle = StreamingPipeline::builder()
        .source(router)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(CHUNK, Duration::from_millis(1)).expect("batcher"))
        .sink(CountingSink::new())
        .placement(Placement::Fused {
            core: CoreChoice::Unpinned,
        })
        .chunk_size(CHUNK)
        .clock(clock.clone())
        .build()
        .expect("pipeline")
        .start_on_workers(&set, TaskPlacement::Worker(1), TaskPlacement::Worker(1))
        .expect("start");
    let report = handle.join().into_result().expect("arbitrate run");
    assert_eq!(
        report.stats.delivered, n,
        "arbitrate delivered each seq once"
    );
    assert!(report.stats.is_conserved());
    set.shutdown();
    let routed = control.stats();
    let from_a = routed.sources.first().map_or(0, |s| s.delivered);
    (report.stats.latency, from_a as f64 / n.max(1) as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The 1-minute load average, from `/proc/loadavg` (`NaN` where there is none).
fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The core 0 ↔ core 1 one-way hop (ns); 0 when the probe could not complete a round.
fn probe_hop() -> u64 {
    hop_ns(0, 1, || false).unwrap_or(0)
}

/// The bare consumer's work for what waits in `rx`: read chunks in place into the sink until
/// the ring is empty (the last look finding it empty, as the spinning consumer's does).
#[inline(never)]
fn bare_consume(rx: &mut rtrb::Consumer<Tick>, sink: &mut BaselineSink, clock: &dyn Clock) {
    for _ in 0..8 {
        let k = rx.slots().min(CHUNK);
        if k == 0 {
            return;
        }
        if let Ok(chunk) = rx.read_chunk(k) {
            let (a, b) = chunk.as_slices();
            sink.deliver(clock, a);
            sink.deliver(clock, b);
            chunk.commit_all();
        }
    }
}

/// The arbitrate consumer's work for what waits in the feeds' rings: poll the router until it
/// has nothing (bounded), handing each poll's ticks to the sink.
#[inline(never)]
fn arb_consume(
    router: &mut SourceRouter,
    buf: &mut [Tick],
    sink: &mut BaselineSink,
    clock: &dyn Clock,
) {
    for _ in 0..8 {
        match router.poll(clock.now_ns(), buf).expect("router poll") {
            SourcePoll::Ready(k) => sink.deliver(clock, &buf[..k]),
            SourcePoll::Pending | SourcePoll::Ended => return,
        }
    }
}

/// `ARB_BENCH_MODE=instr`: both consumer sides on one thread with a manual clock, for
/// callgrind (see the module docs).
fn instr(n: u64, chunk: usize) {
    let manual = ManualClock::shared(1);
    let clock: SharedClock = manual.clone();
    let table = Arc::new(SymbolTable::new());
    // Bare: one ring, written and read on this thread.
    let (mut tx, mut rx) = rtrb::RingBuffer::<Tick>::new(RING);
    let mut src = source("bare", n, 0, &table);
    src.start(clock.now_ns()).expect("start");
    let mut buf = vec![Tick::default(); CHUNK];
    let mut sink = BaselineSink::new();
    for _ in 0..n.div_ceil(chunk as u64) + 1 {
        manual.advance_ns(256_000);
        if let SourcePoll::Ready(k) = src.poll(clock.now_ns(), &mut buf[..chunk]).expect("poll") {
            let chunk = tx.write_chunk_uninit(k).expect("free slots");
            chunk.fill_from_iter(buf[..k].iter().copied());
        }
        bare_consume(&mut rx, &mut sink, &*clock);
    }
    assert_eq!(sink.counted(), n, "bare: every tick once");
    // Arbitrate: two hubs stepped here, each filling its subscriber's ring.
    let hub = |name: &str| {
        let hub = FanoutHub::new(
            Box::new(source(name, n, 0, &table)),
            HubConfig {
                chunk_size: chunk,
                ..HubConfig::default()
            },
            clock.clone(),
        )
        .expect("hub");
        let sub = hub
            .handle()
            .subscribe(SubscriberConfig::all().backpressure(Backpressure::Block))
            .expect("subscribe");
        (hub, sub)
    };
    let ((mut ha, a), (mut hb, b)) = (hub("a"), hub("b"));
    let mut router = SourceRouter::with_config(
        vec![Box::new(a), Box::new(b)],
        market_data_pipeline::RouterConfig::new(RoutingStrategy::Arbitrate),
        clock.clone(),
    )
    .expect("router");
    router.start(clock.now_ns()).expect("router start");
    let mut sink = BaselineSink::new();
    for _ in 0..n.div_ceil(chunk as u64) + 4 {
        manual.advance_ns(256_000);
        ha.step();
        hb.step();
        arb_consume(&mut router, &mut buf, &mut sink, &*clock);
    }
    assert_eq!(sink.counted(), n, "arbitrate: every seq once");
    println!("instr: {n} ticks in chunks of {chunk} through bare_consume and arb_consume");
}

fn main() {
    let n = env("ARB_BENCH_TICKS", 500_000);
    if std::env::var("ARB_BENCH_MODE").as_deref() == Ok("instr") {
        instr(
            n,
            (env("ARB_BENCH_CHUNK", CHUNK as u64) as usize).clamp(1, CHUNK),
        );
        return;
    }
    let rate = env("ARB_BENCH_RATE", 1_000_000);
    let runs = env("ARB_BENCH_RUNS", 7).max(1);
    let given = std::env::var("ARB_BENCH_FAR_HOP_NS")
        .ok()
        .and_then(|v| v.parse().ok());
    let clock = MonotonicClock::shared();
    println!("arbitrate over two feeds on two workers vs one bare ring hop: {n} ticks at {rate}/s");
    println!(
        "run  hop_before  hop_after  load1  bare_p50  bare_p99  arb_p50  arb_p99  arb/bare_p50  from_a"
    );
    let mut rows: Vec<(u64, u64, f64)> = Vec::new();
    for run in 1..=runs {
        let load = load_1min();
        let before = probe_hop();
        let b = bare(n, rate, &clock);
        let (a, cross) = arbitrate(n, rate, &clock);
        let after = probe_hop();
        let r = a.p50 as f64 / b.p50.max(1) as f64;
        rows.push((before, after, r));
        println!(
            "{run:>3}  {before:>10}  {after:>9}  {load:>5.2}  {:>8}  {:>8}  {:>7}  {:>7}  {r:>12.2}  {cross:>6.2}",
            b.p50,
            b.p99,
            a.p50,
            a.p99
        );
    }
    let probes: Vec<u64> = rows.iter().flat_map(|&(b, f, _)| [b, f]).collect();
    let split = HopSplit::derive(&probes, given);
    let placements: Vec<Regime> = rows.iter().map(|&(b, f, _)| split.regime(b, f)).collect();
    println!("placement: {}", split.describe());
    let each: Vec<String> = placements
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", i + 1, p.as_str()))
        .collect();
    println!("runs: {}", each.join(", "));
    for regime in Regime::ALL {
        let ratios: Vec<f64> = rows
            .iter()
            .zip(&placements)
            .filter(|(_, p)| **p == regime)
            .map(|((_, _, r), _)| *r)
            .collect();
        if !ratios.is_empty() {
            println!(
                "{}: {} runs, median arb/bare p50: {:.2}",
                regime.as_str(),
                ratios.len(),
                median(ratios)
            );
        }
    }
}
