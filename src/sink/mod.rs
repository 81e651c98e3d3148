//! Sinks: where batches of records end up.

pub mod callback;
pub mod consumer;
pub mod counting;
pub mod csv;
pub mod null;
pub mod recording;
pub mod tick_file;

pub use callback::CallbackSink;
pub use consumer::{consumer_sink, ConsumerSink, RecordStream};
pub use counting::{tick_checksum, CountSnapshot, CountingSink, SinkCounts};
pub use csv::CsvSink;
pub use null::NullSink;
pub use recording::{Recording, RecordingSummary};
pub use tick_file::TickFileSink;

use crate::error::SinkError;
use crate::record::Record;
use crate::tick::Tick;

/// A consumer of record batches. Called on the sink's worker thread.
pub trait Sink: Send {
    /// Name for stats and errors.
    fn name(&self) -> &'static str;

    /// Write one batch. `end_of_batch` semantics: a batch is the unit to flush on.
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError>;

    /// Push buffered output down (files: to the OS).
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// End of stream: flush and release. Called once, whether the run succeeded or not (a
    /// source that failed also ends the stream): a sink whose output is only valid for a
    /// successful run leaves the verdict to its caller (see [`recording`]).
    fn close(&mut self) -> Result<(), SinkError> {
        self.flush()
    }

    /// Whether [`write_ticks`](Self::write_ticks) takes ticks directly (so a pass-through
    /// pipeline can hand it whole batches straight from the ring, without building records).
    fn accepts_ticks(&self) -> bool {
        false
    }

    /// Write one batch of ticks. The default converts them to records in pieces of 64 on the
    /// stack and calls [`write`](Self::write); the pipeline calls this only on sinks whose
    /// [`accepts_ticks`](Self::accepts_ticks) is true.
    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        let mut piece = [Record::Tick(Tick::default()); 64];
        for part in ticks.chunks(piece.len()) {
            for (slot, t) in piece.iter_mut().zip(part) {
                *slot = Record::Tick(*t);
            }
            self.write(&piece[..part.len()])?;
        }
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
    fn close(&mut self) -> Result<(), SinkError> {
        (**self).close()
    }
    fn accepts_ticks(&self) -> bool {
        (**self).accepts_ticks()
    }
    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        (**self).write_ticks(ticks)
    }
}
