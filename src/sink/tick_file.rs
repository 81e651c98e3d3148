//! `TickFileSink`: record what arrived into a tick file, to replay it later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, SinkError};
use crate::file::TickFileWriter;
use crate::record::Record;
use crate::sink::recording::{sink_error, Pending, Recording};
use crate::sink::Sink;
use crate::symbol::SymbolTable;

/// Writes every tick of every batch to `<path>.partial`; `close` pushes it all to disk and
/// hands the file to its [`Recording`], which the caller finishes (the run succeeded) or
/// leaves unfinished (see [`recording`](crate::sink::recording)). Bars are refused with an
/// error: a tick file holds ticks.
#[derive(Debug)]
pub struct TickFileSink {
    path: PathBuf,
    writer: Option<TickFileWriter>,
    recording: Recording,
}

fn io(path: &Path, e: DataError) -> SinkError {
    sink_error("tick-file", path, e)
}

impl TickFileSink {
    /// A sink writing `path`; symbol ids are `table`'s.
    ///
    /// # Errors
    /// As [`TickFileSink::create_excluding`] with no inputs.
    pub fn create(
        path: impl AsRef<Path>,
        table: Arc<SymbolTable>,
    ) -> Result<TickFileSink, SinkError> {
        TickFileSink::create_excluding(path, table, &[])
    }

    /// A sink writing `path`, refusing it when it is one of `inputs` (the same file by any
    /// name) before anything is opened for writing.
    ///
    /// # Errors
    /// [`SinkError::Io`] naming the path when something other than a regular file is there,
    /// when it is an input, or when `<path>.partial` cannot be created.
    pub fn create_excluding(
        path: impl AsRef<Path>,
        table: Arc<SymbolTable>,
        inputs: &[&Path],
    ) -> Result<TickFileSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        let writer =
            TickFileWriter::create_excluding(&path, table, inputs).map_err(|e| io(&path, e))?;
        let recording = Recording::new("tick-file", &path, writer.partial_path());
        Ok(TickFileSink {
            path,
            writer: Some(writer),
            recording,
        })
    }

    /// The handle to finish the file, or leave it unfinished, once the run is judged. Take
    /// it before handing the sink to a pipeline.
    pub fn recording(&self) -> Recording {
        self.recording.clone()
    }
}

impl Sink for TickFileSink {
    fn name(&self) -> &'static str {
        "tick-file"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let Some(w) = self.writer.as_mut() else {
            return Err(SinkError::Closed { sink: "tick-file" });
        };
        for r in batch {
            match r {
                Record::Tick(t) => w.write(t).map_err(|e| io(&self.path, e))?,
                Record::Bar(_) => {
                    return Err(SinkError::Failed {
                        sink: "tick-file",
                        message: "a tick file holds ticks; got a bar (use a CSV sink for bars)"
                            .into(),
                    })
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.writer.as_mut() {
            Some(w) => w.flush().map_err(|e| io(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Push everything to `<path>.partial` and hand the file to the [`Recording`] (still
    /// unfinished). Later writes fail with [`SinkError::Closed`].
    fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut w) = self.writer.take() else {
            return Ok(());
        };
        let flushed = w.flush().map_err(|e| io(&self.path, e));
        self.recording.closed(Pending::Ticks(w));
        flushed
    }
}
