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

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{Placement, StreamingPipeline};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    Conflate, CountingSink, Dedupe, HybridBatcher, ManualClock, Operator, Passthrough,
    SymbolFilter, SymbolId, SymbolTable,
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

fn main() {
    steady_state_allocates_nothing_per_tick();
    eprintln!("test steady_state_allocates_nothing_per_tick ... ok");
    steady_state_on_a_worker_set_allocates_nothing_per_tick();
    eprintln!("test steady_state_on_a_worker_set_allocates_nothing_per_tick ... ok");
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
