//! No heap allocation per tick in steady state, through the whole pipeline.
//!
//! A counting global allocator counts every allocation in the process. Two runs that differ
//! only in length (N and 10·N ticks) must allocate the same (up to a handful of set-up
//! differences); any per-tick allocation would add millions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    CountingSink, HybridBatcher, ManualClock, Operator, Passthrough, SymbolTable,
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

#[test]
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
