//! CSV import and export at the edges, lossless both ways.
//!
//! The first line is exactly [`CSV_HEADER`]. Each following line has the 13 fields in that
//! order: integers in decimal, prices as exact decimals ([`Price`]), the symbol by name, the kind
//! as `trade`, `quote` or `both`, flags as a decimal byte. Fields are never quoted (symbol names
//! cannot contain commas or quotes); blank lines are skipped; `\r\n` line ends are accepted.
//! Errors name the line and the field (1-based) and say why.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::output::OutputFile;
use super::reader::TickFile;
use super::writer::{TickFileWriter, WriteSummary};
use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::price::Price;
use crate::symbol::SymbolTable;
use crate::tick::{flags, Tick, TickKind};

/// The header line of a tick CSV file.
pub const CSV_HEADER: &str =
    "ts_event,ts_recv,symbol,kind,price,size,bid,ask,bid_size,ask_size,seq,source,flags";

/// The field names, in order.
pub const CSV_FIELDS: [&str; 13] = [
    "ts_event", "ts_recv", "symbol", "kind", "price", "size", "bid", "ask", "bid_size", "ask_size",
    "seq", "source", "flags",
];

/// Longest line accepted, in bytes (a valid line is under 300).
pub const MAX_LINE_LEN: usize = 1024;

/// Reads ticks from CSV, interning symbol names into a table.
#[derive(Debug)]
pub struct CsvReader<R> {
    input: R,
    table: Arc<SymbolTable>,
    path: Option<PathBuf>,
    line: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader over `input`; symbols are interned into `table`.
    pub fn new(input: R, table: Arc<SymbolTable>) -> CsvReader<R> {
        CsvReader {
            input,
            table,
            path: None,
            line: 0,
            buf: Vec::with_capacity(256),
            failed: false,
        }
    }

    /// Name `path` in errors.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> CsvReader<R> {
        self.path = Some(path.into());
        self
    }

    fn error(&self, column: Option<u32>, kind: DataErrorKind) -> DataError {
        let e = DataError::new(
            DataLocation::Line {
                line: self.line,
                column,
            },
            kind,
        );
        match &self.path {
            Some(p) => e.in_file(p),
            None => e,
        }
    }

    /// The next line (without its end), or `None` at end of input.
    fn next_line(&mut self) -> Result<Option<&str>, DataError> {
        self.buf.clear();
        self.line += 1;
        let limit = MAX_LINE_LEN as u64 + 2;
        let read = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf);
        let n = read.map_err(|e| self.error(None, DataError::io(&e).kind))?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > MAX_LINE_LEN {
            let reason = format!("line is longer than {MAX_LINE_LEN} bytes");
            return Err(self.error(None, DataErrorKind::BadHeader(reason)));
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                let reason = format!("not UTF-8 at byte {} of the line", e.valid_up_to());
                Err(self.error(None, DataErrorKind::BadHeader(reason)))
            }
        }
    }

    fn read_header(&mut self) -> Result<(), DataError> {
        let Some(line) = self.next_line()? else {
            let reason = format!("empty input: the header line `{CSV_HEADER}` is missing");
            return Err(self.error(None, DataErrorKind::BadHeader(reason)));
        };
        if line == CSV_HEADER {
            return Ok(());
        }
        let mut found = line.split(',');
        for (i, want) in CSV_FIELDS.iter().enumerate() {
            let got = found.next();
            if got != Some(want) {
                let reason = format!("expected column `{want}`, found {got:?}");
                let column = Some(i as u32 + 1);
                return Err(self.error(column, DataErrorKind::BadHeader(reason)));
            }
        }
        let reason = "extra columns after `flags`".to_string();
        Err(self.error(Some(14), DataErrorKind::BadHeader(reason)))
    }

    /// The next tick, `Ok(None)` at the end.
    ///
    /// # Errors
    /// `BadHeader` (line 1) or `BadField` naming the line, field and reason; after an error the
    /// reader yields nothing more.
    pub fn read_tick(&mut self) -> Result<Option<Tick>, DataError> {
        if self.failed {
            return Ok(None);
        }
        let r = self.read_tick_inner();
        self.failed = r.is_err();
        r
    }

    fn read_tick_inner(&mut self) -> Result<Option<Tick>, DataError> {
        if self.line == 0 {
            self.read_header()?;
        }
        loop {
            let table = self.table.clone();
            let Some(line) = self.next_line()? else {
                return Ok(None);
            };
            if line.is_empty() {
                continue;
            }
            return match parse_line(line, &table) {
                Ok(t) => Ok(Some(t)),
                Err((column, field, reason)) => {
                    let kind = DataErrorKind::BadField {
                        field: field.to_string(),
                        reason,
                    };
                    Err(self.error(Some(column), kind))
                }
            };
        }
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<Tick, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_tick().transpose()
    }
}

/// (1-based column, field name, reason).
type FieldError = (u32, &'static str, String);

fn parse_line(line: &str, table: &SymbolTable) -> Result<Tick, FieldError> {
    let mut fields = line.split(',');
    let mut col = 0usize;
    let mut next = || -> Result<(u32, &'static str, &str), FieldError> {
        let name = CSV_FIELDS[col];
        col += 1;
        let c = col as u32;
        match fields.next() {
            None => Err((c, name, "missing (the line has too few fields)".into())),
            Some(f) if f.trim() != f => Err((
                c,
                name,
                format!("{:?} has surrounding spaces", crate::error::bounded(f)),
            )),
            Some(f) => Ok((c, name, f)),
        }
    };
    fn int<T: std::str::FromStr>((c, name, f): (u32, &'static str, &str)) -> Result<T, FieldError>
    where
        T::Err: std::fmt::Display,
    {
        f.parse::<T>().map_err(|e| {
            (
                c,
                name,
                format!(
                    "{:?} is not a valid integer ({e})",
                    crate::error::bounded(f)
                ),
            )
        })
    }
    let ts_event = int(next()?)?;
    let ts_recv = int(next()?)?;
    let (c, name, sym) = next()?;
    let symbol = table.intern(sym).map_err(|e| (c, name, e.to_string()))?;
    let (c, name, k) = next()?;
    let kind = match k {
        "trade" => TickKind::Trade,
        "quote" => TickKind::Quote,
        "both" => TickKind::Both,
        _ => {
            return Err((
                c,
                name,
                format!("{:?} is not trade, quote or both", crate::error::bounded(k)),
            ))
        }
    };
    let price = price_field(next()?)?;
    let size = int(next()?)?;
    let bid = price_field(next()?)?;
    let ask = price_field(next()?)?;
    let bid_size = int(next()?)?;
    let ask_size = int(next()?)?;
    let seq = int(next()?)?;
    let source = int(next()?)?;
    let fl = next()?;
    let flag_bits: u8 = int(fl)?;
    if flag_bits & !flags::KNOWN != 0 {
        let reason = format!("{flag_bits} has unknown bits (known mask {})", flags::KNOWN);
        return Err((fl.0, fl.1, reason));
    }
    if fields.next().is_some() {
        return Err((14, "flags", "extra fields after `flags`".into()));
    }
    Ok(Tick {
        ts_event,
        ts_recv,
        price,
        bid,
        ask,
        seq,
        size,
        bid_size,
        ask_size,
        symbol,
        source,
        kind,
        flags: flag_bits,
    })
}

fn price_field(f: (u32, &'static str, &str)) -> Result<Price, FieldError> {
    let (c, name, text) = f;
    text.parse::<Price>().map_err(|e| (c, name, e.to_string()))
}

/// Writes ticks as CSV (the header first).
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
}

impl<W: Write> CsvWriter<W> {
    /// Write the header line to `out`.
    ///
    /// # Errors
    /// The I/O error.
    pub fn new(mut out: W) -> std::io::Result<CsvWriter<W>> {
        writeln!(out, "{CSV_HEADER}")?;
        Ok(CsvWriter { out })
    }

    /// Write one tick whose symbol is called `symbol`.
    ///
    /// # Errors
    /// The I/O error.
    pub fn write(&mut self, tick: &Tick, symbol: &str) -> std::io::Result<()> {
        let t = tick;
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            t.ts_event,
            t.ts_recv,
            symbol,
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

    /// The output, to write other rows between ticks (a sink's bar rows) or to flush it.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flush and give the output back.
    ///
    /// # Errors
    /// The I/O error.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A CSV output file: a [`CsvWriter`] over `<path>.partial` ([`OutputFile`]), moved to `path`
/// by [`finish`](Self::finish) once the run succeeded. CSV has no header flag, so the
/// `.partial` name is what marks an unfinished file; dropping the writer leaves it there.
#[derive(Debug)]
pub struct CsvFileWriter {
    out: CsvWriter<BufWriter<OutputFile>>,
    partial: PathBuf,
    rows: u64,
}

impl CsvFileWriter {
    /// Check `path` (nothing or a regular file, none of `inputs`), create `<path>.partial`
    /// and write the header line.
    ///
    /// # Errors
    /// As [`OutputFile::create`]; `Io` naming the `.partial` path.
    pub fn create(path: impl AsRef<Path>, inputs: &[&Path]) -> Result<CsvFileWriter, DataError> {
        let file = OutputFile::create(path, inputs)?;
        let partial = file.partial_path().to_path_buf();
        let out = CsvWriter::new(BufWriter::with_capacity(64 * 1024, file))
            .map_err(|e| DataError::io(&e).in_file(&partial))?;
        Ok(CsvFileWriter {
            out,
            partial,
            rows: 0,
        })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> DataError + '_ {
        |e| DataError::io(&e).in_file(&self.partial)
    }

    /// Write one tick whose symbol is called `symbol`.
    ///
    /// # Errors
    /// `Io` naming the `.partial` path.
    pub fn write(&mut self, tick: &Tick, symbol: &str) -> Result<(), DataError> {
        self.out.write(tick, symbol).map_err(self.io())?;
        self.rows += 1;
        Ok(())
    }

    /// Write one line of other text (a sink's bar rows), counted as a row.
    ///
    /// # Errors
    /// `Io` naming the `.partial` path.
    pub fn write_line(&mut self, line: std::fmt::Arguments<'_>) -> Result<(), DataError> {
        writeln!(self.out.get_mut(), "{line}").map_err(self.io())?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written (not counting the header).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Where `finish` puts the file.
    pub fn path(&self) -> &Path {
        self.out.out.get_ref().path()
    }

    /// Where the file is until then.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Push buffered rows to the `.partial` file.
    ///
    /// # Errors
    /// `Io` naming the `.partial` path.
    pub fn flush(&mut self) -> Result<(), DataError> {
        self.out.get_mut().flush().map_err(self.io())
    }

    /// The run succeeded: flush, sync and rename the file to its path; gives its length.
    ///
    /// # Errors
    /// `Io` or `Refused`; the `.partial` file is left and the message says where.
    pub fn finish(mut self) -> Result<u64, DataError> {
        if let Err(e) = self.flush() {
            let note = format!(
                "the unfinished output is left at {}",
                self.partial.display()
            );
            return Err(super::output::with_note(e, &note));
        }
        let file = self.out.out.get_mut();
        let bytes = file.written()?;
        file.commit()?;
        Ok(bytes)
    }

    /// The run failed or was interrupted: leave `<path>.partial` (also what dropping does) and
    /// give its path.
    pub fn leave_unfinished(mut self) -> PathBuf {
        let _ = self.flush();
        self.partial
    }

    /// Remove the `.partial` file.
    ///
    /// # Errors
    /// `Io` naming it.
    pub fn discard(self) -> Result<(), DataError> {
        let (file, _) = self.out.out.into_parts();
        file.discard()
    }
}

/// Convert the CSV file `csv` into the tick file `out`, interning symbols into `table`.
///
/// The CSV is streamed (lines are capped at [`MAX_LINE_LEN`]), so a pipe or device is read
/// in bounded memory; `out` must not be `csv` ([`OutputFile`]). On failure nothing is left at
/// `out` and its `.partial` file is removed.
///
/// # Errors
/// The first bad line (line and field), `Refused` for an unfinished (`.partial`) input or an
/// output that may not be written, or an I/O error with its path.
pub fn csv_to_tick_file(
    csv: impl AsRef<Path>,
    out: impl AsRef<Path>,
    table: Arc<SymbolTable>,
) -> Result<WriteSummary, DataError> {
    let csv = csv.as_ref();
    refuse_partial_input(csv)?;
    let mut writer = TickFileWriter::create_excluding(out, table.clone(), &[csv])?;
    let copied = super::input::open_stream(csv).and_then(|input| {
        let mut reader = CsvReader::new(BufReader::new(input), table).with_path(csv);
        reader.try_for_each(|t| writer.write(&t?))
    });
    match copied {
        Ok(()) => writer.finish(),
        Err(e) => {
            let _ = writer.discard();
            Err(e)
        }
    }
}

fn refuse_partial_input(path: &Path) -> Result<(), DataError> {
    if !super::output::is_partial_name(path) {
        return Ok(());
    }
    let reason = "its name ends in `.partial`: the run that wrote it never finished it".into();
    Err(DataError::new(DataLocation::Unknown, DataErrorKind::Unfinished(reason)).in_file(path))
}

/// Convert the tick file `input` into the CSV file `csv`; returns the number of ticks. On
/// failure nothing is left at `csv` and its `.partial` file is removed.
///
/// # Errors
/// Any error of the tick file (with its offset), `Refused` for an output that may not be
/// written (one that is `input`, a link, a FIFO…), or an I/O error with its path.
pub fn tick_file_to_csv(input: impl AsRef<Path>, csv: impl AsRef<Path>) -> Result<u64, DataError> {
    let input = input.as_ref();
    let file = TickFile::open(input)?;
    let mut w = CsvFileWriter::create(csv, &[input])?;
    let copied = file.records().try_for_each(|tick| {
        let tick = tick?;
        // Records were validated: their symbol is in the file's table.
        let name = file.symbols().name(tick.symbol).unwrap_or_default();
        w.write(&tick, name)
    });
    match copied {
        Ok(()) => w.finish().map(|_| file.len()),
        Err(e) => {
            let _ = w.discard();
            Err(e)
        }
    }
}
