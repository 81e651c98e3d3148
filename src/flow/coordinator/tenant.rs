//! Per-tenant budgets: a tenant's own bucket in front of its provider's windows.

use std::sync::Arc;

use super::error::CoordinatorError;
use super::provider::{ProviderHandle, Request};
use crate::flow::bucket::TokenBucket;

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
    label: Arc<str>,
    bucket: TokenBucket,
    provider: ProviderHandle,
}

impl TenantHandle {
    pub(crate) fn new(tenant: &str, bucket: TokenBucket, provider: ProviderHandle) -> Self {
        TenantHandle(Arc::new(Tenant {
            label: Arc::from(format!("tenant {tenant}")),
            bucket,
            provider,
        }))
    }

    /// The provider this budget draws on.
    pub fn provider(&self) -> &ProviderHandle {
        &self.0.provider
    }

    /// Whole tokens left in the tenant's own bucket now.
    pub fn available(&self) -> u64 {
        self.0.bucket.available()
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
            .request_with(now_ns, req, Some((&t.bucket, &t.label)))
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
