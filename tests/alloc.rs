//! No heap allocation per tick in steady state, through the whole pipeline.
//!
//! A counting global allocator counts every allocation in the process (the pipeline runs on
//! its own worker threads, so the calling thread's count would miss them). Two runs that
//! differ only in length (N and 10·N ticks) must allocate the same (up to a handful of set-up
//! differences); any per-tick allocation would add millions.
//!
//! This test runs without libtest (`harness = false` in `Cargo.toml`): libtest's main thread
//! allocates while a test runs (it books the test in after spawning its thread, later when it
//! is descheduled in between), and a process-wide count cannot tell that from the pipeline's
//! work on a loaded machine. Here nothing but the test runs in the process.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{Placement, StreamingPipeline};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    Conflate, CountingSink, Dedupe, HybridBatcher, ManualClock, Operator, Passthrough, Repeat,
    ReplayConfig, ReplaySource, SourcePoll, SymbolFilter, SymbolId, SymbolTable, Tick,
    TickFileWriter, TickSource,
};

use common::counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_for(n: u64, op: Box<dyn Operator>) -> u64 {
    allocations_on(n, op, None)
}

/// Allocations of a run of `n` ticks through `op`: on dedicated threads, or placed on a
/// worker set.
fn allocations_on(n: u64, op: Box<dyn Operator>, on: Option<(Placement, &WorkerSet)>) -> u64 {
    let table = Arc::new(SymbolTable::new());
    let source = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(n),
            ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG"])
        },
        table,
    )
    .unwrap();
    // A frozen manual clock makes both runs take the same control-flow path (no age flushes,
    // no time-driven publication differences).
    let mut builder = StreamingPipeline::builder()
        .source(source)
        .boxed_operator(op)
        .batcher(HybridBatcher::new(500, Duration::from_secs(3600)).unwrap())
        .sink(CountingSink::new())
        .clock(ManualClock::shared(0));
    if let Some((placement, _)) = on {
        builder = builder.placement(placement);
    }
    let pipeline = builder.build().unwrap();
    let before = allocations();
    let report = match on {
        None => pipeline.run().unwrap(),
        Some((_, set)) => pipeline
            .start_on(set)
            .unwrap()
            .join()
            .into_result()
            .unwrap(),
    };
    let after = allocations();
    assert_eq!(report.stats.produced, n);
    after - before
}

/// A tick file of `n` synthetic ticks (written before any counting starts).
fn tick_file(dir: &common::TempDir, n: u64) -> std::path::PathBuf {
    let table = Arc::new(SymbolTable::new());
    let mut source = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(n),
            ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG"])
        },
        table.clone(),
    )
    .unwrap();
    source.start(0).unwrap();
    let path = dir.path(&format!("{n}.ticks"));
    let mut w = TickFileWriter::create(&path, table).unwrap();
    let mut buf = vec![Tick::default(); 4096];
    while let SourcePoll::Ready(k) = source.poll(0, &mut buf).unwrap() {
        w.write_all(&buf[..k]).unwrap();
    }
    w.finish().unwrap();
    path
}

/// Allocations of replaying `path` (`loops` times) through passthrough → batcher → counting
/// sink, from opening the file to the report.
fn replay_allocations(path: &std::path::Path, loops: u32) -> (u64, u64) {
    let before = allocations();
    let config = ReplayConfig {
        repeat: Repeat::Times(NonZeroU32::new(loops).unwrap()),
        ..ReplayConfig::default()
    };
    let source = ReplaySource::open(path, Arc::new(SymbolTable::new()), config).unwrap();
    let pipeline = StreamingPipeline::builder()
        .source(source)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(256, Duration::from_secs(3600)).unwrap())
        .sink(CountingSink::new())
        .clock(ManualClock::shared(0))
        .build()
        .unwrap();
    let report = pipeline.run().unwrap();
    let after = allocations();
    (report.stats.delivered, after - before)
}

fn replay_allocates_nothing_per_tick() {
    let dir = common::TempDir::new("alloc_replay");
    let small = tick_file(&dir, 100_000);
    let large = tick_file(&dir, 1_000_000);
    // (case, file, loops, ticks delivered)
    let cases = [
        (1, &small, 1, 100_000),
        (2, &large, 1, 1_000_000),
        (3, &small, 10, 1_000_000),
    ];
    let mut counts = Vec::new();
    for (case, path, loops, ticks) in cases {
        let (delivered, n) = replay_allocations(path, loops);
        assert_eq!(delivered, ticks, "case {case}");
        eprintln!("replay case {case}: {n} allocations for {ticks} ticks");
        counts.push(n);
    }
    // 900,000 more ticks (by a longer file, or by looping); a per-tick or per-chunk
    // allocation would show as thousands.
    for (case, &n) in counts.iter().enumerate().skip(1) {
        assert!(
            n <= counts[0] + 16,
            "replay case {}: {} allocations for 1e6 ticks, {} for 1e5",
            case + 1,
            n,
            counts[0]
        );
    }
}

fn main() {
    steady_state_allocates_nothing_per_tick();
    eprintln!("test steady_state_allocates_nothing_per_tick ... ok");
    steady_state_on_a_worker_set_allocates_nothing_per_tick();
    eprintln!("test steady_state_on_a_worker_set_allocates_nothing_per_tick ... ok");
    replay_allocates_nothing_per_tick();
    eprintln!("test replay_allocates_nothing_per_tick ... ok");
}

/// The same on a worker set (made before counting: its threads are control-path work): the
/// stages as tasks, stepped round-robin, allocate nothing per tick either.
fn steady_state_on_a_worker_set_allocates_nothing_per_tick() {
    let set = WorkerSet::new(WorkerSetConfig {
        workers: 2,
        ..Default::default()
    })
    .unwrap();
    for (case, fused) in [(1, false), (2, true)] {
        let placement = |fused: bool| {
            if fused {
                Placement::Fused {
                    core: CoreChoice::Unpinned,
                }
            } else {
                Placement::default()
            }
        };
        let run = |n| {
            allocations_on(
                n,
                Box::new(Passthrough::new()),
                Some((placement(fused), &set)),
            )
        };
        let small = run(100_000);
        let large = run(1_000_000);
        eprintln!("worker set case {case}: {small} allocations for 1e5 ticks, {large} for 1e6");
        assert!(
            large <= small + 16,
            "worker set case {case}: {small} allocations for 1e5 ticks but {large} for 1e6"
        );
    }
    set.shutdown();
}
fn steady_state_allocates_nothing_per_tick() {
    // (case, operator factory)
    type MakeOperator = fn() -> Box<dyn Operator>;
    let cases: Vec<(u32, MakeOperator)> = vec![
        (1, || Box::new(Passthrough::new())),
        (2, || {
            Box::new(
                BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO)).unwrap(),
            )
        }),
        (3, || Box::new(Conflate::new())),
        (4, || Box::new(Dedupe::new())),
        (5, || {
            Box::new(SymbolFilter::new(&[SymbolId(0), SymbolId(2)]).unwrap())
        }),
    ];
    for (case, make) in cases {
        let small = allocations_for(100_000, make());
        let large = allocations_for(1_000_000, make());
        eprintln!("case {case}: {small} allocations for 1e5 ticks, {large} for 1e6");
        // 900,000 more ticks; a per-tick (or per-chunk) allocation would show as thousands.
        assert!(
            large <= small + 16,
            "case {case}: {small} allocations for 1e5 ticks but {large} for 1e6"
        );
    }
}
