//! `Passthrough`: every tick out as it came in.

use super::{Operator, OperatorStats};
use crate::record::Record;
use crate::tick::Tick;

/// Forwards every tick unchanged, in order.
///
/// ```
/// use market_data_pipeline::{Operator, Passthrough, Price, Record, SymbolId, Tick};
/// let mut op = Passthrough::new();
/// let t = Tick::trade(SymbolId(0), 1, Price::from_units(100), 5);
/// let mut out = Vec::with_capacity(8);
/// op.on_ticks(&[t, t], &mut out);
/// assert_eq!(out, vec![Record::Tick(t), Record::Tick(t)]);
/// assert_eq!(op.stats().records_out, 2);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Passthrough {
    stats: OperatorStats,
}

impl Passthrough {
    /// A new passthrough.
    pub fn new() -> Passthrough {
        Passthrough::default()
    }
}

impl Operator for Passthrough {
    fn name(&self) -> &'static str {
        "passthrough"
    }

    #[inline]
    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>) {
        out.extend(ticks.iter().copied().map(Record::Tick));
        self.stats.count_chunk(ticks.len(), ticks.len());
    }

    fn flush(&mut self, _out: &mut Vec<Record>) {}

    fn pass_through(&mut self, ticks: usize) -> bool {
        self.stats.count_chunk(ticks, ticks);
        true
    }

    fn stats(&self) -> OperatorStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Price;
    use crate::symbol::SymbolId;

    #[test]
    fn forwards_every_tick_in_order_and_appends_to_existing_output() {
        let ticks: Vec<Tick> = (0..5u64)
            .map(|i| Tick::trade(SymbolId(i as u32 % 2), i, Price::from_units(10), 1))
            .collect();
        let mut op = Passthrough::new();
        let marker = Record::Tick(Tick::default());
        let mut out = vec![marker];
        op.on_ticks(&ticks, &mut out);
        op.on_ticks(&[], &mut out);
        op.flush(&mut out);
        assert_eq!(out.len(), 6);
        assert_eq!(out[0], marker, "existing output is kept");
        for (i, t) in ticks.iter().enumerate() {
            assert_eq!(out[i + 1], Record::Tick(*t));
        }
        let s = op.stats();
        assert_eq!((s.ticks_in, s.records_out), (5, 5));
    }
}
