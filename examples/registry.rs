//! The seed's SourceRegistry usage: register, load by name, create, discover.
//!
//! `cargo run --example registry`

// from market_data_pipeline.orchestration import SourceRegistry
// from market_data_pipeline.source.synthetic import SyntheticSource
use market_data_pipeline::register_source_provider;
use market_data_pipeline::registry::{builtin, standin, SourceFactory, SourceRegistry};

// [project.entry-points."market_data.providers"]
// ibkr = "market_data_ibkr:IBKRProvider"
// polygon = "market_data_polygon:PolygonProvider"
// (here: deterministic synthetic stand-ins, linked in and submitted under those names)
register_source_provider!("ibkr", standin::ibkr);
register_source_provider!("polygon", standin::polygon);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // registry = SourceRegistry()
    let registry = SourceRegistry::empty();

    // # Manual registration
    // registry.register("synthetic", SyntheticSource)
    registry.register("synthetic", SourceFactory::new(builtin::synthetic));

    // # Load by name
    // source_cls = registry.load("synthetic")
    let source_cls = registry.load("synthetic")?;
    // source = source_cls(symbols=["AAPL"], ...)
    let source = source_cls.create(&["AAPL"])?;
    println!("created {:?} for {:?}", source.name(), source.symbols());

    // # Discover external providers
    // registry.discover_entrypoints()
    let found = registry.discover_entrypoints();
    println!("discovered {found:?}; known {:?}", registry.list_sources());
    Ok(())
}
