//! One open bar: the running OHLCV sums of one symbol's window.

use crate::price::Price;
use crate::record::Bar;
use crate::symbol::SymbolId;
use crate::tick::Tick;

/// Running state of one window. Open and close follow event time, not arrival order, so a
/// trade that arrives late but within the allowed lateness lands where it happened.
#[derive(Clone, Copy, Debug)]
pub(super) struct Accum {
    pub(super) start: u64,
    open: Price,
    open_ts: u64,
    high: Price,
    low: Price,
    close: Price,
    close_ts: u64,
    volume: u64,
    /// Σ price·size in raw price steps; i128 holds any realistic bar exactly (saturates only
    /// beyond ~4·10^9 trades of maximal price and size).
    pv: i128,
    trades: u64,
    last_recv: u64,
}

impl Accum {
    /// A window starting at `start` whose first trade is `t`.
    #[inline]
    pub(super) fn new(start: u64, t: &Tick) -> Accum {
        Accum {
            start,
            open: t.price,
            open_ts: t.ts_event,
            high: t.price,
            low: t.price,
            close: t.price,
            close_ts: t.ts_event,
            volume: t.size as u64,
            pv: t.price.0 as i128 * t.size as i128,
            trades: 1,
            last_recv: t.ts_recv,
        }
    }

    /// Add a trade of the same window. Ties in event time: the open stays with the first
    /// arrival, the close moves to the last.
    #[inline]
    pub(super) fn add(&mut self, t: &Tick) {
        if t.ts_event < self.open_ts {
            self.open = t.price;
            self.open_ts = t.ts_event;
        }
        if t.ts_event >= self.close_ts {
            self.close = t.price;
            self.close_ts = t.ts_event;
        }
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.volume = self.volume.saturating_add(t.size as u64);
        self.pv = self.pv.saturating_add(t.price.0 as i128 * t.size as i128);
        // Cannot overflow: 2^64 trades never reach one window.
        self.trades += 1;
        self.last_recv = self.last_recv.max(t.ts_recv);
    }

    /// The finished bar over `[start, end)`.
    pub(super) fn finish(&self, symbol: SymbolId, end: u64) -> Bar {
        Bar {
            symbol,
            start_ns: self.start,
            end_ns: end,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            vwap: vwap(self.pv, self.volume).unwrap_or(self.close),
            trades: self.trades,
            last_recv_ns: self.last_recv,
        }
    }
}

/// `pv / volume` rounded to the nearest 1e-9 step (ties toward +∞), exactly, in integers.
/// `None` when the volume is zero (only zero-size trades): the bar then reports its close.
pub(super) fn vwap(pv: i128, volume: u64) -> Option<Price> {
    if volume == 0 {
        return None;
    }
    // Almost every bar's Σ price·size fits in i64 (notional below ~9.2·10^9 units): one
    // hardware division. Otherwise one i128 division (a software routine, ~10× slower).
    if let (Ok(n), Ok(d)) = (i64::try_from(pv), i64::try_from(volume)) {
        let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
        // r < d ≤ i64::MAX, so 2r fits in u64.
        return Some(Price(q + i64::from(2 * r as u64 >= d as u64)));
    }
    let v = volume as i128;
    let (q, r) = (pv / v, pv % v);
    // Truncating division: make the remainder non-negative (floor), then round half up.
    let (q, r) = if r < 0 { (q - 1, r + v) } else { (q, r) };
    let q = q + i128::from(2 * r >= v);
    Some(Price(q.clamp(i64::MIN as i128, i64::MAX as i128) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vwap_rounds_to_nearest_step_table() {
        const BIG: i128 = 1 << 62;
        // (case, pv, volume, expected raw)
        let cases: &[(u32, i128, u64, Option<i64>)] = &[
            (1, 616, 6, Some(103)),   // 102.67 → 103
            (2, 615, 6, Some(103)),   // 102.5 → tie goes up
            (3, 614, 6, Some(102)),   // 102.33 → 102
            (4, -615, 6, Some(-102)), // -102.5 → tie goes up (toward +∞)
            (5, -616, 6, Some(-103)),
            (6, 0, 3, Some(0)),
            (7, 5, 0, None),
            // Σ price·size beyond i64 takes the i128 path, with the same rounding.
            (8, 6 * BIG + 3, 6, Some((1 << 62) + 1)), // .5 → up
            (9, 6 * BIG + 2, 6, Some(1 << 62)),       // .33 → down
            (10, -(6 * BIG + 3), 6, Some(-(1 << 62))), // -.5 → up
            (11, -(6 * BIG + 4), 6, Some(-(1 << 62) - 1)),
        ];
        for &(case, pv, vol, want) in cases {
            assert_eq!(vwap(pv, vol).map(|p| p.0), want, "case {case}");
        }
    }

    #[test]
    fn regression_bar_trade_count_saturated_at_u32_max() {
        // A long window at full rate holds more than 4.3·10^9 trades; the count stuck there.
        let t = Tick::trade(SymbolId(0), 1, Price::from_units(1), 1);
        let mut a = Accum::new(0, &t);
        a.trades = u64::from(u32::MAX);
        a.add(&t);
        a.add(&t);
        assert_eq!(a.finish(SymbolId(0), 2).trades, u64::from(u32::MAX) + 2);
    }

    #[test]
    fn open_and_close_follow_event_time_not_arrival() {
        let t = |ts: u64, units: i64| Tick::trade(SymbolId(0), ts, Price::from_units(units), 1);
        let mut a = Accum::new(0, &t(50, 2));
        a.add(&t(10, 1)); // earlier event, arrives later: becomes the open
        a.add(&t(90, 3));
        a.add(&t(70, 9)); // not the latest event: not the close
        let bar = a.finish(SymbolId(0), 100);
        assert_eq!(bar.open, Price::from_units(1));
        assert_eq!(bar.close, Price::from_units(3));
        assert_eq!(bar.high, Price::from_units(9));
        assert_eq!(bar.low, Price::from_units(1));
        assert_eq!((bar.trades, bar.volume), (4, 4));
    }
}
