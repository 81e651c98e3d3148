//! `CsvSink`: ticks (and bars, if any) to a CSV file.
//!
//! Ticks are written by the tick CSV writer of [`crate::file::csv`]: the file starts with
//! [`CSV_HEADER`](crate::file::CSV_HEADER), each tick is one row in that layout, the symbol
//! by name, prices exact ([`Price`](crate::Price) display, no floats). A file of ticks only is
//! read back by [`CsvReader`](crate::file::CsvReader). A bar is one row in the layout
//! [`BAR_HEADER`]: its first field is the literal `bar`, which no tick row can start with (tick
//! rows start with a number); the tick reader rejects such rows. A symbol id missing from the
//! table is written as `#id`.
//!
//! Output is buffered: it reaches the OS when the buffer fills, on [`Sink::flush`] and on
//! [`Sink::close`]. Every I/O failure is a [`SinkError::Io`] naming the file.
//!
//! The file is `<path>.partial` until the run is judged: `close` hands it to the sink's
//! [`Recording`], which the caller finishes (renamed to `path`) or leaves unfinished (see
//! [`recording`](crate::sink::recording)). What may be at `path` is that of
//! [`OutputFile`](crate::file::OutputFile): nothing or a regular file.

use std::path::{Path, PathBuf};

use super::recording::{sink_error, Pending, Recording};
use super::Sink;
use crate::error::{DataError, SinkError};
use crate::file::CsvFileWriter;
use crate::record::{Bar, Record};
use crate::symbol::{SymbolId, SymbolNames};

/// The layout of a bar row (not written to the file; every bar row starts with `bar`).
pub const BAR_HEADER: &str = "bar,symbol,start_ns,end_ns,open,high,low,close,volume,vwap,trades";

/// Writes records to a CSV file. See the [module docs](self) for the format.
///
/// ```
/// use market_data_pipeline::symbol::SymbolNames;
/// use market_data_pipeline::{CsvSink, Price, Record, Sink, SymbolTable, Tick};
/// use std::sync::Arc;
///
/// let table = Arc::new(SymbolTable::with_symbols(&["AAPL"]).unwrap());
/// let aapl = table.get("AAPL").unwrap();
/// let path = std::env::temp_dir().join(format!("mdp-doc-{}.csv", std::process::id()));
/// let mut sink = CsvSink::create(&path, SymbolNames::new(table))?;
/// let recording = sink.recording();
/// sink.write(&[Record::Tick(Tick::trade(aapl, 5, "101.25".parse().unwrap(), 10))])?;
/// sink.close()?;
/// recording.finish()?; // the run succeeded
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert_eq!(text.lines().nth(1), Some("5,5,AAPL,trade,101.25,10,0,0,0,0,0,0,0"));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), market_data_pipeline::SinkError>(())
/// ```
#[derive(Debug)]
pub struct CsvSink {
    path: PathBuf,
    /// `None` once closed.
    out: Option<CsvFileWriter>,
    recording: Recording,
    names: SymbolNames,
    /// `#id` of a symbol missing from the table (reused, so bad ids do not allocate per row).
    unknown: String,
}

impl CsvSink {
    /// Create `<path>.partial` and write the header.
    ///
    /// # Errors
    /// As [`CsvSink::create_excluding`] with no inputs.
    pub fn create(path: impl AsRef<Path>, names: SymbolNames) -> Result<CsvSink, SinkError> {
        CsvSink::create_excluding(path, names, &[])
    }

    /// As [`create`](Self::create), refusing `path` when it is one of `inputs` (the same file
    /// by any name) before anything is opened for writing.
    ///
    /// # Errors
    /// [`SinkError::Io`] naming `path` when it cannot be created (e.g. its directory does not
    /// exist), when something other than a regular file is there, or when it is an input.
    pub fn create_excluding(
        path: impl AsRef<Path>,
        names: SymbolNames,
        inputs: &[&Path],
    ) -> Result<CsvSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        let out = CsvFileWriter::create(&path, inputs).map_err(|e| io_error(&path, e))?;
        let recording = Recording::new("csv", &path, out.partial_path());
        Ok(CsvSink {
            path,
            out: Some(out),
            recording,
            names,
            unknown: String::with_capacity(16),
        })
    }

    /// The file written (once finished).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The handle to finish the file, or leave it unfinished, once the run is judged. Take
    /// it before handing the sink to a pipeline.
    pub fn recording(&self) -> Recording {
        self.recording.clone()
    }

    fn write_batch(&mut self, batch: &[Record]) -> Result<(), DataError> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        for r in batch {
            let name = symbol_name(&mut self.names, &mut self.unknown, r.symbol());
            match r {
                Record::Tick(t) => out.write(t, name)?,
                Record::Bar(b) => write_bar(out, name, b)?,
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, e: DataError) -> SinkError {
    sink_error("csv", path, e)
}

/// The name of `id`, or `#id` (formatted into `unknown`) when the table does not have it.
fn symbol_name<'a>(names: &'a mut SymbolNames, unknown: &'a mut String, id: SymbolId) -> &'a str {
    match names.get(id) {
        Some(name) => name,
        None => {
            use std::fmt::Write as _;
            unknown.clear();
            // Writing to a String cannot fail.
            let _ = write!(unknown, "{id}");
            unknown
        }
    }
}

fn write_bar(out: &mut CsvFileWriter, symbol: &str, b: &Bar) -> Result<(), DataError> {
    out.write_line(format_args!(
        "bar,{symbol},{},{},{},{},{},{},{},{},{}",
        b.start_ns, b.end_ns, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades
    ))
}

impl Sink for CsvSink {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if self.out.is_none() {
            return Err(SinkError::Closed { sink: "csv" });
        }
        self.write_batch(batch).map_err(|e| io_error(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.out.as_mut() {
            Some(out) => out.flush().map_err(|e| io_error(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Flush `<path>.partial` and hand it to the [`Recording`] (still unfinished). Later
    /// writes fail with [`SinkError::Closed`].
    fn close(&mut self) -> Result<(), SinkError> {
        let result = self.flush();
        if let Some(out) = self.out.take() {
            self.recording.closed(Pending::Csv(out));
        }
        result
    }
}

#[cfg(test)]
mod tests;
