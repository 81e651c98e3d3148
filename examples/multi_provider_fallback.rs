//! The seed's "Example 2: Multi-Provider with Fallback", with stand-ins for IBKR and Polygon
//! (the IBKR stand-in fails for good after 1,000 ticks, to show the fallback).
//!
//! `cargo run --example multi_provider_fallback`

// from market_data_pipeline.orchestration import (
//     SourceRegistry,
//     SourceRouter,
// )
use market_data_pipeline::registry::{standin, RegistryError, SourceContext, SourceSpec};
use market_data_pipeline::{register_source_provider, SourceRegistry, SourceRouter, TickSource};

/// The IBKR stand-in, failing at its 1,000th tick.
fn flaky_ibkr(
    spec: &SourceSpec,
    ctx: &SourceContext,
) -> Result<Box<dyn TickSource>, RegistryError> {
    standin::ibkr(&spec.clone().param("fail_at_tick", 1_000), ctx)
}
register_source_provider!("ibkr", flaky_ibkr);
register_source_provider!("polygon", standin::polygon);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // # Create registry
    // registry = SourceRegistry()
    let registry = SourceRegistry::empty();
    // registry.discover_entrypoints()  # Find external providers
    registry.discover_entrypoints(); // Find external providers

    // # Create sources
    // ibkr = registry.load("ibkr")
    let ibkr = registry.load("ibkr")?;
    // polygon = registry.load("polygon")
    let polygon = registry.load("polygon")?;

    // ibkr_source = ibkr(symbols=['AAPL'], ...)
    let ibkr_source = ibkr.create(&["AAPL"])?;
    // polygon_source = polygon(symbols=['AAPL'], ...)
    let polygon_source = polygon.create(&["AAPL"])?;

    // # Create router with fallback
    // router = SourceRouter(
    //     sources=[ibkr_source, polygon_source],
    //     strategy="first"
    // )
    let router = SourceRouter::new(vec![ibkr_source, polygon_source], "first")?;
    let control = router.control();

    // # Stream with automatic fallback
    // async for quote in router.stream():
    //     print(quote)
    for quote in router.stream().take(1_010).skip(995) {
        println!("{quote} from source {}", quote.source);
    }
    for s in control.stats().switches {
        println!("switch: {:?} -> {:?} ({:?})", s.from, s.to, s.reason);
    }
    Ok(())
}
