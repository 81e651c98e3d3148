//! Reading tick files: memory-mapped, validated up front, records decoded without allocation.

use std::io::Read;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::header::{FileHeader, HEADER_LEN, UNFINISHED_REASON};
use super::input::{open_regular, read_to_limit};
use super::output::{is_partial_name, PARTIAL_SUFFIX};
use super::symbols::FileSymbols;
use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::tick::{Tick, TICK_BYTES};

enum Backing {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// An open, validated tick file.
///
/// Opening checks the magic, version, record size, header geometry against the file length
/// (truncation), and the symbol table. Records are checked (kind, flags, symbol id) as they are
/// read, or all at once with [`TickFile::validate_records`]; a bad record's error names its
/// byte offset.
///
/// ```
/// use std::sync::Arc;
/// use market_data_pipeline::{Price, SymbolTable, Tick, TickFile, TickFileWriter};
/// let dir = std::env::temp_dir().join(format!("mdp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("doc.ticks");
/// let table = Arc::new(SymbolTable::new());
/// let aapl = table.intern("AAPL").unwrap();
/// let mut w = TickFileWriter::create(&path, table).unwrap();
/// w.write(&Tick::trade(aapl, 1_000, Price::from_units(101), 5)).unwrap();
/// w.finish().unwrap();
/// let file = TickFile::open(&path).unwrap();
/// assert_eq!(file.len(), 1);
/// assert_eq!(file.symbols().name(aapl), Some("AAPL"));
/// for tick in file.records() {
///     assert_eq!(tick.unwrap().price, Price::from_units(101));
/// }
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct TickFile {
    path: Option<PathBuf>,
    data: Backing,
    header: FileHeader,
    symbols: FileSymbols,
}

impl std::fmt::Debug for TickFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickFile")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("symbols", &self.symbols.len())
            .finish()
    }
}

impl TickFile {
    /// Open and validate the file at `path`, mapping it into memory.
    ///
    /// Only a regular file (or a link to one) can be mapped: a directory, FIFO, socket or
    /// device is refused before it is opened ([`open_regular`]), so `/dev/zero` or a pipe
    /// never makes memory grow or the call wait. A name ending in `.partial` is an unfinished
    /// recording ([`is_partial_name`]) and is refused whatever its header says.
    ///
    /// The file must not be truncated or rewritten by anyone while it is open (see the SAFETY
    /// note inside). [`TickFileWriter`](super::TickFileWriter) never rewrites a file in place:
    /// it writes `<path>.partial` and renames it over `path` in `finish`, so a reader keeps
    /// the old file it mapped.
    ///
    /// # Errors
    /// `Refused` naming what is at `path`; `Unfinished` for a `.partial` name; `Io` when it
    /// cannot be opened or mapped; otherwise any header/symbol-table error of
    /// [`TickFile::from_bytes`], with the path attached.
    pub fn open(path: impl AsRef<Path>) -> Result<TickFile, DataError> {
        let path = path.as_ref();
        if is_partial_name(path) {
            let reason = format!(
                "{UNFINISHED_REASON} (its name ends in `{PARTIAL_SUFFIX}`: the writer never \
                 moved it into place)"
            );
            return Err(
                DataError::new(DataLocation::Unknown, DataErrorKind::Unfinished(reason))
                    .in_file(path),
            );
        }
        let io = |e: std::io::Error| DataError::io(&e).in_file(path);
        let (file, len) = open_regular(path, "a tick file is memory-mapped")?;
        // The header first, from the file itself (capped: a file may say 0 and still produce
        // bytes): garbage is refused before anything is mapped.
        let head = read_to_limit((&file).take(HEADER_LEN as u64), HEADER_LEN as u64)
            .map_err(|e| e.in_file(path))?;
        // This also refuses a file too short to hold a header, so an empty file is never
        // mapped.
        FileHeader::decode_head(&head, len).map_err(|e| e.in_file(path))?;
        let data = {
            // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change under us, or
            // the file can shrink (SIGBUS on access), if anyone writes or truncates the file
            // while it is mapped. Contract: a tick file is immutable once finished. Our writer
            // only creates new files and marks them valid in `finish` as its last step, and
            // nothing in this crate modifies a finished file. What we do about outside writers:
            // the length is checked against the header once, here; records are never cast from
            // the mapping, only copied out as plain bytes and decoded through validating code,
            // so changed bytes (formally outside Rust's aliasing rules) at worst give wrong
            // values or a data error. Truncation by another process while mapped cannot be defended against in safe
            // code; it is documented as forbidden on `TickFile::open`.
            Backing::Mapped(unsafe { Mmap::map(&file) }.map_err(io)?)
        };
        TickFile::parse(data, Some(path.to_path_buf()))
    }

    /// Parse and validate a tick file held in memory (copies `bytes`). For tests and fuzzers.
    ///
    /// # Errors
    /// See [`TickFile::from_vec`].
    pub fn from_bytes(bytes: &[u8]) -> Result<TickFile, DataError> {
        TickFile::from_vec(bytes.to_vec())
    }

    /// Parse and validate a tick file held in memory.
    ///
    /// # Errors
    /// `Truncated`, `BadMagic`, `UnsupportedVersion`, `BadRecordSize`, `BadHeader` or
    /// `BadSymbolTable`, at the byte offset where the problem is.
    pub fn from_vec(bytes: Vec<u8>) -> Result<TickFile, DataError> {
        TickFile::parse(Backing::Owned(bytes), None)
    }

    fn parse(data: Backing, path: Option<PathBuf>) -> Result<TickFile, DataError> {
        let with_path = |e: DataError| match &path {
            Some(p) => e.in_file(p),
            None => e,
        };
        let bytes = data.bytes();
        let header = FileHeader::decode(bytes).map_err(with_path)?;
        // Geometry was checked: symtab_offset + symtab_len == bytes.len().
        let start = header.symtab_offset as usize;
        let symbols = FileSymbols::decode(&bytes[start..], header.symbol_count, start as u64)
            .map_err(with_path)?;
        Ok(TickFile {
            path,
            data,
            header,
            symbols,
        })
    }

    /// The path, when opened from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The decoded header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The file's symbol table (file ids ↔ names).
    pub fn symbols(&self) -> &FileSymbols {
        &self.symbols
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.header.record_count
    }

    /// True when the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.header.record_count == 0
    }

    /// Byte offset of record `index`.
    #[inline]
    pub fn record_offset(index: u64) -> u64 {
        HEADER_LEN as u64 + index * TICK_BYTES as u64
    }

    /// The raw 64 bytes of record `index`, if it exists.
    #[inline]
    pub fn raw_record(&self, index: u64) -> Option<&[u8; TICK_BYTES]> {
        if index >= self.header.record_count {
            return None;
        }
        let at = TickFile::record_offset(index) as usize;
        self.data.bytes()[at..at + TICK_BYTES].try_into().ok()
    }

    /// The bytes of all records (`len() × 64`, after the header), as mapped; not validated
    /// (that is [`TickFile::decode_into`]'s job). For bulk consumers and benchmarks.
    pub fn record_bytes(&self) -> &[u8] {
        // The header's geometry was checked against the length when the file was opened.
        let end = TickFile::record_offset(self.header.record_count) as usize;
        &self.data.bytes()[HEADER_LEN..end]
    }

    /// Decode and validate record `index` (`None` past the end).
    ///
    /// # Errors
    /// `BadRecord` (kind or flags) or `UnknownSymbol`, at the record's byte offset.
    #[inline]
    pub fn record(&self, index: u64) -> Option<Result<Tick, DataError>> {
        Some(self.record_with_symbol(index)?.map(|(tick, _)| tick))
    }

    /// As [`TickFile::record`], also giving the position of the tick's symbol in
    /// [`TickFile::symbols`] (for remapping ids with a small `Vec`).
    ///
    /// # Errors
    /// As [`TickFile::record`].
    #[inline]
    pub fn record_with_symbol(&self, index: u64) -> Option<Result<(Tick, usize), DataError>> {
        let raw = self.raw_record(index)?;
        Some(self.check(raw, TickFile::record_offset(index)))
    }

    #[inline]
    fn check(&self, raw: &[u8; TICK_BYTES], offset: u64) -> Result<(Tick, usize), DataError> {
        let fail = |kind| {
            let e = DataError::new(DataLocation::Offset(offset), kind);
            match &self.path {
                Some(p) => e.in_file(p),
                None => e,
            }
        };
        let tick = Tick::decode(raw).map_err(|e| fail(DataErrorKind::BadRecord(e)))?;
        match self.symbols.index_of(tick.symbol) {
            Some(index) => Ok((tick, index)),
            None => Err(fail(DataErrorKind::UnknownSymbol(tick.symbol.0))),
        }
    }

    /// Decode and validate records `first..` into `out`, as many as fit and exist, in one pass
    /// over the mapped bytes (no per-record bounds check or error value on the way). Gives how
    /// many were decoded: fewer than asked only at the end of the file or at a bad record,
    /// which then is record `first + count` — [`TickFile::record`] gives its error, at its
    /// byte offset. The same checks as [`TickFile::record`] (kind, flags, symbol id).
    #[inline]
    pub fn decode_into(&self, first: u64, out: &mut [Tick]) -> usize {
        let (mut n, max) = (0, out.len());
        for (slot, tick) in out.iter_mut().zip(self.valid_records(first, max)) {
            *slot = tick;
            n += 1;
        }
        n
    }

    /// Records `first..`, at most `max` of them, decoded and validated one by one as the
    /// iterator is advanced (no error value, no per-record bounds check): the iteration ends
    /// at the end of the file or before a bad record, which then is record `first + count` —
    /// [`TickFile::record`] gives its error, at its byte offset. The same checks as
    /// [`TickFile::record`] (kind, flags, symbol id).
    #[inline]
    pub fn valid_records(&self, first: u64, max: usize) -> impl Iterator<Item = Tick> + '_ {
        self.valid_records_with(first, max, |_| {})
    }

    /// As [`valid_records`](Self::valid_records), each tick passed through `stamp` in the
    /// same step as its decoding: for a reader that writes each tick once, where it goes (a
    /// ring's slots), with no buffer between.
    #[inline]
    pub fn valid_records_with<'a, F>(
        &'a self,
        first: u64,
        max: usize,
        mut stamp: F,
    ) -> impl Iterator<Item = Tick> + 'a
    where
        F: FnMut(&mut Tick) + 'a,
    {
        let left = self.header.record_count.saturating_sub(first);
        let count = max.min(usize::try_from(left).unwrap_or(usize::MAX));
        // In range: `first + count ≤ record_count`, and the header's geometry was checked
        // against the length of the bytes when the file was opened.
        let start = if count == 0 {
            HEADER_LEN
        } else {
            TickFile::record_offset(first) as usize
        };
        let bytes = &self.data.bytes()[start..start + count * TICK_BYTES];
        let symbols = &self.symbols;
        bytes.chunks_exact(TICK_BYTES).map_while(move |raw| {
            let mut tick = Tick::decode(raw.try_into().ok()?).ok()?;
            if !symbols.contains(tick.symbol) {
                return None;
            }
            stamp(&mut tick);
            Some(tick)
        })
    }

    /// Iterate over the records in file order. No allocation per record.
    pub fn records(&self) -> Records<'_> {
        Records {
            file: self,
            next: 0,
        }
    }

    /// Check every record now; the first bad one's error names its byte offset.
    ///
    /// # Errors
    /// As [`TickFile::record`].
    pub fn validate_records(&self) -> Result<(), DataError> {
        self.records().try_for_each(|r| r.map(|_| ()))
    }
}

/// Iterator over the records of a [`TickFile`]; see [`TickFile::records`].
#[derive(Debug)]
pub struct Records<'a> {
    file: &'a TickFile,
    next: u64,
}

impl Iterator for Records<'_> {
    type Item = Result<Tick, DataError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.file.record(self.next)?;
        self.next += 1;
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.file.len() - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}
