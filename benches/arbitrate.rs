//! `Arbitrate` over two hot-hot feeds produced on two workers, end to end, against a single
//! bare rtrb ring hop, in the same run, with the same payload, pacing and latency recording.
//!
//! - **Bare hop** (baseline): a producer thread pinned to core 0 polls the paced synthetic
//!   source (stamping `ts_recv` at the poll) and pushes its chunks into a 16,384-slot rtrb
//!   ring; a consumer pinned to core 1 reads chunks and records `now − ts_recv` per tick with
//!   the engine's own recorder (`pipeline::stats::record_latency_runs`: one clock read per
//!   chunk). Both busy-spin.
//! - **Arbitrate**: a `WorkerSet` of two busy-spinning workers pinned to cores 0 and 1. Two
//!   identical synthetic sources (same seed, `shared_sequence`) each run as a feed
//!   (`fanout::spawn_feed`, `Block`) on worker 0 and worker 1; a `SourceRouter` with
//!   `Arbitrate` over the two rings is the source of a fused pipeline (router → passthrough →
//!   batcher → counting sink) on worker 1. Latency is the pipeline's own: `now − ts_recv` at
//!   the sink, `ts_recv` stamped when the winning feed polled its source.
//!
//! Both sides: `ARB_BENCH_TICKS` ticks (default 500,000) paced at `ARB_BENCH_RATE` ticks/s
//! (default 1,000,000; bursts of one 256-tick chunk). Runs alternate (bare, arbitrate)
//! `ARB_BENCH_RUNS` times (default 7); prints each run's p50 and p99 and the ratio
//! arbitrate p50 ÷ bare p50 within the run, then the median of the ratios. Every tick must
//! arrive exactly once on both sides or the bench fails.
//!
//! Run: `cargo bench --bench arbitrate`

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use market_data_pipeline::exec::{TaskPlacement, WorkerSet, WorkerSetConfig};
use market_data_pipeline::fanout::{spawn_feed, HubConfig, SubscriberConfig};
use market_data_pipeline::pin::{pin_current, CoreChoice};
use market_data_pipeline::pipeline::stats::{
    latency_histogram, record_latency_runs, LatencySummary,
};
use market_data_pipeline::pipeline::{Placement, StreamingPipeline};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::router::{RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    CountingSink, HybridBatcher, IdleStrategy, MonotonicClock, Passthrough, SharedClock,
    SourcePoll, SymbolTable, Tick, TickSource,
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
        rate: Some(rate),
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
            match src.poll(pclock.now_ns(), &mut buf).expect("poll") {
                SourcePoll::Ready(k) => {
                    let mut rest = &buf[..k];
                    while !rest.is_empty() {
                        let (done, left) = tx.push_partial_slice(rest);
                        let _ = done;
                        rest = left;
                    }
                }
                SourcePoll::Pending => std::hint::spin_loop(),
                SourcePoll::Ended => break,
            }
        }
    });
    let cclock = clock.clone();
    let consumer = thread::spawn(move || {
        let _ = pin_current(CoreChoice::Core(1));
        let mut hist = latency_histogram();
        let mut got = 0u64;
        while got < n {
            let k = rx.slots().min(CHUNK);
            if k == 0 {
                std::hint::spin_loop();
                continue;
            }
            let chunk = rx.read_chunk(k).expect("slots");
            let now = cclock.now_ns();
            let (a, b) = chunk.as_slices();
            record_latency_runs(&mut hist, now, a.iter().chain(b).map(|t| t.ts_recv));
            chunk.commit_all();
            got += k as u64;
        }
        hist
    });
    producer.join().expect("producer");
    let hist = consumer.join().expect("consumer");
    LatencySummary::of(&hist)
}

/// Arbitrate over two feeds on two workers, fused into a pipeline on worker 1.
fn arbitrate(n: u64, rate: u64, clock: &SharedClock) -> LatencySummary {
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
    report.stats.latency
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n = env("ARB_BENCH_TICKS", 500_000);
    let rate = env("ARB_BENCH_RATE", 1_000_000);
    let runs = env("ARB_BENCH_RUNS", 7).max(1);
    let clock = MonotonicClock::shared();
    println!("arbitrate over two feeds on two workers vs one bare ring hop: {n} ticks at {rate}/s");
    println!("run  bare_p50  bare_p99  arb_p50  arb_p99  arb/bare_p50");
    let mut ratios = Vec::new();
    for run in 1..=runs {
        let b = bare(n, rate, &clock);
        let a = arbitrate(n, rate, &clock);
        let r = a.p50 as f64 / b.p50.max(1) as f64;
        ratios.push(r);
        println!(
            "{run:>3}  {:>8}  {:>8}  {:>7}  {:>7}  {r:>12.2}",
            b.p50, b.p99, a.p50, a.p99
        );
    }
    println!("median arb/bare p50: {:.2}", median(ratios));
}
