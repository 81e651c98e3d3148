//! `mdp run`: by default the failover demo (a `PipelineRuntime` routing two synthetic
//! providers, faults injected into the primary); `--config FILE` runs a runtime from TOML;
//! `--bars` runs the single pipeline synthetic ticks → OHLCV bars → batcher with a live stats
//! line and a summary.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pipeline::{PipelineContext, StreamingPipeline};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::sink::consumer_sink;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{Bar, HybridBatcher, Record, SymbolTable};
use serde_json::json;

use crate::{limits, signal};

/// Options of `mdp run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Symbols (comma-separated).
    #[arg(
        long,
        default_value = "AAPL,MSFT,GOOG,AMZN,NVDA",
        value_delimiter = ','
    )]
    pub symbols: Vec<String>,
    /// Synthetic ticks per second (0 = unpaced; at most 10^9).
    #[arg(long, default_value_t = 1_000_000)]
    pub rate: u64,
    /// How long to run, seconds (positive, at most one year).
    #[arg(long, default_value_t = 3.0, allow_hyphen_values = true)]
    pub duration: f64,
    /// Bar window, milliseconds (1 ms to 31 days; `--bars-ms` is the same flag).
    #[arg(long, alias = "bars-ms", default_value_t = 1000)]
    pub bar_ms: u64,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// The single bar pipeline (ticks → bars → batcher) instead of the failover demo.
    #[arg(long)]
    pub bars: bool,
    /// Run a PipelineRuntime from this TOML file (see examples/config/; at most 16 MiB are
    /// read, so a pipe or device is fine).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Serve Prometheus/OpenMetrics metrics at http://ADDR/metrics while the runtime runs
    /// (IP:port, e.g. 127.0.0.1:9100; port 0 picks a free one, printed at start). Replaces
    /// the config's `metrics_addr`. Not with --bars.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
}

pub(crate) fn run(a: &RunArgs) -> Result<()> {
    let duration = limits::seconds("--duration", a.duration, limits::MAX_SECONDS)?;
    let metrics = a.metrics.as_deref();
    if let Some(addr) = metrics {
        market_data_pipeline::metrics::parse_addr("--metrics", addr)?;
    }
    if let Some(path) = &a.config {
        return crate::orchestrated::run_file(path, duration, a.json, metrics);
    }
    if !a.bars {
        return crate::orchestrated::run_demo(duration, a.json, metrics);
    }
    if metrics.is_some() {
        bail!("--metrics serves a runtime's metrics: not with --bars (a bare pipeline)");
    }
    let window = limits::bar_window("--bar-ms", a.bar_ms)?;
    limits::within("--rate", a.rate, 0, limits::MAX_RATE)?;
    let table = Arc::new(SymbolTable::new());
    let source = SyntheticSource::new(
        SyntheticConfig {
            rate: (a.rate > 0).then_some(a.rate),
            burst: 1_000,
            seed: a.seed,
            ..SyntheticConfig::new(&a.symbols)
        },
        table.clone(),
    )?;
    let bars = BarOperator::new(BarConfig::new(window, Duration::ZERO))?;
    let (sink, mut stream) = consumer_sink(1 << 12, Backpressure::Block)?;
    let handle = StreamingPipeline::builder()
        .source(source)
        .operator(bars)
        .batcher(HybridBatcher::new(500, Duration::from_millis(250))?)
        .sink(sink)
        .ctx(PipelineContext::new("cli", "run"))
        .build()?
        .start()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut last: BTreeMap<u32, Bar> = BTreeMap::new();
    let mut bars_seen = 0u64;
    let mut next_line = started;
    let mut stopped = false;
    let mut interrupted = None;
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = stream.try_recv_into(&mut buf, 1024);
        for r in &buf {
            if let Record::Bar(b) = r {
                bars_seen += 1;
                last.insert(b.symbol.0, *b);
            }
        }
        let now = Instant::now();
        if !stopped {
            if let Some(sig) = signal::requested() {
                signal::announce(sig, "draining the pipeline, open bars included");
                interrupted = Some(sig);
            }
            if interrupted.is_some() || now >= deadline {
                handle.stop();
                stopped = true;
            }
        }
        if !a.json && now >= next_line {
            let s = handle.stats();
            eprint!(
                "\r{:>6.2}s  ticks {:>11}  bars {:>7}  in flight {:>6}  p50 {:>9} ns  [{}]   ",
                started.elapsed().as_secs_f64(),
                s.produced,
                bars_seen,
                s.in_flight(),
                s.latency.p50,
                s.state.as_str()
            );
            let _ = std::io::stderr().flush();
            next_line = now + Duration::from_millis(250);
        }
        if n == 0 {
            if stream.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let report = handle.join();
    if !a.json {
        eprintln!();
    }
    let s = &report.stats;
    if a.json {
        let out = json!({
            "elapsed_s": report.elapsed.as_secs_f64(),
            "ticks_produced": s.produced,
            "ticks_processed": s.ticks_in,
            "bars": s.delivered,
            "dropped": s.lost(),
            "conserved": s.is_conserved(),
            "latency_ns": {"p50": s.latency.p50, "p99": s.latency.p99, "max": s.latency.max},
            "error": report.error.as_ref().map(|e| e.to_string()),
            "interrupted": interrupted.is_some(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "ran {:.2}s: {} ticks produced, {} processed ({:.2} M/s), {} bars delivered, {} dropped, conserved: {}",
            report.elapsed.as_secs_f64(),
            s.produced,
            s.ticks_in,
            s.ticks_in as f64 / report.elapsed.as_secs_f64() / 1e6,
            s.delivered,
            s.lost(),
            s.is_conserved()
        );
        println!(
            "latency ts_recv → sink (bars, includes the window): p50 {} ns, p99 {} ns",
            s.latency.p50, s.latency.p99
        );
        println!("\nlast bar per symbol:");
        println!(
            "  {:<8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>14} {:>7}",
            "symbol", "open", "high", "low", "close", "volume", "vwap", "trades"
        );
        for b in last.values() {
            let name = table
                .name(b.symbol)
                .map(|n| n.to_string())
                .unwrap_or_default();
            println!(
                "  {:<8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>14} {:>7}",
                name,
                b.open.to_string(),
                b.high.to_string(),
                b.low.to_string(),
                b.close.to_string(),
                b.volume,
                b.vwap.to_string(),
                b.trades
            );
        }
    }
    if let Some(e) = report.error {
        bail!("pipeline failed: {e}");
    }
    if let Some(signal) = interrupted {
        return Err(signal::interrupted(
            signal,
            format!(
                "stopped after {:.2}s; the pipeline was drained and the summary covers the run",
                report.elapsed.as_secs_f64()
            ),
        ));
    }
    Ok(())
}
