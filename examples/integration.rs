//! The seed's "Integration with Existing Code": Pattern 1 (add a router and a coordinator to
//! an existing pipeline) and Pattern 2 (gradual migration to the full runtime), with the
//! synthetic stand-ins for IBKR and Polygon.
//!
//! `cargo run --release --example integration`

use std::time::Duration;

use market_data_pipeline::registry::{standin, SourceFactory, SourceRegistry};

fn pattern_1() -> Result<(), Box<dyn std::error::Error>> {
    // # Before (existing code)
    // from market_data_pipeline import create_pipeline
    use market_data_pipeline::create_pipeline;

    // pipeline = create_pipeline(...)
    let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    // await pipeline.run()
    // (create_pipeline's source never ends: the original's `run(duration_sec)` is `run_for`)
    let report = pipeline.run_for(Duration::from_millis(200))?;
    println!("before: {} ticks", report.stats.produced);

    // # After (with orchestration)
    // from market_data_pipeline import create_pipeline
    // from market_data_pipeline.orchestration import (
    //     SourceRouter,
    //     RateCoordinator,
    // )
    use market_data_pipeline::{RateCoordinator, RoutingStrategy, SourceRouter};

    let registry = SourceRegistry::empty();
    registry.register("ibkr", SourceFactory::new(standin::ibkr));
    registry.register("polygon", SourceFactory::new(standin::polygon));
    let ibkr = registry.load("ibkr")?.create(&["AAPL"])?;
    let polygon = registry.load("polygon")?.create(&["AAPL"])?;

    // # Add router and coordinator
    // router = SourceRouter(sources=[...])
    let router = SourceRouter::new(vec![ibkr, polygon], RoutingStrategy::default())?;
    // coordinator = RateCoordinator()
    let coordinator = RateCoordinator::new();
    println!(
        "router {router:?}, coordinator for {:?}",
        coordinator.providers()
    );

    // # Rest stays the same
    // pipeline = create_pipeline(...)
    let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    // await pipeline.run()
    let report = pipeline.run_for(Duration::from_millis(200))?;
    println!("after: {} ticks", report.stats.produced);
    Ok(())
}

fn pattern_2() -> Result<(), Box<dyn std::error::Error>> {
    // # Start with simple API
    // from market_data_pipeline import create_pipeline
    use market_data_pipeline::create_pipeline;

    // pipeline = create_pipeline(...)
    let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    drop(pipeline);

    // # Add orchestration features gradually
    // from market_data_pipeline.orchestration import RateCoordinator
    use market_data_pipeline::RateCoordinator;

    // coordinator = RateCoordinator()
    let coordinator = RateCoordinator::new();
    // coordinator.register_provider("ibkr")
    coordinator.register_provider("ibkr")?;

    // # Eventually move to full runtime
    // from market_data_pipeline.orchestration import PipelineRuntime
    use market_data_pipeline::runtime::PipelineRuntime;

    // async with PipelineRuntime() as runtime:
    //     # All orchestration features enabled
    //     ...
    let runtime = PipelineRuntime::start(Default::default())?;
    let quotes = runtime.stream_quotes(&["AAPL"])?.take(1_000).count();
    println!("runtime: {quotes} quotes streamed");
    runtime.shutdown();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    pattern_1()?;
    pattern_2()
}
