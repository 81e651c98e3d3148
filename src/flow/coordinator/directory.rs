//! The coordinator's providers by name, for lock-free lookups and cheap registration.
//!
//! Handles live in an append-only [`Slab`] (segments allocated once, never moved). The name
//! index is a fixed set of shards behind `arc-swap`, each a sorted vector of
//! `(hash of the name, slot)` pairs: plain integers, so copying a shard is a `memcpy` that
//! touches no provider (copying a map of `Arc`s touched two reference counts per entry, one
//! cache miss each).
//!
//! Readers (every by-name call) hash the name, load one shard, binary-search it and compare
//! the name of the slot it points to: no lock, no allocation. Writers (registrations, rare and
//! on the control plane) take a mutex, fill slab slots first, then copy and swap only the
//! shards they change. So registering `m` providers at once copies each touched shard once
//! (`O(n + m log m)`), and registering one copies one shard (`n / 64` pairs), where the original
//! copied the whole map of handles per registration (`O(n²)` for `n` one-by-one registrations).
//!
//! At most [`MAX_PROVIDERS`] providers can be registered; past it registration is refused with
//! an error naming the limit.

use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use super::error::CoordinatorError;
use super::provider::ProviderHandle;
use crate::error::ConfigError;

/// Most providers one coordinator holds. Each holds its buckets, breaker and 16 cooldown
/// scopes (on the order of a kilobyte) besides its source; a quarter million bounds the
/// coordinator's memory to a few hundred megabytes and keeps a one-by-one registration to
/// copying at most `MAX_PROVIDERS / 64` pairs.
pub const MAX_PROVIDERS: usize = 1 << 18;

/// Shards of the name index (a power of two).
const SHARDS: usize = 64;

/// `(hash of the name, slab slot)`, sorted.
type Shard = Vec<(u64, u32)>;

/// A fixed 64-bit hash of `name` (FNV-1a, then a finalising mix so that every bit depends on
/// every byte): every reader and writer agrees on it, and the top bits pick the shard.
#[inline]
fn hash_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[inline]
fn shard_of(hash: u64) -> usize {
    // SHARDS is a power of two: the top bits.
    (hash >> (64 - SHARDS.trailing_zeros())) as usize
}

/// Segments of the slab: segment `k` holds `BASE << k` slots.
const BASE: usize = 64;
const SEGMENTS: usize = 16;
const _: () = assert!(BASE * ((1 << SEGMENTS) - 1) >= MAX_PROVIDERS);

/// Append-only slots of handles: a slot is written once (under the writer's mutex) before any
/// index points to it, and never moves.
#[derive(Debug)]
struct Slab {
    segments: [OnceLock<Box<[OnceLock<ProviderHandle>]>>; SEGMENTS],
}

/// Segment and offset of slot `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let k = (i / BASE + 1).ilog2() as usize;
    (k, i - BASE * ((1 << k) - 1))
}

impl Slab {
    fn new() -> Slab {
        Slab {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    #[inline]
    fn get(&self, i: u32) -> Option<&ProviderHandle> {
        let (k, off) = locate(i as usize);
        self.segments.get(k)?.get()?.get(off)?.get()
    }

    /// Fill slot `i` (callers hold the writer's mutex and fill slots in order).
    fn put(&self, i: usize, h: ProviderHandle) {
        let (k, off) = locate(i);
        let seg =
            self.segments[k].get_or_init(|| (0..BASE << k).map(|_| OnceLock::new()).collect());
        // A fresh slot: set cannot find it taken.
        let _ = seg[off].set(h);
    }
}

/// What a registration found for one name.
pub(crate) enum Found {
    /// Newly registered.
    Fresh(ProviderHandle),
    /// Already registered (the caller compares limits).
    Existing(ProviderHandle),
}

#[derive(Debug)]
pub(crate) struct Directory {
    shards: Box<[ArcSwap<Shard>]>,
    slab: Slab,
    /// Serialises writers; holds the number of providers.
    writer: Mutex<Writer>,
}

#[derive(Debug, Default)]
struct Writer {
    len: usize,
    /// Index pairs copied by shard rebuilds since creation (the work registration does).
    copied: u64,
}

/// `Ok` if `fresh` more providers fit beside `len`.
fn room(len: usize, fresh: usize) -> Result<(), CoordinatorError> {
    if len.saturating_add(fresh) > MAX_PROVIDERS {
        return Err(ConfigError::new(
            "providers",
            format!(
                "{len} providers registered and {fresh} more asked for; at most {MAX_PROVIDERS} \
                 can be registered"
            ),
        )
        .into());
    }
    Ok(())
}

/// The sorted union of two sorted shards (one linear pass).
fn merge(a: &[(u64, u32)], b: &[(u64, u32)]) -> Shard {
    let mut out = Shard::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Directory {
    pub(super) fn new() -> Directory {
        Directory {
            shards: (0..SHARDS)
                .map(|_| ArcSwap::from_pointee(Shard::new()))
                .collect(),
            slab: Slab::new(),
            writer: Mutex::new(Writer::default()),
        }
    }

    /// The handle named `name` in `shard` (whose name hashes to `hash`).
    #[inline]
    fn find<'a>(
        &'a self,
        shard: &[(u64, u32)],
        hash: u64,
        name: &str,
    ) -> Option<&'a ProviderHandle> {
        let start = shard.partition_point(|&(h, _)| h < hash);
        shard[start..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .filter_map(|&(_, i)| self.slab.get(i))
            .find(|p| p.name() == name)
    }

    /// Call `f` with the provider named `name`, if registered (one load, one binary search).
    #[inline]
    pub(super) fn with<T>(&self, name: &str, f: impl FnOnce(&ProviderHandle) -> T) -> Option<T> {
        let hash = hash_of(name);
        let shard = self.shards[shard_of(hash)].load();
        self.find(&shard, hash, name).map(f)
    }

    /// Every registered name, sorted.
    pub(super) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shards
            .iter()
            .flat_map(|s| {
                let shard = s.load();
                shard
                    .iter()
                    .filter_map(|&(_, i)| self.slab.get(i).map(|p| p.name().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        names
    }

    /// Index pairs copied by registrations so far (each shard rebuild copies the shard).
    #[cfg(test)]
    pub(super) fn copied(&self) -> u64 {
        crate::sync::lock(&self.writer).copied
    }

    /// Whether registering `names` would stay within [`MAX_PROVIDERS`].
    ///
    /// # Errors
    /// As [`insert_all`](Self::insert_all) past the limit.
    pub(super) fn check_room<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), CoordinatorError> {
        let w = crate::sync::lock(&self.writer);
        let mut fresh = std::collections::HashSet::new();
        for name in names {
            if self.with(name, |_| ()).is_none() {
                fresh.insert(name);
            }
        }
        room(w.len, fresh.len())
    }

    /// Register every `(name, handle)` not yet registered, all or nothing: slots are filled
    /// first, then each touched shard is copied and swapped once. Returns, per item, the fresh
    /// handle or the one already registered under that name (the first of the batch for a
    /// name given twice).
    ///
    /// # Errors
    /// `Config` (key `providers`) when the total would pass [`MAX_PROVIDERS`]; nothing is
    /// registered then.
    pub(super) fn insert_all(
        &self,
        items: Vec<(Arc<str>, ProviderHandle)>,
    ) -> Result<Vec<Found>, CoordinatorError> {
        let mut w = crate::sync::lock(&self.writer);
        let mut found = Vec::with_capacity(items.len());
        let mut batch: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut fresh: Vec<(u64, usize)> = Vec::new();
        for (i, (name, handle)) in items.iter().enumerate() {
            if let Some(h) = self.with(name, Clone::clone) {
                found.push(Found::Existing(h));
            } else if let Some(&first) = batch.get(&**name) {
                found.push(Found::Existing(items[first].1.clone()));
            } else {
                batch.insert(name, i);
                fresh.push((hash_of(name), i));
                found.push(Found::Fresh(handle.clone()));
            }
        }
        room(w.len, fresh.len())?;
        // Slots before indexes: a reader that finds a pair finds its slot filled.
        let mut pairs: Vec<Vec<(u64, u32)>> = vec![Vec::new(); SHARDS];
        for (k, &(hash, i)) in fresh.iter().enumerate() {
            let slot = w.len + k;
            self.slab.put(slot, items[i].1.clone());
            // slot < MAX_PROVIDERS < 2^32 (checked by `room`).
            pairs[shard_of(hash)].push((hash, slot as u32));
        }
        for (shard, mut added) in pairs.into_iter().enumerate() {
            if added.is_empty() {
                continue;
            }
            let old = self.shards[shard].load_full();
            added.sort_unstable();
            let next = merge(&old, &added);
            w.copied += old.len() as u64;
            // Writers are serialised by the mutex, so a plain store cannot lose an update.
            self.shards[shard].store(Arc::new(next));
        }
        w.len += fresh.len();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flow::coordinator::RateCoordinator;
    use crate::flow::ProviderLimits;

    fn names(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("p{i}")).collect()
    }

    #[test]
    fn regression_registering_n_providers_one_by_one_copied_the_whole_map_each_time() {
        // Was: every registration cloned the whole map, n(n-1)/2 entries for n providers.
        let n = 4_000u64;
        let c = RateCoordinator::new();
        for name in names(0..n as usize) {
            c.register_provider_with(&name, ProviderLimits::default())
                .unwrap();
        }
        let whole_map_each_time = n * (n - 1) / 2;
        // One shard per registration: about n² / (2·SHARDS) entries (8x slack for uneven
        // shards).
        assert!(
            c.map_entries_copied() < whole_map_each_time / (SHARDS as u64 / 8),
            "{} entries copied",
            c.map_entries_copied()
        );
    }

    #[test]
    fn registering_a_batch_copies_each_existing_entry_at_most_once() {
        let c = RateCoordinator::new();
        let first = names(0..5_000);
        c.register_providers(
            first
                .iter()
                .map(|n| (n.as_str(), ProviderLimits::default())),
        )
        .unwrap();
        assert_eq!(
            c.map_entries_copied(),
            0,
            "into an empty map nothing is copied"
        );
        let more = names(5_000..10_000);
        c.register_providers(more.iter().map(|n| (n.as_str(), ProviderLimits::default())))
            .unwrap();
        assert!(
            c.map_entries_copied() <= 5_000,
            "{}",
            c.map_entries_copied()
        );
        assert_eq!(c.providers().len(), 10_000);
        // Every one is found by name.
        for n in first.iter().chain(&more) {
            assert_eq!(c.handle(n).unwrap().name(), n);
        }
    }

    #[test]
    fn registering_past_the_limit_is_a_clear_error_and_registers_nothing() {
        let c = RateCoordinator::new();
        let too_many = names(0..MAX_PROVIDERS + 1);
        let e = c
            .register_providers(
                too_many
                    .iter()
                    .map(|n| (n.as_str(), ProviderLimits::default())),
            )
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("providers"), "{text}");
        assert!(text.contains(&format!("at most {MAX_PROVIDERS}")), "{text}");
        assert!(c.providers().is_empty());
        // Up to the limit is fine, and one more is refused.
        let d = Directory::new();
        let mut w = d.writer.lock().unwrap();
        w.len = MAX_PROVIDERS - 1;
        drop(w);
        assert!(d.check_room(["a"].into_iter()).is_ok());
        assert!(d.check_room(["a", "b"].into_iter()).is_err());
        assert!(
            d.check_room(["a", "a"].into_iter()).is_ok(),
            "a name twice is one provider"
        );
    }

    #[test]
    fn an_unknown_name_lists_a_bounded_number_of_registered_ones() {
        let c = RateCoordinator::new();
        let many = names(0..1_000);
        c.register_providers(many.iter().map(|n| (n.as_str(), ProviderLimits::default())))
            .unwrap();
        let text = c.handle("nope").unwrap_err().to_string();
        assert!(
            text.starts_with(r#"unknown provider "nope" (registered: p0, p1, "#),
            "{text}"
        );
        assert!(text.ends_with(", … (1000 in all))"), "{text}");
        assert!(text.len() < 300, "{text}");
    }

    #[test]
    fn a_batch_with_a_name_twice_registers_it_once() {
        let c = RateCoordinator::new();
        let hs = c
            .register_providers([
                ("a", ProviderLimits::default()),
                ("a", ProviderLimits::default()),
            ])
            .unwrap();
        assert_eq!(c.providers(), ["a"]);
        assert!(
            std::ptr::eq(hs[0].breaker(), hs[1].breaker()),
            "one provider"
        );
        let other = ProviderLimits {
            capacity: 7,
            ..ProviderLimits::default()
        };
        assert!(c.register_providers([("a", other)]).is_err());
    }

    #[test]
    fn shard_of_spreads_names_over_every_shard() {
        let mut hits = [0u32; SHARDS];
        for i in 0..64_000 {
            hits[shard_of(hash_of(&format!("p{i:06}")))] += 1;
        }
        // 1000 expected per shard.
        assert!(hits.iter().all(|&h| (800..1200).contains(&h)), "{hits:?}");
        assert_eq!(hash_of("ibkr"), hash_of("ibkr"));
    }

    #[test]
    fn merge_keeps_both_sides_sorted() {
        let a = [(1, 0), (3, 1), (3, 4), (9, 2)];
        let b = [(0, 7), (3, 2), (10, 3)];
        let m = merge(&a, &b);
        assert_eq!(m, [(0, 7), (1, 0), (3, 1), (3, 2), (3, 4), (9, 2), (10, 3)]);
        assert_eq!(merge(&[], &b), b);
    }

    #[test]
    fn slab_slots_map_to_segments_without_gaps() {
        let mut expect = (0, 0);
        for i in 0..BASE * 7 {
            assert_eq!(locate(i), expect, "slot {i}");
            expect.1 += 1;
            if expect.1 == BASE << expect.0 {
                expect = (expect.0 + 1, 0);
            }
        }
        assert!(locate(MAX_PROVIDERS - 1).0 < SEGMENTS);
    }
}
