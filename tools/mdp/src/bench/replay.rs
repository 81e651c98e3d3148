//! `mdp bench --replay FILE`: the replay pipeline `mdp replay` runs, at max speed, beside a
//! bare mmap → rtrb ring copy of the same file, on the same two pinned cores, in one run,
//! repeated; each run probed for the cross-core hop and reported in its placement group.
//!
//! Both sides map the file afresh each run (the same [`TickFile::open`], so the same page
//! faults on the same page-cache pages), stamp `ts_recv` once per chunk, move chunks of the
//! same size through a ring of the same size, and do the same sink work per tick (the
//! counting sink's checksum, latency per run of equal `ts_recv`, counters per batch). The file
//! is read once before the first run so both find it in the page cache.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use anyhow::{bail, Context, Result};
use market_data_pipeline::pipeline::Placement;
use market_data_pipeline::{
    CountingSink, IdleStrategy, Passthrough, ReplayConfig, ReplaySource, SymbolTable, TickFile,
};
use serde::Serialize;

use super::baseline::{bare_mmap_ring, stopping};
use super::{conclude, median, repeat, BenchArgs, RunResult, Setup, POLL};
use market_data_pipeline::benchkit::probe::{hop_ns, HopSplit, Regime};

/// One run: its hop probes, placement and both contenders.
#[derive(Debug, Clone, Serialize)]
struct ReplayRun {
    run: usize,
    hop_before_ns: u64,
    hop_after_ns: u64,
    placement: Regime,
    mmap_ring: RunResult,
    replay: RunResult,
    /// replay ÷ bare mmap ring, throughput, within the run.
    replay_vs_mmap_ring: f64,
}

/// The medians of the runs of one placement.
#[derive(Debug, Clone, Serialize)]
struct ReplayGroup {
    placement: Regime,
    runs: Vec<usize>,
    hop_ns: f64,
    mmap_ring_mtps: f64,
    replay_mtps: f64,
    replay_vs_mmap_ring: f64,
}

#[derive(Debug, Serialize)]
struct ReplayReport {
    file: String,
    #[serde(flatten)]
    setup: Setup,
    per_run: Vec<ReplayRun>,
    groups: Vec<ReplayGroup>,
}

/// Read `path` once (into nothing) so that every run finds it in the page cache.
fn warm(path: &Path) -> Result<()> {
    // Checked and opened without waiting, as every input: the path may have changed since it
    // was validated.
    let (mut f, _) = market_data_pipeline::file::input::open_regular(path, "it is read whole")?;
    std::io::copy(&mut f, &mut std::io::sink()).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

/// The replay pipeline of `mdp replay` (passthrough, counting sink), pinned on the two cores,
/// waited for by joining (no polling delay in its elapsed time). `None` when a signal stopped
/// it.
fn replay_pipeline(
    a: &BenchArgs,
    path: &Path,
    strategy: IdleStrategy,
) -> Result<Option<RunResult>> {
    let file = TickFile::open(path)?;
    let n = file.len();
    let source = ReplaySource::new(file, Arc::new(SymbolTable::new()), ReplayConfig::default())?;
    let sink = CountingSink::new();
    let counts = sink.counts();
    let handle = crate::replay::pipeline(
        source,
        Box::new(Passthrough::new()),
        Box::new(sink),
        a.chunk,
    )?
    .placement(Placement::pinned(a.producer_core, a.consumer_core))
    .ring_capacity(a.dedicated_ring())
    .idle(strategy)
    .build()?
    .start()?;
    // A watcher stops the pipeline on a signal while this thread joins it.
    let monitor = handle.monitor();
    let done = Arc::new(AtomicBool::new(false));
    let watcher_done = Arc::clone(&done);
    let watcher = thread::spawn(move || {
        // Relaxed: a flag that only ends this loop.
        while !watcher_done.load(Ordering::Relaxed) {
            if stopping() {
                monitor.stop();
                return true;
            }
            thread::sleep(POLL);
        }
        false
    });
    let report = handle.join();
    done.store(true, Ordering::Relaxed);
    let stopped = watcher.join().unwrap_or(false);
    let report = report.into_result()?;
    if stopped {
        return Ok(None);
    }
    if report.stats.delivered != n || counts.records() != n || !report.stats.is_conserved() {
        bail!("replay lost ticks: {:?}", report.stats);
    }
    Ok(Some(RunResult::new(
        n,
        report.elapsed,
        report.stats.latency,
    )))
}

/// Run `mdp bench --replay`.
pub(super) fn run(a: &BenchArgs, path: &Path, strategy: IdleStrategy) -> Result<()> {
    let ticks = TickFile::open(path)?.len();
    if ticks == 0 {
        bail!(
            "{}: the file holds no record; nothing to measure",
            path.display()
        );
    }
    warm(path)?;
    let (mut per_run, interrupted) = repeat(a, |run| one_run(a, path, strategy, run))?;
    // Placements once every run is probed: the split comes from the session's probes.
    let probes: Vec<u64> = per_run
        .iter()
        .flat_map(|r| [r.hop_before_ns, r.hop_after_ns])
        .collect();
    let split = HopSplit::derive(&probes, a.far_hop_ns);
    for r in &mut per_run {
        r.placement = split.regime(r.hop_before_ns, r.hop_after_ns);
    }
    let report = ReplayReport {
        file: path.display().to_string(),
        setup: Setup::new(a, ticks, per_run.len(), split),
        groups: groups(&per_run),
        per_run,
    };
    conclude(a, &report, print_table, report.setup.runs, interrupted)
}

fn one_run(
    a: &BenchArgs,
    path: &Path,
    strategy: IdleStrategy,
    run: usize,
) -> Result<Option<ReplayRun>> {
    let Some(before) = hop_ns(a.producer_core, a.consumer_core, stopping) else {
        return Ok(None);
    };
    let Some((mmap_ring, _)) = bare_mmap_ring(a, TickFile::open(path)?, strategy)? else {
        return Ok(None);
    };
    let Some(replay) = replay_pipeline(a, path, strategy).context("replay pipeline run")? else {
        return Ok(None);
    };
    let Some(after) = hop_ns(a.producer_core, a.consumer_core, stopping) else {
        return Ok(None);
    };
    Ok(Some(ReplayRun {
        run,
        hop_before_ns: before,
        hop_after_ns: after,
        // Set once every run is probed (see `run`).
        placement: Regime::Single,
        replay_vs_mmap_ring: replay.rate / mmap_ring.rate,
        mmap_ring,
        replay,
    }))
}

fn groups(runs: &[ReplayRun]) -> Vec<ReplayGroup> {
    Regime::ALL
        .into_iter()
        .filter_map(|placement| {
            let rows: Vec<&ReplayRun> = runs.iter().filter(|r| r.placement == placement).collect();
            if rows.is_empty() {
                return None;
            }
            let med =
                |f: fn(&ReplayRun) -> f64| median(&rows.iter().map(|r| f(r)).collect::<Vec<_>>());
            Some(ReplayGroup {
                placement,
                runs: rows.iter().map(|r| r.run).collect(),
                hop_ns: med(|r| (r.hop_before_ns + r.hop_after_ns) as f64 / 2.0),
                mmap_ring_mtps: med(|r| r.mmap_ring.rate / 1e6),
                replay_mtps: med(|r| r.replay.rate / 1e6),
                replay_vs_mmap_ring: med(|r| r.replay_vs_mmap_ring),
            })
        })
        .collect()
}

fn print_table(r: &ReplayReport) {
    println!("mdp bench --replay {} — {}", r.file, r.setup.describe());
    println!("\neach run (throughput M ticks/s):");
    println!(
        "  {:>3} {:>9} {:>6} {:>9} {:>9} {:>8}",
        "run", "hop ns", "place", "mmap→ring", "replay", "rep/ring"
    );
    for x in &r.per_run {
        println!(
            "  {:>3} {:>4}/{:<4} {:>6} {:>9.1} {:>9.1} {:>8.2}",
            x.run,
            x.hop_before_ns,
            x.hop_after_ns,
            x.placement.as_str(),
            x.mmap_ring.rate / 1e6,
            x.replay.rate / 1e6,
            x.replay_vs_mmap_ring
        );
    }
    println!("\nmedians per placement (ratio: median of the ratios within each run):");
    for g in &r.groups {
        let runs: Vec<String> = g.runs.iter().map(|n| n.to_string()).collect();
        println!(
            "  {:<5} runs {} (hop ~{:.0} ns): bare mmap→ring {:.1}, replay {:.1} M ticks/s; \
             replay/ring {:.2}",
            g.placement.as_str(),
            runs.join(","),
            g.hop_ns,
            g.mmap_ring_mtps,
            g.replay_mtps,
            g.replay_vs_mmap_ring
        );
    }
}
