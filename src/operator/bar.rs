//! `BarOperator`: OHLCV bars by event time, with allowed lateness and an idle close.
//!
//! # Windows and the watermark
//!
//! Windows are aligned to multiples of the window length from event time 0:
//! `[k·w, (k+1)·w)`. The watermark is `max ts_event seen − allowed_lateness` over the whole
//! stream (all symbols). A window is final once the watermark reaches its end, and it is
//! emitted at once, right after the trade that moved the watermark. A trade whose window is
//! already final when it arrives is counted as `late` and dropped, never merged into a bar
//! that may already be out. Which trades are late, and the bars, depend only on the order of
//! the ticks, not on how they were cut into chunks. Bars come out in order of window end, then
//! symbol id.
//!
//! # The end of event time
//!
//! The arithmetic is exact over the whole `u64` range: the last window (the one holding
//! `u64::MAX`) ends past `u64::MAX`, so window ends and the watermark are kept as `u128` inside
//! the operator. That window is never final by watermark (a trade at `u64::MAX` can always
//! still come); it closes on the idle close or at end of stream, and its bar reports
//! `end_ns = u64::MAX`. A window longer than `u64::MAX` ns is a configuration error.
//!
//! # A quiet stream
//!
//! Event time only moves with data, so a stream that goes quiet would hold its last windows
//! forever. The stage loop calls [`Operator::on_idle`] after each chunk and while idle; the
//! operator notes the wall-clock time of the last call that followed data, and once
//! [`BarConfig::idle_close`] has passed with no data it declares every open window final (as
//! if the watermark had jumped to the end of the newest window). The default timeout is
//! `window + allowed_lateness` of wall-clock time: by then, when event time tracks wall time,
//! any trade for those windows would have been late anyway. `None` disables it (pure event
//! time; windows then close only on data or [`Operator::flush`]).
//!
//! # End of stream
//!
//! [`Operator::flush`] emits every window still open (the original lost them at shutdown).
//!
//! # Inputs
//!
//! Only ticks that carry a trade feed bars; quote-only ticks are counted as `filtered`, as are
//! trades whose symbol id is not below [`MAX_DENSE_SYMBOLS`]. Per-symbol state lives in a
//! `Vec` indexed by the dense [`SymbolId`]; it grows when a symbol is first seen and then
//! never again (pre-size it with [`BarConfig::expected_symbols`]).

mod accum;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_extreme;

use std::time::Duration;

use self::accum::Accum;
use super::{Operator, OperatorStats, MAX_DENSE_SYMBOLS};
use crate::clock::duration_ns;
use crate::error::{ConfigError, OperatorError};
use crate::record::Record;
use crate::symbol::SymbolId;
use crate::tick::Tick;

/// `next_close` when no window is open: above any watermark, so the close loop stops.
const NONE_OPEN: u128 = u128::MAX;

/// The exclusive end of the window `[start, start + window)`: past `u64::MAX` for the last
/// window, hence `u128` (exact, never saturated).
#[inline]
fn window_end(start: u64, window_ns: u64) -> u128 {
    u128::from(start) + u128::from(window_ns)
}

/// A window end as a bar reports it: the last window's end (past `u64::MAX`) as `u64::MAX`.
#[inline]
fn bar_end_ns(end: u128) -> u64 {
    u64::try_from(end).unwrap_or(u64::MAX)
}

/// Most open windows per symbol reserved up front (more are allocated only if the lateness
/// spans more windows than this).
const MAX_RESERVED_WINDOWS: u64 = 64;

/// Configuration of a [`BarOperator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarConfig {
    /// Window length (event time). Must be non-zero and at most `u64::MAX` ns (about 584
    /// years: event times are `u64` ns).
    pub window: Duration,
    /// How far behind the newest event a trade may be and still count. Anything from
    /// `u64::MAX` ns up means the same (no trade is ever late by watermark).
    pub allowed_lateness: Duration,
    /// Wall-clock quiet time after which open windows are closed; `None` disables it. Must be
    /// non-zero when set; beyond `u64::MAX` ns it never fires.
    pub idle_close: Option<Duration>,
    /// Symbols to reserve state for up front.
    pub expected_symbols: usize,
}

impl BarConfig {
    /// Windows of `window`, trades accepted up to `allowed_lateness` behind the newest event,
    /// idle close after `window + allowed_lateness` of quiet.
    pub fn new(window: Duration, allowed_lateness: Duration) -> BarConfig {
        BarConfig {
            window,
            allowed_lateness,
            idle_close: Some(window.saturating_add(allowed_lateness)),
            expected_symbols: 0,
        }
    }

    /// Set (or with `None`, disable) the idle close.
    pub fn idle_close(mut self, after: Option<Duration>) -> BarConfig {
        self.idle_close = after;
        self
    }

    /// Reserve state for `n` symbols up front.
    pub fn expected_symbols(mut self, n: usize) -> BarConfig {
        self.expected_symbols = n;
        self
    }

    /// Check the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `bar.window` (zero, or longer than `u64::MAX` ns, which no
    /// event time can span), `bar.idle_close` (zero) or `bar.expected_symbols` (above
    /// [`MAX_DENSE_SYMBOLS`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.window.is_zero() {
            return Err(ConfigError::new("bar.window", "must be greater than 0"));
        }
        if self.window.as_nanos() > u128::from(u64::MAX) {
            return Err(ConfigError::new(
                "bar.window",
                format!(
                    "{:?} is longer than event time can span (at most {} ns, about 584 years)",
                    self.window,
                    u64::MAX
                ),
            ));
        }
        if self.idle_close.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "bar.idle_close",
                "must be greater than 0 (use None to disable)",
            ));
        }
        if self.expected_symbols > MAX_DENSE_SYMBOLS as usize {
            return Err(ConfigError::new(
                "bar.expected_symbols",
                format!("must be at most {MAX_DENSE_SYMBOLS}"),
            ));
        }
        Ok(())
    }
}

impl Default for BarConfig {
    /// One-second windows, no lateness, idle close after one second of quiet.
    fn default() -> BarConfig {
        BarConfig::new(Duration::from_secs(1), Duration::ZERO)
    }
}

/// OHLCV bars per symbol by event time. See the [module docs](self) for the exact rules.
///
/// ```
/// use market_data_pipeline::{BarConfig, BarOperator, Operator, Price, Record, SymbolId, Tick};
/// use std::time::Duration;
///
/// let mut bars = BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO))?;
/// let s = SymbolId(0);
/// let mut out = Vec::with_capacity(16);
/// bars.on_ticks(
///     &[
///         Tick::trade(s, 100, Price::from_units(100), 1),
///         Tick::trade(s, 200, Price::from_units(105), 2),
///         Tick::trade(s, 300, Price::from_units(102), 3),
///     ],
///     &mut out,
/// );
/// assert!(out.is_empty()); // the second is still open
/// bars.flush(&mut out); // end of stream: open windows are emitted, not lost
/// let Record::Bar(bar) = out[0] else { unreachable!() };
/// assert_eq!(bar.vwap.to_string(), "102.666666667");
/// assert_eq!((bar.volume, bar.trades), (6, 3));
/// # Ok::<(), market_data_pipeline::OperatorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BarOperator {
    window_ns: u64,
    /// The window of the last trade, `[start, start + window_ns)`: consecutive trades mostly
    /// fall in it, which saves a division per trade.
    last_start: u64,
    lateness_ns: u64,
    idle_close_ns: Option<u64>,
    /// Open windows reserved per symbol.
    reserve: usize,
    /// Open windows per symbol, sorted by start.
    open: Vec<Vec<Accum>>,
    /// Ids of the symbols with an open window, ascending: closing scans these, not every id
    /// up to the highest one seen (one trade of id 2^20 − 1 must not make each close cost a
    /// million steps).
    active: Vec<u32>,
    open_count: usize,
    /// Windows ending at or before this are final. At most `2^64 + window` (after a close of
    /// every window), so never [`NONE_OPEN`].
    watermark: u128,
    /// Smallest end among open windows ([`NONE_OPEN`] when none is open).
    next_close: u128,
    /// Data arrived since the last `on_idle`.
    saw_data: bool,
    /// Wall-clock time of the last `on_idle` that followed data.
    last_data_ns: u64,
    idle_closes: u64,
    stats: OperatorStats,
}

impl BarOperator {
    /// A bar operator.
    ///
    /// # Errors
    ///
    /// [`OperatorError::Config`] when `config` does not [validate](BarConfig::validate).
    pub fn new(config: BarConfig) -> Result<BarOperator, OperatorError> {
        config.validate().map_err(|error| OperatorError::Config {
            operator: "bar",
            error,
        })?;
        let window_ns = duration_ns(config.window);
        let lateness_ns = duration_ns(config.allowed_lateness);
        // A trade is accepted only if its window ends after the watermark, so at most
        // 1 + ceil(lateness / window) windows of one symbol are open at once.
        let reserve = 1 + lateness_ns
            .div_ceil(window_ns)
            .min(MAX_RESERVED_WINDOWS - 1);
        let reserve = reserve as usize;
        let open = (0..config.expected_symbols)
            .map(|_| Vec::with_capacity(reserve))
            .collect();
        Ok(BarOperator {
            window_ns,
            last_start: 0,
            lateness_ns,
            // A quiet time longer than u64 ns can never elapse on the clock: never.
            idle_close_ns: config
                .idle_close
                .and_then(|d| u64::try_from(d.as_nanos()).ok()),
            reserve,
            open,
            active: Vec::with_capacity(config.expected_symbols),
            open_count: 0,
            watermark: 0,
            next_close: NONE_OPEN,
            saw_data: false,
            last_data_ns: 0,
            idle_closes: 0,
            stats: OperatorStats::default(),
        })
    }

    /// The current watermark (event-time ns): windows ending at or before it are final.
    /// After every window up to the last one (the one holding `u64::MAX`) was closed, it is
    /// past `u64::MAX` and reads as `u64::MAX`.
    pub fn watermark_ns(&self) -> u64 {
        bar_end_ns(self.watermark)
    }

    /// Windows currently open, over all symbols.
    pub fn open_windows(&self) -> usize {
        self.open_count
    }

    /// How many times the idle close fired.
    pub fn idle_closes(&self) -> u64 {
        self.idle_closes
    }

    #[inline]
    fn add_trade(&mut self, t: &Tick) {
        let ts = t.ts_event;
        // Same window as the last trade only if not before its start (a wrapping difference
        // would take an earlier trade for one in a window of more than half of u64).
        let start = match ts.checked_sub(self.last_start) {
            Some(d) if d < self.window_ns => self.last_start,
            _ => ts - ts % self.window_ns,
        };
        self.last_start = start;
        let end = window_end(start, self.window_ns);
        if end <= self.watermark {
            self.stats.late += 1;
            return;
        }
        // Below 0 nothing is final yet: every window ends after 0.
        self.watermark = self
            .watermark
            .max(u128::from(ts.saturating_sub(self.lateness_ns)));
        let sym = t.symbol.0 as usize;
        if sym >= self.open.len() {
            self.open.resize_with(sym + 1, Vec::new);
        }
        let bars = &mut self.open[sym];
        match bars.binary_search_by_key(&start, |a| a.start) {
            Ok(i) => bars[i].add(t),
            Err(i) => {
                if bars.is_empty() {
                    if let Err(at) = self.active.binary_search(&t.symbol.0) {
                        self.active.insert(at, t.symbol.0);
                    }
                }
                if bars.capacity() == 0 {
                    bars.reserve_exact(self.reserve);
                }
                bars.insert(i, Accum::new(start, t));
                self.open_count += 1;
                self.next_close = self.next_close.min(end);
            }
        }
    }

    /// Emit every window the watermark has made final, in order of end time, then symbol id.
    ///
    /// Terminates: `next_close` is the smallest end among open windows, so each round closes
    /// at least one window (or finds none open and stops at [`NONE_OPEN`], which no watermark
    /// reaches).
    fn close_final(&mut self, out: &mut Vec<Record>) {
        while self.next_close <= self.watermark {
            let end = self.next_close;
            let mut next = NONE_OPEN;
            let mut closed = 0;
            let (open, window_ns) = (&mut self.open, self.window_ns);
            self.active.retain(|&sym| {
                let bars = &mut open[sym as usize];
                if let Some(first) = bars.first() {
                    if window_end(first.start, window_ns) <= end {
                        out.push(Record::Bar(first.finish(SymbolId(sym), bar_end_ns(end))));
                        bars.remove(0);
                        closed += 1;
                    }
                }
                let first = bars.first();
                if let Some(first) = first {
                    next = next.min(window_end(first.start, window_ns));
                }
                first.is_some()
            });
            self.open_count -= closed;
            self.stats.records_out += closed as u64;
            self.next_close = next;
        }
    }

    /// Declare every open window final: the watermark jumps to the end of the newest one, so
    /// a trade arriving later for any of them is `late` (no second bar for the same window).
    fn close_all(&mut self, out: &mut Vec<Record>) {
        let newest_end = self
            .active
            .iter()
            .filter_map(|&sym| self.open[sym as usize].last())
            .map(|a| window_end(a.start, self.window_ns))
            .max();
        if let Some(end) = newest_end {
            self.watermark = self.watermark.max(end);
            self.close_final(out);
        }
    }
}

impl Operator for BarOperator {
    fn name(&self) -> &'static str {
        "bar"
    }

    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        self.stats.ticks_in += ticks.len() as u64;
        self.saw_data |= !ticks.is_empty();
        for t in ticks {
            if t.kind.has_trade() && t.symbol.0 < MAX_DENSE_SYMBOLS {
                self.add_trade(t);
                // Close as soon as a window is final: bars go out with the least delay, and a
                // symbol never holds more than 1 + ceil(lateness / window) windows (the
                // capacity reserved for it), however much event time one chunk spans.
                if self.next_close <= self.watermark {
                    self.close_final(out);
                }
            } else {
                self.stats.filtered += 1;
            }
        }
    }

    fn on_idle(&mut self, now_ns: u64, out: &mut Vec<Record>) {
        let Some(idle_ns) = self.idle_close_ns else {
            return;
        };
        if self.saw_data {
            self.saw_data = false;
            self.last_data_ns = now_ns;
        } else if self.open_count > 0 && now_ns.saturating_sub(self.last_data_ns) >= idle_ns {
            self.idle_closes += 1;
            self.close_all(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Record>) {
        self.close_all(out);
    }

    fn stats(&self) -> OperatorStats {
        self.stats
    }
}
