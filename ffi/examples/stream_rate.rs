//! The Rust twin of examples/c/stream_rate.c: read N ticks (default 5,000,000) of the default
//! runtime's synthetic stream for AAPL and MSFT, timed from the first tick, and print the rate.
//!
//! `cargo run --release -p mdp-ffi --example stream_rate -- [N] [iter|bulk]`: `iter` (the
//! default) reads with the raw-tick iterator `QuoteStream::ticks`, `bulk` with
//! `read_ticks_timeout` into a 4096-tick buffer (what the C ABI calls).

use std::time::{Duration, Instant};

use market_data_pipeline::runtime::PipelineRuntime;
use market_data_pipeline::Tick;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let want: u64 = args.next().map_or(Ok(5_000_000), |a| a.parse())?;
    let mode = args.next().unwrap_or_else(|| "iter".to_string());
    let runtime = PipelineRuntime::start(Default::default())?;
    let mut stream = runtime.stream_quotes(&["AAPL", "MSFT"])?;
    stream.ticks().next().ok_or("the stream ended at once")?;
    let t0 = Instant::now();
    let mut got = 0u64;
    // Sum of the last sequence number of each read, so no read is optimised away.
    let mut check = 0u64;
    match mode.as_str() {
        "iter" => {
            for t in stream.ticks().take(want as usize) {
                check = check.wrapping_add(u64::from(t.seq));
                got += 1;
            }
        }
        "bulk" => {
            let mut buf = vec![Tick::default(); 4096];
            while got < want {
                let cap = buf.len().min((want - got) as usize);
                let n = stream.read_ticks_timeout(&mut buf[..cap], Duration::MAX);
                if n == 0 {
                    return Err("the stream ended".into());
                }
                check = check.wrapping_add(u64::from(buf[n - 1].seq));
                got += n as u64;
            }
        }
        other => return Err(format!("mode {other:?}: expected iter or bulk").into()),
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "rust-{mode} ticks {got} secs {secs:.4} ticks_per_sec {:.0} (check {check})",
        got as f64 / secs
    );
    drop(stream);
    runtime.shutdown();
    Ok(())
}
