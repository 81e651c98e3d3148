//! `SharedBudget`: the seam through which a provider's budget can live beyond this process
//! (a budget shared by several hosts of one provider account, e.g. through Redis in the
//! `mdp-redis` workspace crate). The core knows only this trait; it has no such backend itself.
//!
//! A provider with a shared budget attached ([`ProviderHandle::attach_shared_budget`]) is
//! admitted by it *instead of* its local windows: the backend spends tokens it has leased into
//! a local atomic pool, so the hot path stays one compare-and-swap. Cooldowns, the breaker and
//! tenant budgets are still checked locally first, in the same gate; a cooldown triggered here
//! is also handed to the backend ([`SharedBudget::cooldown_triggered`]) so that other hosts
//! honour it.
//!
//! [`ProviderHandle::attach_shared_budget`]: super::ProviderHandle::attach_shared_budget

use std::fmt::Debug;
use std::time::Duration;

use crate::error::PacingError;

/// A provider budget shared with other processes. Implementations must be lock-free on
/// [`try_take`](Self::try_take) (no lock, no syscall, no round trip: refills happen elsewhere).
pub trait SharedBudget: Send + Sync + Debug {
    /// Take `tokens` now (`now_ns` read from the provider's clock), or say when to retry.
    ///
    /// # Errors
    /// [`PacingError::RateLimited`] (not now), [`PacingError::ExceedsCapacity`] (never).
    fn try_take(&self, now_ns: u64, tokens: u64) -> Result<(), PacingError>;

    /// Give back `tokens` taken by [`try_take`](Self::try_take) and not used (a later budget
    /// refused the request).
    fn give_back(&self, tokens: u64);

    /// A cooldown of `scope` was triggered locally for `duration`; share it.
    fn cooldown_triggered(&self, scope: &str, duration: Duration) {
        let _ = (scope, duration);
    }

    /// What the budget reports in the provider's snapshot.
    fn status(&self) -> SharedBudgetStatus;
}

/// A shared budget's part of a provider snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedBudgetStatus {
    /// The backend is unreachable: the process spends its declared local share.
    pub degraded: bool,
    /// Tokens leased into this process and not spent yet.
    pub leased: u64,
    /// The size of the next lease.
    pub lease_size: u64,
    /// Round trips to the backend so far.
    pub round_trips: u64,
    /// Hosts known to share the budget (last known).
    pub members: u64,
}
