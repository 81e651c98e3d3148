//! Per-tenant budgets: a tenant's own bucket in front of its provider's windows.

use std::sync::Arc;

use super::error::CoordinatorError;
use super::provider::{ProviderHandle, Request};
use super::shared::SharedBudget;
use crate::error::{ConfigError, PacingError};
use crate::flow::bucket::TokenBucket;
use crate::flow::limits::BucketLimits;

/// A tenant's budget at one provider: both the tenant's bucket and the provider's windows must
/// admit (the tenant's tokens are given back when the provider refuses).
///
/// ```
/// use market_data_pipeline::flow::{BucketLimits, ProviderLimits, RateCoordinator};
/// use market_data_pipeline::ManualClock;
/// let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
/// coordinator.register_provider_with("ibkr", ProviderLimits::default()).unwrap();
/// let desk = coordinator.register_tenant("ibkr", "desk-a", BucketLimits::new(2, 1).unwrap()).unwrap();
/// assert!(desk.try_acquire_n(2).is_ok());
/// assert!(desk.try_acquire().is_err()); // the tenant's budget is spent, not the provider's
/// assert_eq!(coordinator.provider_state("ibkr").unwrap().tokens[0], 58);
/// ```
#[derive(Debug, Clone)]
pub struct TenantHandle(Arc<Tenant>);

#[derive(Debug)]
struct Tenant {
    name: Arc<str>,
    budget: TenantBudget,
    provider: ProviderHandle,
}

/// The tenant's side of the gate: its own bucket, or a budget shared with other processes
/// attached in its place.
#[derive(Debug)]
pub(crate) struct TenantBudget {
    pub(crate) label: Arc<str>,
    bucket: TokenBucket,
    shared: std::sync::OnceLock<Arc<dyn SharedBudget>>,
}

impl TenantBudget {
    /// Take `n` tokens of the tenant's budget.
    #[inline(always)]
    pub(crate) fn take(&self, now_ns: u64, n: u64) -> Result<(), PacingError> {
        match self.shared.get() {
            Some(shared) => shared.try_take(now_ns, n),
            None => self.bucket.try_acquire_keeping_at(now_ns, n, 0),
        }
    }

    /// Give back `n` tokens taken by [`take`](Self::take) (a later budget refused).
    #[cold]
    pub(crate) fn refund(&self, n: u64) {
        match self.shared.get() {
            Some(shared) => shared.give_back(n),
            None => self.bucket.refund(n),
        }
    }
}

impl TenantHandle {
    pub(crate) fn new(tenant: &str, bucket: TokenBucket, provider: ProviderHandle) -> Self {
        TenantHandle(Arc::new(Tenant {
            name: Arc::from(tenant),
            budget: TenantBudget {
                label: Arc::from(format!("tenant {tenant}")),
                bucket,
                shared: std::sync::OnceLock::new(),
            },
            provider,
        }))
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The limits of the tenant's budget.
    pub fn limits(&self) -> BucketLimits {
        self.0.budget.bucket.limits()
    }

    /// Admit this tenant's requests through `budget` (shared with other processes, e.g. the
    /// same tenant's budget on every host) instead of its own bucket, from the next request
    /// on. Once per tenant handle.
    ///
    /// # Errors
    /// [`ConfigError`] naming the tenant when a shared budget is already attached.
    pub fn attach_shared_budget(&self, budget: Arc<dyn SharedBudget>) -> Result<(), ConfigError> {
        self.0.budget.shared.set(budget).map_err(|_| {
            ConfigError::new(
                format!(
                    "providers.{}.tenants.{}.shared_budget",
                    self.0.provider.name(),
                    self.0.name
                ),
                "a shared budget is already attached",
            )
        })
    }

    /// The shared budget attached to this tenant, if any.
    pub fn shared_budget(&self) -> Option<&Arc<dyn SharedBudget>> {
        self.0.budget.shared.get()
    }

    /// The provider this budget draws on.
    pub fn provider(&self) -> &ProviderHandle {
        &self.0.provider
    }

    /// Whole tokens left in the tenant's own bucket now (its own bucket is not spent while
    /// a shared budget is attached).
    pub fn available(&self) -> u64 {
        self.0.budget.bucket.available()
    }

    /// Non-blocking acquire at a time already read from the provider's clock.
    ///
    /// # Errors
    /// As [`ProviderHandle::try_request_at`]; `RateLimited` names `tenant <name>` when the
    /// tenant's budget refused.
    #[inline]
    pub fn try_request_at(&self, now_ns: u64, req: Request) -> Result<(), CoordinatorError> {
        let t = &*self.0;
        // As the provider's try_request_at: a probe stays out until reported bare.
        t.provider
            .request_with(now_ns, req, Some(&t.budget))
            .map(crate::flow::Permit::detach)
    }

    /// Take one token now.
    ///
    /// # Errors
    /// As [`try_request_at`](Self::try_request_at).
    pub fn try_acquire(&self) -> Result<(), CoordinatorError> {
        self.try_acquire_n(1)
    }

    /// Take `n` tokens now.
    ///
    /// # Errors
    /// As [`try_request_at`](Self::try_request_at).
    pub fn try_acquire_n(&self, n: u64) -> Result<(), CoordinatorError> {
        self.try_request_at(self.0.provider.clock().now_ns(), Request::cost(n))
    }

    /// Take tokens, waiting while rate limited.
    ///
    /// # Errors
    /// As [`ProviderHandle::acquire`].
    pub fn acquire_request(&self, req: Request) -> Result<(), CoordinatorError> {
        self.0
            .provider
            .wait_with(|now| self.try_request_at(now, req))
    }
}
