//! `Quote`: what a user of `stream_quotes` (and `router.stream()`) receives — a printable
//! symbol and a meaningful price — and [`QuoteMaker`], which turns raw ticks into quotes.
//!
//! A [`Tick`] is the engine's 64-byte wire record: an interned [`SymbolId`](crate::SymbolId),
//! and a `price` that is only set on trades (about 70 % of a synthetic stream is quote-only,
//! with `price == 0`). A `Quote` is the original's quote: the symbol's name, and a `price` that
//! is the symbol's last trade, else the mid of the current quote. Making one costs a table
//! look-up in a per-stream cache and an `Arc` clone; users who want the raw ticks read them
//! without that cost (`QuoteStream::ticks`, `QuoteStream::try_recv_into`).
//!
//! ```
//! use std::sync::Arc;
//! use market_data_pipeline::quote::QuoteMaker;
//! use market_data_pipeline::{Price, SymbolTable, Tick};
//! let table = Arc::new(SymbolTable::new());
//! let aapl = table.intern("AAPL").unwrap();
//! let mut quotes = QuoteMaker::new(table);
//! let (bid, ask) = (Price::from_f64(187.49).unwrap(), Price::from_f64(187.51).unwrap());
//! // No trade yet: the price is the mid.
//! let q = quotes.quote(&Tick::quote(aapl, 1, bid, ask, 100, 200));
//! assert_eq!(format!("{}: ${}", q.symbol, q.price), "AAPL: $187.5");
//! // After a trade, quote-only ticks carry the last trade price.
//! quotes.quote(&Tick::trade(aapl, 2, Price::from_f64(187.52).unwrap(), 10));
//! let q = quotes.quote(&Tick::quote(aapl, 3, bid, ask, 100, 200));
//! assert_eq!(q.price.to_string(), "187.52");
//! assert_eq!((q.bid_size, q.ask_size), (100, 200));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::price::Price;
use crate::symbol::{SymbolNames, SymbolTable};
use crate::tick::{Tick, TickKind};

/// A quote as a user receives it (the original's `Quote`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The symbol's name (`"?"` for an id the symbol table does not know).
    pub symbol: Arc<str>,
    /// The symbol's last trade price, else the mid of this quote.
    pub price: Price,
    /// Best bid (zero when the tick carries no quote).
    pub bid: Price,
    /// Best ask (zero when the tick carries no quote).
    pub ask: Price,
    /// Bid size.
    pub bid_size: u32,
    /// Ask size.
    pub ask_size: u32,
    /// Size of the trade this tick carries (zero for a quote-only tick).
    pub size: u32,
    /// Exchange (event) timestamp, ns.
    pub ts_event: u64,
    /// Local receive timestamp, ns.
    pub ts_recv: u64,
    /// Trade, quote or both.
    pub kind: TickKind,
    /// Source id of the tick.
    pub source: u16,
    /// The raw tick it was made from (sequence number, flags, symbol id).
    pub tick: Tick,
}

impl Quote {
    /// Mid of the bid and ask (the trade price for a trade-only tick).
    pub fn mid(&self) -> Price {
        self.tick.mid()
    }
}

impl fmt::Display for Quote {
    /// `AAPL 187.52 (bid 187.49 x 100, ask 187.51 x 200)`; trade-only ticks print
    /// `AAPL 187.52 (trade x 10)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.symbol, self.price)?;
        if self.kind.has_quote() {
            write!(
                f,
                " (bid {} x {}, ask {} x {})",
                self.bid, self.bid_size, self.ask, self.ask_size
            )
        } else {
            write!(f, " (trade x {})", self.size)
        }
    }
}

/// Turns ticks into [`Quote`]s: caches symbol names (the table is read only when an unknown
/// id shows up) and each symbol's last trade price. One per stream; no allocation per tick
/// once every symbol has been seen.
#[derive(Debug)]
pub struct QuoteMaker {
    names: SymbolNames,
    /// Last trade price by symbol id.
    last_trade: Vec<Option<Price>>,
    unknown: Arc<str>,
}

impl QuoteMaker {
    /// A maker naming symbols from `table`.
    pub fn new(table: Arc<SymbolTable>) -> QuoteMaker {
        QuoteMaker {
            names: SymbolNames::new(table),
            last_trade: Vec::new(),
            unknown: Arc::from("?"),
        }
    }

    /// The quote of `tick` (and remember its trade price, if it carries one).
    #[inline]
    pub fn quote(&mut self, tick: &Tick) -> Quote {
        let id = tick.symbol.0 as usize;
        if tick.kind.has_trade() {
            if id >= self.last_trade.len() && id < 1 << 20 {
                self.last_trade.resize(id + 1, None);
            }
            if let Some(slot) = self.last_trade.get_mut(id) {
                *slot = Some(tick.price);
            }
        }
        let price = if tick.kind.has_trade() {
            tick.price
        } else {
            self.last_trade
                .get(id)
                .copied()
                .flatten()
                .unwrap_or_else(|| tick.mid())
        };
        let symbol = self
            .names
            .get_arc(tick.symbol)
            .cloned()
            .unwrap_or_else(|| self.unknown.clone());
        Quote {
            symbol,
            price,
            bid: tick.bid,
            ask: tick.ask,
            bid_size: tick.bid_size,
            ask_size: tick.ask_size,
            size: tick.size,
            ts_event: tick.ts_event,
            ts_recv: tick.ts_recv,
            kind: tick.kind,
            source: tick.source,
            tick: *tick,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::SymbolId;

    fn p(v: f64) -> Price {
        Price::from_f64(v).unwrap()
    }

    #[test]
    fn price_is_last_trade_per_symbol_else_mid() {
        let table = Arc::new(SymbolTable::with_symbols(&["A", "B"]).unwrap());
        let mut m = QuoteMaker::new(table);
        let qa = Tick::quote(SymbolId(0), 1, p(10.0), p(10.2), 1, 1);
        let qb = Tick::quote(SymbolId(1), 1, p(20.0), p(20.2), 1, 1);
        assert_eq!(m.quote(&qa).price, p(10.1));
        m.quote(&Tick::trade(SymbolId(0), 2, p(10.15), 5));
        assert_eq!(m.quote(&qa).price, p(10.15));
        assert_eq!(m.quote(&qb).price, p(20.1)); // B has no trade yet
        let q = m.quote(&Tick::trade(SymbolId(1), 3, p(20.05), 7));
        assert_eq!((q.price, q.size, &*q.symbol), (p(20.05), 7, "B"));
        assert_eq!(q.to_string(), "B 20.05 (trade x 7)");
    }

    #[test]
    fn unknown_ids_print_a_placeholder_and_do_not_grow_without_bound() {
        let mut m = QuoteMaker::new(Arc::new(SymbolTable::new()));
        let q = m.quote(&Tick::trade(SymbolId(u32::MAX), 1, p(1.0), 1));
        assert_eq!(&*q.symbol, "?");
        assert_eq!(q.price, p(1.0));
        assert!(m.last_trade.is_empty());
    }
}
