use super::*;
use crate::clock::{Clock, ManualClock};
use crate::price::Price;
use crate::record::Bar;

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn trade(sym: u32, ts: u64, units: i64, size: u32) -> Tick {
    Tick::trade(SymbolId(sym), ts, Price::from_units(units), size)
}

fn bars(out: &[Record]) -> Vec<Bar> {
    out.iter()
        .map(|r| match r {
            Record::Bar(b) => *b,
            Record::Tick(t) => panic!("bar operator emitted a tick: {t:?}"),
        })
        .collect()
}

fn op(window_ms: u64, lateness_ms: u64) -> BarOperator {
    BarOperator::new(BarConfig::new(
        Duration::from_millis(window_ms),
        Duration::from_millis(lateness_ms),
    ))
    .unwrap()
}

#[test]
fn original_three_trades_in_one_second_make_one_exact_bar() {
    let mut op = op(1000, 0);
    let mut out = Vec::new();
    op.on_ticks(
        &[
            trade(0, 10 * MS, 100, 1),
            trade(0, 20 * MS, 105, 2),
            trade(0, 30 * MS, 102, 3),
        ],
        &mut out,
    );
    assert!(out.is_empty(), "the window is still open");
    op.flush(&mut out);
    let b = bars(&out);
    assert_eq!(b.len(), 1);
    let b = b[0];
    assert_eq!((b.start_ns, b.end_ns), (0, SEC));
    assert_eq!(b.open, Price::from_units(100));
    assert_eq!(b.high, Price::from_units(105));
    assert_eq!(b.low, Price::from_units(100));
    assert_eq!(b.close, Price::from_units(102));
    assert_eq!(b.volume, 6);
    // (100·1 + 105·2 + 102·3) / 6 = 102.6666…, rounded to the nearest 1e-9.
    assert_eq!(b.vwap, Price(102_666_666_667));
    assert_eq!(b.vwap.to_string(), "102.666666667");
    assert_eq!(b.trades, 3);
    assert_eq!(b.last_recv_ns, 30 * MS);
}

#[test]
fn regression_open_windows_lost_at_shutdown_are_emitted_by_flush() {
    let mut op = op(1000, 0);
    let mut out = Vec::new();
    op.on_ticks(
        &[
            trade(0, 100, 10, 1),
            trade(1, 200, 20, 1),
            trade(2, 300, 30, 1),
        ],
        &mut out,
    );
    assert_eq!(op.open_windows(), 3);
    op.flush(&mut out);
    let got: Vec<u32> = bars(&out).iter().map(|b| b.symbol.0).collect();
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(op.open_windows(), 0);
    assert_eq!(op.stats().records_out, 3);
    // A second flush has nothing left to emit.
    op.flush(&mut out);
    assert_eq!(out.len(), 3);
}

#[test]
fn window_closes_when_the_watermark_reaches_its_end() {
    let mut op = op(1000, 0);
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, SEC - 1, 10, 1)], &mut out);
    assert!(out.is_empty());
    op.on_ticks(&[trade(0, SEC, 11, 1)], &mut out);
    let b = bars(&out);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].start_ns, b[0].end_ns, b[0].close),
        (0, SEC, Price::from_units(10))
    );
    assert_eq!(op.watermark_ns(), SEC);
}

#[test]
fn quiet_symbol_is_closed_by_the_stream_watermark() {
    let mut op = op(1000, 0);
    let mut out = Vec::new();
    op.on_ticks(&[trade(7, 5, 10, 1), trade(3, 10, 10, 1)], &mut out);
    // Only symbol 3 trades again, in the next window: symbol 7's window is final too.
    op.on_ticks(&[trade(3, SEC + 5, 10, 1)], &mut out);
    let got: Vec<(u32, u64)> = bars(&out)
        .iter()
        .map(|b| (b.symbol.0, b.start_ns))
        .collect();
    assert_eq!(got, vec![(3, 0), (7, 0)], "same end: ordered by symbol id");
}

#[test]
fn trades_within_allowed_lateness_merge_and_later_ones_are_counted_late() {
    // 1 s windows, 200 ms lateness.
    let mut op = op(1000, 200);
    let mut out = Vec::new();
    op.on_ticks(
        &[trade(0, 900 * MS, 10, 1), trade(0, 1100 * MS, 20, 1)],
        &mut out,
    );
    assert!(out.is_empty(), "watermark 900 ms: [0, 1 s) still open");
    // 1: 950 ms arrives after 1.1 s but within lateness: merged into [0, 1 s).
    op.on_ticks(&[trade(0, 950 * MS, 30, 2)], &mut out);
    assert!(out.is_empty());
    // 2: 1.2 s moves the watermark to 1 s: [0, 1 s) is final and emitted.
    op.on_ticks(&[trade(0, 1200 * MS, 21, 1)], &mut out);
    let b = bars(&out);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].trades, b[0].volume, b[0].close),
        (2, 3, Price::from_units(30))
    );
    // 3: a trade for the closed window is late: counted, not merged, no second bar.
    op.on_ticks(&[trade(0, 999 * MS, 99, 1)], &mut out);
    assert_eq!(op.stats().late, 1);
    op.flush(&mut out);
    let b = bars(&out);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[1].start_ns, b[1].trades, b[1].high),
        (SEC, 2, Price::from_units(21))
    );
}

#[test]
fn only_ticks_carrying_a_trade_feed_bars() {
    let mut op = op(1000, 0);
    let s = SymbolId(0);
    let q = Tick::quote(s, 10, Price::from_units(1), Price::from_units(2), 5, 5);
    let mut both = trade(0, 20, 50, 4);
    both.kind = crate::tick::TickKind::Both;
    let mut out = Vec::new();
    op.on_ticks(&[q, both, q], &mut out);
    op.flush(&mut out);
    let b = bars(&out);
    assert_eq!((b.len(), b[0].trades, b[0].volume), (1, 1, 4));
    let s = op.stats();
    assert_eq!((s.ticks_in, s.filtered, s.records_out), (3, 2, 1));
}

#[test]
fn symbol_ids_beyond_the_dense_limit_are_filtered_not_allocated() {
    let mut op = op(1000, 0);
    let mut out = Vec::new();
    op.on_ticks(&[trade(u32::MAX, 1, 1, 1)], &mut out);
    assert_eq!(op.stats().filtered, 1);
    assert_eq!(op.open_windows(), 0);
}

#[test]
fn quiet_stream_closes_its_windows_after_the_idle_timeout() {
    let clock = ManualClock::new(1_000 * SEC);
    let mut op = BarOperator::new(
        BarConfig::new(Duration::from_secs(1), Duration::ZERO)
            .idle_close(Some(Duration::from_millis(1500))),
    )
    .unwrap();
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, 10, 10, 1), trade(1, 20, 20, 1)], &mut out);
    op.on_idle(clock.now_ns(), &mut out); // after the chunk: notes the time of data
    clock.advance_ns(1499 * MS);
    op.on_idle(clock.now_ns(), &mut out);
    assert!(out.is_empty(), "1.499 s of quiet: not yet");
    clock.advance_ns(MS);
    op.on_idle(clock.now_ns(), &mut out);
    assert_eq!(bars(&out).len(), 2);
    assert_eq!(op.idle_closes(), 1);
    // A trade for the idle-closed window is late: no second bar for [0, 1 s).
    op.on_ticks(&[trade(0, 30, 10, 1)], &mut out);
    op.flush(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(op.stats().late, 1);
}

#[test]
fn idle_close_disabled_keeps_windows_until_data_or_flush() {
    let mut op =
        BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO).idle_close(None))
            .unwrap();
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, 10, 10, 1)], &mut out);
    for i in 0..10u64 {
        op.on_idle(i * 3600 * SEC, &mut out);
    }
    assert!(out.is_empty());
    op.flush(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn bars_do_not_depend_on_how_ticks_are_chunked() {
    // A deterministic shuffle of event times (bounded, no clock): 3 symbols, 400 trades,
    // arrival up to ~150 ms out of order, 100 ms windows, 100 ms lateness.
    let mut ticks = Vec::with_capacity(400);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..400u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let jitter = x % (150 * MS);
        let ts = (i * 5 * MS).saturating_sub(jitter);
        ticks.push(trade(
            (x % 3) as u32,
            ts,
            100 + (x % 7) as i64,
            1 + (x % 5) as u32,
        ));
    }
    let run = |chunk: usize| {
        let mut op = op(100, 100);
        let mut out = Vec::new();
        for c in ticks.chunks(chunk) {
            op.on_ticks(c, &mut out);
        }
        op.flush(&mut out);
        (bars(&out), op.stats())
    };
    let (whole, whole_stats) = run(ticks.len());
    assert!(whole_stats.late > 0, "the scenario must exercise lateness");
    for chunk in [1, 7, 64] {
        let (b, s) = run(chunk);
        assert_eq!(s, whole_stats, "chunk {chunk}: stats");
        let mut sorted = b.clone();
        sorted.sort_by_key(|b| (b.end_ns, b.symbol));
        assert_eq!(sorted, b, "chunk {chunk}: emitted in (end, symbol) order");
        let mut w = whole.clone();
        w.sort_by_key(|b| (b.end_ns, b.symbol));
        assert_eq!(b, w, "chunk {chunk}: same bars");
    }
    // Conservation: every trade is in a bar or counted late.
    let in_bars: u64 = whole.iter().map(|b| b.trades).sum();
    assert_eq!(in_bars + whole_stats.late, 400);
}

#[test]
fn invalid_configurations_are_config_errors_naming_the_field() {
    let w = Duration::from_secs(1);
    // (case, config, field)
    let cases = [
        (
            1,
            BarConfig::new(Duration::ZERO, Duration::ZERO),
            "bar.window",
        ),
        (
            2,
            BarConfig::new(w, w).idle_close(Some(Duration::ZERO)),
            "bar.idle_close",
        ),
        (
            3,
            BarConfig::new(w, w).expected_symbols(usize::MAX),
            "bar.expected_symbols",
        ),
        // A window no event time can span (`bar_window_ms = u64::MAX`, `--bars-ms`).
        (
            4,
            BarConfig::new(Duration::from_millis(u64::MAX), Duration::ZERO),
            "bar.window",
        ),
        (
            5,
            BarConfig::new(Duration::from_nanos(u64::MAX) + Duration::from_nanos(1), w),
            "bar.window",
        ),
        (6, BarConfig::new(Duration::MAX, w), "bar.window"),
    ];
    for (case, config, field) in cases {
        match BarOperator::new(config) {
            Err(OperatorError::Config { operator, error }) => {
                assert_eq!(
                    (operator, error.field.as_str()),
                    ("bar", field),
                    "case {case}"
                )
            }
            Ok(_) => panic!("case {case}: accepted"),
        }
    }
}

#[test]
fn steady_state_reuses_per_symbol_state_reserved_on_first_sight() {
    // 4 symbols, 50 ms windows, 120 ms lateness: at most 1 + ceil(120/50) = 4 open windows per
    // symbol, reserved when the symbol is first seen. One chunk spanning many windows must not
    // grow anything.
    let mut op = BarOperator::new(
        BarConfig::new(Duration::from_millis(50), Duration::from_millis(120)).expected_symbols(4),
    )
    .unwrap();
    let mut out = Vec::with_capacity(4096);
    let warm: Vec<Tick> = (0..4).map(|s| trade(s, 0, 10, 1)).collect();
    op.on_ticks(&warm, &mut out);
    let shape = |op: &BarOperator| -> Vec<(usize, *const Accum)> {
        op.open
            .iter()
            .map(|v| (v.capacity(), v.as_ptr()))
            .chain(std::iter::once((op.open.capacity(), std::ptr::null())))
            .collect()
    };
    let before = shape(&op);
    assert!(before[..4].iter().all(|&(cap, _)| cap == 4));
    let burst: Vec<Tick> = (0..2_000u64)
        .map(|i| trade((i % 4) as u32, i * MS, 10, 1))
        .collect();
    op.on_ticks(&burst, &mut out);
    assert_eq!(shape(&op), before, "no per-symbol vector grew or moved");
    assert!(
        out.len() >= 140,
        "bars were emitted during the chunk: {}",
        out.len()
    );
}
