//! `NullSink`: accepts every batch and keeps nothing (benchmarks, dry runs).

use super::Sink;
use crate::error::SinkError;
use crate::record::Record;

/// Discards every record; remembers only how many it saw.
///
/// ```
/// use market_data_pipeline::{NullSink, Sink};
/// let mut sink = NullSink::new();
/// sink.write(&[])?;
/// assert_eq!((sink.batches(), sink.records()), (1, 0));
/// # Ok::<(), market_data_pipeline::SinkError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct NullSink {
    records: u64,
    batches: u64,
}

impl NullSink {
    /// A null sink.
    pub fn new() -> NullSink {
        NullSink::default()
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Batches written.
    pub fn batches(&self) -> u64 {
        self.batches
    }
}

impl Sink for NullSink {
    fn name(&self) -> &'static str {
        "null"
    }

    #[inline]
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.records += batch.len() as u64;
        self.batches += 1;
        Ok(())
    }

    fn accepts_ticks(&self) -> bool {
        true
    }

    #[inline]
    fn write_ticks(&mut self, ticks: &[crate::tick::Tick]) -> Result<(), SinkError> {
        self.records += ticks.len() as u64;
        self.batches += 1;
        Ok(())
    }
}
