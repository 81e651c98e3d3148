//! The seed's "Integration with Existing Code": Pattern 1 (add a router and a coordinator to
//! an existing pipeline) and Pattern 2 (gradual migration to the full runtime).
//!
//! `cargo run --release --example integration`

use std::sync::Arc;

use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
use market_data_pipeline::runtime::PipelineRuntime;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    create_pipeline, RoutingStrategy, SourceRouter, StreamingPipeline, SymbolTable, TickSource,
};

fn pattern_1() -> Result<(), Box<dyn std::error::Error>> {
    // Before (existing code)
    let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    let handle = pipeline.start()?;
    handle.stop();
    println!("before: {} ticks", handle.join().stats.produced);

    // After (with orchestration): add router and coordinator
    let table = Arc::new(SymbolTable::new());
    let feed = |name: &str, seed: u64| -> Result<Box<dyn TickSource>, Box<dyn std::error::Error>> {
        let cfg = SyntheticConfig {
            name: name.into(),
            seed,
            max_ticks: Some(100_000),
            ..SyntheticConfig::new(&["AAPL"])
        };
        Ok(Box::new(SyntheticSource::new(cfg, table.clone())?))
    };
    let router = SourceRouter::new(
        vec![feed("ibkr", 1)?, feed("polygon", 2)?],
        RoutingStrategy::First,
    )?;
    let coordinator = RateCoordinator::new();
    coordinator.register_provider("ibkr", ProviderLimits::default())?;

    // Rest stays the same: the router is a TickSource
    let report = StreamingPipeline::builder().source(router).build()?.run()?;
    println!("after: {} ticks through the router", report.stats.delivered);
    Ok(())
}

fn pattern_2() -> Result<(), Box<dyn std::error::Error>> {
    // Start with simple API
    let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    drop(pipeline);

    // Add orchestration features gradually
    let coordinator = RateCoordinator::new();
    coordinator.register_provider("ibkr", ProviderLimits::default())?;

    // Eventually move to full runtime (all orchestration features enabled)
    let runtime = PipelineRuntime::start(Default::default())?;
    let quotes = runtime.stream_quotes(&["AAPL"])?.take(1_000).count();
    println!("runtime: {quotes} quotes streamed");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    pattern_1()?;
    pattern_2()
}
