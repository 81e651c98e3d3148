//! Criterion benchmarks of the `SourceRouter`. Every group has a baseline row.
//!
//! * `router_failover`: the poll in which the router fails over — the active source errors
//!   (or is found stale) and the fallback's first chunk is delivered, at the router level on
//!   one thread. Baseline: one direct poll of the fallback source (the least a failover does).
//! * `router_first_256_ticks`: `First` over one healthy synthetic source vs the source polled
//!   directly, per 256-tick chunk (same `now` sequence: 1 µs per poll, so stats publishing
//!   every 5 ms is amortised as in a real run).
//! * `router_poll_overhead`: the router's fixed cost per poll, isolated: `First` over a source
//!   that returns a full chunk without writing it, vs that source polled directly.
//! * `router_pipeline_1M_ticks`: synthetic → passthrough → batcher → counting sink, with the
//!   source bare (baseline) and behind a `First` router.

use std::sync::Arc;
use std::time::Duration;

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter};
use market_data_pipeline::source::{Fault, FaultKind, SyntheticConfig, SyntheticSource};
use market_data_pipeline::{Clock, MonotonicClock, SourcePoll, SymbolTable, Tick, TickSource};
use support::run_counting_pipeline;

const CHUNK: usize = 256;
const N: u64 = 1_000_000;

fn synthetic(name: &str, id: u16, faults: Vec<Fault>, max: Option<u64>) -> SyntheticSource {
    let cfg = SyntheticConfig {
        name: name.into(),
        source_id: id,
        faults,
        max_ticks: max,
        ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
    };
    SyntheticSource::new(cfg, Arc::new(SymbolTable::new())).unwrap()
}

/// A started `First` router (staleness bound 1 µs): `primary` (with `fault` at its first
/// tick) then `backup`.
fn failing_pair(fault: FaultKind, start_ns: u64) -> SourceRouter {
    let sources: Vec<Box<dyn TickSource>> = vec![
        Box::new(synthetic(
            "primary",
            1,
            vec![Fault {
                at_tick: 0,
                kind: fault,
            }],
            None,
        )),
        Box::new(synthetic("backup", 2, vec![], None)),
    ];
    let cfg = RouterConfig {
        default_staleness: Duration::from_micros(1),
        ..RouterConfig::new(RoutingStrategy::First)
    };
    let mut r = SourceRouter::with_config(sources, cfg, MonotonicClock::shared()).unwrap();
    r.start(start_ns).unwrap();
    r
}

fn failover(c: &mut Criterion) {
    let clock = MonotonicClock;
    let mut g = c.benchmark_group("router_failover");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let mut buf = vec![Tick::default(); CHUNK];
    g.bench_function("baseline_fallback_polled_directly", |b| {
        b.iter_batched_ref(
            || {
                let mut s = synthetic("backup", 2, vec![], None);
                s.start(clock.now_ns()).unwrap();
                s
            },
            |s| s.poll(clock.now_ns(), &mut buf).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("error_to_first_fallback_tick", |b| {
        b.iter_batched_ref(
            || failing_pair(FaultKind::Error, clock.now_ns()),
            |r| {
                let got = r.poll(clock.now_ns(), &mut buf).unwrap();
                assert_eq!((got, buf[0].source), (SourcePoll::Ready(CHUNK), 2));
            },
            BatchSize::SmallInput,
        )
    });
    // Staleness bound 1 µs, router started 1 ms ago: the first poll finds the primary stalled
    // and past its bound, and switches.
    g.bench_function("stale_to_first_fallback_tick", |b| {
        b.iter_batched_ref(
            || {
                let stall = FaultKind::Stall(Duration::from_secs(3600));
                failing_pair(stall, clock.now_ns().saturating_sub(1_000_000))
            },
            |r| {
                let got = r.poll(clock.now_ns(), &mut buf).unwrap();
                assert_eq!((got, buf[0].source), (SourcePoll::Ready(CHUNK), 2));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Poll `bare` directly (baseline row) and a started `First` router over `routed`, 256 ticks a
/// poll, `now` advancing 1 µs a poll in both.
fn bare_vs_router(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    (bare_row, router_row): (&str, &str),
    mut bare: Box<dyn TickSource>,
    routed: Box<dyn TickSource>,
) {
    let mut buf = vec![Tick::default(); CHUNK];
    bare.start(0).unwrap();
    let mut now = 0u64;
    g.bench_function(bare_row, |b| {
        b.iter(|| {
            now += 1_000;
            bare.poll(now, std::hint::black_box(&mut buf)).unwrap()
        })
    });
    let cfg = RouterConfig::new(RoutingStrategy::First);
    let mut router =
        SourceRouter::with_config(vec![routed], cfg, MonotonicClock::shared()).unwrap();
    router.start(0).unwrap();
    let mut now = 0u64;
    g.bench_function(router_row, |b| {
        b.iter(|| {
            now += 1_000;
            router.poll(now, std::hint::black_box(&mut buf)).unwrap()
        })
    });
}

fn first_healthy(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_first_256_ticks");
    g.throughput(Throughput::Elements(CHUNK as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    bare_vs_router(
        &mut g,
        ("baseline_synthetic_direct", "router_first_over_synthetic"),
        Box::new(synthetic("bare", 1, vec![], None)),
        Box::new(synthetic("routed", 1, vec![], None)),
    );
    g.finish();
}

/// Says a full chunk is ready and writes nothing: isolates the router's own cost.
struct NullSource(Vec<String>);

impl TickSource for NullSource {
    fn name(&self) -> &str {
        "null"
    }
    fn start(&mut self, _now_ns: u64) -> Result<(), market_data_pipeline::SourceError> {
        Ok(())
    }
    fn poll(
        &mut self,
        _now_ns: u64,
        out: &mut [Tick],
    ) -> Result<SourcePoll, market_data_pipeline::SourceError> {
        Ok(SourcePoll::Ready(out.len()))
    }
    fn close(&mut self) {}
    fn status(&self) -> market_data_pipeline::SourceStatus {
        market_data_pipeline::SourceStatus::Running
    }
    fn health(&self) -> market_data_pipeline::SourceHealth {
        market_data_pipeline::SourceHealth::default()
    }
    fn symbols(&self) -> &[String] {
        &self.0
    }
    fn capabilities(&self) -> market_data_pipeline::Capabilities {
        market_data_pipeline::Capabilities::default()
    }
}

fn poll_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_poll_overhead");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    bare_vs_router(
        &mut g,
        (
            "baseline_null_source_direct",
            "router_first_over_null_source",
        ),
        Box::new(NullSource(Vec::new())),
        Box::new(NullSource(Vec::new())),
    );
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_pipeline_1M_ticks");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("baseline_synthetic_passthrough_counting", |b| {
        b.iter(|| run_counting_pipeline(Box::new(synthetic("s", 1, vec![], Some(N))), N, CHUNK))
    });
    g.bench_function("router_first_synthetic_passthrough_counting", |b| {
        b.iter(|| {
            let r = SourceRouter::new(
                vec![Box::new(synthetic("s", 1, vec![], Some(N)))],
                RoutingStrategy::First,
            )
            .unwrap();
            run_counting_pipeline(Box::new(r), N, CHUNK)
        })
    });
    g.finish();
}

criterion_group!(benches, failover, first_healthy, poll_overhead, pipeline);
criterion_main!(benches);
