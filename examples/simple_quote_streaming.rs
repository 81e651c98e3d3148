//! The seed's "Example 1: Simple Quote Streaming": take 100 quotes and stop.
//!
//! `cargo run --release --example simple_quote_streaming`

// from market_data_pipeline.orchestration import PipelineRuntime
use market_data_pipeline::runtime::PipelineRuntime;

// async def main():
fn main() -> Result<(), Box<dyn std::error::Error>> {
    //     async with PipelineRuntime() as runtime:
    let runtime = PipelineRuntime::start(Default::default())?;
    //         count = 0
    let mut count = 0;
    //         async for quote in runtime.stream_quotes(['AAPL']):
    for quote in runtime.stream_quotes(&["AAPL"])? {
        //             print(f"{quote.symbol}: ${quote.price}")
        println!("{}: ${}", quote.symbol, quote.price);
        //             count += 1
        count += 1;
        //             if count >= 100:
        //                 break
        if count >= 100 {
            break;
        }
    }
    // (the end of the `async with` block: every pipeline stops and reports)
    runtime.shutdown();
    Ok(())
}
