//! Property tests: extreme values through every operator, the batcher and every sink.
//!
//! Ticks carry timestamps, prices, sizes and sequence numbers at their edges (0, 1, MAX − 1,
//! MAX, jumps backwards and forwards); configurations take their edges too (1 ns and
//! `u64::MAX` ns windows, lateness and ages beyond the clock's range, batches of 1 row). The
//! stages are driven directly on one thread with a manual clock, every loop of the test is
//! bounded, and each case checks that every call returned, nothing panicked, and every tick is
//! accounted for: each operator's input is its output plus what it counted as filtered,
//! duplicate, conflated or late; the batcher's input is what the sink took plus what is
//! buffered; the sink holds exactly what the batcher handed it (files are read back).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::sink::{consumer_sink, tick_checksum, RecordStream, TickFileSink};
use market_data_pipeline::symbol::SymbolNames;
use market_data_pipeline::{
    BarConfig, BarOperator, CallbackSink, Clock, Conflate, CountingSink, CsvSink, Dedupe,
    HybridBatcher, ManualClock, NullSink, Operator, Passthrough, Price, Record, Sink, SymbolFilter,
    SymbolId, SymbolTable, Tick, TickFile, TickKind,
};
use proptest::prelude::*;

const MAX: u64 = u64::MAX;
/// Symbols the table knows (ids 0..4).
const NAMES: [&str; 4] = ["A", "B", "C", "D"];

/// How a timestamp moves from the previous one.
#[derive(Clone, Copy, Debug)]
enum Move {
    To(u64),
    Forward(u64),
    Back(u64),
}

fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(MAX - 1),
        Just(MAX),
        0..1_000u64,
        any::<u64>()
    ]
}

fn moves() -> impl Strategy<Value = Move> {
    prop_oneof![
        edge_u64().prop_map(Move::To),
        edge_u64().prop_map(Move::Forward),
        edge_u64().prop_map(Move::Back),
    ]
}

fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(-1),
        Just(0),
        Just(1),
        Just(i64::MAX - 1),
        Just(i64::MAX),
        any::<i64>()
    ]
}

fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u32::MAX - 1),
        Just(u32::MAX),
        0..2_000u32,
        any::<u32>()
    ]
}

/// One tick before its timestamps are placed; `known` keeps symbols in the table (for the
/// tick-file sink, which refuses ids it cannot name).
fn raw_tick(known: bool) -> impl Strategy<Value = (Move, Tick)> {
    let symbol = if known {
        (0..NAMES.len() as u32).boxed()
    } else {
        prop_oneof![
            4 => 0..NAMES.len() as u32,
            1 => Just((1u32 << 20) - 1),
            1 => Just(1u32 << 20),
            1 => Just(u32::MAX),
        ]
        .boxed()
    };
    let kind = prop_oneof![
        Just(TickKind::Trade),
        Just(TickKind::Quote),
        Just(TickKind::Both)
    ];
    (
        moves(),
        (edge_i64(), edge_i64(), edge_i64()),
        (
            edge_u32(),
            edge_u32(),
            prop_oneof![Just(0u16), Just(1), Just(u16::MAX)],
        ),
        symbol,
        kind,
    )
        .prop_map(|(mv, (price, bid, ask), (size, seq, source), sym, kind)| {
            let tick = Tick {
                price: Price(price),
                bid: Price(bid),
                ask: Price(ask),
                size,
                bid_size: size,
                ask_size: size,
                seq,
                source,
                symbol: SymbolId(sym),
                kind,
                ..Tick::default()
            };
            (mv, tick)
        })
}

/// What the stage loop does next.
#[derive(Clone, Debug)]
enum Step {
    /// A chunk of ticks (timestamps still to place).
    Chunk(Vec<(Move, Tick)>),
    /// The clock advances this far and the loop is idle (`on_idle`, `poll_age`).
    Idle(u64),
    /// The stage caught up (`end_of_batch`).
    CaughtUp,
}

fn steps(known: bool) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => prop::collection::vec(raw_tick(known), 0..16).prop_map(Step::Chunk),
        1 => edge_u64().prop_map(Step::Idle),
        1 => Just(Step::CaughtUp),
    ];
    prop::collection::vec(step, 1..24)
}

fn edge_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_nanos(1)),
        Just(Duration::from_nanos(7)),
        Just(Duration::from_secs(1)),
        Just(Duration::from_nanos(MAX - 1)),
        Just(Duration::from_nanos(MAX)),
        (1..MAX).prop_map(Duration::from_nanos),
    ]
}

/// Lateness, idle close and batcher age may also lie beyond the clock's range.
fn edge_duration_or_beyond() -> impl Strategy<Value = Duration> {
    prop_oneof![
        edge_duration(),
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_nanos(MAX) + Duration::from_nanos(1)),
    ]
}

#[derive(Clone, Debug)]
enum OpKind {
    Passthrough,
    Filter(Vec<u32>),
    Conflate,
    Dedupe,
    Bars {
        window: Duration,
        lateness: Duration,
        idle: Option<Duration>,
    },
}

fn op_kind(bars: bool) -> impl Strategy<Value = OpKind> {
    let ticks = prop_oneof![
        Just(OpKind::Passthrough),
        prop::collection::vec(
            prop_oneof![0..4u32, Just((1 << 20) - 1), Just(u32::MAX)],
            1..4
        )
        .prop_map(OpKind::Filter),
        Just(OpKind::Conflate),
        Just(OpKind::Dedupe),
    ];
    let bar = (
        edge_duration(),
        edge_duration_or_beyond(),
        prop::option::of(edge_duration_or_beyond().prop_filter("non-zero", |d| !d.is_zero())),
    )
        .prop_map(|(window, lateness, idle)| OpKind::Bars {
            window,
            lateness,
            idle,
        });
    if bars {
        prop_oneof![ticks, bar].boxed()
    } else {
        ticks.boxed()
    }
}

fn build(kind: &OpKind) -> Box<dyn Operator> {
    match kind {
        OpKind::Passthrough => Box::new(Passthrough::new()),
        OpKind::Filter(ids) => {
            let ids: Vec<SymbolId> = ids.iter().map(|&i| SymbolId(i)).collect();
            match SymbolFilter::new(&ids) {
                Ok(f) => Box::new(f),
                // Ids at or above the dense limit are refused; keep the valid ones.
                Err(_) => {
                    Box::new(SymbolFilter::new(&[SymbolId(ids[0].0.min((1 << 20) - 1))]).unwrap())
                }
            }
        }
        OpKind::Conflate => Box::new(Conflate::new()),
        OpKind::Dedupe => Box::new(Dedupe::new()),
        OpKind::Bars {
            window,
            lateness,
            idle,
        } => Box::new(
            BarOperator::new(BarConfig::new(*window, *lateness).idle_close(*idle))
                .expect("windows up to u64::MAX ns are valid"),
        ),
    }
}

/// Place the timestamps: each moves from the previous one (saturating at the ends of the
/// range, which is where the edges are).
fn place(steps: &[Step]) -> Vec<Step> {
    let (mut ev, mut recv) = (0u64, 0u64);
    let at = |mv: Move, prev: &mut u64| {
        *prev = match mv {
            Move::To(t) => t,
            Move::Forward(d) => prev.saturating_add(d),
            Move::Back(d) => prev.saturating_sub(d),
        };
        *prev
    };
    steps
        .iter()
        .map(|s| match s {
            Step::Chunk(ticks) => Step::Chunk(
                ticks
                    .iter()
                    .map(|&(mv, mut t)| {
                        t.ts_event = at(mv, &mut ev);
                        t.ts_recv = at(Move::Forward(1), &mut recv);
                        (mv, t)
                    })
                    .collect(),
            ),
            other => other.clone(),
        })
        .collect()
}

/// What went in and came out of the operator.
#[derive(Default)]
struct Ledger {
    fed: u64,
    records: Vec<Record>,
}

/// Drive `steps` through `op` → `batcher` → `sink` on one thread; `drain` is called after
/// every step (a consumer sink's reader). Returns the ledger.
fn drive(
    steps: &[Step],
    op: &mut dyn Operator,
    batcher: &mut HybridBatcher,
    sink: &mut dyn Sink,
    mut drain: impl FnMut(),
) -> Ledger {
    let clock = ManualClock::new(0);
    let mut ledger = Ledger::default();
    let mut out = Vec::new();
    for step in steps {
        out.clear();
        match step {
            Step::Chunk(ticks) => {
                let ticks: Vec<Tick> = ticks.iter().map(|(_, t)| *t).collect();
                ledger.fed += ticks.len() as u64;
                op.on_ticks(&ticks, &mut out);
                op.on_idle(clock.now_ns(), &mut out);
            }
            Step::Idle(d) => {
                clock.advance_ns(*d);
                op.on_idle(clock.now_ns(), &mut out);
            }
            Step::CaughtUp => batcher.end_of_batch(sink).unwrap(),
        }
        // Every tick yields at most one record, plus at most one bar per open window.
        assert!(out.len() as u64 <= ledger.fed, "more records than ticks");
        batcher.push(&out, clock.now_ns(), sink).unwrap();
        batcher.poll_age(clock.now_ns(), sink).unwrap();
        ledger.records.extend_from_slice(&out);
        drain();
    }
    out.clear();
    op.flush(&mut out);
    batcher.push(&out, clock.now_ns(), sink).unwrap();
    ledger.records.extend_from_slice(&out);
    batcher.flush(sink).unwrap();
    sink.close().unwrap();
    drain();
    ledger
}

/// Every tick is accounted for, stage by stage: a tick operator passes each tick or counts
/// why not; the bar operator puts each trade in exactly one bar or counts it.
fn check_conservation(op: &dyn Operator, batcher: &HybridBatcher, ledger: &Ledger) {
    let s = op.stats();
    assert_eq!(s.ticks_in, ledger.fed, "{}: ticks in", op.name());
    assert_eq!(s.records_out, ledger.records.len() as u64, "{}", op.name());
    let mut passed = 0;
    for r in &ledger.records {
        match r {
            Record::Tick(_) => passed += 1,
            Record::Bar(b) => {
                assert!(b.start_ns <= b.end_ns && b.low <= b.high, "{b:?}");
                passed += b.trades;
            }
        }
    }
    assert_eq!(
        s.ticks_in,
        passed + s.filtered + s.duplicates + s.conflated + s.late,
        "{}: {s:?}",
        op.name()
    );
    let b = batcher.stats();
    assert_eq!(b.records_in, ledger.records.len() as u64);
    assert_eq!(
        (b.rows, batcher.buffered(), b.rejected),
        (b.records_in, 0, 0)
    );
}

fn batcher_for(rows: usize, age: Duration) -> HybridBatcher {
    HybridBatcher::new(rows, age).expect("valid batcher")
}

fn table() -> Arc<SymbolTable> {
    Arc::new(SymbolTable::with_symbols(&NAMES).unwrap())
}

fn rows() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(7), Just(500)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 96 },
        ..ProptestConfig::default()
    })]

    /// Every operator into the counting sink: the checksum of the ticks that came out of the
    /// operator is what the sink counted.
    #[test]
    fn every_operator_into_the_counting_sink_terminates_and_conserves(
        kind in op_kind(true),
        steps in steps(false),
        rows in rows(),
        age in edge_duration_or_beyond().prop_filter("non-zero", |d| !d.is_zero()),
    ) {
        let steps = place(&steps);
        let mut op = build(&kind);
        let mut batcher = batcher_for(rows, age);
        let mut sink = CountingSink::new();
        let ledger = drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {});
        check_conservation(op.as_ref(), &batcher, &ledger);
        let ticks: Vec<Tick> = ledger.records.iter().filter_map(|r| match r {
            Record::Tick(t) => Some(*t),
            Record::Bar(_) => None,
        }).collect();
        let c = sink.snapshot();
        prop_assert_eq!(c.records, ledger.records.len() as u64);
        prop_assert_eq!((c.ticks, c.checksum), (ticks.len() as u64, tick_checksum(&ticks)));
    }

    /// The null, callback and consumer sinks take exactly what the batcher hands them.
    #[test]
    fn null_callback_and_consumer_sinks_take_every_record(
        kind in op_kind(true),
        steps in steps(false),
        rows in rows(),
        which in 0..3u8,
    ) {
        let steps = place(&steps);
        let mut op = build(&kind);
        let mut batcher = batcher_for(rows, Duration::from_nanos(1));
        let (ledger, got) = match which {
            0 => {
                let mut sink = NullSink::new();
                let ledger = drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {});
                (ledger, sink.records())
            }
            1 => {
                let mut seen = Vec::new();
                let ledger = {
                    let mut sink = CallbackSink::new(|b: &[Record]| {
                        seen.extend_from_slice(b);
                        Ok(())
                    });
                    drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {})
                };
                prop_assert_eq!(&seen, &ledger.records);
                (ledger, seen.len() as u64)
            }
            _ => {
                // Room for a whole case, so the writer never waits on this thread.
                let (mut sink, mut stream) = consumer_sink(1 << 12, Backpressure::Block).unwrap();
                let mut seen = Vec::new();
                let ledger = drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {
                    read_ready(&mut stream, &mut seen)
                });
                drop(sink);
                read_ready(&mut stream, &mut seen);
                prop_assert!(stream.is_finished());
                prop_assert_eq!(&seen, &ledger.records);
                (ledger, seen.len() as u64)
            }
        };
        check_conservation(op.as_ref(), &batcher, &ledger);
        prop_assert_eq!(got, ledger.records.len() as u64);
    }

    /// CSV (ticks and bars) and tick-file (ticks) sinks write to temporary files; the files
    /// hold exactly what went in.
    #[test]
    fn file_sinks_write_every_record_and_read_back(
        kind in op_kind(true),
        steps in steps(true),
        rows in rows(),
    ) {
        let steps = place(&steps);
        let dir = TempDir::new("extreme-values-files");
        let table = table();
        let mut op = build(&kind);
        let mut batcher = batcher_for(rows, Duration::from_nanos(MAX));
        let path = dir.path("out.csv");
        let mut sink = CsvSink::create(&path, SymbolNames::new(table.clone())).unwrap();
        let recording = sink.recording();
        let ledger = drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {});
        check_conservation(op.as_ref(), &batcher, &ledger);
        recording.finish().unwrap(); // the run succeeded
        let text = std::fs::read_to_string(&path).unwrap();
        prop_assert_eq!(text.lines().count(), ledger.records.len() + 1, "header + a row each");

        if matches!(kind, OpKind::Bars { .. }) {
            return Ok(());
        }
        let mut op = build(&kind);
        let mut batcher = batcher_for(rows, Duration::from_nanos(1));
        let path = dir.path("out.ticks");
        let mut sink = TickFileSink::create(&path, table.clone()).unwrap();
        let recording = sink.recording();
        let ledger = drive(&steps, op.as_mut(), &mut batcher, &mut sink, || {});
        check_conservation(op.as_ref(), &batcher, &ledger);
        recording.finish().unwrap();
        let file = TickFile::open(&path).unwrap();
        let back: Vec<Tick> = file.records().collect::<Result<_, _>>().unwrap();
        let sent: Vec<Tick> = ledger.records.iter().map(|r| match r {
            Record::Tick(t) => *t,
            Record::Bar(b) => panic!("a tick operator emitted {b:?}"),
        }).collect();
        prop_assert_eq!(back, sent);
    }
}

/// Move every record ready on `stream` into `seen` (bounded: the stream holds at most a
/// ring's worth).
fn read_ready(stream: &mut RecordStream, seen: &mut Vec<Record>) {
    for _ in 0..(1 << 13) {
        if stream.try_recv_into(seen, 1 << 12) == 0 {
            return;
        }
    }
    panic!("the stream never ran dry");
}

#[test]
fn batch_sizes_zero_and_beyond_the_limit_are_refused_naming_the_field() {
    for rows in [0, HybridBatcher::MAX_ROWS_LIMIT + 1, usize::MAX] {
        let e = HybridBatcher::new(rows, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("batcher.max_rows"), "{rows}: {e}");
    }
    let e = HybridBatcher::new(1, Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("batcher.max_age"), "{e}");
    // The largest batch size is usable.
    let mut b = HybridBatcher::new(HybridBatcher::MAX_ROWS_LIMIT, Duration::MAX).unwrap();
    let mut sink = CountingSink::new();
    let r = Record::Tick(Tick::default());
    b.push(&[r; 3], MAX, &mut sink).unwrap();
    assert!(!b.poll_age(MAX, &mut sink).unwrap());
    b.flush(&mut sink).unwrap();
    assert_eq!(sink.snapshot().records, 3);
}

#[test]
fn a_tick_file_sink_refuses_a_symbol_it_cannot_name_with_an_error_not_a_panic() {
    let dir = TempDir::new("extreme-values-unknown");
    let mut sink = TickFileSink::create(dir.path("x.ticks"), table()).unwrap();
    let t = Tick {
        symbol: SymbolId(u32::MAX),
        ..Tick::default()
    };
    let e = sink.write(&[Record::Tick(t)]).unwrap_err();
    assert!(e.to_string().contains("unknown symbol id"), "{e}");
}
