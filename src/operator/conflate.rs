//! `Conflate`: within a chunk, only the latest quote of each symbol survives.
//!
//! The chunk is the conflation horizon: a consumer that falls behind reads larger chunks from
//! its ring, so conflation grows with the backlog and costs nothing when the stage keeps up.
//! A quote-only tick is dropped (counted as `conflated`) when a later tick of the same symbol
//! in the same chunk also carries a quote (`Quote` or `Both`). Everything that survives keeps
//! its place, so the output is a subsequence of the input: trades are never dropped or
//! reordered, and the surviving quote of a symbol stands where its latest quote stood. Nothing
//! is held across chunks, so [`Operator::flush`] has nothing to emit.

use super::{Operator, OperatorStats, MAX_DENSE_SYMBOLS};
use crate::record::Record;
use crate::tick::Tick;

/// Latest-quote-per-symbol conflation, per chunk. See the [module docs](self).
///
/// ```
/// use market_data_pipeline::{Conflate, Operator, Price, Record, SymbolId, Tick};
/// let p = Price::from_units;
/// let q1 = Tick::quote(SymbolId(0), 1, p(10), p(11), 1, 1);
/// let q2 = Tick::quote(SymbolId(0), 2, p(12), p(13), 1, 1);
/// let mut op = Conflate::new();
/// let mut out = Vec::new();
/// op.on_ticks(&[q1, q2], &mut out);
/// assert_eq!(out, vec![Record::Tick(q2)]);
/// assert_eq!(op.stats().conflated, 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Conflate {
    /// Per symbol: (chunk epoch, index of its latest quote in that chunk).
    latest: Vec<(u32, u32)>,
    epoch: u32,
    stats: OperatorStats,
}

impl Conflate {
    /// A conflater.
    pub fn new() -> Conflate {
        Conflate::default()
    }

    /// A conflater with state reserved for `symbols` symbols (no growth until more appear).
    pub fn with_symbols(symbols: usize) -> Conflate {
        let mut c = Conflate::new();
        c.latest
            .resize(symbols.min(MAX_DENSE_SYMBOLS as usize), (0, 0));
        c
    }

    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Once per 2^32 chunks: forget every stamp so an old one cannot match.
            self.latest.fill((0, 0));
            self.epoch = 1;
        }
        self.epoch
    }
}

/// Symbols at or beyond the dense limit are not tracked: their quotes pass unconflated.
#[inline]
fn conflatable(t: &Tick) -> Option<usize> {
    (t.kind.has_quote() && t.symbol.0 < MAX_DENSE_SYMBOLS).then_some(t.symbol.0 as usize)
}

impl Operator for Conflate {
    fn name(&self) -> &'static str {
        "conflate"
    }

    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        // A chunk longer than u32::MAX is handled in parts (each part is its own horizon).
        if ticks.len() > u32::MAX as usize {
            for part in ticks.chunks(u32::MAX as usize) {
                self.on_ticks(part, out);
            }
            return;
        }
        let epoch = self.next_epoch();
        for (i, t) in ticks.iter().enumerate() {
            if let Some(sym) = conflatable(t) {
                if sym >= self.latest.len() {
                    self.latest.resize(sym + 1, (0, 0));
                }
                self.latest[sym] = (epoch, i as u32);
            }
        }
        let before = out.len();
        out.extend(
            ticks
                .iter()
                .enumerate()
                .filter(|&(i, t)| {
                    t.kind.has_trade()
                        || conflatable(t).is_none_or(|sym| self.latest[sym] == (epoch, i as u32))
                })
                .map(|(_, t)| Record::Tick(*t)),
        );
        self.stats.conflated += self.stats.count_chunk(ticks.len(), out.len() - before);
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
    use crate::symbol::SymbolId;
    use crate::tick::TickKind;

    fn q(sym: u32, ts: u64) -> Tick {
        let p = Price::from_units(ts as i64);
        Tick::quote(SymbolId(sym), ts, p, p, 1, 1)
    }

    fn t(sym: u32, ts: u64) -> Tick {
        Tick::trade(SymbolId(sym), ts, Price::from_units(1), 1)
    }

    fn b(sym: u32, ts: u64) -> Tick {
        Tick {
            kind: TickKind::Both,
            ..q(sym, ts)
        }
    }

    fn run(op: &mut Conflate, ticks: &[Tick]) -> Vec<u64> {
        let mut out = Vec::new();
        op.on_ticks(ticks, &mut out);
        ticks_of(&out).iter().map(|t| t.ts_event).collect()
    }

    #[test]
    fn conflation_table() {
        // (case, input, surviving ts_event in order, conflated)
        let cases: Vec<(u32, Vec<Tick>, Vec<u64>, u64)> = vec![
            (1, vec![], vec![], 0),
            (2, vec![q(0, 1), q(0, 2), q(0, 3)], vec![3], 2),
            (3, vec![q(0, 1), q(1, 2), q(0, 3), q(1, 4)], vec![3, 4], 2),
            // Trades are never dropped and keep their place.
            (
                4,
                vec![q(0, 1), t(0, 2), q(0, 3), t(0, 4)],
                vec![2, 3, 4],
                1,
            ),
            // A `Both` tick carries a trade: it stays, and supersedes earlier quotes.
            (5, vec![q(0, 1), b(0, 2)], vec![2], 1),
            // A quote after a `Both` tick does not remove the `Both` tick.
            (6, vec![b(0, 1), q(0, 2)], vec![1, 2], 0),
            // Untracked symbol ids pass unconflated.
            (7, vec![q(u32::MAX, 1), q(u32::MAX, 2)], vec![1, 2], 0),
        ];
        for (case, input, want, conflated) in cases {
            let mut op = Conflate::new();
            assert_eq!(run(&mut op, &input), want, "case {case}");
            let s = op.stats();
            assert_eq!(s.conflated, conflated, "case {case}");
            assert_eq!(s.ticks_in, s.records_out + s.conflated, "case {case}");
        }
    }

    #[test]
    fn each_chunk_is_its_own_horizon() {
        let mut op = Conflate::with_symbols(4);
        assert_eq!(run(&mut op, &[q(0, 1), q(0, 2)]), vec![2]);
        // The previous chunk's stamps do not suppress this chunk's only quote.
        assert_eq!(run(&mut op, &[q(0, 3)]), vec![3]);
        let mut out = Vec::new();
        op.flush(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn epoch_wrap_forgets_old_stamps() {
        let mut op = Conflate::with_symbols(1);
        op.epoch = u32::MAX - 1;
        for i in 0..4u64 {
            assert_eq!(run(&mut op, &[q(0, i)]), vec![i], "chunk {i}");
        }
    }

    #[test]
    fn steady_state_reuses_the_per_symbol_table() {
        let mut op = Conflate::with_symbols(8);
        let ptr = op.latest.as_ptr();
        let chunk: Vec<Tick> = (0..64u64).map(|i| q((i % 8) as u32, i)).collect();
        let mut out = Vec::with_capacity(64);
        for _ in 0..100 {
            out.clear();
            op.on_ticks(&chunk, &mut out);
            assert_eq!(out.len(), 8);
        }
        assert_eq!((op.latest.as_ptr(), op.latest.len()), (ptr, 8));
    }
}
