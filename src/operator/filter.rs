//! `SymbolFilter`: keep the ticks of an allow-list of symbols.

use super::{Operator, OperatorStats, MAX_DENSE_SYMBOLS};
use crate::error::{ConfigError, OperatorError};
use crate::record::Record;
use crate::symbol::SymbolId;
use crate::tick::Tick;

/// Forwards the ticks whose symbol is in an allow-list, in order; counts the rest as
/// `filtered`.
///
/// The allow-list is a bitmap indexed by the dense [`SymbolId`], so the per-tick test is one
/// load and one bit test.
///
/// ```
/// use market_data_pipeline::{Operator, Price, SymbolFilter, SymbolId, Tick};
/// let mut op = SymbolFilter::new(&[SymbolId(1)]).unwrap();
/// let a = Tick::trade(SymbolId(0), 1, Price::from_units(10), 1);
/// let b = Tick::trade(SymbolId(1), 2, Price::from_units(20), 1);
/// let mut out = Vec::new();
/// op.on_ticks(&[a, b, a], &mut out);
/// assert_eq!(out.len(), 1);
/// assert_eq!(op.stats().filtered, 2);
/// ```
#[derive(Debug, Clone)]
pub struct SymbolFilter {
    allow: Vec<u64>,
    stats: OperatorStats,
}

impl SymbolFilter {
    /// A filter passing exactly the symbols in `allow`.
    ///
    /// # Errors
    ///
    /// [`OperatorError::Config`] naming `symbol_filter.allow` when the list is empty (it would
    /// drop everything, which is never what a configuration means) or holds an id of
    /// [`MAX_DENSE_SYMBOLS`] or more (ids are dense; such an id is not from a `SymbolTable`).
    pub fn new(allow: &[SymbolId]) -> Result<SymbolFilter, OperatorError> {
        let bad = |reason: String| OperatorError::Config {
            operator: "symbol_filter",
            error: ConfigError::new("symbol_filter.allow", reason),
        };
        let Some(max) = allow.iter().map(|s| s.0).max() else {
            return Err(bad("must name at least one symbol".into()));
        };
        if max >= MAX_DENSE_SYMBOLS {
            return Err(bad(format!(
                "symbol id {max} is not below the limit {MAX_DENSE_SYMBOLS}"
            )));
        }
        let mut bits = vec![0u64; max as usize / 64 + 1];
        for s in allow {
            bits[s.0 as usize / 64] |= 1 << (s.0 % 64);
        }
        Ok(SymbolFilter {
            allow: bits,
            stats: OperatorStats::default(),
        })
    }

    /// True when `symbol` passes.
    #[inline]
    pub fn allows(&self, symbol: SymbolId) -> bool {
        self.allow
            .get(symbol.0 as usize / 64)
            .is_some_and(|w| w & (1 << (symbol.0 % 64)) != 0)
    }
}

impl Operator for SymbolFilter {
    fn name(&self) -> &'static str {
        "symbol_filter"
    }

    #[inline]
    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        let before = out.len();
        out.extend(
            ticks
                .iter()
                .filter(|t| self.allows(t.symbol))
                .copied()
                .map(Record::Tick),
        );
        self.stats.filtered += self.stats.count_chunk(ticks.len(), out.len() - before);
    }

    fn flush(&mut self, _out: &mut Vec<Record>) {}

    fn stats(&self) -> OperatorStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::ticks_of;
    use crate::price::Price;

    fn tick(sym: u32, ts: u64) -> Tick {
        Tick::trade(SymbolId(sym), ts, Price::from_units(1), 1)
    }

    #[test]
    fn keeps_allowed_symbols_in_order_and_counts_the_rest() {
        let mut op = SymbolFilter::new(&[SymbolId(0), SymbolId(70)]).unwrap();
        let ticks = [
            tick(0, 1),
            tick(1, 2),
            tick(70, 3),
            tick(69, 4),
            tick(500, 5),
            tick(0, 6),
        ];
        let mut out = Vec::new();
        op.on_ticks(&ticks, &mut out);
        let kept: Vec<u64> = ticks_of(&out).iter().map(|t| t.ts_event).collect();
        assert_eq!(kept, vec![1, 3, 6]);
        let s = op.stats();
        assert_eq!((s.ticks_in, s.records_out, s.filtered), (6, 3, 3));
    }

    #[test]
    fn invalid_allow_lists_are_config_errors_naming_the_field() {
        // (case, allow-list)
        let cases: &[(u32, &[SymbolId])] = &[
            (1, &[]),
            (2, &[SymbolId(MAX_DENSE_SYMBOLS)]),
            (3, &[SymbolId(0), SymbolId(u32::MAX)]),
        ];
        for &(case, allow) in cases {
            match SymbolFilter::new(allow) {
                Err(OperatorError::Config { error, .. }) => {
                    assert_eq!(error.field, "symbol_filter.allow", "case {case}")
                }
                Ok(_) => panic!("case {case}: accepted"),
            }
        }
    }
}
