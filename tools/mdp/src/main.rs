//! `mdp`: run, generate, replay, serve/read over TCP and benchmark market-data pipelines.

mod bench;
mod feed;
mod gen;
mod orchestrated;
mod output;
mod replay;
mod run;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Market-data pipeline tool.
#[derive(Debug, Parser)]
#[command(name = "mdp", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
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

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
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
