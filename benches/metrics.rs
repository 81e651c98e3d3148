//! What metrics cost: the time to render `/metrics` for 100 pipelines over 1,000 providers
//! (beside `snapshot()` alone, the part any monitoring pays), and a pipeline's throughput with
//! a scraper hitting `/metrics` 10 times a second against the same pipeline unscraped,
//! alternated in one run (medians, and the median of the per-round ratios).
//!
//! `cargo bench --bench metrics` (PERF.md, "Metrics" section).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use market_data_pipeline::registry::SourceSpec;
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings,
};

const PROVIDERS: usize = 1_000;
const PIPELINES: usize = 100;
const RENDERS: usize = 21;
const ROUNDS: usize = 7;
const WARMUP: Duration = Duration::from_millis(300);
const WINDOW: Duration = Duration::from_secs(2);
const SCRAPE_EVERY: Duration = Duration::from_millis(100);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn render_cost() {
    let providers = (0..PROVIDERS)
        .map(|i| {
            let name = format!("p{i:04}");
            // Paced low: 100 live pipelines, but the machine's two cores stay for the scrape.
            let spec =
                SourceSpec::named(&name, "synthetic", &["AAPL", "MSFT"]).param("rate", 1_000);
            (name, ProviderSettings::new(spec))
        })
        .collect();
    let settings = PipelineRuntimeSettings {
        providers,
        default_sources: vec!["p0000".into()],
        max_concurrent_pipelines: PIPELINES,
        ..Default::default()
    };
    let runtime = PipelineRuntime::start(settings).expect("runtime");
    for i in 0..PIPELINES {
        let provider = format!("p{:04}", i * (PROVIDERS / PIPELINES));
        runtime
            .run_pipeline(PipelineSpec::new("bench", &format!("q{i:03}")).sources(&[provider]))
            .expect("pipeline");
    }
    thread::sleep(WARMUP);
    let (mut snap, mut render) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..RENDERS {
        let t = Instant::now();
        let s = runtime.snapshot();
        snap.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(s.pipelines.len(), PIPELINES);
        assert_eq!(s.providers.len(), PROVIDERS);
        let t = Instant::now();
        let text = market_data_pipeline::metrics::render(&runtime);
        render.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = text.len();
        assert!(text.ends_with("# EOF\n"));
    }
    println!(
        "render, {PIPELINES} pipelines over {PROVIDERS} providers ({RENDERS} renders, medians): \
         snapshot() {:.2} ms; render() {:.2} ms ({} KiB, {} lines); render / snapshot {:.2}",
        median(&mut snap),
        median(&mut render),
        bytes / 1024,
        market_data_pipeline::metrics::render(&runtime)
            .lines()
            .count(),
        median(&mut render) / median(&mut snap),
    );
}

fn scrape(addr: SocketAddr) -> usize {
    let Ok(mut conn) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = conn.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
    let mut body = Vec::new();
    let _ = conn.read_to_end(&mut body);
    body.len()
}

/// Ticks per second delivered by `key` over `WINDOW`, with a scraper hitting `/metrics` every
/// `SCRAPE_EVERY` when `scraped`; and the scrapes made.
fn window(runtime: &PipelineRuntime, key: &str, scraped: bool) -> (f64, u64) {
    let addr = runtime.metrics_addr().expect("metrics served");
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = scraped.then(|| {
        let (stop, scrapes) = (stop.clone(), scrapes.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let next = Instant::now() + SCRAPE_EVERY;
                if scrape(addr) > 0 {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    });
    let delivered = || {
        runtime
            .list_pipelines()
            .into_iter()
            .find(|p| p.key.to_string() == key)
            .map_or(0, |p| p.stats.delivered)
    };
    let (d0, t0) = (delivered(), Instant::now());
    thread::sleep(WINDOW);
    let (d1, t1) = (delivered(), Instant::now());
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = scraper {
        s.join().unwrap();
    }
    let rate = (d1 - d0) as f64 / (t1 - t0).as_secs_f64();
    (rate, scrapes.load(Ordering::Relaxed))
}

fn throughput_with_scraper() {
    let settings = PipelineRuntimeSettings {
        metrics_addr: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let runtime = PipelineRuntime::start(settings).expect("runtime");
    let key = runtime
        .run_pipeline(PipelineSpec::new("bench", "thr").symbols(&["AAPL", "MSFT", "GOOG", "AMZN"]))
        .expect("pipeline");
    thread::sleep(WARMUP);
    let (mut without, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut scrapes = 0;
    for round in 0..ROUNDS {
        // Alternate which goes first, so drift on the host hits both alike.
        let (a, b) = if round % 2 == 0 {
            let a = window(&runtime, &key.to_string(), false);
            (a, window(&runtime, &key.to_string(), true))
        } else {
            let b = window(&runtime, &key.to_string(), true);
            (window(&runtime, &key.to_string(), false), b)
        };
        println!(
            "  round {}: unscraped {:.2} M ticks/s, scraped {:.2} M ticks/s ({} scrapes), ratio {:.3}",
            round + 1,
            a.0 / 1e6,
            b.0 / 1e6,
            b.1,
            b.0 / a.0
        );
        without.push(a.0);
        with.push(b.0);
        ratios.push(b.0 / a.0);
        scrapes += b.1;
    }
    let report = runtime.stop_pipeline(&key).expect("stop");
    assert!(report.stats.is_conserved());
    println!(
        "throughput, one pipeline, {ROUNDS} rounds of {:?} windows (medians): unscraped {:.2} M \
         ticks/s, scraped every {:?} {:.2} M ticks/s ({scrapes} scrapes); median ratio \
         scraped/unscraped {:.3} (min {:.3}, max {:.3})",
        WINDOW,
        median(&mut without) / 1e6,
        SCRAPE_EVERY,
        median(&mut with) / 1e6,
        median(&mut ratios.clone()),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: keep it short then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("metrics bench: run with `cargo bench --bench metrics`");
        return;
    }
    render_cost();
    throughput_with_scraper();
}
