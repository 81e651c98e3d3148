//! `mdp replay FILE`: replay a tick file through a pipeline, with a progress bar and a summary
//! (throughput, latency percentiles), optionally recording what arrived (finished only when
//! the replay succeeded: [`crate::output`]).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use market_data_pipeline::pipeline::{StreamingPipeline, StreamingPipelineBuilder};
use market_data_pipeline::sink::{CountingSink, CsvSink, Recording, TickFileSink};
use market_data_pipeline::symbol::SymbolNames;
use market_data_pipeline::{
    BarConfig, BarOperator, HybridBatcher, Operator, Passthrough, Repeat, ReplayConfig,
    ReplaySource, ReplaySpeed, Sink, SymbolTable, TickFile,
};
use serde_json::json;

use crate::{limits, output, signal};

/// How often the main loop looks at the pipeline and the signal flag.
const POLL: Duration = Duration::from_millis(10);

/// Options of `mdp replay`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The tick file.
    pub file: PathBuf,
    /// `max` (as fast as possible), `1x` (real time by event timestamps) or `Nx`.
    #[arg(long, default_value = "max", allow_hyphen_values = true)]
    pub speed: String,
    /// Only these symbols (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Play the file this many times (at least 1).
    #[arg(long, default_value_t = 1)]
    pub loops: u32,
    /// Aggregate into bars of this many milliseconds instead of passing ticks through (1 ms to
    /// 31 days; `--bar-ms` is the same flag).
    #[arg(long, alias = "bar-ms")]
    pub bars_ms: Option<u64>,
    /// Record the ticks that arrived into this tick file (finished only when the replay
    /// succeeds; otherwise left unfinished as `<path>.partial`). It may replace only a
    /// regular file, never the input.
    #[arg(long, conflicts_with = "csv")]
    pub out: Option<PathBuf>,
    /// Record what arrived into this CSV file (finished like `--out`).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Keep each record exactly as in the file (no `ts_recv` stamping, no replay flag), so
    /// `--out` writes byte-identical records.
    #[arg(long)]
    pub exact: bool,
    /// JSON summary.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Draw an SVG of throughput and latency (p50, p99 per half-second interval) over time.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// Ticks per chunk of `mdp replay`'s pipeline.
const CHUNK: usize = 256;

/// The replay pipeline `mdp replay` runs (also measured by `mdp bench --replay`): `source` →
/// `op` → batcher → `sink`, default placement, `chunk` ticks per chunk. The batcher takes one
/// chunk per batch (or 50 ms) on purpose: a pass-through chunk then goes to a tick-taking sink
/// (the counting sink) straight from the ring's memory, while batches larger than a chunk
/// copy every tick into a record first (at 4096 rows that was about a third of the consuming
/// thread's time).
pub(crate) fn pipeline(
    source: ReplaySource,
    op: Box<dyn Operator>,
    sink: Box<dyn Sink>,
    chunk: usize,
) -> Result<StreamingPipelineBuilder> {
    Ok(StreamingPipeline::builder()
        .source(source)
        .boxed_operator(op)
        .batcher(HybridBatcher::new(chunk, Duration::from_millis(50))?)
        .chunk_size(chunk)
        .boxed_sink(sink))
}

fn parse_speed(s: &str) -> Result<ReplaySpeed> {
    if s == "max" {
        return Ok(ReplaySpeed::AsFastAsPossible);
    }
    let n = s
        .strip_suffix('x')
        .and_then(|n| n.parse::<u32>().ok())
        .and_then(NonZeroU32::new);
    match n {
        Some(n) => Ok(ReplaySpeed::times(n)),
        None => bail!("--speed {s:?}: expected max, 1x or Nx with N ≥ 1"),
    }
}

pub(crate) fn run(a: &ReplayArgs) -> Result<()> {
    let speed = parse_speed(&a.speed)?;
    let Some(loops) = NonZeroU32::new(a.loops) else {
        bail!("--loops 0: must be at least 1");
    };
    let window = a
        .bars_ms
        .map(|ms| limits::bar_window("--bars-ms", ms))
        .transpose()?;
    let file = TickFile::open(&a.file)?;
    let total = file.len().saturating_mul(a.loops as u64);
    let table = Arc::new(SymbolTable::new());
    let source = ReplaySource::new(
        file,
        table.clone(),
        ReplayConfig {
            speed,
            symbols: a.symbols.clone(),
            repeat: if a.loops == 1 {
                Repeat::Once
            } else {
                Repeat::Times(loops)
            },
            stamp_recv: !a.exact,
            ..ReplayConfig::default()
        },
    )?;
    let op: Box<dyn Operator> = match window {
        Some(w) => Box::new(BarOperator::new(BarConfig::new(w, Duration::ZERO))?),
        None => Box::new(Passthrough::new()),
    };
    let counting = CountingSink::new();
    let counts = counting.counts();
    // Refused before anything is opened for writing: an output that is the input (by any
    // name), a link, FIFO, device or directory.
    let input: &Path = &a.file;
    let (sink, recording): (Box<dyn Sink>, Option<Recording>) = match (&a.out, &a.csv) {
        (Some(p), _) => {
            let sink = TickFileSink::create_excluding(p, table.clone(), &[input])?;
            let recording = sink.recording();
            (Box::new(sink), Some(recording))
        }
        (None, Some(p)) => {
            let names = SymbolNames::new(table.clone());
            let sink = CsvSink::create_excluding(p, names, &[input])?;
            let recording = sink.recording();
            (Box::new(sink), Some(recording))
        }
        (None, None) => (Box::new(counting), None),
    };
    let handle = pipeline(source, op, sink, CHUNK)?.build()?.start()?;
    let bar = if a.quiet || a.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} ticks  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if let Some(path) = &a.plot {
        output::check(&[path], &[&a.file])?;
    }
    let mut timeline = a.plot.as_ref().map(|_| Timeline::new());
    let mut interrupted = None;
    while !handle.is_finished() {
        if let Some(t) = &mut timeline {
            t.sample(&handle);
        }
        if interrupted.is_none() {
            if let Some(sig) = signal::requested() {
                signal::announce(sig, "draining the pipeline; the output stays unfinished");
                handle.stop();
                interrupted = Some(sig);
            }
        }
        bar.set_position(handle.stats().produced);
        std::thread::sleep(POLL);
    }
    bar.finish_and_clear();
    if let Some(t) = &mut timeline {
        t.sample_now(&handle);
    }
    let report = handle.join();
    if let (Some(path), Some(t)) = (&a.plot, &timeline) {
        t.plot(path, &a.file)?;
    }
    let s = &report.stats;
    let secs = report.elapsed.as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": a.file.display().to_string(),
                "ticks_replayed": s.produced,
                "records_delivered": s.delivered,
                "elapsed_s": secs,
                "ticks_per_s": s.produced as f64 / secs,
                "latency_ns": {"p50": s.latency.p50, "p90": s.latency.p90, "p99": s.latency.p99,
                               "p999": s.latency.p999, "max": s.latency.max},
                "conserved": s.is_conserved(),
                "error": report.error.as_ref().map(|e| e.to_string()),
                "interrupted": interrupted.is_some(),
            }))?
        );
    } else {
        println!(
            "replayed {} ticks in {:.3}s ({:.2} M ticks/s); {} records delivered in {} batches",
            s.produced,
            secs,
            s.produced as f64 / secs / 1e6,
            s.delivered,
            s.batches
        );
        println!(
            "latency ts_recv → sink: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            s.latency.p50, s.latency.p90, s.latency.p99, s.latency.p999, s.latency.max
        );
        if a.out.is_none() && a.csv.is_none() {
            println!("sink checksum {:#018x}", counts.checksum());
        }
    }
    // The recording is finished only when the replay succeeded: an interrupted replay never
    // finishes it, drained or not.
    let succeeded = report.error.is_none() && interrupted.is_none();
    let unfinished = match &recording {
        Some(r) => output::conclude(r, succeeded, a.json)?,
        None => None,
    };
    let note = unfinished.map(|n| format!("; {n}")).unwrap_or_default();
    if let Some(e) = report.error {
        bail!("replay failed: {e}{note}");
    }
    if let Some(sig) = interrupted {
        return Err(signal::interrupted(
            sig,
            format!(
                "replayed {} ticks before stopping; the pipeline was drained{note}",
                s.produced
            ),
        ));
    }
    Ok(())
}

/// `--plot`: the pipeline sampled every [`Timeline::EVERY`] (ticks produced, latency buckets).
struct Timeline {
    start: std::time::Instant,
    next: std::time::Instant,
    bounds: Vec<u64>,
    samples: Vec<(f64, u64, market_data_pipeline::pipeline::LatencyBuckets)>,
}

impl Timeline {
    /// Sampling interval (the sink merges its latencies into the shared histogram every
    /// quarter second).
    const EVERY: Duration = Duration::from_millis(500);

    fn new() -> Timeline {
        // 1-2-5 steps from 100 ns to 10 s.
        let mut bounds = Vec::new();
        let mut decade = 100u64;
        while decade <= 10_000_000_000 {
            bounds.extend([decade, 2 * decade, 5 * decade]);
            decade *= 10;
        }
        let now = std::time::Instant::now();
        Timeline {
            start: now,
            next: now,
            bounds,
            samples: Vec::new(),
        }
    }

    fn sample(&mut self, handle: &market_data_pipeline::PipelineHandle) {
        if std::time::Instant::now() >= self.next {
            self.sample_now(handle);
            self.next += Self::EVERY;
        }
    }

    fn sample_now(&mut self, handle: &market_data_pipeline::PipelineHandle) {
        let t = self.start.elapsed().as_secs_f64();
        let produced = handle.stats().produced;
        self.samples
            .push((t, produced, handle.latency_buckets(&self.bounds)));
    }

    /// The upper bound of the bucket holding quantile `q` of the records between two samples.
    fn quantile(&self, a: &[u64], b: &[u64], count: u64, q: f64) -> Option<f64> {
        let want = (q * count as f64).ceil().max(1.0) as u64;
        let i = a.iter().zip(b).position(|(x, y)| y - x >= want)?;
        Some(self.bounds[i] as f64 / 1000.0)
    }

    fn plot(&self, path: &std::path::Path, file: &std::path::Path) -> Result<()> {
        let mut thr = Vec::new();
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for w in self.samples.windows(2) {
            let ((t0, n0, b0), (t1, n1, b1)) = (&w[0], &w[1]);
            let dt = (t1 - t0).max(1e-9);
            thr.push((*t1, (n1 - n0) as f64 / dt / 1e6));
            let count = b1.count - b0.count;
            if count > 0 {
                if let Some(v) = self.quantile(&b0.cumulative, &b1.cumulative, count, 0.5) {
                    p50.push((*t1, v));
                }
                if let Some(v) = self.quantile(&b0.cumulative, &b1.cumulative, count, 0.99) {
                    p99.push((*t1, v));
                }
            }
        }
        crate::plot::over_time_svg(
            path,
            &format!("mdp replay {} (sampled every 0.5 s)", file.display()),
            &thr,
            &[("p50", p50), ("p99", p99)],
        )
    }
}
