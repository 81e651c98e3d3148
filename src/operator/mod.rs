//! Operators: what happens to ticks between the source and the batcher.
//!
//! An operator works a chunk at a time: one call per chunk, outputs appended to a vector the
//! stage owns and reuses (its capacity is reserved up front, so steady state does not allocate).

use crate::record::Record;
use crate::tick::Tick;

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
}
