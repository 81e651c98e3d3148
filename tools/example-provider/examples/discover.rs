//! The seed's "Discover external providers": link a provider crate, discover it, load it.
//!
//! `cargo run -p example-provider --example discover`

use example_provider as _;
use market_data_pipeline::registry::SourceRegistry;
use market_data_pipeline::TickSource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Create registry
    let registry = SourceRegistry::new();
    let found = registry.discover_entrypoints(); // Find external providers
    println!(
        "discovered: {found:?}; known: {:?}",
        registry.list_sources()
    );

    // Load by name, create a source
    let constant = registry.load("constant")?;
    let mut source = constant.create(&["AAPL"])?;
    source.start(0)?;
    let mut buf = [market_data_pipeline::Tick::default(); 4];
    source.poll(0, &mut buf)?;
    println!(
        "{}: bid {} ask {}",
        source.symbols()[0],
        buf[0].bid,
        buf[0].ask
    );
    Ok(())
}
