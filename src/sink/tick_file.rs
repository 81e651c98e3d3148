//! `TickFileSink`: record what arrived into a tick file, to replay it later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, SinkError};
use crate::file::writer::WriteSummary;
use crate::file::TickFileWriter;
use crate::record::Record;
use crate::sink::Sink;
use crate::symbol::SymbolTable;

/// Writes every tick of every batch to a tick file; `close` finishes the file (header and
/// symbol table) and moves it into place. Bars are refused with an error: a tick file holds
/// ticks.
#[derive(Debug)]
pub struct TickFileSink {
    path: PathBuf,
    writer: Option<TickFileWriter>,
    summary: Option<WriteSummary>,
}

fn io(path: &Path, e: DataError) -> SinkError {
    SinkError::Io {
        sink: "tick-file",
        path: path.display().to_string(),
        message: e.kind.to_string(),
    }
}

impl TickFileSink {
    /// A sink writing `path`; symbol ids are `table`'s.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(
        path: impl AsRef<Path>,
        table: Arc<SymbolTable>,
    ) -> Result<TickFileSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        let writer = TickFileWriter::create(&path, table).map_err(|e| io(&path, e))?;
        Ok(TickFileSink {
            path,
            writer: Some(writer),
            summary: None,
        })
    }

    /// What was written, once closed.
    pub fn summary(&self) -> Option<WriteSummary> {
        self.summary
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

    fn close(&mut self) -> Result<(), SinkError> {
        if let Some(w) = self.writer.take() {
            self.summary = Some(w.finish().map_err(|e| io(&self.path, e))?);
        }
        Ok(())
    }
}
