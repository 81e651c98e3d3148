//! `mdp bench`: end-to-end throughput and latency of the pipeline beside a bare rtrb chunk ring
//! and a crossbeam channel carrying the same 64-byte ticks between the same two pinned threads,
//! in one run, repeated; medians and ratios.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use market_data_pipeline::pipeline::{LatencySummary, Placement, StreamingPipeline};
use market_data_pipeline::router::{RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    CountingSink, HybridBatcher, IdleStrategy, Passthrough, SymbolTable, TickSource,
};
use serde::Serialize;

use crate::{limits, signal};

mod baseline;

use baseline::{bare_ring, crossbeam_channel, stopping};

/// Options of `mdp bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
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
    /// Ring slots (--chunk to 2^24 = 16777216).
    #[arg(long, default_value_t = 16_384)]
    pub ring: usize,
    /// Paced rate (ticks/s) of the latency runs (1 to 10^9).
    #[arg(long, default_value_t = 1_000_000)]
    pub latency_rate: u64,
    /// Duration (s) of each latency run (positive; rate × duration at most 10^10 ticks).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub latency_secs: f64,
    /// Wait with spin → yield → park instead of busy-spinning.
    #[arg(long)]
    pub backoff: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the pipeline's and the bare ring's latency percentile distributions (.hgrm text)
    /// with this path prefix.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
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

#[derive(Debug, Serialize)]
struct Report {
    ticks: u64,
    runs: usize,
    cores: (usize, usize),
    chunk: usize,
    ring: usize,
    idle: &'static str,
    latency_rate: u64,
    throughput: Rows,
    latency: Rows,
    throughput_ratio_pipeline_vs_ring: f64,
    throughput_ratio_crossbeam_vs_ring: f64,
    /// Pipeline ÷ ring within each run (both measured back to back), then the median.
    per_run_ratio_pipeline_vs_ring: Vec<f64>,
    median_per_run_ratio_pipeline_vs_ring: f64,
    p50_ratio_pipeline_vs_ring: f64,
    p99_ratio_pipeline_vs_ring: f64,
}

#[derive(Debug, Serialize, Default)]
struct Rows {
    bare_ring: Vec<RunResult>,
    crossbeam: Vec<RunResult>,
    pipeline: Vec<RunResult>,
    /// The same pipeline with its source behind a `SourceRouter` (`First`, healthy sources).
    pipeline_router: Vec<RunResult>,
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
    let synthetic = |name: &str| {
        SyntheticSource::new(
            SyntheticConfig {
                name: name.to_string(),
                rate,
                burst: a.chunk as u64,
                max_ticks: Some(n),
                ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
            },
            table.clone(),
        )
    };
    let source: Box<dyn TickSource> = if routed {
        // One healthy source behind the router: its per-poll cost on the happy path (a
        // finite standby would be switched to when the primary ends and add ticks).
        Box::new(SourceRouter::new(
            vec![Box::new(synthetic("primary")?)],
            RoutingStrategy::First,
        )?)
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
        .ring_capacity(a.ring)
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
    thr: [RunResult; 4],
    lat: [RunResult; 2],
    ring_hist: Histogram<u64>,
    pipeline_hist: Histogram<u64>,
}

fn one_run(a: &BenchArgs, lat_ticks: u64, strategy: IdleStrategy) -> Result<Option<OneRun>> {
    // Interleave the contenders inside each run so drift on the host hits all alike.
    let Some((ring, _)) = bare_ring(a, a.ticks, None, strategy) else {
        return Ok(None);
    };
    let Some(channel) = crossbeam_channel(a, a.ticks) else {
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
    let Some((ring_lat, ring_hist)) = bare_ring(a, lat_ticks, Some(a.latency_rate), strategy)
    else {
        return Ok(None);
    };
    let Some((pipe_lat, pipeline_hist)) =
        pipeline(a, lat_ticks, Some(a.latency_rate), strategy, false)?
    else {
        return Ok(None);
    };
    Ok(Some(OneRun {
        thr: [ring, channel, plain, routed],
        lat: [ring_lat, pipe_lat],
        ring_hist,
        pipeline_hist,
    }))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        0.0
    } else {
        s[s.len() / 2]
    }
}

/// Check the flags (bounds in `--help`); returns the tick count of a latency run.
fn check_args(a: &BenchArgs) -> Result<u64> {
    limits::ticks("--ticks", a.ticks)?;
    limits::within("--runs", a.runs, 1, limits::MAX_RUNS)?;
    limits::within("--chunk", a.chunk, 1, limits::MAX_CHUNK)?;
    if a.ring < a.chunk || a.ring > limits::MAX_RING {
        bail!(
            "--ring {}: must be --chunk ({}) to {} slots",
            a.ring,
            a.chunk,
            limits::MAX_RING
        );
    }
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
pub fn run(a: &BenchArgs) -> Result<()> {
    let lat_ticks = check_args(a)?;
    let cores = core_affinity::get_core_ids().map_or(1, |v| v.len());
    if a.producer_core >= cores || a.consumer_core >= cores {
        bail!("this machine has {cores} cores; --producer-core/--consumer-core must be below that");
    }
    if let Some(prefix) = &a.hgrm {
        let (ring, pipeline) = hgrm_paths(prefix);
        crate::output::check(&[&ring, &pipeline], &[])?;
    }
    let strategy = if a.backoff {
        IdleStrategy::default()
    } else {
        IdleStrategy::BusySpin
    };
    let mut thr = Rows::default();
    let mut lat = Rows::default();
    let mut last_ring_hist = None;
    let mut last_pipeline_hist = None;
    let mut done = 0;
    let mut interrupted = None;
    for run in 0..a.runs {
        if !a.json {
            eprintln!("run {}/{} …", run + 1, a.runs);
        }
        if let Some(one) = one_run(a, lat_ticks, strategy)? {
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
            done += 1;
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
    if done == 0 {
        if let Some(signal) = interrupted {
            return Err(signal::interrupted(
                signal,
                "no run completed; nothing to report".into(),
            ));
        }
    }
    let med = |rows: &[RunResult], f: fn(&RunResult) -> f64| {
        median(&rows.iter().map(f).collect::<Vec<_>>())
    };
    let ring_rate = med(&thr.bare_ring, |r| r.rate);
    let per_run: Vec<f64> = thr
        .pipeline
        .iter()
        .zip(&thr.bare_ring)
        .map(|(p, r)| p.rate / r.rate)
        .collect();
    let report = Report {
        ticks: a.ticks,
        runs: done,
        cores: (a.producer_core, a.consumer_core),
        chunk: a.chunk,
        ring: a.ring,
        idle: if a.backoff { "backoff" } else { "busy-spin" },
        latency_rate: a.latency_rate,
        throughput_ratio_pipeline_vs_ring: med(&thr.pipeline, |r| r.rate) / ring_rate,
        throughput_ratio_crossbeam_vs_ring: med(&thr.crossbeam, |r| r.rate) / ring_rate,
        median_per_run_ratio_pipeline_vs_ring: median(&per_run),
        per_run_ratio_pipeline_vs_ring: per_run,
        p50_ratio_pipeline_vs_ring: med(&lat.pipeline, |r| r.p50_ns as f64)
            / med(&lat.bare_ring, |r| r.p50_ns as f64).max(1.0),
        p99_ratio_pipeline_vs_ring: med(&lat.pipeline, |r| r.p99_ns as f64)
            / med(&lat.bare_ring, |r| r.p99_ns as f64).max(1.0),
        throughput: thr,
        latency: lat,
    };
    if let (Some(prefix), Some(r), Some(p)) = (&a.hgrm, last_ring_hist, last_pipeline_hist) {
        let (ring, pipeline) = hgrm_paths(prefix);
        write_hgrm(&ring, &r)?;
        write_hgrm(&pipeline, &p)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if let Some(signal) = interrupted {
        return Err(signal::interrupted(
            signal,
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

fn print_table(r: &Report) {
    let med = |rows: &[RunResult], f: fn(&RunResult) -> f64| {
        median(&rows.iter().map(f).collect::<Vec<_>>())
    };
    println!(
        "mdp bench — {} ticks × {} runs, cores {}→{}, chunk {}, ring {}, {}",
        r.ticks, r.runs, r.cores.0, r.cores.1, r.chunk, r.ring, r.idle
    );
    println!("\nthroughput (median of {} runs, Mticks/s):", r.runs);
    for (name, rows) in [
        ("bare rtrb ring", &r.throughput.bare_ring),
        ("crossbeam channel", &r.throughput.crossbeam),
        ("pipeline", &r.throughput.pipeline),
        ("pipeline + router", &r.throughput.pipeline_router),
    ] {
        let all: Vec<String> = rows
            .iter()
            .map(|x| format!("{:.1}", x.rate / 1e6))
            .collect();
        println!(
            "  {name:<18} {:>8.1}   runs: {}",
            med(rows, |x| x.rate) / 1e6,
            all.join(" ")
        );
    }
    println!(
        "  ratio of medians: pipeline/ring {:.2}, crossbeam/ring {:.2}",
        r.throughput_ratio_pipeline_vs_ring, r.throughput_ratio_crossbeam_vs_ring
    );
    let routed: Vec<f64> = r
        .throughput
        .pipeline_router
        .iter()
        .zip(&r.throughput.pipeline)
        .map(|(x, p)| x.rate / p.rate)
        .collect();
    println!(
        "  (pipeline + router)/pipeline within each run: median {:.2}",
        median(&routed)
    );
    let each: Vec<String> = r
        .per_run_ratio_pipeline_vs_ring
        .iter()
        .map(|x| format!("{x:.2}"))
        .collect();
    println!(
        "  pipeline/ring within each run: {}  (median {:.2})",
        each.join(" "),
        r.median_per_run_ratio_pipeline_vs_ring
    );
    println!(
        "\nlatency ts_recv → consumer at {} ticks/s (median of runs, ns):",
        r.latency_rate
    );
    for (name, rows) in [
        ("bare rtrb ring", &r.latency.bare_ring),
        ("pipeline", &r.latency.pipeline),
    ] {
        println!(
            "  {name:<18} p50 {:>7.0}  p99 {:>8.0}  p99.9 {:>8.0}  max {:>9.0}",
            med(rows, |x| x.p50_ns as f64),
            med(rows, |x| x.p99_ns as f64),
            med(rows, |x| x.p999_ns as f64),
            med(rows, |x| x.max_ns as f64)
        );
    }
    println!(
        "  ratio pipeline/ring p50 {:.2}, p99 {:.2}",
        r.p50_ratio_pipeline_vs_ring, r.p99_ratio_pipeline_vs_ring
    );
}
