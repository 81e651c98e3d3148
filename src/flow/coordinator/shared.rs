//! `SharedBudget`: the seam through which a provider's budget can live beyond this process
//! (a budget shared by several hosts of one provider account, e.g. through Redis in the
//! `mdp-redis` workspace crate). The core knows only this trait; it has no such backend itself.
//!
//! A provider with a shared budget attached ([`ProviderHandle::attach_shared_budget`]) is
//! admitted by it *instead of* its local windows: the backend spends tokens it has leased into
//! a local atomic pool, so the hot path stays one compare-and-swap. Cooldowns, the breaker and
//! tenant budgets are checked first, in the same gate; a cooldown triggered here is also
//! handed to the backend ([`SharedBudget::cooldown_triggered`]) so that other hosts honour it.
//!
//! A tenant's budget can be shared the same way ([`TenantHandle::attach_shared_budget`]):
//! its bucket is then replaced by the backend. The provider's high-priority reserve is the
//! backend's to keep ([`SharedBudget::try_take_as`] gets the request's priority), and live
//! changes ([`ProviderHandle::update_limits`], [`ProviderHandle::set_scale`]) are handed to it
//! ([`SharedBudget::limits_changed`], [`SharedBudget::scale_changed`]) so that every host
//! admits under the new limits. A backend that adopts another host's change shows it on this
//! host's handle through [`ProviderHandle::apply_remote_limits`] /
//! [`ProviderHandle::apply_remote_scale`], which do not call these hooks (no echo).
//!
//! [`ProviderHandle::apply_remote_limits`]: super::ProviderHandle::apply_remote_limits
//! [`ProviderHandle::apply_remote_scale`]: super::ProviderHandle::apply_remote_scale
//!
//! [`TenantHandle::attach_shared_budget`]: super::TenantHandle::attach_shared_budget
//! [`ProviderHandle::update_limits`]: super::ProviderHandle::update_limits
//! [`ProviderHandle::set_scale`]: super::ProviderHandle::set_scale
//!
//! [`ProviderHandle::attach_shared_budget`]: super::ProviderHandle::attach_shared_budget

use std::fmt::Debug;
use std::time::Duration;

use super::limits::ProviderLimits;
use super::provider::Priority;
use crate::error::PacingError;

/// A provider budget shared with other processes. Implementations must be lock-free on
/// [`try_take`](Self::try_take) (no lock, no syscall, no round trip: refills happen elsewhere).
pub trait SharedBudget: Send + Sync + Debug {
    /// Take `tokens` now (`now_ns` read from the provider's clock), or say when to retry.
    ///
    /// # Errors
    /// [`PacingError::RateLimited`] (not now), [`PacingError::ExceedsCapacity`] (never).
    fn try_take(&self, now_ns: u64, tokens: u64) -> Result<(), PacingError>;

    /// [`try_take`](Self::try_take) for a request of priority `priority`: a backend that keeps
    /// the provider's `high_priority_reserve` lets only [`Priority::High`] spend it. The
    /// default ignores the priority.
    ///
    /// # Errors
    /// As [`try_take`](Self::try_take).
    fn try_take_as(&self, now_ns: u64, tokens: u64, priority: Priority) -> Result<(), PacingError> {
        let _ = priority;
        self.try_take(now_ns, tokens)
    }

    /// Give back `tokens` taken by [`try_take`](Self::try_take) and not used (a later budget
    /// refused the request).
    fn give_back(&self, tokens: u64);

    /// A cooldown of `scope` was triggered locally for `duration`; share it.
    fn cooldown_triggered(&self, scope: &str, duration: Duration) {
        let _ = (scope, duration);
    }

    /// The provider's limits were changed live (already validated and applied locally);
    /// share the change. The default does nothing.
    fn limits_changed(&self, limits: &ProviderLimits) {
        let _ = limits;
    }

    /// The provider's refill rates were scaled live by `scale` in `[0, 1]` (already
    /// validated); share the change. The default does nothing.
    fn scale_changed(&self, scale: f64) {
        let _ = scale;
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
