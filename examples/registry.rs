//! The seed's SourceRegistry usage: register, load by name, build, discover.
//!
//! `cargo run --example registry`

use market_data_pipeline::registry::{
    builtin, SourceContext, SourceFactory, SourceRegistry, SourceSpec,
};
use market_data_pipeline::{SourcePoll, Tick};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = SourceRegistry::empty();

    // Manual registration
    registry.register("synthetic", SourceFactory::new(builtin::synthetic));

    // Load by name
    let source_cls = registry.load("synthetic")?;
    let mut source = source_cls.create(&["AAPL"])?;

    // Discover external providers (those linked into this binary)
    let found = registry.discover_entrypoints();
    println!("discovered {found:?}; known {:?}", registry.list_sources());

    source.start(0)?;
    let mut buf = [Tick::default(); 8];
    if let SourcePoll::Ready(n) = source.poll(0, &mut buf)? {
        println!("{n} ticks from {}", source.name());
    }

    // From configuration: a spec as `[providers.primary]` would give it
    let spec = SourceSpec::named("primary", "synthetic", &["AAPL", "MSFT"])
        .param("rate", 1_000_000)
        .param("seed", 7);
    let primary = registry.build(&spec, &SourceContext::default())?;
    println!("built {} for {:?}", primary.name(), primary.symbols());

    // Unknown names list the known ones
    if let Err(e) = registry.load("ibkr") {
        println!("{e}");
    }
    Ok(())
}
