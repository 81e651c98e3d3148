//! Per-chunk cost of the operators, the batcher and the counting sink.
//!
//! Each group has a baseline row (copying the chunk into the output vector, which every
//! operator has to do at least for what it keeps) so the rows read as ratios. Correctness is
//! asserted once before timing.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use market_data_pipeline::{
    BarConfig, BarOperator, Conflate, CountingSink, Dedupe, HybridBatcher, NullSink, Operator,
    Passthrough, Price, Record, Sink, SymbolFilter, SymbolId, Tick,
};

const CHUNK: usize = 1024;
const SYMBOLS: u32 = 64;

/// A chunk of ticks starting at `first`: 64 symbols, one trade in four, 100 µs apart, one
/// source with consecutive sequence numbers.
fn chunk(first: u64) -> Vec<Tick> {
    (first..first + CHUNK as u64)
        .map(|i| {
            let sym = SymbolId((i.wrapping_mul(0x9e37_79b9) >> 7) as u32 % SYMBOLS);
            let ts = i * 100_000;
            let p = Price::from_units(100 + (i % 13) as i64);
            let mut t = if i % 4 == 0 {
                Tick::trade(sym, ts, p, 1 + (i % 7) as u32)
            } else {
                Tick::quote(sym, ts, p, Price(p.0 + 1), 10, 10)
            };
            t.seq = i as u32;
            t
        })
        .collect()
}

/// Moves a chunk forward in event time and sequence, as the next chunk of a live feed would be.
fn advance(ticks: &mut [Tick]) {
    for t in ticks {
        t.ts_event += CHUNK as u64 * 100_000;
        t.ts_recv = t.ts_event;
        t.seq = t.seq.wrapping_add(CHUNK as u32);
    }
}

/// Times `op` on successive chunks (each row, the baseline included, also pays `advance`).
fn run_op(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, op: &mut dyn Operator) {
    let mut out: Vec<Record> = Vec::with_capacity(CHUNK * 2);
    let mut ticks = chunk(0);
    g.bench_function(name, |b| {
        b.iter(|| {
            advance(&mut ticks);
            out.clear();
            op.on_ticks(black_box(&ticks), &mut out);
            black_box(out.len())
        })
    });
}

/// The baseline: copy the chunk into the output as records (what passthrough must do).
struct CopyBaseline;

impl Operator for CopyBaseline {
    fn name(&self) -> &'static str {
        "baseline"
    }
    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        out.extend(ticks.iter().copied().map(Record::Tick));
    }
    fn flush(&mut self, _out: &mut Vec<Record>) {}
    fn stats(&self) -> market_data_pipeline::OperatorStats {
        Default::default()
    }
}

fn operators(c: &mut Criterion) {
    // Correctness before timing: every trade of a chunk lands in a bar.
    let mut bars = BarOperator::new(BarConfig::default()).unwrap();
    let mut out = Vec::new();
    bars.on_ticks(&chunk(0), &mut out);
    bars.flush(&mut out);
    let trades: u64 = out
        .iter()
        .map(|r| match r {
            Record::Bar(b) => b.trades,
            Record::Tick(_) => 0,
        })
        .sum();
    assert_eq!(trades as usize, CHUNK / 4);

    let mut g = c.benchmark_group("operator_chunk_1024");
    g.throughput(Throughput::Elements(CHUNK as u64));
    run_op(&mut g, "baseline_copy_to_records", &mut CopyBaseline);
    run_op(&mut g, "passthrough", &mut Passthrough::new());
    let half: Vec<SymbolId> = (0..SYMBOLS / 2).map(SymbolId).collect();
    run_op(
        &mut g,
        "symbol_filter",
        &mut SymbolFilter::new(&half).unwrap(),
    );
    run_op(
        &mut g,
        "conflate",
        &mut Conflate::with_symbols(SYMBOLS as usize),
    );
    run_op(&mut g, "dedupe", &mut Dedupe::with_sources(1));
    let cfg = BarConfig::new(Duration::from_millis(10), Duration::from_millis(5))
        .expected_symbols(SYMBOLS as usize);
    // 10 ms windows: almost every trade ends up in its own bar (a bar-heavy worst case).
    run_op(&mut g, "bar_10ms", &mut BarOperator::new(cfg).unwrap());
    let cfg = BarConfig::new(Duration::from_secs(1), Duration::from_millis(5))
        .expected_symbols(SYMBOLS as usize);
    run_op(&mut g, "bar_1s", &mut BarOperator::new(cfg).unwrap());
    g.finish();
}

fn batcher(c: &mut Criterion) {
    let records: Vec<Record> = chunk(0).into_iter().map(Record::Tick).collect();
    let mut g = c.benchmark_group("batcher_chunk_1024");
    g.throughput(Throughput::Elements(CHUNK as u64));
    let mut null = NullSink::new();
    g.bench_function("baseline_null_sink_write", |b| {
        b.iter(|| null.write(black_box(&records)).unwrap())
    });
    let mut batcher = HybridBatcher::default();
    let mut null = NullSink::new();
    g.bench_function("push_500_rows_null_sink", |b| {
        b.iter(|| batcher.push(black_box(&records), 0, &mut null).unwrap())
    });
    let mut batcher = HybridBatcher::default();
    let mut counting = CountingSink::new();
    g.bench_function("push_500_rows_counting_sink", |b| {
        b.iter(|| batcher.push(black_box(&records), 0, &mut counting).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = operators, batcher
}
criterion_main!(benches);
