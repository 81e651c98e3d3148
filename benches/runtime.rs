//! `stream_quotes` throughput to a user thread, beside a bare rtrb ring of 64-byte ticks in
//! the same run (the baseline row).
//!
//! Each iteration moves `N` ticks to this thread and times from the start (thread spawn /
//! `stream_quotes`) to the `N`-th tick received; stopping and joining are not timed.
//! Correctness is asserted once before timing: the stream delivers the symbols asked for and
//! the baseline delivers every sequence number in order.

use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam::utils::Backoff;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings};
use market_data_pipeline::Tick;

const N: u64 = 1_000_000;
const CHUNK: usize = 256;
const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "GOOG", "AMZN"];

/// Baseline: a producer thread writes chunks of a template tick (sequence numbered) into a
/// bare rtrb ring; this thread reads chunks. Both sides wait with crossbeam's `Backoff`
/// (spin, then yield), as the engine's default idle strategy does: on a shared 2-core machine
/// a pure busy-spin pair collapses whenever the other thread is descheduled. Returns the time to the `n`-th tick and the sum of
/// sequence numbers read.
fn bare_ring(n: u64) -> (Duration, u64) {
    let start = Instant::now();
    let (mut tx, mut rx) = rtrb::RingBuffer::<Tick>::new(16_384);
    let producer = thread::spawn(move || {
        let mut seq = 0u32;
        let mut sent = 0u64;
        let backoff = Backoff::new();
        while sent < n {
            let k = tx.slots().min(CHUNK).min((n - sent) as usize);
            if k == 0 {
                if tx.is_abandoned() {
                    return;
                }
                backoff.snooze();
                continue;
            }
            backoff.reset();
            let Ok(chunk) = tx.write_chunk_uninit(k) else {
                continue;
            };
            let written = chunk.fill_from_iter((0..k).map(|_| {
                seq = seq.wrapping_add(1);
                Tick {
                    seq,
                    ..Tick::default()
                }
            }));
            sent += written as u64;
        }
    });
    let mut got = 0u64;
    let mut sum = 0u64;
    let backoff = Backoff::new();
    while got < n {
        let k = rx.slots().min(CHUNK);
        if k == 0 {
            backoff.snooze();
            continue;
        }
        backoff.reset();
        let Ok(c) = rx.read_chunk(k) else { continue };
        let (a, b) = c.as_slices();
        for t in a.iter().chain(b) {
            sum += u64::from(t.seq);
        }
        c.commit_all();
        got += k as u64;
    }
    let elapsed = start.elapsed();
    producer.join().unwrap();
    (elapsed, sum)
}

/// `stream_quotes` read one raw tick at a time through `ticks()` (no conversion to `Quote`).
fn stream_next(runtime: &PipelineRuntime, n: u64) -> Duration {
    let start = Instant::now();
    let mut stream = runtime.stream_quotes(&SYMBOLS).unwrap();
    let mut sum = 0u64;
    for t in stream.ticks().take(n as usize) {
        sum = sum.wrapping_add(u64::from(t.seq));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    drop(stream);
    elapsed
}

/// `stream_quotes` read as `Quote`s (symbol name, last-trade-or-mid price) one at a time.
fn stream_quote_items(runtime: &PipelineRuntime, n: u64) -> Duration {
    let start = Instant::now();
    let mut stream = runtime.stream_quotes(&SYMBOLS).unwrap();
    let mut sum = 0i64;
    for q in stream.by_ref().take(n as usize) {
        sum = sum.wrapping_add(q.price.raw());
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    drop(stream);
    elapsed
}

/// `stream_quotes` read in chunks with `try_recv_into`.
fn stream_batched(runtime: &PipelineRuntime, n: u64) -> Duration {
    let start = Instant::now();
    let mut stream = runtime.stream_quotes(&SYMBOLS).unwrap();
    let mut buf: Vec<Tick> = Vec::with_capacity(CHUNK);
    let mut got = 0u64;
    let backoff = Backoff::new();
    while got < n {
        buf.clear();
        let k = stream.try_recv_into(&mut buf, CHUNK);
        if k == 0 {
            backoff.snooze();
        } else {
            backoff.reset();
        }
        got += k as u64;
        std::hint::black_box(&buf);
    }
    let elapsed = start.elapsed();
    drop(stream);
    elapsed
}

fn check(runtime: &PipelineRuntime) {
    let n = 10_000u64;
    let (_, sum) = bare_ring(n);
    assert_eq!(
        sum,
        n * (n + 1) / 2,
        "the baseline delivers every tick once, in order"
    );
    let ids: Vec<_> = SYMBOLS
        .iter()
        .map(|s| runtime.symbols().intern(s).unwrap())
        .collect();
    let mut stream = runtime.stream_quotes(&SYMBOLS).unwrap();
    let got: Vec<Tick> = stream.ticks().take(n as usize).collect();
    drop(stream);
    assert_eq!(got.len() as u64, n);
    assert!(
        got.iter().all(|t| ids.contains(&t.symbol)),
        "only the symbols asked for"
    );
    assert!(
        runtime.list_pipelines().is_empty(),
        "each stream frees its slot"
    );
}

fn stream_quotes(c: &mut Criterion) {
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings::default()).unwrap();
    check(&runtime);
    let mut g = c.benchmark_group("stream_quotes_1M_ticks");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(N));
    g.bench_function("bare_rtrb_ring_64B (baseline)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bare_ring(N).0).sum())
    });
    g.bench_function("stream_quotes_iter", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| stream_next(&runtime, N)).sum())
    });
    g.bench_function("stream_quotes_quote_items", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| stream_quote_items(&runtime, N)).sum())
    });
    g.bench_function("stream_quotes_try_recv_into", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| stream_batched(&runtime, N)).sum())
    });
    g.finish();
}

criterion_group!(benches, stream_quotes);
criterion_main!(benches);
