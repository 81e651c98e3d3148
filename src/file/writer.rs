//! Writing tick files: records are streamed through a buffer; the counts and the symbol table
//! are written by [`TickFileWriter::finish`].
//!
//! Where the output may go, and finishing versus leaving unfinished, are those of
//! [`OutputFile`]: the file is `<path>.partial` with an "unfinished" header until `finish`.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::header::{FileHeader, HEADER_LEN};
pub use super::output::partial_path;
use super::output::{with_note, OutputFile};
use super::reader::TickFile;
use super::symbols::FileSymbols;
use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::symbol::SymbolTable;
use crate::tick::{flags, Tick, TickDecodeError, TICK_BYTES};

/// Streams ticks into a new tick file.
///
/// Records keep the symbol ids of `table`; `finish` writes the names of the ids that were used.
/// Records go to `<path>.partial`, whose header says "unfinished" (every reader refuses it);
/// `finish` patches the header and renames the file to `path`, replacing any old regular file
/// there atomically (readers that mapped the old file keep it). Call `finish` only when the
/// run that produced the ticks succeeded: dropping the writer (or
/// [`leave_unfinished`](Self::leave_unfinished)) leaves only the unfinished `.partial` file,
/// and [`discard`](Self::discard) removes it.
#[derive(Debug)]
pub struct TickFileWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<OutputFile>,
    table: Arc<SymbolTable>,
    /// `used[id]` is true when a record carried symbol id `id`.
    used: Vec<bool>,
    /// Ids below this are known to be in `table` (refreshed only when a larger id shows up).
    known: usize,
    count: u64,
}

/// What [`TickFileWriter::finish`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// Records written.
    pub records: u64,
    /// Symbols in the trailer.
    pub symbols: u32,
    /// Total file length in bytes.
    pub bytes: u64,
}

impl TickFileWriter {
    /// Start writing the file that `finish` will put at `path` (see the type docs). Symbol
    /// ids in the ticks are `table`'s.
    ///
    /// # Errors
    /// As [`TickFileWriter::create_excluding`] with no inputs.
    pub fn create(path: impl AsRef<Path>, table: Arc<SymbolTable>) -> Result<Self, DataError> {
        TickFileWriter::create_excluding(path, table, &[])
    }

    /// As [`create`](Self::create), refusing an output that is one of `inputs` (the same path,
    /// a link or a hard link to it) before anything is opened for writing.
    ///
    /// # Errors
    /// `Refused` saying what is at `path` when it is not nothing or a regular file, or which
    /// input it is ([`OutputFile::create`]); `Io` with the `.partial` path.
    pub fn create_excluding(
        path: impl AsRef<Path>,
        table: Arc<SymbolTable>,
        inputs: &[&Path],
    ) -> Result<Self, DataError> {
        let file = OutputFile::create(path, inputs)?;
        let (path, partial) = (file.path().to_path_buf(), file.partial_path().to_path_buf());
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(&FileHeader::UNFINISHED.encode())
            .map_err(|e| DataError::io(&e).in_file(&partial))?;
        Ok(TickFileWriter {
            path,
            partial,
            out,
            table,
            used: Vec::new(),
            known: 0,
            count: 0,
        })
    }

    /// Where `finish` puts the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file is until then.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    fn error_here(&self, kind: DataErrorKind) -> DataError {
        DataError::new(
            DataLocation::Offset(TickFile::record_offset(self.count)),
            kind,
        )
        .in_file(&self.path)
    }

    /// Append one tick.
    ///
    /// # Errors
    /// `UnknownSymbol` when the tick's id is not in the table, `BadRecord` when it has flag
    /// bits a reader would refuse (both at the offset the record would have had), `Io`.
    #[inline]
    pub fn write(&mut self, tick: &Tick) -> Result<(), DataError> {
        if tick.flags & !flags::KNOWN != 0 {
            return Err(
                self.error_here(DataErrorKind::BadRecord(TickDecodeError::BadFlags(
                    tick.flags,
                ))),
            );
        }
        let id = tick.symbol.0 as usize;
        if id >= self.known {
            self.known = self.table.len();
            if id >= self.known {
                return Err(self.error_here(DataErrorKind::UnknownSymbol(tick.symbol.0)));
            }
        }
        if id >= self.used.len() {
            self.used.resize(self.known, false);
        }
        self.used[id] = true;
        self.out
            .write_all(&tick.encode())
            .map_err(|e| DataError::io(&e).in_file(&self.partial))?;
        self.count += 1;
        Ok(())
    }

    /// Append many ticks.
    ///
    /// # Errors
    /// As [`TickFileWriter::write`]; ticks before the failing one are written.
    pub fn write_all(&mut self, ticks: &[Tick]) -> Result<(), DataError> {
        ticks.iter().try_for_each(|t| self.write(t))
    }

    /// Records written so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Push buffered records to the `.partial` file (it stays unfinished).
    ///
    /// # Errors
    /// `Io` with the `.partial` path.
    pub fn flush(&mut self) -> Result<(), DataError> {
        self.out
            .flush()
            .map_err(|e| DataError::io(&e).in_file(&self.partial))
    }

    /// The run succeeded: write the symbol table and the final header, sync, and rename the
    /// file to its path.
    ///
    /// # Errors
    /// `Io` with the path. The `.partial` file is then left marked unfinished (its header
    /// says so, and readers refuse it) and the message says where it is.
    pub fn finish(mut self) -> Result<WriteSummary, DataError> {
        let names = self.table.snapshot();
        let entries: Vec<(u32, Arc<str>)> = self
            .used
            .iter()
            .enumerate()
            .filter(|&(_, &u)| u)
            .map(|(id, _)| (id as u32, names[id].clone()))
            .collect();
        let symbols = FileSymbols::from_sorted(entries);
        let mut trailer = Vec::new();
        symbols.encode_into(&mut trailer);
        let header = FileHeader {
            symbol_count: symbols.len() as u32,
            record_count: self.count,
            symtab_offset: HEADER_LEN as u64 + self.count * TICK_BYTES as u64,
            symtab_len: trailer.len() as u64,
        };
        let written = self
            .out
            .write_all(&trailer)
            .and_then(|()| self.out.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| self.out.write_all(&header.encode()))
            .and_then(|()| self.out.flush());
        if let Err(e) = written {
            let note = format!(
                "the unfinished recording is left at {}",
                self.partial.display()
            );
            let e = with_note(DataError::io(&e), &note).in_file(&self.path);
            mark_unfinished(self.out);
            return Err(e);
        }
        // On failure the message already says where the `.partial` file is.
        if let Err(e) = self.out.get_mut().commit() {
            mark_unfinished(self.out);
            return Err(e);
        }
        Ok(WriteSummary {
            records: self.count,
            symbols: header.symbol_count,
            bytes: header.symtab_offset + header.symtab_len,
        })
    }

    /// The run failed or was interrupted: leave the unfinished `.partial` file (also what
    /// dropping the writer does) and give its path.
    pub fn leave_unfinished(mut self) -> PathBuf {
        let _ = self.out.flush();
        self.partial
    }

    /// Remove the `.partial` file.
    ///
    /// # Errors
    /// `Io` with the `.partial` path.
    pub fn discard(self) -> Result<(), DataError> {
        let (file, _) = self.out.into_parts();
        file.discard()
    }
}

/// `finish` failed: put the "unfinished" header back on the `.partial` file (best effort:
/// readers refuse the `.partial` name anyway). Bytes still buffered are dropped, not written
/// where the header was.
fn mark_unfinished(out: BufWriter<OutputFile>) {
    let (mut file, _) = out.into_parts();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&FileHeader::UNFINISHED.encode()))
        .and_then(|()| file.flush());
}
