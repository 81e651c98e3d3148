//! `mdp bench --pipelines N`: N pipelines sharing one worker set beside one pipeline alone on
//! the same set, in the same run, repeated.
//!
//! Each pipeline is the fair bench's (endless synthetic → passthrough → batcher → counting
//! sink), split into a source and a process task, or one task with `--fused`. A measurement
//! starts the pipelines on the set, waits until every one has delivered (warm-up), reads every
//! pipeline's delivered count,
//! waits `--window-secs`, reads them again: each pipeline's rate is its delivered difference
//! over the window; the total is their sum. The threads of the process are counted during the
//! window. Then every pipeline is stopped, joined and checked (no error, conserved, nothing in
//! flight). Ratios are within a run (total of N ÷ one alone); medians over the runs.
//!
//! Unless `--ring` is given, the pipelines get the library's default ring on a worker set
//! (the report names the capacity they got). Each run is probed for the cross-core hop
//! between the first two workers' cores before and after (see `benchkit::probe`): near, far or moved.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{
    PipelineContext, PipelineHandle, Placement, StreamingPipeline,
};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{CountingSink, HybridBatcher, Passthrough, SymbolTable};
use serde::Serialize;

use super::baseline::stopping;
use super::{median, BenchArgs, POLL};
use crate::{limits, signal};
use market_data_pipeline::benchkit::probe::{hop_ns, HopSplit, Regime};

/// The longest warm-up: every pipeline of a fair set delivers within milliseconds.
const WARMUP_BOUND: Duration = Duration::from_secs(60);

/// What one measurement saw.
#[derive(Debug, Clone, Serialize)]
struct Window {
    pipelines: usize,
    /// All pipelines together, M ticks/s.
    total_mtps: f64,
    /// The slowest and the fastest pipeline, M ticks/s.
    min_mtps: f64,
    max_mtps: f64,
    /// Threads of the process during the window, and of those the set's workers.
    threads: usize,
    worker_threads: usize,
    /// Slots of each pipeline's ring (`None`: fused).
    ring: Option<usize>,
    /// Ticks in a pipeline's ring at the end of the window, mean over the pipelines: how
    /// full the rings run (a full ring is read back long after it was written).
    mean_in_flight: f64,
    /// CPU time the workers ran during the window (s), and the total per worker CPU second
    /// (M ticks/s): what the work costs, whatever else shares the machine (`None` without
    /// `/proc/self/task/*/schedstat`).
    worker_cpu_secs: Option<f64>,
    mtps_per_cpu: Option<f64>,
}

/// One run: one pipeline alone, then N together, on the same set.
#[derive(Debug, Clone, Serialize)]
struct ManyRun {
    run: usize,
    alone: Window,
    many: Window,
    /// Total of the N ÷ one alone.
    total_vs_alone: f64,
    /// The same per worker CPU second: N's ticks per CPU second ÷ one alone's.
    per_cpu_vs_alone: Option<f64>,
    /// One-way cross-core hop (ns) between the first two workers' cores, before and after
    /// the run (`None`: one worker, or the probe did not complete).
    hop_before_ns: Option<u64>,
    hop_after_ns: Option<u64>,
    /// Near, far, moved or single (`None` without both probes).
    regime: Option<Regime>,
}

#[derive(Debug, Serialize)]
struct ManyReport {
    pipelines: usize,
    fused: bool,
    workers: usize,
    chunk: usize,
    /// Slots of each pipeline's ring (`None`: fused).
    ring: Option<usize>,
    window_secs: f64,
    runs: Vec<ManyRun>,
    /// How the runs' placements were split (given, or derived from their probes).
    hop_split: HopSplit,
    median_alone_mtps: f64,
    median_total_mtps: f64,
    median_total_vs_alone: f64,
    median_min_mtps: f64,
    median_max_mtps: f64,
    /// Median of the runs' `per_cpu_vs_alone` (0 when no run had it).
    median_per_cpu_vs_alone: f64,
    /// Median of the runs' mean ticks in flight per pipeline, alone and of the N.
    median_in_flight_alone: f64,
    median_in_flight_many: f64,
    /// A signal cut the runs short (the report covers the runs completed).
    interrupted: bool,
}

/// CPU time (s) the threads of this process whose name starts with `prefix` have run, from
/// `/proc/self/task/*/schedstat` (ns; `None` without it).
fn cpu_secs(prefix: &str) -> Option<f64> {
    let mut ns = 0u64;
    for e in std::fs::read_dir("/proc/self/task")
        .ok()?
        .filter_map(|e| e.ok())
    {
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// Threads of this process, and those whose name starts with `prefix` (`None` without
/// `/proc`).
fn threads(prefix: &str) -> Option<(usize, usize)> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    let names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .collect();
    let workers = names.iter().filter(|n| n.starts_with(prefix)).count();
    Some((names.len(), workers))
}

fn start(
    a: &BenchArgs,
    set: &WorkerSet,
    table: &Arc<SymbolTable>,
    i: usize,
) -> Result<PipelineHandle> {
    let source = SyntheticSource::new(
        SyntheticConfig {
            seed: i as u64,
            burst: a.chunk as u64,
            ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
        },
        Arc::clone(table),
    )?;
    let placement = if a.fused {
        Placement::Fused {
            core: CoreChoice::Unpinned,
        }
    } else {
        Placement::default()
    };
    let mut b = StreamingPipeline::builder()
        .source(source)
        .placement(placement)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(a.chunk, Duration::from_millis(1))?)
        .sink(CountingSink::new())
        .ctx(PipelineContext::new("bench", format!("p{i}")))
        .chunk_size(a.chunk);
    if let Some(slots) = a.ring {
        b = b.ring_capacity(slots);
    }
    Ok(b.build()?.start_on(set)?)
}

/// Sleep `d` in steps, giving up (false) when a signal asks to stop.
fn wait(d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stopping() {
            return false;
        }
        thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    true
}

/// `count` pipelines on `set` for one window. `None` when a signal stopped it.
fn measure(
    a: &BenchArgs,
    set: &WorkerSet,
    count: usize,
    window: Duration,
) -> Result<Option<Window>> {
    let table = Arc::new(SymbolTable::new());
    let handles = (0..count)
        .map(|i| start(a, set, &table, i))
        .collect::<Result<Vec<_>>>()?;
    let finish = |handles: Vec<PipelineHandle>| -> Result<()> {
        handles.iter().for_each(PipelineHandle::stop);
        for (i, h) in handles.into_iter().enumerate() {
            let r = h
                .join()
                .into_result()
                .with_context(|| format!("pipeline p{i}"))?;
            if !r.stats.is_conserved() || r.stats.in_flight() != 0 {
                bail!("pipeline p{i} lost ticks: {:?}", r.stats);
            }
        }
        Ok(())
    };
    let warm = Instant::now() + WARMUP_BOUND;
    while handles.iter().any(|h| h.stats().delivered == 0) {
        if Instant::now() > warm {
            finish(handles)?;
            bail!("a pipeline delivered nothing within {WARMUP_BOUND:?}");
        }
        if !wait(POLL) {
            finish(handles)?;
            return Ok(None);
        }
    }
    let read = || {
        handles
            .iter()
            .map(|h| h.stats().delivered)
            .collect::<Vec<u64>>()
    };
    let (d0, t0, c0) = (read(), Instant::now(), cpu_secs(set.name()));
    let waited = wait(window);
    let (d1, t1, c1) = (read(), Instant::now(), cpu_secs(set.name()));
    let in_flight: u64 = handles.iter().map(|h| h.stats().in_flight()).sum();
    let (threads, worker_threads) = threads(set.name()).unwrap_or((0, 0));
    let ring = handles[0].ring_capacity();
    finish(handles)?;
    if !waited {
        return Ok(None);
    }
    let secs = (t1 - t0).as_secs_f64().max(1e-9);
    let rates: Vec<f64> = d0
        .iter()
        .zip(&d1)
        .map(|(a, b)| (b - a) as f64 / secs / 1e6)
        .collect();
    let total_mtps: f64 = rates.iter().sum();
    let worker_cpu_secs = c0.zip(c1).map(|(a, b)| b - a);
    Ok(Some(Window {
        pipelines: count,
        total_mtps,
        worker_cpu_secs,
        mtps_per_cpu: worker_cpu_secs.map(|c| total_mtps * secs / c.max(1e-9)),
        min_mtps: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_mtps: rates.iter().copied().fold(0.0, f64::max),
        threads,
        worker_threads,
        ring,
        mean_in_flight: in_flight as f64 / count as f64,
    }))
}

/// Run `--pipelines N` mode.
pub(super) fn run(a: &BenchArgs) -> Result<()> {
    limits::within("--pipelines", a.pipelines, 1, MAX_PIPELINES)?;
    let window = limits::seconds("--window-secs", a.window_secs, 3600.0)?;
    let workers = match a.workers {
        Some(w) => limits::within("--workers", w, 1, market_data_pipeline::exec::MAX_WORKERS)?,
        None => market_data_pipeline::pin::available_cores(),
    };
    let set = WorkerSet::new(WorkerSetConfig {
        workers,
        ..WorkerSetConfig::default()
    })?;
    for w in set.warnings() {
        eprintln!("warning: {w}");
    }
    // The set pins worker i to core i (mod cores): probe the first two workers' cores while
    // they host nothing (parked).
    let probe = || {
        if workers > 1 {
            hop_ns(0, 1, stopping)
        } else {
            None
        }
    };
    let mut runs = Vec::new();
    let mut interrupted = false;
    for run in 1..=a.runs {
        if !a.json {
            eprintln!("run {run}/{} …", a.runs);
        }
        let hop_before_ns = probe();
        let Some(alone) = measure(a, &set, 1, window)? else {
            interrupted = true;
            break;
        };
        let Some(many) = measure(a, &set, a.pipelines, window)? else {
            interrupted = true;
            break;
        };
        let hop_after_ns = probe();
        let total_vs_alone = many.total_mtps / alone.total_mtps.max(1e-12);
        let per_cpu_vs_alone = many
            .mtps_per_cpu
            .zip(alone.mtps_per_cpu)
            .map(|(m, a)| m / a.max(1e-12));
        runs.push(ManyRun {
            run,
            alone,
            many,
            total_vs_alone,
            per_cpu_vs_alone,
            hop_before_ns,
            hop_after_ns,
            regime: None,
        });
    }
    set.shutdown();
    if runs.is_empty() {
        if let (true, Some(sig)) = (interrupted, signal::requested()) {
            return Err(signal::interrupted(sig, "no run completed".to_string()));
        }
        bail!("no run completed");
    }
    // Placements once every run is probed: the split comes from the session's probes.
    let probes: Vec<u64> = runs
        .iter()
        .flat_map(|r| r.hop_before_ns.into_iter().chain(r.hop_after_ns))
        .collect();
    let split = HopSplit::derive(&probes, a.far_hop_ns);
    for r in &mut runs {
        r.regime = r
            .hop_before_ns
            .zip(r.hop_after_ns)
            .map(|(b, f)| split.regime(b, f));
    }
    let med = |f: fn(&ManyRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let report = ManyReport {
        pipelines: a.pipelines,
        fused: a.fused,
        workers,
        chunk: a.chunk,
        ring: runs[0].many.ring,
        window_secs: window.as_secs_f64(),
        hop_split: split,
        median_alone_mtps: med(|r| r.alone.total_mtps),
        median_total_mtps: med(|r| r.many.total_mtps),
        median_total_vs_alone: med(|r| r.total_vs_alone),
        median_min_mtps: med(|r| r.many.min_mtps),
        median_max_mtps: med(|r| r.many.max_mtps),
        median_per_cpu_vs_alone: med(|r| r.per_cpu_vs_alone.unwrap_or(0.0)),
        median_in_flight_alone: med(|r| r.alone.mean_in_flight),
        median_in_flight_many: med(|r| r.many.mean_in_flight),
        runs,
        interrupted,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    if interrupted {
        // The same end as every other command a signal cut short (exit status 130).
        let sig = signal::requested().unwrap_or("a signal");
        let done = report.runs.len();
        return Err(signal::interrupted(
            sig,
            format!("{done} of {} runs completed and reported", a.runs),
        ));
    }
    Ok(())
}

/// The most pipelines `--pipelines` may ask for.
pub(super) const MAX_PIPELINES: usize = 10_000;

fn print(r: &ManyReport) {
    let ring = r.ring.map_or("none (fused)".to_string(), |n| n.to_string());
    println!(
        "{} {} pipelines on {} workers (chunk {}, ring {ring}, window {:.1} s); M ticks/s",
        r.pipelines,
        if r.fused { "fused" } else { "split" },
        r.workers,
        r.chunk,
        r.window_secs
    );
    println!("placement: {}", r.hop_split.describe());
    println!("run   alone   total  total/alone  min/pipeline  max/pipeline  threads (workers)  per CPU s: N/alone  hop ns (placement)");
    for run in &r.runs {
        let hop = |h: Option<u64>| h.map_or("-".to_string(), |h| h.to_string());
        println!(
            "{:>3} {:>7.2} {:>7.2} {:>12.2} {:>13.4} {:>13.4} {:>8} ({}) {:>19}  {}/{} ({})",
            run.run,
            run.alone.total_mtps,
            run.many.total_mtps,
            run.total_vs_alone,
            run.many.min_mtps,
            run.many.max_mtps,
            run.many.threads,
            run.many.worker_threads,
            run.per_cpu_vs_alone
                .map_or("-".to_string(), |r| format!("{r:.2}")),
            hop(run.hop_before_ns),
            hop(run.hop_after_ns),
            run.regime.map_or("-", Regime::as_str)
        );
    }
    println!(
        "med {:>7.2} {:>7.2} {:>12.2} {:>13.4} {:>13.4} {:>32.2}",
        r.median_alone_mtps,
        r.median_total_mtps,
        r.median_total_vs_alone,
        r.median_min_mtps,
        r.median_max_mtps,
        r.median_per_cpu_vs_alone
    );
    println!(
        "ticks in flight per ring (median of the runs' means): alone {:.0}, each of the {} {:.0}",
        r.median_in_flight_alone, r.pipelines, r.median_in_flight_many
    );
}
