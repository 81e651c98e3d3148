//! `CsvSink`: ticks (and bars, if any) to a CSV file.
//!
//! The file starts with [`TICK_HEADER`]; each tick is one row in that layout, with the symbol
//! by name and prices exact ([`Price`](crate::Price) display, no floats). A bar is one row in
//! the layout [`BAR_HEADER`]: its first field is the literal `bar`, which no tick row can start
//! with (tick rows start with a number). A symbol id missing from the table is written as
//! `#id`.
//!
//! Output is buffered: it reaches the OS when the buffer fills, on [`Sink::flush`] and on
//! [`Sink::close`]. Every I/O failure is a [`SinkError::Io`] naming the file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::error::SinkError;
use crate::record::{Bar, Record};
use crate::symbol::{SymbolId, SymbolNames};
use crate::tick::Tick;

/// First line of the file: the layout of a tick row.
pub const TICK_HEADER: &str =
    "ts_event,ts_recv,symbol,kind,price,size,bid,ask,bid_size,ask_size,seq,source,flags";
/// The layout of a bar row (not written to the file; every bar row starts with `bar`).
pub const BAR_HEADER: &str = "bar,symbol,start_ns,end_ns,open,high,low,close,volume,vwap,trades";

const BUFFER_BYTES: usize = 64 * 1024;

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
/// sink.write(&[Record::Tick(Tick::trade(aapl, 5, "101.25".parse().unwrap(), 10))])?;
/// sink.close()?;
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert_eq!(text.lines().nth(1), Some("5,5,AAPL,trade,101.25,10,0,0,0,0,0,0,0"));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), market_data_pipeline::SinkError>(())
/// ```
#[derive(Debug)]
pub struct CsvSink {
    path: PathBuf,
    /// `None` once closed.
    out: Option<BufWriter<File>>,
    names: SymbolNames,
}

impl CsvSink {
    /// Create (or truncate) `path` and write the header.
    ///
    /// # Errors
    ///
    /// [`SinkError::Io`] naming `path` when it cannot be created (e.g. its directory does not
    /// exist).
    pub fn create(path: impl AsRef<Path>, names: SymbolNames) -> Result<CsvSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| io_error(&path, &e))?;
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, file);
        writeln!(out, "{TICK_HEADER}").map_err(|e| io_error(&path, &e))?;
        Ok(CsvSink {
            path,
            out: Some(out),
            names,
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_batch(&mut self, batch: &[Record]) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        for r in batch {
            match r {
                Record::Tick(t) => write_tick(out, &mut self.names, t)?,
                Record::Bar(b) => write_bar(out, &mut self.names, b)?,
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, e: &io::Error) -> SinkError {
    SinkError::Io {
        sink: "csv",
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_symbol(out: &mut impl Write, names: &mut SymbolNames, id: SymbolId) -> io::Result<()> {
    match names.get(id) {
        Some(name) => out.write_all(name.as_bytes()),
        None => write!(out, "{id}"),
    }
}

fn write_tick(out: &mut impl Write, names: &mut SymbolNames, t: &Tick) -> io::Result<()> {
    write!(out, "{},{},", t.ts_event, t.ts_recv)?;
    write_symbol(out, names, t.symbol)?;
    writeln!(
        out,
        ",{},{},{},{},{},{},{},{},{},{}",
        t.kind.as_str(),
        t.price,
        t.size,
        t.bid,
        t.ask,
        t.bid_size,
        t.ask_size,
        t.seq,
        t.source,
        t.flags
    )
}

fn write_bar(out: &mut impl Write, names: &mut SymbolNames, b: &Bar) -> io::Result<()> {
    out.write_all(b"bar,")?;
    write_symbol(out, names, b.symbol)?;
    writeln!(
        out,
        ",{},{},{},{},{},{},{},{},{}",
        b.start_ns, b.end_ns, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades
    )
}

impl Sink for CsvSink {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if self.out.is_none() {
            return Err(SinkError::Closed { sink: "csv" });
        }
        self.write_batch(batch)
            .map_err(|e| io_error(&self.path, &e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.out.as_mut() {
            Some(out) => out.flush().map_err(|e| io_error(&self.path, &e)),
            None => Ok(()),
        }
    }

    /// Flush and close the file. Later writes fail with [`SinkError::Closed`].
    fn close(&mut self) -> Result<(), SinkError> {
        let result = self.flush();
        self.out = None;
        result
    }
}

#[cfg(test)]
mod tests;
