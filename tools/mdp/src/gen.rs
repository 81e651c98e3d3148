//! `mdp gen`: write a synthetic tick file (or CSV), with a progress bar.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use market_data_pipeline::file::CsvWriter;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{SourcePoll, SymbolTable, Tick, TickFileWriter, TickSource};

/// Options of `mdp gen`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// Output file (`.csv` writes CSV, anything else a tick file).
    pub out: PathBuf,
    /// Number of ticks.
    #[arg(long, default_value_t = 1_000_000)]
    pub ticks: u64,
    /// Symbols (comma-separated).
    #[arg(
        long,
        default_value = "AAPL,MSFT,GOOG,AMZN,NVDA",
        value_delimiter = ','
    )]
    pub symbols: Vec<String>,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Event-time spacing between ticks, ns.
    #[arg(long, default_value_t = 1_000)]
    pub interval_ns: u64,
    /// Event time of the first tick, ns.
    #[arg(long, default_value_t = 1_700_000_000_000_000_000)]
    pub start_ns: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

enum Out {
    Ticks(TickFileWriter),
    Csv(CsvWriter<std::io::BufWriter<std::fs::File>>),
}

pub fn run(a: &GenArgs) -> Result<()> {
    if a.ticks == 0 {
        bail!("--ticks must be greater than 0");
    }
    let table = Arc::new(SymbolTable::new());
    let mut src = SyntheticSource::new(
        SyntheticConfig {
            seed: a.seed,
            max_ticks: Some(a.ticks),
            ..SyntheticConfig::new(&a.symbols)
        },
        table.clone(),
    )?;
    src.start(a.start_ns)?;
    let is_csv = a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut out = if is_csv {
        let f = std::fs::File::create(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        Out::Csv(CsvWriter::new(std::io::BufWriter::new(f))?)
    } else {
        Out::Ticks(TickFileWriter::create(&a.out, table.clone())?)
    };
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(a.ticks)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} ticks  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut buf = vec![Tick::default(); 4096];
    let mut written = 0u64;
    let mut names = market_data_pipeline::symbol::SymbolNames::new(table.clone());
    loop {
        let now = a
            .start_ns
            .saturating_add(written.saturating_mul(a.interval_ns));
        let n = match src.poll(now, &mut buf)? {
            SourcePoll::Ready(n) => n,
            SourcePoll::Pending => continue,
            SourcePoll::Ended => break,
        };
        for (k, t) in buf[..n].iter_mut().enumerate() {
            t.ts_event = now.saturating_add(k as u64 * a.interval_ns);
            t.ts_recv = t.ts_event;
        }
        match &mut out {
            Out::Ticks(w) => w.write_all(&buf[..n])?,
            Out::Csv(w) => {
                for t in &buf[..n] {
                    let name = names.get(t.symbol).unwrap_or("?").to_string();
                    w.write(t, &name)?;
                }
            }
        }
        written += n as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    match out {
        Out::Ticks(w) => {
            let s = w.finish()?;
            println!(
                "wrote {} ticks, {} symbols, {} bytes to {}",
                s.records,
                s.symbols,
                s.bytes,
                a.out.display()
            );
        }
        Out::Csv(w) => {
            w.finish()?;
            println!("wrote {written} ticks as CSV to {}", a.out.display());
        }
    }
    Ok(())
}
