//! Cooldown deadlines: one for the provider's `global` scope and a fixed set of named scopes,
//! each an atomic deadline that triggering raises and never lowers.

use std::sync::{Arc, OnceLock};

use crate::sync::{AtomicU64, Ordering};

/// The provider-wide scope.
pub const GLOBAL_SCOPE: &str = "global";

/// How many named scopes a provider can have besides `global`.
pub const MAX_SCOPES: usize = 16;

/// A scope of a provider, resolved once (see
/// [`ProviderHandle::scope`](super::ProviderHandle::scope)) for O(1) use on hot paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScopeId(pub(crate) usize);

impl ScopeId {
    /// The provider-wide scope.
    pub const GLOBAL: ScopeId = ScopeId(usize::MAX);
}

#[derive(Debug, Default)]
struct ScopeCooldown {
    name: OnceLock<Arc<str>>,
    /// Clock reading (ns) the cooldown ends at; 0: none.
    until: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Cooldowns {
    global: AtomicU64,
    global_name: Arc<str>,
    slots: Box<[ScopeCooldown]>,
}

impl Cooldowns {
    pub(super) fn new() -> Cooldowns {
        Cooldowns {
            global: AtomicU64::new(0),
            global_name: Arc::from(GLOBAL_SCOPE),
            slots: (0..MAX_SCOPES).map(|_| ScopeCooldown::default()).collect(),
        }
    }

    /// The id of `scope`, claiming a free slot the first time; `None` when all are taken.
    pub(super) fn resolve(&self, scope: &str) -> Option<ScopeId> {
        if scope == GLOBAL_SCOPE {
            return Some(ScopeId::GLOBAL);
        }
        for (i, slot) in self.slots.iter().enumerate() {
            // Racing claims of one free slot: one name wins, the others move on.
            let name = slot.name.get_or_init(|| Arc::from(scope));
            if &**name == scope {
                return Some(ScopeId(i));
            }
        }
        None
    }

    /// The id of `scope` if it was ever resolved (no claim).
    pub(super) fn find(&self, scope: &str) -> Option<ScopeId> {
        if scope == GLOBAL_SCOPE {
            return Some(ScopeId::GLOBAL);
        }
        self.slots
            .iter()
            .position(|s| s.name.get().is_some_and(|n| &**n == scope))
            .map(ScopeId)
    }

    fn deadline(&self, id: ScopeId) -> (&AtomicU64, &Arc<str>) {
        match self.slots.get(id.0) {
            Some(slot) => (&slot.until, slot.name.get().unwrap_or(&self.global_name)),
            None => (&self.global, &self.global_name),
        }
    }

    /// Raise the deadline of `id` to `until_ns`; returns the deadline in force (a running
    /// longer cooldown is kept).
    pub(super) fn trigger(&self, id: ScopeId, until_ns: u64) -> u64 {
        // Relaxed: the deadline is the only datum; `fetch_max` makes concurrent triggers
        // commute, so the longest always wins.
        self.deadline(id)
            .0
            .fetch_max(until_ns, Ordering::Relaxed)
            .max(until_ns)
    }

    /// The running cooldown that refuses a request in `scope` at `now_ns`: the global one,
    /// else the scope's own.
    #[inline]
    pub(super) fn blocking(&self, scope: ScopeId, now_ns: u64) -> Option<(u64, &Arc<str>)> {
        // Relaxed: see `trigger`.
        let global = self.global.load(Ordering::Relaxed);
        if now_ns < global {
            return Some((global, &self.global_name));
        }
        if scope == ScopeId::GLOBAL {
            return None;
        }
        let (until, name) = self.deadline(scope);
        let until = until.load(Ordering::Relaxed);
        (now_ns < until).then_some((until, name))
    }

    /// Every running cooldown at `now_ns`: scope name and end.
    pub(super) fn running(&self, now_ns: u64) -> Vec<(Arc<str>, u64)> {
        let ids = std::iter::once(ScopeId::GLOBAL).chain((0..MAX_SCOPES).map(ScopeId));
        ids.filter_map(|id| {
            let (until, name) = self.deadline(id);
            let until = until.load(Ordering::Relaxed);
            (now_ns < until).then(|| (name.clone(), until))
        })
        .collect()
    }
}
