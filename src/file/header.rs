//! The fixed 64-byte header at the start of every tick file.
//!
//! | bytes  | field          | meaning                                                   |
//! |--------|----------------|-----------------------------------------------------------|
//! | 0..8   | magic          | `MDPTICKS`                                                |
//! | 8..12  | version        | format version, currently 1                               |
//! | 12..16 | record_size    | bytes per record, always 64                               |
//! | 16..20 | header_len     | bytes in this header, always 64 (records start here)      |
//! | 20..24 | symbol_count   | entries in the symbol-table trailer                       |
//! | 24..32 | record_count   | records after the header                                  |
//! | 32..40 | symtab_offset  | where the trailer starts; 0 = the writer never finished   |
//! | 40..48 | symtab_len     | bytes in the trailer                                      |
//! | 48..64 | reserved       | zero                                                      |
//!
//! All integers are little-endian. A writer streams records of unknown count and patches
//! `symbol_count`, `record_count`, `symtab_offset` and `symtab_len` when it finishes.
//! `symtab_offset` 0 is the "unfinished" mark: every reader refuses such a file with
//! [`DataErrorKind::Unfinished`], and a writer puts the mark back when it cannot move the
//! finished file into place.

use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::tick::TICK_BYTES;

/// The first eight bytes of every tick file.
pub const MAGIC: [u8; 8] = *b"MDPTICKS";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes in the header; records start at this offset.
pub const HEADER_LEN: usize = 64;
/// Bytes per record.
pub const RECORD_SIZE: u32 = TICK_BYTES as u32;

/// The decoded header of a tick file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// Number of symbols in the trailer.
    pub symbol_count: u32,
    /// Number of 64-byte records.
    pub record_count: u64,
    /// Byte offset of the symbol-table trailer (0 while the writer has not finished).
    pub symtab_offset: u64,
    /// Length of the symbol-table trailer in bytes.
    pub symtab_len: u64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Why an unfinished file is refused (its header's symbol-table offset is 0).
pub const UNFINISHED_REASON: &str = "the run that wrote it did not finish it (it failed or \
     was interrupted), so it may lack records; it is not a valid tick file";

fn err(at: u64, kind: DataErrorKind) -> DataError {
    DataError::new(DataLocation::Offset(at), kind)
}

fn bad_header(at: u64, reason: String) -> DataError {
    err(at, DataErrorKind::BadHeader(reason))
}

impl FileHeader {
    /// The header a writer puts down before it knows the counts ("unfinished").
    pub const UNFINISHED: FileHeader = FileHeader {
        symbol_count: 0,
        record_count: 0,
        symtab_offset: 0,
        symtab_len: 0,
    };

    /// Offset of the byte just past the last record.
    pub fn records_end(&self) -> Option<u64> {
        self.record_count
            .checked_mul(TICK_BYTES as u64)?
            .checked_add(HEADER_LEN as u64)
    }

    /// Encode as the 64 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&RECORD_SIZE.to_le_bytes());
        b[16..20].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[20..24].copy_from_slice(&self.symbol_count.to_le_bytes());
        b[24..32].copy_from_slice(&self.record_count.to_le_bytes());
        b[32..40].copy_from_slice(&self.symtab_offset.to_le_bytes());
        b[40..48].copy_from_slice(&self.symtab_len.to_le_bytes());
        b
    }

    /// Decode and check the header of a whole file (`file` is every byte of it), including
    /// that the file length matches what the header declares.
    ///
    /// # Errors
    /// `Truncated` (at the offset where the data ends), `BadMagic`, `UnsupportedVersion`,
    /// `BadRecordSize` or `BadHeader`, each at the offset of the offending field.
    pub fn decode(file: &[u8]) -> Result<FileHeader, DataError> {
        FileHeader::decode_head(file, file.len() as u64)
    }

    /// As [`decode`](Self::decode) from the first bytes of a file (`head`: at least
    /// [`HEADER_LEN`] of them, or the whole file when it is shorter) and its length `len`, so
    /// a file can be judged before it is mapped.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_head(head: &[u8], len: u64) -> Result<FileHeader, DataError> {
        let file = head;
        let magic_seen = file.len().min(MAGIC.len());
        if file[..magic_seen] != MAGIC[..magic_seen] {
            return Err(err(
                0,
                DataErrorKind::BadMagic {
                    found: file[..magic_seen].to_vec(),
                },
            ));
        }
        if file.len() < HEADER_LEN {
            return Err(err(
                len,
                DataErrorKind::Truncated {
                    needed: HEADER_LEN as u64,
                    available: len,
                },
            ));
        }
        let version = le_u32(file, 8);
        if version != VERSION {
            return Err(err(
                8,
                DataErrorKind::UnsupportedVersion {
                    found: version,
                    supported: VERSION,
                },
            ));
        }
        let record_size = le_u32(file, 12);
        if record_size != RECORD_SIZE {
            return Err(err(12, DataErrorKind::BadRecordSize { found: record_size }));
        }
        let header_len = le_u32(file, 16);
        if header_len != HEADER_LEN as u32 {
            return Err(bad_header(
                16,
                format!("header length {header_len} (expected {HEADER_LEN})"),
            ));
        }
        if let Some(i) = file[48..HEADER_LEN].iter().position(|&b| b != 0) {
            return Err(bad_header(
                48 + i as u64,
                "reserved header bytes are not zero".to_string(),
            ));
        }
        let h = FileHeader {
            symbol_count: le_u32(file, 20),
            record_count: le_u64(file, 24),
            symtab_offset: le_u64(file, 32),
            symtab_len: le_u64(file, 40),
        };
        h.check_geometry(len)?;
        Ok(h)
    }

    /// Check the declared counts and offsets against each other and the file length.
    fn check_geometry(&self, len: u64) -> Result<(), DataError> {
        if self.symtab_offset == 0 {
            return Err(err(
                32,
                DataErrorKind::Unfinished(UNFINISHED_REASON.to_string()),
            ));
        }
        let records_end = self.records_end().ok_or_else(|| {
            bad_header(
                24,
                format!("record count {} is impossibly large", self.record_count),
            )
        })?;
        if self.symtab_offset != records_end {
            return Err(bad_header(
                32,
                format!(
                    "symbol table offset {} does not follow the {} records (expected {records_end})",
                    self.symtab_offset, self.record_count
                ),
            ));
        }
        let total = records_end.checked_add(self.symtab_len).ok_or_else(|| {
            bad_header(
                40,
                format!(
                    "symbol table length {} is impossibly large",
                    self.symtab_len
                ),
            )
        })?;
        if len < total {
            return Err(err(
                len,
                DataErrorKind::Truncated {
                    needed: total,
                    available: len,
                },
            ));
        }
        if len > total {
            return Err(bad_header(
                total,
                format!("{} unexpected bytes after the symbol table", len - total),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        let h = FileHeader {
            symbol_count: 0,
            record_count: 1,
            symtab_offset: 128,
            symtab_len: 0,
        };
        let mut file = h.encode().to_vec();
        file.extend_from_slice(&[0u8; 64]);
        assert_eq!(FileHeader::decode(&file), Ok(h));
    }

    #[test]
    fn unfinished_header_is_refused_with_its_reason() {
        let e = FileHeader::decode(&FileHeader::UNFINISHED.encode()).unwrap_err();
        assert_eq!(e.at, DataLocation::Offset(32));
        assert!(matches!(e.kind, DataErrorKind::Unfinished(_)), "{e}");
        assert!(e.to_string().contains("unfinished recording"), "{e}");
    }

    #[test]
    fn huge_record_count_is_a_header_error_not_an_overflow() {
        let h = FileHeader {
            symbol_count: 0,
            record_count: u64::MAX / 8,
            symtab_offset: 64,
            symtab_len: 0,
        };
        let e = FileHeader::decode(&h.encode()).unwrap_err();
        assert_eq!(e.at, DataLocation::Offset(24));
    }
}
