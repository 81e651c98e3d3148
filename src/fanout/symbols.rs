//! `SymbolSet`: which symbols a fan-out subscriber takes — a bitset over [`SymbolId`], or all.

use crate::symbol::SymbolId;

/// A set of symbol ids (one bit each), or every symbol.
///
/// Membership is one word load and a shift: the hub tests it per tick to find the runs of a
/// chunk a subscriber takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolSet {
    all: bool,
    words: Vec<u64>,
}

impl SymbolSet {
    /// Every symbol.
    pub fn all() -> SymbolSet {
        SymbolSet {
            all: true,
            words: Vec::new(),
        }
    }

    /// Exactly `ids` (none: the empty set, not all).
    pub fn of(ids: &[SymbolId]) -> SymbolSet {
        let mut s = SymbolSet::default();
        for &id in ids {
            s.insert(id);
        }
        s
    }

    /// Whether this is the set of every symbol.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: SymbolId) -> bool {
        self.all
            || self
                .words
                .get((id.0 / 64) as usize)
                .is_some_and(|w| (w >> (id.0 % 64)) & 1 == 1)
    }

    /// Add `id`; true if it was not in the set (always false for the set of all).
    pub fn insert(&mut self, id: SymbolId) -> bool {
        if self.all {
            return false;
        }
        let i = (id.0 / 64) as usize;
        if i >= self.words.len() {
            // Grows with the largest id, on the control path only.
            self.words.resize(i + 1, 0);
        }
        let bit = 1u64 << (id.0 % 64);
        let new = self.words[i] & bit == 0;
        self.words[i] |= bit;
        new
    }

    /// Remove `id`; true if it was in the set (the set of all stays all: false).
    pub fn remove(&mut self, id: SymbolId) -> bool {
        if self.all {
            return false;
        }
        let Some(w) = self.words.get_mut((id.0 / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (id.0 % 64);
        let had = *w & bit != 0;
        *w &= !bit;
        had
    }

    /// The ids in the set, ascending (empty for the set of all).
    pub fn ids(&self) -> impl Iterator<Item = SymbolId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64u32)
                .filter(move |b| (w >> b) & 1 == 1)
                .map(move |b| SymbolId(i as u32 * 64 + b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_insert_remove_and_listing_agree_with_a_reference_set() {
        let mut s = SymbolSet::default();
        let mut reference = std::collections::BTreeSet::new();
        for (i, id) in [0u32, 63, 64, 1000, 5, 63, 0].into_iter().enumerate() {
            if i % 3 == 2 {
                assert_eq!(s.remove(SymbolId(id)), reference.remove(&id), "{id}");
            } else {
                assert_eq!(s.insert(SymbolId(id)), reference.insert(id), "{id}");
            }
            for probe in [0u32, 5, 63, 64, 65, 1000, 1001, u32::MAX] {
                assert_eq!(s.contains(SymbolId(probe)), reference.contains(&probe));
            }
        }
        let listed: Vec<u32> = s.ids().map(|id| id.0).collect();
        assert_eq!(listed, reference.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn the_set_of_all_contains_everything_and_an_empty_set_nothing() {
        let mut all = SymbolSet::all();
        assert!(all.contains(SymbolId(u32::MAX)));
        assert!(!all.insert(SymbolId(3)) && !all.remove(SymbolId(3)));
        assert!(all.contains(SymbolId(3)));
        assert!(!SymbolSet::of(&[]).contains(SymbolId(0)));
    }
}
