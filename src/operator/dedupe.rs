//! `Dedupe`: forward each (source, seq) once.
//!
//! Per source, a sequence window (the crate's `SeqWindow`): a high-water mark (the highest
//! sequence seen, compared with serial-number arithmetic so that `u32` wrap-around is just
//! "ahead") and a bitmap of the last [`DEDUPE_WINDOW`] sequence numbers below it. A tick is:
//!
//! - new, and forwarded, if its seq is ahead of the mark, or inside the window and not yet seen
//!   (out-of-order arrival, e.g. from a second redundant feed);
//! - a duplicate (counted in `duplicates`, dropped) if it is inside the window and already seen;
//! - too old to tell (counted in `late`, dropped) if it is [`DEDUPE_WINDOW`] or more behind the
//!   mark. Dropping is the safe side for redundant feeds, where such ticks are re-sends.
//!
//! A source that restarts its sequence numbers must come with a new source id, or the owner
//! calls [`Dedupe::reset_source`]; otherwise its new ticks look old and are dropped as `late`.

use super::{Operator, OperatorStats};
use crate::record::Record;
use crate::seq_window::{Arrival, SeqWindow};
use crate::tick::Tick;

/// How many sequence numbers below the high-water mark are remembered per source.
pub const DEDUPE_WINDOW: u32 = 1024;

/// Drops ticks whose (source, seq) was already forwarded. See the [module docs](self).
///
/// ```
/// use market_data_pipeline::{Dedupe, Operator, Price, SymbolId, Tick};
/// let tick = |source: u16, seq: u32| Tick {
///     source,
///     seq,
///     ..Tick::trade(SymbolId(0), 1, Price::from_units(1), 1)
/// };
/// let mut op = Dedupe::new();
/// let mut out = Vec::new();
/// // Two redundant feeds of source 0: each seq once, first arrival wins.
/// op.on_ticks(&[tick(0, 1), tick(0, 2), tick(0, 1), tick(0, 3), tick(0, 2)], &mut out);
/// assert_eq!(out.len(), 3);
/// assert_eq!(op.stats().duplicates, 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Dedupe {
    /// Indexed by source id; grows to the highest source seen (at most 65 536 entries).
    windows: Vec<SeqWindow>,
    stats: OperatorStats,
}

impl Dedupe {
    /// A deduplicator.
    pub fn new() -> Dedupe {
        Dedupe::default()
    }

    /// A deduplicator with state reserved for sources `0..sources`.
    pub fn with_sources(sources: u16) -> Dedupe {
        Dedupe {
            windows: (0..sources)
                .map(|_| SeqWindow::new(DEDUPE_WINDOW))
                .collect(),
            stats: OperatorStats::default(),
        }
    }

    /// Forget what `source` delivered (it restarted its sequence numbers).
    pub fn reset_source(&mut self, source: u16) {
        if let Some(w) = self.windows.get_mut(source as usize) {
            w.reset();
        }
    }

    #[inline]
    fn check(&mut self, t: &Tick) -> Arrival {
        let src = t.source as usize;
        if src >= self.windows.len() {
            self.windows
                .resize_with(src + 1, || SeqWindow::new(DEDUPE_WINDOW));
        }
        self.windows[src].arrive(t.seq)
    }
}

impl Operator for Dedupe {
    fn name(&self) -> &'static str {
        "dedupe"
    }

    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        self.stats.ticks_in += ticks.len() as u64;
        for t in ticks {
            match self.check(t) {
                Arrival::New { .. } => {
                    out.push(Record::Tick(*t));
                    self.stats.records_out += 1;
                }
                Arrival::Duplicate => self.stats.duplicates += 1,
                Arrival::Late => self.stats.late += 1,
            }
        }
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

    fn tick(source: u16, seq: u32) -> Tick {
        Tick {
            source,
            seq,
            ..Tick::trade(SymbolId(0), seq as u64, Price::from_units(1), 1)
        }
    }

    fn kept(op: &mut Dedupe, seqs: &[(u16, u32)]) -> Vec<(u16, u32)> {
        let ticks: Vec<Tick> = seqs.iter().map(|&(s, q)| tick(s, q)).collect();
        let mut out = Vec::new();
        op.on_ticks(&ticks, &mut out);
        ticks_of(&out).iter().map(|t| (t.source, t.seq)).collect()
    }

    #[test]
    fn dedupe_table() {
        let w = DEDUPE_WINDOW;
        // (case, input (source, seq), kept, duplicates, late)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(u32, Vec<(u16, u32)>, Vec<(u16, u32)>, u64, u64)> = vec![
            (
                1,
                vec![(0, 1), (0, 2), (0, 3)],
                vec![(0, 1), (0, 2), (0, 3)],
                0,
                0,
            ),
            (2, vec![(0, 5), (0, 5)], vec![(0, 5)], 1, 0),
            // Out of order inside the window: new once, then a duplicate.
            (
                3,
                vec![(0, 10), (0, 8), (0, 9), (0, 8)],
                vec![(0, 10), (0, 8), (0, 9)],
                1,
                0,
            ),
            // Sources are independent.
            (4, vec![(0, 1), (1, 1), (0, 1)], vec![(0, 1), (1, 1)], 1, 0),
            // The oldest remembered seq is hwm - (W - 1); one more behind is too old.
            (
                5,
                vec![(0, w + 10), (0, 11), (0, 10)],
                vec![(0, w + 10), (0, 11)],
                0,
                1,
            ),
            // u32 wrap-around is "ahead", not "too old".
            (
                6,
                vec![(0, u32::MAX), (0, 0), (0, 1), (0, u32::MAX)],
                vec![(0, u32::MAX), (0, 0), (0, 1)],
                1,
                0,
            ),
            // A jump of more than a window clears the bitmap: an old slot is not mistaken for seen.
            (
                7,
                vec![(0, 3), (0, 3 + 5 * w), (0, 4 + 4 * w)],
                vec![(0, 3), (0, 3 + 5 * w), (0, 4 + 4 * w)],
                0,
                0,
            ),
        ];
        for (case, input, want, dups, late) in cases {
            let mut op = Dedupe::new();
            assert_eq!(kept(&mut op, &input), want, "case {case}");
            let s = op.stats();
            assert_eq!((s.duplicates, s.late), (dups, late), "case {case}");
            assert_eq!(
                s.ticks_in,
                s.records_out + s.duplicates + s.late,
                "case {case}"
            );
        }
    }

    #[test]
    fn two_redundant_feeds_interleaved_deliver_each_seq_once() {
        let mut op = Dedupe::with_sources(1);
        let mut input = Vec::new();
        for seq in 0..500u32 {
            input.push((0, seq));
            // The second copy of the feed lags by up to 7 sequence numbers.
            input.push((0, seq.saturating_sub(seq % 8)));
        }
        let out = kept(&mut op, &input);
        let want: Vec<(u16, u32)> = (0..500).map(|s| (0, s)).collect();
        assert_eq!(out, want);
        assert_eq!(op.stats().duplicates, 500);
    }

    #[test]
    fn reset_source_accepts_a_restarted_sequence() {
        let mut op = Dedupe::new();
        kept(&mut op, &[(3, 5_000)]);
        assert_eq!(kept(&mut op, &[(3, 1)]), vec![], "restart looks too old");
        op.reset_source(3);
        assert_eq!(kept(&mut op, &[(3, 1), (3, 2)]), vec![(3, 1), (3, 2)]);
    }

    #[test]
    fn steady_state_reuses_the_per_source_windows() {
        let mut op = Dedupe::with_sources(4);
        let ptr = op.windows.as_ptr();
        let mut out = Vec::with_capacity(64);
        for round in 0..100u32 {
            let chunk: Vec<Tick> = (0..64u32)
                .map(|i| tick((i % 4) as u16, round * 64 + i))
                .collect();
            out.clear();
            op.on_ticks(&chunk, &mut out);
        }
        assert_eq!((op.windows.as_ptr(), op.windows.len()), (ptr, 4));
    }
}
