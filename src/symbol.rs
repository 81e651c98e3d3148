//! Symbol interning: names become dense `u32` ids once, at the edges; the hot path carries ids.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::error::bounded;

/// A dense symbol id issued by a [`SymbolTable`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct SymbolId(pub u32);

impl fmt::Display for SymbolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Longest symbol name accepted, in bytes.
pub const MAX_SYMBOL_LEN: usize = 32;

/// Why a symbol name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SymbolError {
    /// Empty name.
    #[error("empty symbol name")]
    Empty,
    /// Longer than [`MAX_SYMBOL_LEN`].
    #[error("symbol {:?} is longer than 32 bytes", bounded(.0))]
    TooLong(String),
    /// Contains whitespace, a comma, a quote or a control/non-ASCII character.
    #[error("symbol {:?} has invalid character {ch:?}", bounded(.name))]
    InvalidChar {
        /// The name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The table is full (`u32::MAX` symbols).
    #[error("symbol table is full")]
    Full,
}

/// Check a symbol name without interning it.
pub fn validate_symbol(name: &str) -> Result<(), SymbolError> {
    if name.is_empty() {
        return Err(SymbolError::Empty);
    }
    if name.len() > MAX_SYMBOL_LEN {
        return Err(SymbolError::TooLong(name.to_string()));
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, ',' | '"' | '\''))
    {
        return Err(SymbolError::InvalidChar {
            name: name.to_string(),
            ch,
        });
    }
    Ok(())
}

#[derive(Default)]
struct SymbolMaps {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

/// String ↔ dense id interning, shared by `Arc` between the stages of a pipeline.
///
/// Interning and look-ups take a lock and belong to the control plane and the edges (parsers,
/// sinks that print names keep their own cache); ticks carry [`SymbolId`] only.
///
/// ```
/// use market_data_pipeline::SymbolTable;
/// let table = SymbolTable::new();
/// let aapl = table.intern("AAPL").unwrap();
/// assert_eq!(table.intern("AAPL").unwrap(), aapl);
/// assert_eq!(&*table.name(aapl).unwrap(), "AAPL");
/// ```
#[derive(Default)]
pub struct SymbolTable {
    inner: RwLock<SymbolMaps>,
}

impl fmt::Debug for SymbolTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolTable")
            .field("len", &self.len())
            .finish()
    }
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> SymbolTable {
        SymbolTable::default()
    }

    /// A table holding `names` in order (ids 0, 1, …).
    pub fn with_symbols<S: AsRef<str>>(names: &[S]) -> Result<SymbolTable, SymbolError> {
        let t = SymbolTable::new();
        for n in names {
            t.intern(n.as_ref())?;
        }
        Ok(t)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SymbolMaps> {
        // A poisoned lock only means a panic elsewhere while holding it; the map stays valid
        // because every write below completes before it can panic.
        crate::sync::read_lock(&self.inner)
    }

    /// The id of `name`, interning it if new.
    pub fn intern(&self, name: &str) -> Result<SymbolId, SymbolError> {
        if let Some(&id) = self.read().ids.get(name) {
            return Ok(SymbolId(id));
        }
        validate_symbol(name)?;
        let mut w = crate::sync::write_lock(&self.inner);
        if let Some(&id) = w.ids.get(name) {
            return Ok(SymbolId(id));
        }
        let id = u32::try_from(w.names.len()).map_err(|_| SymbolError::Full)?;
        let name: Arc<str> = Arc::from(name);
        w.names.push(name.clone());
        w.ids.insert(name, id);
        Ok(SymbolId(id))
    }

    /// The id of `name`, if interned.
    pub fn get(&self, name: &str) -> Option<SymbolId> {
        self.read().ids.get(name).map(|&id| SymbolId(id))
    }

    /// The name of `id`, if issued.
    pub fn name(&self, id: SymbolId) -> Option<Arc<str>> {
        self.read().names.get(id.0 as usize).cloned()
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.read().names.len()
    }

    /// True when no symbol is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All names, indexed by id.
    pub fn snapshot(&self) -> Vec<Arc<str>> {
        self.read().names.clone()
    }
}

/// A per-thread cache of id → name for sinks that print names, refreshed from the table only
/// when an unknown id shows up (so steady state takes no lock).
#[derive(Debug)]
pub struct SymbolNames {
    table: Arc<SymbolTable>,
    names: Vec<Arc<str>>,
}

impl SymbolNames {
    /// A cache over `table`.
    pub fn new(table: Arc<SymbolTable>) -> SymbolNames {
        let names = table.snapshot();
        SymbolNames { table, names }
    }

    /// The name of `id` (`"#id"` style placeholder is not invented: unknown ids give `None`).
    pub fn get(&mut self, id: SymbolId) -> Option<&str> {
        // Re-read only when the table has grown: an id the table does not have (bad data)
        // must not cost a snapshot (lock + allocation) per tick.
        self.get_arc(id).map(|s| &**s)
    }

    /// The shared name of `id` (clone it to keep it; no allocation).
    pub fn get_arc(&mut self, id: SymbolId) -> Option<&Arc<str>> {
        // Re-read only when the table has grown (see `get`).
        if id.0 as usize >= self.names.len() && self.table.len() > self.names.len() {
            self.names = self.table.snapshot();
        }
        self.names.get(id.0 as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_and_stable() {
        let t = SymbolTable::with_symbols(&["AAPL", "MSFT"]).unwrap();
        assert_eq!(t.get("AAPL"), Some(SymbolId(0)));
        assert_eq!(t.get("MSFT"), Some(SymbolId(1)));
        assert_eq!(t.intern("GOOG").unwrap(), SymbolId(2));
        assert_eq!(t.intern("AAPL").unwrap(), SymbolId(0));
        assert_eq!(t.len(), 3);
        assert_eq!(t.name(SymbolId(9)), None);
    }

    #[test]
    fn invalid_names_are_refused() {
        let t = SymbolTable::new();
        assert_eq!(t.intern(""), Err(SymbolError::Empty));
        assert!(matches!(
            t.intern("A B"),
            Err(SymbolError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            t.intern("A,B"),
            Err(SymbolError::InvalidChar { ch: ',', .. })
        ));
        assert!(matches!(
            t.intern(&"X".repeat(33)),
            Err(SymbolError::TooLong(_))
        ));
        assert!(t.is_empty());
    }

    #[test]
    fn name_cache_refreshes_on_new_ids() {
        let t = Arc::new(SymbolTable::with_symbols(&["A"]).unwrap());
        let mut names = SymbolNames::new(t.clone());
        assert_eq!(names.get(SymbolId(0)), Some("A"));
        let b = t.intern("B").unwrap();
        assert_eq!(names.get(b), Some("B"));
        assert_eq!(names.get(SymbolId(7)), None);
    }
}
