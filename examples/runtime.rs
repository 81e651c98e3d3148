//! The seed's PipelineRuntime usage: settings, streaming, and run/list/stop pipelines.
//!
//! `cargo run --release --example runtime`

// from market_data_pipeline.orchestration import (
//     PipelineRuntime,
//     PipelineRuntimeSettings
// )
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // # Configure runtime
    // settings = PipelineRuntimeSettings(
    //     orchestration_enabled=True,
    //     max_concurrent_pipelines=10,
    //     enable_rate_coordination=True,
    //     circuit_breaker_threshold=5,
    //     circuit_breaker_timeout_sec=60.0,
    // )
    let settings = PipelineRuntimeSettings {
        orchestration_enabled: true,
        max_concurrent_pipelines: 10,
        enable_rate_coordination: true,
        circuit_breaker_threshold: 5,
        circuit_breaker_timeout_sec: 60.0,
        ..Default::default()
    };

    // # Use as context manager
    // async with PipelineRuntime(settings) as runtime:
    let runtime = PipelineRuntime::start(settings)?;

    //     # Stream quotes
    //     async for quote in runtime.stream_quotes(['AAPL', 'MSFT']):
    //         print(f"{quote.symbol}: ${quote.price}")
    for quote in runtime.stream_quotes(&["AAPL", "MSFT"])?.take(5) {
        println!("{}: ${}", quote.symbol, quote.price);
    }

    //     # Or run pipelines
    //     spec = PipelineSpec(...)
    let spec = PipelineSpec::new("my_tenant", "my_pipeline").symbols(&["AAPL", "MSFT"]);
    //     key = await runtime.run_pipeline(spec)
    let key = runtime.run_pipeline(spec)?;

    //     # List running pipelines
    //     pipelines = await runtime.list_pipelines()
    let pipelines = runtime.list_pipelines();
    for p in &pipelines {
        println!(
            "{} [{}] produced {}",
            p.key,
            p.state.as_str(),
            p.stats.produced
        );
    }

    //     # Stop a pipeline
    //     await runtime.stop_pipeline(key)
    let report = runtime.stop_pipeline(&key)?;
    let s = &report.stats;
    println!(
        "stopped {key}: produced {} = delivered {} + dropped {} (conserved: {})",
        s.produced,
        s.delivered,
        s.lost(),
        s.is_conserved()
    );
    // (the end of the `async with` block)
    runtime.shutdown();
    Ok(())
}
