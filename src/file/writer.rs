//! Writing tick files: records are streamed through a buffer; the counts and the symbol table
//! are written by [`TickFileWriter::finish`].

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::header::{FileHeader, HEADER_LEN};
use super::reader::TickFile;
use super::symbols::FileSymbols;
use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::symbol::SymbolTable;
use crate::tick::{flags, Tick, TickDecodeError, TICK_BYTES};

/// Streams ticks into a new tick file.
///
/// Records keep the symbol ids of `table`; `finish` writes the names of the ids that were used.
/// Records go to `<path>.partial`, whose header says "unfinished" (every reader refuses it);
/// `finish` patches the header and renames the file to `path`, replacing any old file there
/// atomically (readers that mapped the old file keep it). Dropping the writer without `finish`
/// leaves only the `.partial` file.
#[derive(Debug)]
pub struct TickFileWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
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
    /// `Io` with the `.partial` path.
    pub fn create(path: impl AsRef<Path>, table: Arc<SymbolTable>) -> Result<Self, DataError> {
        let path = path.as_ref().to_path_buf();
        let partial = partial_path(&path);
        let io = |e: std::io::Error| DataError::io(&e).in_file(&partial);
        let file = File::create(&partial).map_err(io)?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(&FileHeader::UNFINISHED.encode())
            .map_err(io)?;
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

    /// Write the symbol table and the final header, flush, and rename the file to its path.
    ///
    /// # Errors
    /// `Io` with the path.
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
        let partial = self.partial.clone();
        let io = |e: std::io::Error| DataError::io(&e).in_file(&partial);
        self.out.write_all(&trailer).map_err(io)?;
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(&header.encode()).map_err(io)?;
        self.out.flush().map_err(io)?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| DataError::io(&e).in_file(&self.path))?;
        Ok(WriteSummary {
            records: self.count,
            symbols: header.symbol_count,
            bytes: header.symtab_offset + header.symtab_len,
        })
    }
}

/// `<path>.partial`: where a file is written until it is finished.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
