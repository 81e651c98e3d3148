//! The seed's "Example 1: Simple Quote Streaming": take 100 quotes and stop.
//!
//! `cargo run --release --example simple_quote_streaming`

use market_data_pipeline::runtime::PipelineRuntime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = PipelineRuntime::start(Default::default())?;
    let symbols = runtime.symbols().clone();
    let mut count = 0;
    for quote in runtime.stream_quotes(&["AAPL"])? {
        let name = symbols.name(quote.symbol).unwrap_or_default();
        println!(
            "{name}: ${} (bid {} ask {})",
            quote.mid(),
            quote.bid,
            quote.ask
        );
        count += 1;
        if count >= 100 {
            break;
        }
    }
    // Leaving the scope drops the stream (its pipeline stops) and then the runtime.
    Ok(())
}
