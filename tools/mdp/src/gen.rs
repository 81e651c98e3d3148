//! `mdp gen`: write a synthetic tick file (or CSV), with a progress bar. The output is
//! finished only when every tick was written ([`crate::output`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{SourcePoll, SymbolTable, Tick, TickSource};

use crate::output::{self, Recorder};
use crate::{limits, signal};

/// Options of `mdp gen`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GenArgs {
    /// Output file (`.csv` writes CSV, anything else a tick file). It may replace only a
    /// regular file; it is written as `<path>.partial` and renamed when every tick is in.
    pub out: PathBuf,
    /// Number of ticks (1 to 10^10).
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
    /// Event-time spacing between ticks, ns (the last tick's time, start + interval × (ticks −
    /// 1), must fit in u64).
    #[arg(long, default_value_t = 1_000)]
    pub interval_ns: u64,
    /// Event time of the first tick, ns (see --interval-ns).
    #[arg(long, default_value_t = 1_700_000_000_000_000_000)]
    pub start_ns: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The event time of the last tick, or an error naming the flags when it does not fit in u64
/// (every later timestamp would otherwise saturate).
fn last_timestamp(a: &GenArgs) -> Result<u64> {
    let last = (a.ticks - 1)
        .checked_mul(a.interval_ns)
        .and_then(|span| a.start_ns.checked_add(span));
    match last {
        Some(t) => Ok(t),
        None => bail!(
            "--start-ns {} + --interval-ns {} × (--ticks {} − 1) overflows the u64 nanosecond \
             clock (max {}): lower --start-ns, --interval-ns or --ticks",
            a.start_ns,
            a.interval_ns,
            a.ticks,
            u64::MAX
        ),
    }
}

pub(crate) fn run(a: &GenArgs) -> Result<()> {
    limits::ticks("--ticks", a.ticks)?;
    last_timestamp(a)?;
    output::check(&[&a.out], &[])?;
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
    let mut out = Recorder::create(&a.out, table)?;
    match generate(a, &mut src, &mut out) {
        Ok(()) => {
            let s = out.finish()?;
            println!(
                "wrote {} ticks, {} bytes to {}",
                s.records,
                s.bytes,
                a.out.display()
            );
            Ok(())
        }
        Err(e) => Err(out.fail(e)),
    }
}

/// Poll the source to its end into `out`, with a progress bar; a signal stops it between
/// chunks (the caller then leaves the output unfinished).
fn generate(a: &GenArgs, src: &mut SyntheticSource, out: &mut Recorder) -> Result<()> {
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
    loop {
        if let Some(sig) = signal::requested() {
            signal::announce(sig, "leaving the output unfinished");
            bar.finish_and_clear();
            return Err(signal::interrupted(
                sig,
                format!("wrote {written} of {} ticks", a.ticks),
            ));
        }
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
        out.write(&buf[..n])?;
        written += n as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    Ok(())
}
