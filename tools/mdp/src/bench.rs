//! `mdp bench`: end-to-end throughput and latency of the pipeline beside a bare rtrb chunk ring
//! and a crossbeam channel carrying the same 64-byte ticks between the same two pinned threads,
//! with the same per-tick work at both ends (see `baseline`), in one run, repeated. Each run is
//! probed for the cross-core hop before and after (see `market_data_pipeline::benchkit::probe`) and reported in its group
//! (near, far, moved); ratios within each run, medians per group.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use market_data_pipeline::pipeline::{LatencySummary, Placement, StageHost, StreamingPipeline};
use market_data_pipeline::router::{RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    CountingSink, HybridBatcher, IdleStrategy, Passthrough, SymbolTable, TickSource,
};
use serde::Serialize;

use crate::{limits, signal};

mod baseline;
mod many;
mod replay;
mod report;

use baseline::{bare_ring, crossbeam_channel, stopping};
use market_data_pipeline::benchkit::probe::{hop_ns, HopSplit, Regime};
use report::{print_table, Group, PerRun};

/// Options of `mdp bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Ticks per throughput run (1 to 10^10).
    #[arg(long, default_value_t = 20_000_000)]
    pub ticks: u64,
    /// Repetitions (medians are reported; 1 to 1000).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Core of the producing thread.
    #[arg(long, default_value_t = 0)]
    pub producer_core: usize,
    /// Core of the consuming thread.
    #[arg(long, default_value_t = 1)]
    pub consumer_core: usize,
    /// Ticks per chunk (and batch; 1 to 65536).
    #[arg(long, default_value_t = 256)]
    pub chunk: usize,
    /// Ring slots (--chunk to 2^24 = 16777216). Default: the library's default for where
    /// the stages run: 16384 on dedicated threads (the fair bench, --replay), 8 chunks on a
    /// worker set (--pipelines).
    #[arg(long)]
    pub ring: Option<usize>,
    /// Paced rate (ticks/s) of the latency runs (1 to 10^9).
    #[arg(long, default_value_t = 1_000_000)]
    pub latency_rate: u64,
    /// Duration (s) of each latency run (positive; rate × duration at most 10^10 ticks).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub latency_secs: f64,
    /// Wait with spin → yield → park instead of busy-spinning.
    #[arg(long)]
    pub backoff: bool,
    /// One-way cross-core hop (ns) from which a run counts as far, overriding the split
    /// derived from the session's hop probes (two levels at least 2× apart: their geometric
    /// mean; one level: every run is one placement, `single`).
    #[arg(long)]
    pub far_hop_ns: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the pipeline's and the bare ring's latency percentile distributions (.hgrm text)
    /// with this path prefix.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Draw an SVG: the bare ring's and the pipeline's latency percentile distributions (the
    /// last run's; log-scale percentile axis) and every contender's throughput per run.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Instead of the fair bench: this many endless pipelines on one worker set beside one
    /// pipeline alone on the same set (total throughput ratio, min/max per pipeline, threads;
    /// 1 to 10000).
    #[arg(long, default_value_t = 0)]
    pub pipelines: usize,
    /// Workers of the set in --pipelines mode (default: one per available core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// In --pipelines mode, fuse each pipeline's stages into one task (no ring) instead of a
    /// source and a process task on different workers.
    #[arg(long)]
    pub fused: bool,
    /// Measuring window (s) of each --pipelines measurement.
    #[arg(long, default_value_t = 2.0, allow_hyphen_values = true)]
    pub window_secs: f64,
    /// Instead: `mdp replay`'s pipeline on this tick file at max speed beside a bare mmap →
    /// rtrb ring copy of it (--ticks and the latency flags do not apply).
    #[arg(long, conflicts_with_all = ["hgrm", "pipelines", "plot"])]
    pub replay: Option<PathBuf>,
}

impl BenchArgs {
    /// Slots of a ring between stages on dedicated threads: `--ring`, or the library's
    /// default there.
    pub(crate) fn dedicated_ring(&self) -> usize {
        StageHost::Dedicated.ring_capacity(self.ring, self.chunk)
    }
}

#[derive(Debug, Clone, Serialize, Default)]
struct RunResult {
    ticks: u64,
    secs: f64,
    rate: f64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    max_ns: u64,
}

impl RunResult {
    fn new(ticks: u64, elapsed: Duration, lat: LatencySummary) -> RunResult {
        let secs = elapsed.as_secs_f64();
        RunResult {
            ticks,
            secs,
            rate: ticks as f64 / secs.max(1e-9),
            p50_ns: lat.p50,
            p99_ns: lat.p99,
            p999_ns: lat.p999,
            max_ns: lat.max,
        }
    }
}

/// How a report's runs were made (the same fields in both modes' JSON).
#[derive(Debug, Serialize)]
struct Setup {
    ticks: u64,
    runs: usize,
    cores: (usize, usize),
    chunk: usize,
    ring: usize,
    idle: &'static str,
    /// One-way hop (ns) from which a run counts as far (`None`: the probes showed one level).
    far_hop_ns: Option<u64>,
    /// How that split was found: given, or derived from the probes (their levels).
    hop_split: HopSplit,
}

impl Setup {
    fn new(a: &BenchArgs, ticks: u64, runs: usize, split: HopSplit) -> Setup {
        Setup {
            ticks,
            runs,
            cores: (a.producer_core, a.consumer_core),
            chunk: a.chunk,
            ring: a.dedicated_ring(),
            idle: if a.backoff { "backoff" } else { "busy-spin" },
            far_hop_ns: split.far_ns(),
            hop_split: split,
        }
    }

    /// "N ticks × R runs, cores P→C, chunk K, ring S, idle; <how runs split near/far>".
    fn describe(&self) -> String {
        format!(
            "{} ticks × {} runs, cores {}→{}, chunk {}, ring {}, {}; {}",
            self.ticks,
            self.runs,
            self.cores.0,
            self.cores.1,
            self.chunk,
            self.ring,
            self.idle,
            self.hop_split.describe()
        )
    }
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    setup: Setup,
    latency_rate: u64,
    throughput: Rows,
    latency: Rows,
    /// Each run: its hop probes, placement and ratios (within the run).
    per_run: Vec<PerRun>,
    /// Medians per placement (near, far, moved; only those seen).
    groups: Vec<Group>,
}

#[derive(Debug, Serialize, Default)]
struct Rows {
    bare_ring: Vec<RunResult>,
    crossbeam: Vec<RunResult>,
    pipeline: Vec<RunResult>,
    /// The same pipeline with its source behind a `SourceRouter` (`First`, healthy sources).
    pipeline_router: Vec<RunResult>,
}

/// The payload of every contender: the seeded synthetic random walk over four symbols,
/// `n` ticks, paced at `rate` (bursts of a chunk) or unpaced.
fn synthetic(
    a: &BenchArgs,
    name: &str,
    n: u64,
    rate: Option<u64>,
    table: &Arc<SymbolTable>,
) -> Result<SyntheticSource> {
    Ok(SyntheticSource::new(
        SyntheticConfig {
            name: name.to_string(),
            rate,
            burst: a.chunk as u64,
            max_ticks: Some(n),
            ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
        },
        Arc::clone(table),
    )?)
}

/// A fresh payload source for a baseline.
fn payload(a: &BenchArgs, n: u64, rate: Option<u64>) -> Result<SyntheticSource> {
    synthetic(a, "synthetic", n, rate, &Arc::new(SymbolTable::new()))
}

/// The engine: unpaced (or paced) synthetic → passthrough → counting sink, split across the
/// two pinned cores. `None` when a signal stopped it.
fn pipeline(
    a: &BenchArgs,
    n: u64,
    rate: Option<u64>,
    strategy: IdleStrategy,
    routed: bool,
) -> Result<Option<(RunResult, Histogram<u64>)>> {
    let table = Arc::new(SymbolTable::new());
    let synthetic = |name: &str| synthetic(a, name, n, rate, &table);
    let mut control = None;
    let source: Box<dyn TickSource> = if routed {
        // One healthy source behind the router: its per-poll cost on the happy path (a
        // finite standby would be switched to when the primary ends and add ticks).
        let router = SourceRouter::new(
            vec![Box::new(synthetic("primary")?)],
            RoutingStrategy::First,
        )?;
        control = Some(router.control());
        Box::new(router)
    } else {
        Box::new(synthetic("synthetic")?)
    };
    let sink = CountingSink::new();
    let counts = sink.counts();
    let handle = StreamingPipeline::builder()
        .boxed_source(source)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(a.chunk, Duration::from_millis(1))?)
        .sink(sink)
        .placement(Placement::pinned(a.producer_core, a.consumer_core))
        .chunk_size(a.chunk)
        .ring_capacity(a.dedicated_ring())
        .idle(strategy)
        .build()?
        .start()?;
    let mut stopped = false;
    while !handle.is_finished() {
        if !stopped && stopping() {
            handle.stop();
            stopped = true;
        }
        thread::sleep(POLL);
    }
    let report = handle.join().into_result()?;
    if stopped {
        return Ok(None);
    }
    if report.stats.delivered != n || counts.records() != n || !report.stats.is_conserved() {
        bail!("pipeline lost ticks: {:?}", report.stats);
    }
    if let Some(control) = control {
        // The router's final stats: its sources' delivered counts sum to what it delivered.
        let stats = control.stats();
        let per_source: u64 = stats.sources.iter().map(|s| s.delivered).sum();
        if (per_source, stats.delivered) != (n, n) {
            bail!(
                "router counted {per_source} ticks per source, {} in all, of {n}",
                stats.delivered
            );
        }
    }
    Ok(Some((
        RunResult::new(n, report.elapsed, report.stats.latency),
        report.latency_histogram,
    )))
}

/// How often a waiting main thread looks at the signal flag.
const POLL: Duration = Duration::from_millis(10);

/// One repetition: every contender, throughput then latency. `None` when a signal stopped it
/// (between contenders, or inside a pipeline run); its rows are then not reported.
struct OneRun {
    /// One-way hop (ns) probed before and after the run.
    hop: (u64, u64),
    thr: [RunResult; 4],
    lat: [RunResult; 2],
    ring_hist: Histogram<u64>,
    pipeline_hist: Histogram<u64>,
}

fn one_run(a: &BenchArgs, lat_ticks: u64, strategy: IdleStrategy) -> Result<Option<OneRun>> {
    let Some(before) = hop_ns(a.producer_core, a.consumer_core, stopping) else {
        return Ok(None);
    };
    // Interleave the contenders inside each run so drift on the host hits all alike.
    let Some((ring, _)) = bare_ring(a, payload(a, a.ticks, None)?, a.ticks, strategy)? else {
        return Ok(None);
    };
    let Some((channel, _)) = crossbeam_channel(a, payload(a, a.ticks, None)?, a.ticks, strategy)?
    else {
        return Ok(None);
    };
    let Some((plain, _)) = pipeline(a, a.ticks, None, strategy, false).context("pipeline run")?
    else {
        return Ok(None);
    };
    let Some((routed, _)) =
        pipeline(a, a.ticks, None, strategy, true).context("routed pipeline run")?
    else {
        return Ok(None);
    };
    let rate = Some(a.latency_rate);
    let Some((ring_lat, ring_hist)) =
        bare_ring(a, payload(a, lat_ticks, rate)?, lat_ticks, strategy)?
    else {
        return Ok(None);
    };
    let Some((pipe_lat, pipeline_hist)) = pipeline(a, lat_ticks, rate, strategy, false)? else {
        return Ok(None);
    };
    let Some(after) = hop_ns(a.producer_core, a.consumer_core, stopping) else {
        return Ok(None);
    };
    Ok(Some(OneRun {
        hop: (before, after),
        thr: [ring, channel, plain, routed],
        lat: [ring_lat, pipe_lat],
        ring_hist,
        pipeline_hist,
    }))
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        0.0
    } else {
        s[s.len() / 2]
    }
}

/// Check the flags both modes use: `--runs`, `--chunk`, `--ring`.
fn check_shape(a: &BenchArgs) -> Result<()> {
    limits::within("--runs", a.runs, 1, limits::MAX_RUNS)?;
    limits::within("--chunk", a.chunk, 1, limits::MAX_CHUNK)?;
    if let Some(ring) = a.ring.filter(|&r| r < a.chunk || r > limits::MAX_RING) {
        bail!(
            "--ring {ring}: must be --chunk ({}) to {} slots",
            a.chunk,
            limits::MAX_RING
        );
    }
    Ok(())
}

/// Check the flags (bounds in `--help`); returns the tick count of a latency run.
fn check_args(a: &BenchArgs) -> Result<u64> {
    limits::ticks("--ticks", a.ticks)?;
    check_shape(a)?;
    limits::within("--latency-rate", a.latency_rate, 1, limits::MAX_RATE)?;
    let secs = limits::seconds("--latency-secs", a.latency_secs, limits::MAX_SECONDS)?;
    let lat_ticks = ((a.latency_rate as f64) * secs.as_secs_f64()).max(1.0);
    if lat_ticks > limits::MAX_TICKS as f64 {
        bail!(
            "--latency-rate {} × --latency-secs {} is {lat_ticks:.0} ticks per latency run; at \
             most {} are allowed",
            a.latency_rate,
            a.latency_secs,
            limits::MAX_TICKS
        );
    }
    Ok(lat_ticks as u64)
}

/// Run the benchmark.
pub(crate) fn run(a: &BenchArgs) -> Result<()> {
    if a.pipelines > 0 {
        check_shape(a)?;
        return many::run(a);
    }
    let lat_ticks = check_args(a)?;
    let cores = core_affinity::get_core_ids().map_or(1, |v| v.len());
    if a.producer_core >= cores || a.consumer_core >= cores {
        bail!("this machine has {cores} cores; --producer-core/--consumer-core must be below that");
    }
    let strategy = if a.backoff {
        IdleStrategy::default()
    } else {
        IdleStrategy::BusySpin
    };
    if let Some(path) = &a.replay {
        return replay::run(a, path, strategy);
    }
    if let Some(prefix) = &a.hgrm {
        let (ring, pipeline) = hgrm_paths(prefix);
        crate::output::check(&[&ring, &pipeline], &[])?;
    }
    if let Some(path) = &a.plot {
        crate::output::check(&[path], &[])?;
    }
    let (runs, interrupted) = repeat(a, |_| one_run(a, lat_ticks, strategy))?;
    let done = runs.len();
    let mut thr = Rows::default();
    let mut lat = Rows::default();
    let mut last_ring_hist = None;
    let mut last_pipeline_hist = None;
    let mut hops = Vec::new();
    for one in runs {
        hops.push(one.hop);
        let [ring, channel, plain, routed] = one.thr;
        thr.bare_ring.push(ring);
        thr.crossbeam.push(channel);
        thr.pipeline.push(plain);
        thr.pipeline_router.push(routed);
        let [ring_lat, pipe_lat] = one.lat;
        lat.bare_ring.push(ring_lat);
        lat.pipeline.push(pipe_lat);
        last_ring_hist = Some(one.ring_hist);
        last_pipeline_hist = Some(one.pipeline_hist);
    }
    let probes: Vec<u64> = hops.iter().flat_map(|&(b, f)| [b, f]).collect();
    let split = HopSplit::derive(&probes, a.far_hop_ns);
    let per_run = report::per_run(&thr, &lat, &hops, &split);
    let report = Report {
        setup: Setup::new(a, a.ticks, done, split),
        latency_rate: a.latency_rate,
        groups: report::groups(&per_run),
        per_run,
        throughput: thr,
        latency: lat,
    };
    if let (Some(path), Some(r), Some(p)) = (&a.plot, &last_ring_hist, &last_pipeline_hist) {
        plot(a, path, &report, r, p)?;
    }
    if let (Some(prefix), Some(r), Some(p)) = (&a.hgrm, last_ring_hist, last_pipeline_hist) {
        let (ring, pipeline) = hgrm_paths(prefix);
        write_hgrm(&ring, &r)?;
        write_hgrm(&pipeline, &p)?;
    }
    conclude(a, &report, print_table, done, interrupted)
}

/// `--plot`: the last run's latency distributions and every run's throughput.
fn plot(
    a: &BenchArgs,
    path: &std::path::Path,
    report: &Report,
    ring: &Histogram<u64>,
    pipeline: &Histogram<u64>,
) -> Result<()> {
    use crate::plot::{bench_svg, percentile_points};
    let per_run = |rows: &[RunResult]| -> Vec<(f64, f64)> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (i as f64 + 1.0, r.rate / 1e6))
            .collect()
    };
    let t = &report.throughput;
    let title = format!(
        "mdp bench: {}; latency runs paced at {} ticks/s",
        report.setup.describe(),
        a.latency_rate
    );
    bench_svg(
        path,
        &title,
        &[
            ("bare ring", percentile_points(ring)),
            ("pipeline", percentile_points(pipeline)),
        ],
        &[
            ("bare ring", per_run(&t.bare_ring)),
            ("crossbeam", per_run(&t.crossbeam)),
            ("pipeline", per_run(&t.pipeline)),
            ("pipeline + router", per_run(&t.pipeline_router)),
        ],
    )
}

/// Run `one` (given the 1-based run number) `--runs` times, announcing each; a signal stops
/// between runs (a run it interrupted gives `None` and is left out). Gives the completed runs
/// and the signal, if any; an error when a signal came before any run completed.
fn repeat<T>(
    a: &BenchArgs,
    mut one: impl FnMut(usize) -> Result<Option<T>>,
) -> Result<(Vec<T>, Option<&'static str>)> {
    let mut runs = Vec::new();
    let mut interrupted = None;
    for run in 1..=a.runs {
        if !a.json {
            eprintln!("run {run}/{} …", a.runs);
        }
        if let Some(done) = one(run)? {
            runs.push(done);
        }
        if let Some(sig) = signal::requested() {
            signal::announce(
                sig,
                "a run in progress is dropped; completed runs are reported",
            );
            interrupted = Some(sig);
            break;
        }
    }
    if let (true, Some(sig)) = (runs.is_empty(), interrupted) {
        return Err(signal::interrupted(
            sig,
            "no run completed; nothing to report".into(),
        ));
    }
    Ok((runs, interrupted))
}

/// Print `report` (JSON with `--json`, else `table`); then, when a signal cut the runs short,
/// end as interrupted after reporting the `done` runs.
fn conclude<R: Serialize>(
    a: &BenchArgs,
    report: &R,
    table: fn(&R),
    done: usize,
    interrupted: Option<&'static str>,
) -> Result<()> {
    if a.json {
        let mut out = serde_json::to_value(report)?;
        out["interrupted"] = interrupted.is_some().into();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        table(report);
    }
    if let Some(sig) = interrupted {
        return Err(signal::interrupted(
            sig,
            format!("{done} of {} runs completed and reported", a.runs),
        ));
    }
    Ok(())
}

/// The two `--hgrm` outputs: `<prefix>.ring.hgrm` and `<prefix>.pipeline.hgrm`.
fn hgrm_paths(prefix: &std::path::Path) -> (PathBuf, PathBuf) {
    (
        prefix.with_extension("ring.hgrm"),
        prefix.with_extension("pipeline.hgrm"),
    )
}

fn write_hgrm(path: &std::path::Path, h: &Histogram<u64>) -> Result<()> {
    use std::fmt::Write as _;
    let mut s = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            1.0 / (1.0 - q)
        } else {
            f64::INFINITY
        };
        let _ = writeln!(
            s,
            "{:12.3} {:14.12} {:10} {:14.2}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    crate::output::write_text(path, &s)?;
    eprintln!("wrote {} (values in µs)", path.display());
    Ok(())
}
