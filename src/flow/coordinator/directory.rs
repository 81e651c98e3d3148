//! The coordinator's providers by name: a fixed set of copy-on-write shards behind `arc-swap`.
//!
//! Readers (every by-name call) load one shard and look the name up: no lock, no allocation.
//! Writers (registrations, rare and on the control plane) take a mutex, copy only the shards
//! they change, and swap them in. So registering `m` providers at once copies each touched shard
//! once (`O(n + m)`), and registering one copies one shard (`O(n / SHARDS)`), where the
//! original copied the whole map per registration (`O(n²)` for `n` one-by-one registrations).
//!
//! At most [`MAX_PROVIDERS`] providers can be registered; past it registration is refused with
//! an error naming the limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::error::CoordinatorError;
use super::provider::ProviderHandle;
use crate::error::ConfigError;

/// Most providers one coordinator holds. Each costs about a kilobyte (buckets, breaker, 16
/// cooldown scopes) before its source; a quarter million keeps the coordinator within a few
/// hundred megabytes and one-by-one registration well below a second per thousand.
pub const MAX_PROVIDERS: usize = 1 << 18;

/// Shards of the name map (a power of two).
const SHARDS: usize = 64;

type Shard = HashMap<Arc<str>, ProviderHandle>;

/// The shard `name` lives in: FNV-1a of its bytes (cheap for short names, and fixed so that
/// every reader and writer agrees).
#[inline]
fn shard_of(name: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // The high bits are the best mixed; SHARDS is a power of two.
    ((h ^ (h >> 32)) as usize) & (SHARDS - 1)
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
    /// Serialises writers; holds the number of providers.
    writer: Mutex<Writer>,
}

#[derive(Debug, Default)]
struct Writer {
    len: usize,
    /// Entries copied by shard rebuilds since creation (the work registration does).
    copied: u64,
}

impl Directory {
    pub fn new() -> Directory {
        Directory {
            shards: (0..SHARDS)
                .map(|_| ArcSwap::from_pointee(Shard::new()))
                .collect(),
            writer: Mutex::new(Writer::default()),
        }
    }

    /// Call `f` with the provider named `name`, if registered (one load, one lookup).
    #[inline]
    pub fn with<T>(&self, name: &str, f: impl FnOnce(&ProviderHandle) -> T) -> Option<T> {
        self.shards[shard_of(name)].load().get(name).map(f)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shards
            .iter()
            .flat_map(|s| s.load().keys().map(|k| k.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names
    }

    /// Entries copied by registrations so far (each shard rebuild copies the shard).
    #[cfg(test)]
    pub fn copied(&self) -> u64 {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).copied
    }

    /// Whether registering `names` would stay within [`MAX_PROVIDERS`].
    ///
    /// # Errors
    /// As [`insert_all`](Self::insert_all) past the limit.
    pub fn check_room<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), CoordinatorError> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut fresh = std::collections::HashSet::new();
        for name in names {
            if self.with(name, |_| ()).is_none() {
                fresh.insert(name);
            }
        }
        room(w.len, fresh.len())
    }

    /// Register every `(name, handle)` not yet registered, all or nothing: each touched shard
    /// is copied and swapped once. Returns, per item, the fresh handle or the one already
    /// registered under that name (the first of the batch for a name given twice).
    ///
    /// # Errors
    /// `Config` (key `providers`) when the total would pass [`MAX_PROVIDERS`]; nothing is
    /// registered then.
    pub fn insert_all(
        &self,
        items: Vec<(Arc<str>, ProviderHandle)>,
    ) -> Result<Vec<Found>, CoordinatorError> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); SHARDS];
        let mut found = Vec::with_capacity(items.len());
        let mut batch: HashMap<&str, usize> = HashMap::new();
        let mut fresh = 0usize;
        for (i, (name, handle)) in items.iter().enumerate() {
            let shard = shard_of(name);
            if let Some(h) = self.shards[shard].load().get(&**name) {
                found.push(Found::Existing(h.clone()));
            } else if let Some(&first) = batch.get(&**name) {
                found.push(Found::Existing(items[first].1.clone()));
            } else {
                batch.insert(name, i);
                by_shard[shard].push(i);
                found.push(Found::Fresh(handle.clone()));
                fresh += 1;
            }
        }
        room(w.len, fresh)?;
        for (shard, members) in by_shard.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let old = self.shards[shard].load_full();
            let mut next = Shard::with_capacity(old.len() + members.len());
            next.extend(old.iter().map(|(k, v)| (k.clone(), v.clone())));
            w.copied += old.len() as u64;
            for &i in members {
                let (name, handle) = &items[i];
                next.insert(name.clone(), handle.clone());
            }
            // Writers are serialised by the mutex, so a plain store cannot lose an update.
            self.shards[shard].store(Arc::new(next));
        }
        w.len += fresh;
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
        let mut hit = [false; SHARDS];
        for i in 0..10_000 {
            hit[shard_of(&format!("p{i}"))] = true;
        }
        assert!(hit.iter().all(|&h| h));
        assert_eq!(shard_of("ibkr"), shard_of("ibkr"));
    }
}
