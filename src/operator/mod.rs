//! Operators: what happens to ticks between the source and the batcher.
//!
//! An operator works a chunk at a time: one call per chunk, outputs appended to a vector the
//! stage owns and reuses (its capacity is reserved up front, so steady state does not allocate).

pub mod bar;
pub mod conflate;
pub mod dedupe;
pub mod filter;
pub mod passthrough;

pub use bar::{BarConfig, BarOperator};
pub use conflate::Conflate;
pub use dedupe::{Dedupe, DEDUPE_WINDOW};
pub use filter::SymbolFilter;
pub use passthrough::Passthrough;

use crate::record::Record;
use crate::tick::Tick;

/// Operators keep per-symbol state in vectors indexed by the dense `SymbolId`; ids at or above
/// this bound (2^20) cannot come from a `SymbolTable` in practice and are not given state.
pub const MAX_DENSE_SYMBOLS: u32 = 1 << 20;

/// Counters an operator keeps about what it did not pass on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperatorStats {
    /// Ticks consumed.
    pub ticks_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Ticks removed by a filter.
    pub filtered: u64,
    /// Ticks dropped as duplicates.
    pub duplicates: u64,
    /// Ticks replaced by a later one (conflation).
    pub conflated: u64,
    /// Ticks that arrived after their window closed (beyond allowed lateness).
    pub late: u64,
}

impl OperatorStats {
    /// Count a chunk of `ticks_in` ticks of which `kept` went out as records; returns how many
    /// were removed, for the caller to file under its reason.
    #[inline]
    pub(crate) fn count_chunk(&mut self, ticks_in: usize, kept: usize) -> u64 {
        self.ticks_in += ticks_in as u64;
        self.records_out += kept as u64;
        (ticks_in - kept) as u64
    }
}

/// The ticks among `records`, in order (test helper).
#[cfg(test)]
pub(crate) fn ticks_of(records: &[Record]) -> Vec<Tick> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Tick(t) => Some(*t),
            Record::Bar(_) => None,
        })
        .collect()
}

/// A chunk-at-a-time transformation of ticks into records.
pub trait Operator: Send {
    /// Name for stats and errors.
    fn name(&self) -> &'static str;

    /// Consume a chunk of ticks; append outputs to `out` (do not clear it).
    fn on_ticks(&mut self, ticks: &[Tick], out: &mut Vec<Record>);

    /// Called by the stage loop after each chunk and while idle, with the current time, so
    /// that time-driven output (e.g. closing windows on a quiet stream) still happens.
    fn on_idle(&mut self, _now_ns: u64, _out: &mut Vec<Record>) {}

    /// End of stream: emit everything still held (open windows, conflated quotes).
    fn flush(&mut self, out: &mut Vec<Record>);

    /// Counters.
    fn stats(&self) -> OperatorStats;

    /// For operators that forward every tick unchanged: account for a chunk of `ticks` ticks
    /// and return `true`; the stage then moves the chunk to the batcher itself (one copy, no
    /// intermediate vector) instead of calling [`on_ticks`](Self::on_ticks). The default
    /// returns `false`.
    fn pass_through(&mut self, _ticks: usize) -> bool {
        false
    }
}
