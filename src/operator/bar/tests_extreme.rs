//! Bars at the edges of event time: trades at and near `u64::MAX`, windows as long as event
//! time allows, watermarks and idle closes at the end of the range. Every case would hang or
//! misplace trades with saturating window arithmetic.

use super::*;
use crate::price::Price;
use crate::record::Bar;

const MAX: u64 = u64::MAX;
const SEC: u64 = 1_000_000_000;

fn trade(sym: u32, ts: u64, units: i64) -> Tick {
    Tick::trade(SymbolId(sym), ts, Price::from_units(units), 1)
}

fn bars(out: &[Record]) -> Vec<Bar> {
    out.iter()
        .filter_map(|r| match r {
            Record::Bar(b) => Some(*b),
            Record::Tick(_) => None,
        })
        .collect()
}

fn op(window: Duration, lateness: Duration) -> BarOperator {
    BarOperator::new(BarConfig::new(window, lateness)).unwrap()
}

/// (start, end, trades) of each bar.
fn spans(out: &[Record]) -> Vec<(u64, u64, u64)> {
    bars(out)
        .iter()
        .map(|b| (b.start_ns, b.end_ns, b.trades))
        .collect()
}

#[test]
fn regression_failure_1_trade_at_u64_max_hung_the_bar_operator() {
    // `mdp gen --start-ns 18446744073709551615` then `mdp replay --bars-ms 1000`: the window
    // end saturated to u64::MAX, the watermark reached it, and the close loop never ended.
    let mut op = op(Duration::from_secs(1), Duration::ZERO);
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, MAX, 1), trade(0, MAX, 2)], &mut out);
    assert!(
        out.is_empty(),
        "the last window is not final: a trade at MAX may still come"
    );
    assert_eq!((op.open_windows(), op.watermark_ns()), (1, MAX));
    op.flush(&mut out);
    let last_start = MAX - MAX % SEC;
    assert_eq!(spans(&out), vec![(last_start, MAX, 2)]);
    let s = op.stats();
    assert_eq!((s.ticks_in, s.records_out, s.late), (2, 1, 0));
}

#[test]
fn regression_failure_1_trades_crossing_into_the_last_window_close_the_one_before() {
    let mut op = op(Duration::from_secs(1), Duration::ZERO);
    let last_start = MAX - MAX % SEC;
    let mut out = Vec::new();
    op.on_ticks(
        &[
            trade(0, last_start - 1, 1),
            trade(1, last_start - 1, 1),
            trade(0, MAX, 2),
            // Late: its window ended at last_start, which the watermark (MAX) passed.
            trade(0, last_start - 2, 3),
        ],
        &mut out,
    );
    let prev = (last_start - SEC, last_start, 1);
    assert_eq!(spans(&out), vec![prev, prev]);
    op.flush(&mut out);
    assert_eq!(spans(&out)[2], (last_start, MAX, 1));
    assert_eq!(op.stats().late, 1);
}

#[test]
fn regression_failure_1_window_of_u64_max_ns_keeps_both_windows_apart() {
    // Windows [0, MAX) and [MAX, 2·MAX): a trade before MAX that arrives after one at MAX
    // belongs to the first window (a wrapping difference once put it in the second).
    let mut op = op(Duration::from_nanos(MAX), Duration::from_nanos(MAX));
    let mut out = Vec::new();
    op.on_ticks(
        &[
            trade(0, MAX, 1),
            trade(0, 5, 2),
            trade(0, 0, 3),
            trade(0, MAX - 1, 4),
        ],
        &mut out,
    );
    assert!(out.is_empty(), "lateness of MAX: nothing is final");
    op.flush(&mut out);
    assert_eq!(spans(&out), vec![(0, MAX, 3), (MAX, MAX, 1)]);
    let b = bars(&out);
    assert_eq!(
        (b[0].open, b[0].close),
        (Price::from_units(3), Price::from_units(4))
    );
}

#[test]
fn regression_failure_1_idle_close_of_the_last_window_then_a_trade_at_max_is_late() {
    let mut op = BarOperator::new(
        BarConfig::new(Duration::from_secs(1), Duration::ZERO)
            .idle_close(Some(Duration::from_nanos(10))),
    )
    .unwrap();
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, MAX, 1)], &mut out);
    // Wall clock near its end too.
    op.on_idle(MAX - 10, &mut out);
    op.on_idle(MAX, &mut out);
    assert_eq!(op.idle_closes(), 1);
    assert_eq!(spans(&out).len(), 1);
    // Every window, the last included, is final: no second bar for it.
    op.on_ticks(&[trade(0, MAX, 2), trade(0, 0, 3)], &mut out);
    op.on_idle(MAX, &mut out);
    op.flush(&mut out);
    assert_eq!(spans(&out).len(), 1);
    let s = op.stats();
    assert_eq!((s.ticks_in, s.records_out, s.late), (3, 1, 2));
    assert_eq!(op.watermark_ns(), MAX);
}

#[test]
fn regression_failure_1_lateness_and_idle_close_beyond_u64_ns_mean_never() {
    let mut op = BarOperator::new(
        BarConfig::new(Duration::from_secs(1), Duration::MAX).idle_close(Some(Duration::MAX)),
    )
    .unwrap();
    let mut out = Vec::new();
    op.on_ticks(&[trade(0, MAX, 1), trade(0, 0, 2)], &mut out);
    op.on_idle(0, &mut out);
    op.on_idle(MAX, &mut out);
    assert!(out.is_empty());
    op.flush(&mut out);
    assert_eq!(spans(&out), vec![(0, SEC, 1), (MAX - MAX % SEC, MAX, 1)]);
}

#[test]
fn one_nanosecond_windows_at_the_end_of_event_time() {
    let mut op = op(Duration::from_nanos(1), Duration::ZERO);
    let mut out = Vec::new();
    op.on_ticks(
        &[trade(0, MAX - 2, 1), trade(0, MAX - 1, 2), trade(0, MAX, 3)],
        &mut out,
    );
    assert_eq!(spans(&out), vec![(MAX - 2, MAX - 1, 1), (MAX - 1, MAX, 1)]);
    op.flush(&mut out);
    assert_eq!(spans(&out)[2], (MAX, MAX, 1));
}

#[test]
fn closing_scans_only_the_symbols_with_open_windows() {
    // One trade of the highest dense id must not make every later close walk a million ids.
    let top = MAX_DENSE_SYMBOLS - 1;
    let mut op = op(Duration::from_nanos(1), Duration::ZERO);
    let mut out = Vec::new();
    op.on_ticks(&[trade(top, 0, 1), trade(0, 0, 1)], &mut out);
    assert_eq!(op.active, vec![0, top]);
    for ts in 1..100 {
        op.on_ticks(&[trade(0, ts, 1)], &mut out);
        assert_eq!(op.active, vec![0], "ts {ts}");
    }
    // Bars come out by window end, then symbol id.
    let first: Vec<u32> = bars(&out[..2]).iter().map(|b| b.symbol.0).collect();
    assert_eq!(first, vec![0, top]);
    op.flush(&mut out);
    assert!(op.active.is_empty());
    assert_eq!(bars(&out).len(), 101);
}
