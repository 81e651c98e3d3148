//! The symbol-table trailer of a tick file: the names of the `u32` ids used in its records.
//!
//! Each entry is `id: u32 LE, len: u8, name: len bytes (ASCII)`. Entries are sorted by strictly
//! ascending id (so ids are unique), names are valid symbols ([`validate_symbol`]) and unique.
//! Look-ups by id are one indexed load when the ids are dense (the writer's are: a
//! [`SymbolTable`](crate::SymbolTable) numbers from 0), a binary search otherwise.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::symbol::{validate_symbol, SymbolId, MAX_SYMBOL_LEN};

/// Bytes of an entry besides the name.
const ENTRY_FIXED: usize = 5;

/// Marks an id with no entry in [`FileSymbols`]'s dense table.
const NO_ENTRY: u32 = u32::MAX;

/// Ids up to `DENSE_PER_SYMBOL × len + DENSE_SLACK` get a dense table (at most 4 × 4 bytes per
/// symbol plus 256 bytes): a look-up per record is then one load, not a binary search.
const DENSE_PER_SYMBOL: usize = 4;
const DENSE_SLACK: usize = 64;

/// The symbols of one tick file, sorted by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSymbols {
    ids: Vec<u32>,
    names: Vec<Arc<str>>,
    /// Entry position by id (`NO_ENTRY`: none) when the ids are dense; empty otherwise. A
    /// function of `ids`, so the derived equality still compares the table's contents only.
    by_id: Vec<u32>,
    /// The ids are exactly `0..len` (a function of `ids`, as `by_id`).
    contiguous: bool,
}

fn bad(at: u64, reason: String) -> DataError {
    DataError::new(
        DataLocation::Offset(at),
        DataErrorKind::BadSymbolTable(reason),
    )
}

impl FileSymbols {
    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the file names no symbol.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Position (0..len) of the entry for file id `id`, if present. One load when the ids
    /// are dense, a binary search otherwise.
    #[inline]
    pub fn index_of(&self, id: SymbolId) -> Option<usize> {
        if self.by_id.is_empty() {
            return self.ids.binary_search(&id.0).ok();
        }
        match self.by_id.get(id.0 as usize) {
            Some(&at) if at != NO_ENTRY => Some(at as usize),
            _ => None,
        }
    }

    /// Whether file id `id` has an entry. One comparison when the ids are `0..len` (a
    /// [`SymbolTable`](crate::SymbolTable)'s are), as [`index_of`](Self::index_of) otherwise.
    #[inline]
    pub fn contains(&self, id: SymbolId) -> bool {
        if self.contiguous {
            return (id.0 as usize) < self.ids.len();
        }
        self.index_of(id).is_some()
    }

    /// The table from ids given in strictly ascending order and their names.
    fn build(ids: Vec<u32>, names: Vec<Arc<str>>) -> FileSymbols {
        let dense_limit = ids.len() * DENSE_PER_SYMBOL + DENSE_SLACK;
        let by_id = match ids.last() {
            Some(&max) if (max as usize) < dense_limit => {
                let mut by_id = vec![NO_ENTRY; max as usize + 1];
                for (at, &id) in ids.iter().enumerate() {
                    // `at` < len ≤ u32::MAX entries (the count is a u32).
                    by_id[id as usize] = at as u32;
                }
                by_id
            }
            _ => Vec::new(),
        };
        // Strictly ascending ids that end at len - 1 are exactly 0..len.
        let contiguous = ids
            .last()
            .is_some_and(|&last| last as usize + 1 == ids.len());
        FileSymbols {
            ids,
            names,
            by_id,
            contiguous,
        }
    }

    /// `(id, name)` pairs in ascending id order.
    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &str)> + '_ {
        self.ids
            .iter()
            .zip(&self.names)
            .map(|(&id, name)| (SymbolId(id), &**name))
    }

    /// The name of the entry at `index` (see [`FileSymbols::index_of`]).
    pub fn name_at(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(|n| &**n)
    }

    /// The name of file id `id`.
    pub fn name(&self, id: SymbolId) -> Option<&str> {
        self.index_of(id).and_then(|i| self.name_at(i))
    }

    /// The file id of `name`.
    pub fn id_of(&self, name: &str) -> Option<SymbolId> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .map(|i| SymbolId(self.ids[i]))
    }

    /// Build from `(id, name)` pairs given in strictly ascending id order (the writer's path).
    pub(crate) fn from_sorted(entries: Vec<(u32, Arc<str>)>) -> FileSymbols {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let (ids, names) = entries.into_iter().unzip();
        FileSymbols::build(ids, names)
    }

    /// Append the encoded trailer to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        for (id, name) in self.ids.iter().zip(&self.names) {
            out.extend_from_slice(&id.to_le_bytes());
            // Names are validated symbols: at most MAX_SYMBOL_LEN (32) bytes, so they fit a u8.
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
    }

    /// Parse `count` entries from `bytes`, which must hold exactly them. `base` is the file
    /// offset of `bytes[0]`, used in errors.
    ///
    /// # Errors
    /// `BadSymbolTable` at the offset of the offending entry.
    pub fn decode(bytes: &[u8], count: u32, base: u64) -> Result<FileSymbols, DataError> {
        let max = count as u64 * (ENTRY_FIXED + MAX_SYMBOL_LEN) as u64;
        let min = count as u64 * (ENTRY_FIXED + 1) as u64;
        let len = bytes.len() as u64;
        if len < min || len > max {
            return Err(bad(
                base,
                format!("{len} bytes cannot hold {count} symbols ({min}..={max} bytes)"),
            ));
        }
        // `count` is now bounded by the file length, so these allocations are too.
        let mut ids = Vec::with_capacity(count as usize);
        let mut names: Vec<Arc<str>> = Vec::with_capacity(count as usize);
        let mut seen = HashSet::with_capacity(count as usize);
        let mut pos = 0usize;
        for n in 0..count {
            let at = base + pos as u64;
            let Some(fixed) = bytes.get(pos..pos + ENTRY_FIXED) else {
                return Err(bad(at, format!("entry {n} runs past the end of the table")));
            };
            let id = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
            let name_len = fixed[4] as usize;
            let name_start = pos + ENTRY_FIXED;
            let Some(raw) = bytes.get(name_start..name_start + name_len) else {
                return Err(bad(at, format!("entry {n} runs past the end of the table")));
            };
            let name = std::str::from_utf8(raw)
                .map_err(|_| bad(at, format!("entry {n} (id {id}): name is not UTF-8")))?;
            validate_symbol(name).map_err(|e| bad(at, format!("entry {n} (id {id}): {e}")))?;
            if let Some(&prev) = ids.last() {
                if id <= prev {
                    return Err(bad(
                        at,
                        format!("entry {n}: id {id} is not above the previous id {prev} (ids must be unique and ascending)"),
                    ));
                }
            }
            if !seen.insert(name) {
                return Err(bad(
                    at,
                    format!(
                        "entry {n}: duplicate symbol {:?}",
                        crate::error::bounded(name)
                    ),
                ));
            }
            ids.push(id);
            names.push(Arc::from(name));
            pos = name_start + name_len;
        }
        if pos != bytes.len() {
            return Err(bad(
                base + pos as u64,
                format!("{} bytes left after {count} symbols", bytes.len() - pos),
            ));
        }
        Ok(FileSymbols::build(ids, names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32, name: &[u8]) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.push(name.len() as u8);
        v.extend_from_slice(name);
        v
    }

    #[test]
    fn table_of_bad_trailers_names_the_entry_offset() {
        // (case, bytes, count, offset of the error, words in the message)
        let cases: Vec<(u32, Vec<u8>, u32, u64, &str)> = vec![
            (
                1,
                [entry(0, b"A"), entry(0, b"B")].concat(),
                2,
                106,
                "ascending",
            ),
            (
                2,
                [entry(0, b"A"), entry(1, b"A")].concat(),
                2,
                106,
                "duplicate",
            ),
            (3, entry(0, b"A B"), 1, 100, "invalid character"),
            (4, entry(0, &[0xff]), 1, 100, "UTF-8"),
            (5, [entry(0, b"A"), vec![0]].concat(), 1, 106, "left after"),
            (6, entry(0, b"ABC")[..7].to_vec(), 1, 100, "past the end"),
            (7, vec![0; 3], 1, 100, "cannot hold"),
        ];
        for (case, bytes, count, at, words) in cases {
            let e = FileSymbols::decode(&bytes, count, 100).unwrap_err();
            assert_eq!(e.at, DataLocation::Offset(at), "case {case}: {e}");
            assert!(e.to_string().contains(words), "case {case}: {e}");
        }
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let syms = FileSymbols::from_sorted(vec![(2, Arc::from("AAPL")), (7, Arc::from("MSFT"))]);
        let mut bytes = Vec::new();
        syms.encode_into(&mut bytes);
        assert_eq!(FileSymbols::decode(&bytes, 2, 0), Ok(syms.clone()));
        assert_eq!(syms.index_of(SymbolId(7)), Some(1));
        assert_eq!(syms.index_of(SymbolId(3)), None);
        assert_eq!(syms.id_of("AAPL"), Some(SymbolId(2)));
    }

    #[test]
    fn dense_and_sparse_ids_find_the_same_entries() {
        // (case, ids): dense from 0, dense with holes, sparse (binary search), the largest id.
        let cases: Vec<(u32, Vec<u32>)> = vec![
            (1, vec![0, 1, 2, 3]),
            (2, vec![1, 5, 9]),
            (3, vec![3, 1_000_000, 4_000_000_000]),
            (4, vec![0, u32::MAX]),
        ];
        for (case, ids) in cases {
            let entries = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| (id, Arc::from(format!("S{i}"))))
                .collect();
            let syms = FileSymbols::from_sorted(entries);
            for probe in [
                0,
                1,
                2,
                4,
                5,
                9,
                10,
                1_000_000,
                4_000_000_000,
                u32::MAX - 1,
                u32::MAX,
            ] {
                let want = ids.iter().position(|&id| id == probe);
                assert_eq!(
                    syms.index_of(SymbolId(probe)),
                    want,
                    "case {case}, id {probe}"
                );
            }
        }
    }
}
