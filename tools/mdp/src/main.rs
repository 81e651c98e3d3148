//! `mdp`: run, generate, replay and benchmark market-data pipelines.

mod bench;
mod orchestrated;
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
    /// Throughput and latency of the pipeline beside a bare rtrb ring and a crossbeam channel.
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => run::run(&a),
        Cmd::Bench(a) => bench::run(&a),
    }
}
