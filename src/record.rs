//! What flows after the operator: ticks, or bars built from them.

use crate::price::Price;
use crate::symbol::SymbolId;
use crate::tick::Tick;

/// An OHLCV bar over `[start_ns, end_ns)` of event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bar {
    /// Symbol.
    pub symbol: SymbolId,
    /// Window start (event time, ns, inclusive).
    pub start_ns: u64,
    /// Window end (event time, ns, exclusive). The last window, the one holding `u64::MAX`,
    /// ends past `u64::MAX` and reports `u64::MAX` here.
    pub end_ns: u64,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade price.
    pub close: Price,
    /// Sum of trade sizes.
    pub volume: u64,
    /// Volume-weighted average price (rounded to the nearest 1e-9).
    pub vwap: Price,
    /// Number of trades (`u64`: a long window at full rate holds more than `u32::MAX`).
    pub trades: u64,
    /// Latest `ts_recv` of the trades in the bar (for latency accounting).
    pub last_recv_ns: u64,
}

/// One item after the operator stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A tick (passthrough, filter, conflation, dedupe).
    Tick(Tick),
    /// A bar (the bar operator).
    Bar(Bar),
}

impl Record {
    /// The symbol of the record.
    #[inline]
    pub fn symbol(&self) -> SymbolId {
        match self {
            Record::Tick(t) => t.symbol,
            Record::Bar(b) => b.symbol,
        }
    }

    /// The local receive time the record's latency is measured from.
    #[inline]
    pub fn ts_recv(&self) -> u64 {
        match self {
            Record::Tick(t) => t.ts_recv,
            Record::Bar(b) => b.last_recv_ns,
        }
    }
}

impl From<Tick> for Record {
    fn from(t: Tick) -> Record {
        Record::Tick(t)
    }
}

impl From<Bar> for Record {
    fn from(b: Bar) -> Record {
        Record::Bar(b)
    }
}
