//! The pipeline as a specification: conservation, no loss under `Block`, graceful drain,
//! failures that stop cleanly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::operator::{BarConfig, BarOperator};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{PipelineState, Placement, StreamingPipeline};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::source::{Fault, FaultKind, SyntheticConfig, SyntheticSource, VecSource};
use market_data_pipeline::{
    CallbackSink, Clock, CountingSink, HybridBatcher, IdleStrategy, ManualClock, Passthrough,
    PipelineError, Price, Record, SinkError, SymbolId, SymbolTable, Tick,
};

fn synthetic(n: u64, symbols: &[&str]) -> SyntheticSource {
    SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(n),
            ..SyntheticConfig::new(symbols)
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap()
}

fn frozen_clock() -> Arc<ManualClock> {
    ManualClock::shared(1_000)
}

/// A sink that checks each tick's sequence follows the previous one and folds checksums.
fn checking_sink(state: Arc<(AtomicU64, AtomicU64, AtomicU64)>) -> impl market_data_pipeline::Sink {
    let mut expect_seq = 1u32;
    let (mut sum, mut count, mut bad) = (0u64, 0u64, 0u64);
    CallbackSink::new(move |batch: &[Record]| {
        for r in batch {
            if let Record::Tick(t) = r {
                if t.seq != expect_seq {
                    bad += 1;
                }
                expect_seq = t.seq.wrapping_add(1);
                sum = sum.wrapping_add(t.checksum());
                count += 1;
            }
        }
        state.0.store(sum, Ordering::Relaxed);
        state.1.store(count, Ordering::Relaxed);
        state.2.store(bad, Ordering::Relaxed);
        Ok(())
    })
}

fn expected_checksum(n: u64, symbols: &[&str], now: u64) -> u64 {
    use market_data_pipeline::{SourcePoll, TickSource};
    let mut s = synthetic(n, symbols);
    s.start(now).unwrap();
    let mut buf = vec![Tick::default(); 4096];
    let mut sum = 0u64;
    while let SourcePoll::Ready(k) = s.poll(now, &mut buf).unwrap() {
        for t in &buf[..k] {
            sum = sum.wrapping_add(t.checksum());
        }
    }
    sum
}

#[test]
fn block_policy_delivers_ten_million_self_checked_ticks_exactly_once_in_order() {
    let n: u64 = std::env::var("MDP_SOAK_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let syms = ["AAPL", "MSFT", "GOOG"];
    let clock = frozen_clock();
    let state = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let report = StreamingPipeline::builder()
        .source(synthetic(n, &syms))
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(512, Duration::from_millis(1)).unwrap())
        .sink(checking_sink(state.clone()))
        .backpressure(Backpressure::Block)
        .ring_capacity(4096)
        .clock(clock.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let s = &report.stats;
    assert_eq!(s.produced, n);
    assert_eq!(s.delivered, n);
    assert_eq!(s.lost(), 0);
    assert!(s.is_conserved());
    assert_eq!(state.1.load(Ordering::Relaxed), n, "count at the sink");
    assert_eq!(
        state.2.load(Ordering::Relaxed),
        0,
        "sequence breaks at the sink"
    );
    assert_eq!(
        state.0.load(Ordering::Relaxed),
        expected_checksum(n, &syms, clock.now_ns()),
        "checksum of everything delivered"
    );
}

/// One billion ticks; run by hand: `cargo test --release --test pipeline -- --ignored soak`.
#[test]
#[ignore = "soak: ~minutes in release"]
fn soak_block_policy_one_billion_ticks() {
    let n = 1_000_000_000u64;
    let state = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let report = StreamingPipeline::builder()
        .source(synthetic(n, &["AAPL", "MSFT"]))
        .batcher(HybridBatcher::new(512, Duration::from_millis(1)).unwrap())
        .sink(checking_sink(state.clone()))
        .clock(frozen_clock())
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.stats.delivered, n);
    assert_eq!(state.1.load(Ordering::Relaxed), n);
    assert_eq!(state.2.load(Ordering::Relaxed), 0);
    eprintln!("soak: {n} ticks in {:?}", report.elapsed);
}

/// A sink slow enough that a small ring overflows (how often depends on the machine; the
/// assertions do not).
fn slow_sink() -> impl market_data_pipeline::Sink {
    let mut x = 0u64;
    CallbackSink::new(move |batch: &[Record]| {
        for r in batch {
            for i in 0..200u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i ^ r.ts_recv()));
            }
        }
        Ok(())
    })
}

#[test]
fn conservation_holds_exactly_for_every_backpressure_policy() {
    // (case, policy)
    for (case, policy) in [
        (1, Backpressure::Block),
        (2, Backpressure::DropNewest),
        (3, Backpressure::ConflateLatest),
    ] {
        let n = 300_000;
        let report = StreamingPipeline::builder()
            .source(synthetic(n, &["A", "B", "C", "D"]))
            .batcher(HybridBatcher::new(64, Duration::from_millis(1)).unwrap())
            .sink(slow_sink())
            .backpressure(policy)
            .ring_capacity(256)
            .chunk_size(64)
            .clock(frozen_clock())
            .build()
            .unwrap()
            .run()
            .unwrap();
        let s = &report.stats;
        assert_eq!(s.produced, n, "case {case}");
        assert_eq!(s.in_flight(), 0, "case {case}: drained");
        assert_eq!(
            s.produced,
            s.ticks_in + s.edge.dropped + s.edge.conflated,
            "case {case}: conservation {s:?}"
        );
        assert_eq!(
            s.delivered, s.ticks_in,
            "case {case}: passthrough delivers all it got"
        );
        match policy {
            Backpressure::Block => assert_eq!(s.lost(), 0, "case {case}"),
            Backpressure::DropNewest => assert_eq!(s.edge.conflated, 0, "case {case}"),
            Backpressure::ConflateLatest => assert_eq!(s.edge.dropped, 0, "case {case}"),
        }
    }
}

#[test]
fn fused_placement_runs_everything_on_one_worker() {
    let report = StreamingPipeline::builder()
        .source(synthetic(100_000, &["A"]))
        .placement(Placement::Fused {
            core: CoreChoice::Unpinned,
        })
        .clock(frozen_clock())
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.stats.delivered, 100_000);
    assert!(report.stats.is_conserved());
    assert_eq!(report.stats.state, PipelineState::Stopped);
}

fn trade(sym: u32, ts: u64, price: &str, size: u32, seq: u32) -> Tick {
    Tick {
        seq,
        ..Tick::trade(SymbolId(sym), ts, price.parse::<Price>().unwrap(), size)
    }
}

#[test]
fn regression_open_bar_windows_are_flushed_at_stop_not_lost() {
    // The original's bar test, end to end: three trades in one second.
    let ticks = vec![
        trade(0, 1_000_000_000, "100", 1, 1),
        trade(0, 1_200_000_000, "105", 2, 2),
        trade(0, 1_900_000_000, "102", 3, 3),
    ];
    let bars = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b2 = bars.clone();
    let report = StreamingPipeline::builder()
        .source(VecSource::new("canned", ticks, &["AAPL"]))
        .operator(BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO)).unwrap())
        .sink(CallbackSink::new(move |batch: &[Record]| {
            b2.lock().unwrap().extend_from_slice(batch);
            Ok(())
        }))
        .clock(frozen_clock())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let bars = bars.lock().unwrap();
    assert_eq!(
        bars.len(),
        1,
        "the open window was flushed at end of stream"
    );
    let Record::Bar(b) = bars[0] else {
        panic!("expected a bar, got {:?}", bars[0])
    };
    assert_eq!(b.open.to_string(), "100");
    assert_eq!(b.high.to_string(), "105");
    assert_eq!(b.low.to_string(), "100");
    assert_eq!(b.close.to_string(), "102");
    assert_eq!(b.volume, 6);
    assert_eq!(b.trades, 3);
    assert_eq!(b.vwap.to_string(), "102.666666667");
    assert_eq!(report.stats.ticks_in, 3);
}

#[test]
fn stop_on_an_endless_source_drains_every_stage() {
    let sink = CountingSink::new();
    let counts = sink.counts();
    let handle = StreamingPipeline::builder()
        .source(
            SyntheticSource::new(
                SyntheticConfig::new(&["A", "B"]),
                Arc::new(SymbolTable::new()),
            )
            .unwrap(),
        )
        .sink(sink)
        .idle(IdleStrategy::default())
        .build()
        .unwrap()
        .start()
        .unwrap();
    // Wait (bounded) until something flowed, then stop.
    for _ in 0..10_000 {
        if handle.stats().delivered > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    handle.stop();
    let report = handle.join();
    assert!(report.error.is_none(), "{:?}", report.error);
    let s = &report.stats;
    assert!(s.produced > 0);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.delivered, s.produced, "nothing left behind in any stage");
    assert_eq!(counts.records(), s.produced);
}

#[test]
fn a_failing_sink_fails_the_pipeline_without_hanging() {
    let mut calls = 0;
    let report = StreamingPipeline::builder()
        .source(
            SyntheticSource::new(SyntheticConfig::new(&["A"]), Arc::new(SymbolTable::new()))
                .unwrap(),
        )
        .sink(CallbackSink::new(move |_b: &[Record]| {
            calls += 1;
            if calls > 3 {
                return Err(SinkError::Failed {
                    sink: "callback",
                    message: "disk full".into(),
                });
            }
            Ok(())
        }))
        .clock(frozen_clock())
        .build()
        .unwrap()
        .start()
        .unwrap()
        .join();
    let e = report.error.expect("the sink error is reported");
    assert!(e.to_string().contains("disk full"), "{e}");
    assert_eq!(report.stats.state, PipelineState::Failed);
    // What the failed stage left in the edge is lost, not in flight.
    assert_eq!(report.stats.in_flight(), 0, "{:?}", report.stats);
    assert!(report.stats.is_conserved(), "{:?}", report.stats);
}

#[test]
fn a_permanently_failing_source_fails_the_pipeline_after_its_error_budget() {
    let src = SyntheticSource::new(
        SyntheticConfig {
            faults: vec![Fault {
                at_tick: 1000,
                kind: FaultKind::Fail,
            }],
            ..SyntheticConfig::new(&["A"])
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    let report = StreamingPipeline::builder()
        .source(src)
        .max_consecutive_source_errors(5)
        .idle(IdleStrategy::BusySpin)
        .clock(frozen_clock())
        .build()
        .unwrap()
        .start()
        .unwrap()
        .join();
    let e = report.error.expect("failure reported");
    assert!(e.to_string().contains("injected permanent failure"), "{e}");
    assert_eq!(report.stats.produced, 1000);
    assert_eq!(
        report.stats.delivered, 1000,
        "what was produced was still delivered"
    );
}

#[test]
fn invalid_pipeline_configuration_is_a_clear_error() {
    let cases: Vec<(u32, Result<StreamingPipeline, PipelineError>, &str)> = vec![
        (1, StreamingPipeline::builder().build(), "source"),
        (
            2,
            StreamingPipeline::builder()
                .source(synthetic(1, &["A"]))
                .chunk_size(0)
                .build(),
            "chunk_size",
        ),
        (
            3,
            StreamingPipeline::builder()
                .source(synthetic(1, &["A"]))
                .ring_capacity(0)
                .build(),
            "ring_capacity",
        ),
        (
            4,
            StreamingPipeline::builder()
                .source(synthetic(1, &["A"]))
                .ring_capacity(16)
                .chunk_size(64)
                .build(),
            "ring_capacity",
        ),
        (
            5,
            StreamingPipeline::builder()
                .source(VecSource::new("empty", vec![], &[] as &[&str]))
                .build(),
            "no symbols",
        ),
    ];
    for (case, r, what) in cases {
        let e = r.expect_err(&format!("case {case} must fail"));
        assert!(e.to_string().contains(what), "case {case}: {e}");
    }
}

#[test]
fn a_quiet_source_gets_its_rows_delivered_when_the_stage_catches_up_not_at_max_age() {
    // Ten ticks, then the source stalls "forever" on a frozen clock: neither max_rows (1000)
    // nor max_age (an hour) can fire; only the end-of-batch signal delivers the rows.
    let src = SyntheticSource::new(
        SyntheticConfig {
            faults: vec![Fault {
                at_tick: 10,
                kind: FaultKind::Stall(Duration::from_secs(1_000_000)),
            }],
            ..SyntheticConfig::new(&["A"])
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    for (case, placement) in [
        (1, Placement::default()),
        (
            2,
            Placement::Fused {
                core: CoreChoice::Unpinned,
            },
        ),
    ] {
        let src = src_clone(&src);
        let handle = StreamingPipeline::builder()
            .source(src)
            .placement(placement)
            .batcher(HybridBatcher::new(1000, Duration::from_secs(3600)).unwrap())
            .clock(frozen_clock())
            .build()
            .unwrap()
            .start()
            .unwrap();
        let mut delivered = 0;
        for _ in 0..20_000 {
            delivered = handle.stats().delivered;
            if delivered == 10 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            delivered, 10,
            "case {case}: rows delivered while the pipeline runs"
        );
        let report = handle.stop_and_join();
        assert_eq!(report.stats.delivered, 10, "case {case}");
    }
}

fn src_clone(s: &SyntheticSource) -> SyntheticSource {
    SyntheticSource::new(s.config().clone(), Arc::new(SymbolTable::new())).unwrap()
}

#[test]
fn each_worker_can_wait_its_own_way() {
    // A busy-spinning source behind a backing-off consumer, and the reverse: both complete
    // with every tick delivered.
    for (case, source_idle, process_idle) in [
        (1, IdleStrategy::BusySpin, IdleStrategy::default()),
        (2, IdleStrategy::default(), IdleStrategy::BusySpin),
    ] {
        let report = StreamingPipeline::builder()
            .source(synthetic(200_000, &["A", "B"]))
            .idle(source_idle)
            .process_idle(process_idle)
            .clock(frozen_clock())
            .build()
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(report.stats.delivered, 200_000, "case {case}");
        assert!(report.stats.is_conserved(), "case {case}");
    }
}
