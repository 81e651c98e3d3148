//! Operator → batcher → sink, driven the way a stage loop drives them, on a manual clock.

use std::time::Duration;

use market_data_pipeline::{
    BarConfig, BarOperator, CallbackSink, Clock, HybridBatcher, ManualClock, Operator, Price,
    Record, Sink, SinkError, SymbolId, Tick,
};

const MS: u64 = 1_000_000;

/// One pass of the stage loop: operator output (if any) into the batcher, then the time-driven
/// steps. Returns nothing; everything is observed through the sink and the counters.
fn stage_step(
    op: &mut dyn Operator,
    batcher: &mut HybridBatcher,
    sink: &mut dyn Sink,
    ticks: &[Tick],
    now_ns: u64,
    out: &mut Vec<Record>,
) -> Result<(), SinkError> {
    out.clear();
    op.on_ticks(ticks, out);
    op.on_idle(now_ns, out);
    batcher.push(out, now_ns, sink)?;
    batcher.poll_age(now_ns, sink)?;
    Ok(())
}

#[test]
fn quiet_tail_is_delivered_by_idle_close_and_batch_age_before_any_shutdown() {
    let clock = ManualClock::new(0);
    let mut op = BarOperator::new(
        BarConfig::new(Duration::from_millis(100), Duration::ZERO)
            .idle_close(Some(Duration::from_millis(150))),
    )
    .unwrap();
    let mut batcher = HybridBatcher::new(4, Duration::from_millis(50)).unwrap();
    let (mut bars, mut trades_in_bars) = (0u64, 0u64);
    let mut sink = CallbackSink::new(|batch: &[Record]| {
        for r in batch {
            if let Record::Bar(b) = r {
                bars += 1;
                trades_in_bars += b.trades;
            }
        }
        Ok(())
    });
    let mut out = Vec::with_capacity(64);
    let mut trades = 0u64;
    // 1. 30 chunks, 10 ms apart, 10 trades each over 3 symbols, event time = wall time.
    for step in 0..30u64 {
        let now = clock.now_ns();
        let chunk: Vec<Tick> = (0..10u64)
            .map(|i| {
                let sym = SymbolId((i % 3) as u32);
                Tick::trade(sym, now + i, Price::from_units(100 + i as i64), 1)
            })
            .collect();
        trades += chunk.len() as u64;
        stage_step(&mut op, &mut batcher, &mut sink, &chunk, now, &mut out)
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        clock.advance_ns(10 * MS);
    }
    assert!(
        op.open_windows() > 0,
        "the last window is open when the data stops"
    );
    // 2. The stream goes quiet: idle steps only, bounded.
    for _ in 0..50 {
        stage_step(
            &mut op,
            &mut batcher,
            &mut sink,
            &[],
            clock.now_ns(),
            &mut out,
        )
        .unwrap();
        clock.advance_ns(10 * MS);
    }
    assert_eq!(op.open_windows(), 0, "idle close emitted the open windows");
    assert_eq!(batcher.buffered(), 0, "batch age delivered them");
    // 3. Shutdown has nothing left to do.
    out.clear();
    op.flush(&mut out);
    assert!(out.is_empty());
    batcher.flush(&mut sink).unwrap();
    sink.close().unwrap();
    assert_eq!(trades_in_bars, trades, "every trade is in a delivered bar");
    assert_eq!(bars, op.stats().records_out);
    assert_eq!(bars, 9, "3 windows of 100 ms × 3 symbols");
    assert_eq!(op.stats().late, 0);
    let s = batcher.stats();
    assert_eq!(s.records_in, s.rows);
    assert!(s.flushes_age > 0);
}
