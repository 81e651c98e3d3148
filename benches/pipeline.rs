//! Criterion benchmarks of the data path. Every group has a baseline row.
//!
//! * `handoff_1M_ticks`: 1M 64-byte ticks between two threads — bare rtrb chunk ring
//!   (baseline), crossbeam channel, the engine's edge (rtrb + policy + counters), and the whole
//!   pipeline (synthetic → passthrough → batcher → counting sink).
//! * `stage_256_ticks`: one chunk through one stage on one thread — a plain copy of the chunk
//!   (baseline), synthetic generation, passthrough, bars, batcher.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use market_data_pipeline::ring::{edge, Backpressure};
use market_data_pipeline::sink::NullSink;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    BarConfig, BarOperator, HybridBatcher, IdleStrategy, Idler, Operator, Passthrough, Record,
    SymbolTable, Tick, TickSource,
};

const N: u64 = 1_000_000;
const CHUNK: usize = 256;

fn ticks(n: usize) -> Vec<Tick> {
    let mut s = SyntheticSource::new(
        SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"]),
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    s.start(0).unwrap();
    let mut v = vec![Tick::default(); n];
    let _ = s.poll(0, &mut v).unwrap();
    v
}

fn bare_ring() {
    let (mut tx, mut rx) = rtrb::RingBuffer::<Tick>::new(16_384);
    let chunk = ticks(CHUNK);
    let p = thread::spawn(move || {
        let mut sent = 0u64;
        while sent < N {
            let (done, _) = tx.push_partial_slice(&chunk);
            sent += done.len() as u64;
            if done.is_empty() {
                std::hint::spin_loop();
            }
        }
    });
    let mut got = 0u64;
    while got < N {
        let k = rx.slots().min(CHUNK);
        if k == 0 {
            std::hint::spin_loop();
            continue;
        }
        let c = rx.read_chunk(k).unwrap();
        let (a, b) = c.as_slices();
        std::hint::black_box((a.len(), b.len()));
        c.commit_all();
        got += k as u64;
    }
    p.join().unwrap();
}

fn crossbeam_channel() {
    let (tx, rx) = crossbeam::channel::bounded::<Tick>(16_384);
    let t = ticks(1)[0];
    let p = thread::spawn(move || {
        for _ in 0..N {
            tx.send(t).unwrap();
        }
    });
    let mut got = 0u64;
    while rx.recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, N);
    p.join().unwrap();
}

fn engine_edge() {
    let (mut tx, mut rx) = edge::<Tick>(16_384, Backpressure::Block).unwrap();
    let chunk = ticks(CHUNK);
    let p = thread::spawn(move || {
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        let mut sent = 0u64;
        while sent < N {
            tx.send(&chunk, &mut idler).unwrap();
            sent += CHUNK as u64;
        }
    });
    let mut got = 0u64;
    while !rx.is_finished() {
        got += rx.read(CHUNK, |s| {
            std::hint::black_box(s.len());
        }) as u64;
    }
    p.join().unwrap();
    assert!(got >= N);
}

fn whole_pipeline() {
    let src = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(N),
            ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    support::run_counting_pipeline(Box::new(src), N, CHUNK);
}

fn handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("handoff_1M_ticks");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("baseline_bare_rtrb_chunk_ring", |b| b.iter(bare_ring));
    g.bench_function("crossbeam_bounded_channel", |b| b.iter(crossbeam_channel));
    g.bench_function("engine_edge_block", |b| b.iter(engine_edge));
    g.bench_function("pipeline_synthetic_passthrough_counting", |b| {
        b.iter(whole_pipeline)
    });
    g.finish();
}

fn stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("stage_256_ticks");
    g.throughput(Throughput::Elements(CHUNK as u64));
    let input = ticks(CHUNK);
    let mut out = vec![Tick::default(); CHUNK];
    g.bench_function("baseline_copy_chunk", |b| {
        b.iter(|| out.copy_from_slice(std::hint::black_box(&input)))
    });
    let mut src = SyntheticSource::new(
        SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"]),
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    src.start(0).unwrap();
    g.bench_function("synthetic_generate", |b| {
        b.iter(|| src.poll(0, std::hint::black_box(&mut out)).unwrap())
    });
    let mut recs: Vec<Record> = Vec::with_capacity(CHUNK * 2);
    let mut pass = Passthrough::new();
    g.bench_function("passthrough", |b| {
        b.iter(|| {
            recs.clear();
            pass.on_ticks(std::hint::black_box(&input), &mut recs);
        })
    });
    let mut bars =
        BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO)).unwrap();
    g.bench_function("bars_1s", |b| {
        b.iter(|| {
            recs.clear();
            bars.on_ticks(std::hint::black_box(&input), &mut recs);
        })
    });
    let as_records: Vec<Record> = input.iter().map(|t| Record::Tick(*t)).collect();
    let mut sink = NullSink::new();
    g.bench_function("batcher_push_into_500_rows", |b| {
        b.iter_batched_ref(
            || HybridBatcher::new(500, Duration::from_secs(1)).unwrap(),
            |bt| {
                bt.push(std::hint::black_box(&as_records), 0, &mut sink)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, handoff, stages);
criterion_main!(benches);
