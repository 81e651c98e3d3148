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

use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    Conflate, CountingSink, Dedupe, HybridBatcher, ManualClock, Operator, Passthrough,
    SymbolFilter, SymbolId, SymbolTable,
};

use common::counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_for(n: u64, op: Box<dyn Operator>) -> u64 {
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
    let pipeline = StreamingPipeline::builder()
        .source(source)
        .boxed_operator(op)
        .batcher(HybridBatcher::new(500, Duration::from_secs(3600)).unwrap())
        .sink(CountingSink::new())
        .clock(ManualClock::shared(0))
        .build()
        .unwrap();
    let before = allocations();
    let report = pipeline.run().unwrap();
    let after = allocations();
    assert_eq!(report.stats.produced, n);
    after - before
}

fn main() {
    steady_state_allocates_nothing_per_tick();
    eprintln!("test steady_state_allocates_nothing_per_tick ... ok");
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
