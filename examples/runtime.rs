//! The seed's PipelineRuntime usage: settings, streaming, and run/list/stop pipelines.
//!
//! `cargo run --release --example runtime`

use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Configure runtime
    let settings = PipelineRuntimeSettings {
        orchestration_enabled: true,
        max_concurrent_pipelines: 10,
        enable_rate_coordination: true,
        circuit_breaker_threshold: 5,
        circuit_breaker_timeout_sec: 60.0,
        ..Default::default()
    };

    // The runtime stops every pipeline gracefully when dropped (the seed's `async with`)
    let runtime = PipelineRuntime::start(settings)?;

    // Stream quotes
    let symbols = runtime.symbols().clone();
    for quote in runtime.stream_quotes(&["AAPL", "MSFT"])?.take(5) {
        println!(
            "{}: ${}",
            symbols.name(quote.symbol).unwrap_or_default(),
            quote.mid()
        );
    }

    // Or run pipelines
    let spec = PipelineSpec::new("my_tenant", "my_pipeline").symbols(&["AAPL", "MSFT"]);
    let key = runtime.run_pipeline(spec)?;

    // List running pipelines
    for p in runtime.list_pipelines() {
        println!(
            "{} [{}] produced {}",
            p.key,
            p.state.as_str(),
            p.stats.produced
        );
    }

    // Stop a pipeline: it drains and reports exact counts
    let report = runtime.stop_pipeline(&key)?;
    let s = &report.stats;
    println!(
        "stopped {key}: produced {} = delivered {} + dropped {} (conserved: {})",
        s.produced,
        s.delivered,
        s.lost(),
        s.is_conserved()
    );
    Ok(())
}
