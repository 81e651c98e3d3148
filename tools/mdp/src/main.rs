//! `mdp`: run, generate, replay, serve/read over TCP and benchmark market-data pipelines.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_code)]

mod bench;
mod coordination;
mod feed;
mod gen;
mod limits;
mod logging;
mod orchestrated;
mod output;
mod plot;
mod replay;
mod run;
mod signal;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Market-data pipeline tool.
#[derive(Debug, Parser)]
#[command(name = "mdp", version, about, after_help = STOPPING)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Print the engine's events (state changes, never per tick) to stderr: -v info (with
    /// warnings and errors), -vv debug. Without it, none. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Event format on stderr.
    #[arg(long, value_enum, default_value_t = logging::LogFormat::Text, global = true)]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the failover demo (two synthetic providers, faults in the primary), a
    /// PipelineRuntime from a TOML file (--config), or one bar pipeline (--bars).
    Run(run::RunArgs),
    /// Write a synthetic tick file (or CSV when the name ends in .csv).
    Gen(gen::GenArgs),
    /// Replay a tick file through a pipeline.
    Replay(replay::ReplayArgs),
    /// TCP feed demo: `feed serve` publishes synthetic ticks, `feed read ADDR` subscribes.
    Feed(feed::FeedArgs),
    /// Throughput and latency of the pipeline beside a bare rtrb ring and a crossbeam channel.
    Bench(bench::BenchArgs),
}

/// How runs stop (shown by `mdp --help`; the README says the same).
const STOPPING: &str = "\
Stopping: the first SIGINT (Ctrl-C) or SIGTERM stops a run gracefully: the pipeline or runtime
is stopped and drained, the summary is printed, and mdp exits with status 130. A second signal
ends mdp at once, also with status 130. An interrupted run never finishes its recording: a
recording (gen, replay --out/--csv) is renamed from <path>.partial to <path> only when its run
succeeded; an interrupted one stays at <path>.partial (a tick file's header says unfinished,
and every tick-file reader refuses it).
Exit status: 0 success, 2 error (bad input, failed run), 130 interrupted.";

fn main() {
    let cli = Cli::parse();
    logging::install(cli.verbose, cli.log_format);
    if let Err(e) = signal::install() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
    if let Err(e) = dispatch(cli) {
        // A signal can also end a wait with an error (reading a FIFO): still an interruption.
        if e.downcast_ref::<signal::Interrupted>().is_some() || signal::requested().is_some() {
            eprintln!("mdp: {e:#}");
            std::process::exit(signal::EXIT_INTERRUPTED);
        }
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Run(a) => run::run(&a),
        Cmd::Bench(a) => bench::run(&a),
        Cmd::Gen(a) => gen::run(&a),
        Cmd::Replay(a) => replay::run(&a),
        Cmd::Feed(a) => feed::run(&a),
    }
}
