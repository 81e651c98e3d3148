//! `RateCoordinator`: per-provider budgets (several windows), cooldowns, breakers, tenants and
//! priorities, shared by every pipeline.
//!
//! Providers are registered by name and used either by name (the seed's API; a lock-free
//! lookup: one hash, one binary search in a copy-on-write shard) or through the
//! [`ProviderHandle`] registration returns (no lookup). Everything a request touches is
//! atomic: cooldown deadlines, the breaker word, one GCRA word per window.
//!
//! # Registering many providers
//!
//! The name index is split into shards of plain integers that registration copies on write:
//! registering one provider copies one shard (about `n / 64` pairs), and
//! [`register_providers`](RateCoordinator::register_providers) copies each shard it touches
//! once, however many providers it adds (the runtime registers its providers that way). At
//! most [`MAX_PROVIDERS`] providers can be registered (`tests/registration_scale.rs` prints how
//! long 10^3, 10^4 and 10^5 take).

mod cooldown;
mod directory;
mod error;
mod limits;
mod provider;
mod seed;
mod shared;
mod state;
mod tenant;

use std::collections::HashMap;
use std::sync::Arc;

pub use cooldown::{ScopeId, GLOBAL_SCOPE, MAX_SCOPES};
pub use directory::MAX_PROVIDERS;
use directory::{Directory, Found};
pub use error::CoordinatorError;
pub use limits::ProviderLimits;
use provider::Provider;
pub use provider::{Priority, ProviderHandle, Request};
pub use seed::Pressure;
pub use shared::{SharedBudget, SharedBudgetStatus};
pub use state::{ProviderCounters, ProviderState};
pub use tenant::TenantHandle;

use crate::clock::{MonotonicClock, Seconds, SharedClock};
use crate::error::ConfigError;
use crate::flow::bucket::TokenBucket;
use crate::flow::limits::BucketLimits;
use crate::idle::IdleStrategy;

/// Global rate limiting across pipelines and providers.
///
/// The seed's usage, line for line:
///
/// ```
/// use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
/// use market_data_pipeline::ManualClock;
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
///
/// // Register provider with rate limits
/// coordinator.register_provider_with(
///     "ibkr",
///     ProviderLimits::new()
///         .capacity(60)      // Burst capacity
///         .refill_rate(60)   // Tokens/sec
///         .cooldown_sec(600) // 10min cooldown on errors
///         .breaker_threshold(5)
///         .breaker_timeout(60.0),
/// )?;
///
/// // Acquire tokens (waits if not available)
/// coordinator.acquire("ibkr")?;
///
/// // Record failures for circuit breaker
/// coordinator.record_failure("ibkr")?;
///
/// // Trigger cooldown on pacing errors (returns at once; the provider's 600 s)
/// coordinator.trigger_cooldown("ibkr", "market_data")?;
/// assert!(coordinator.acquire_in("ibkr", "market_data").is_err());
/// # Ok(()) }
/// ```
///
/// The seed's "rate-limited pipeline" (example 3), with a bounded loop:
///
/// ```
/// use market_data_pipeline::flow::{CircuitBreaker, ProviderLimits, RateCoordinator};
/// use std::time::Duration;
/// # fn get_quote(_symbol: &str) -> Result<f64, String> { Ok(187.5) }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Setup rate coordination
/// let coordinator = RateCoordinator::new();
/// coordinator.register_provider_with("ibkr", ProviderLimits::new().capacity(60).refill_rate(60))?;
/// // Setup circuit breaker
/// let breaker = CircuitBreaker::new(5, Duration::from_secs(60))?;
///
/// for _ in 0..3 {
///     // Check circuit breaker
///     if breaker.is_open() {
///         std::thread::sleep(Duration::from_secs(1));
///         continue;
///     }
///     // Acquire rate limit token, then fetch the quote
///     let quote = coordinator.acquire("ibkr").map_err(|e| e.to_string()).and_then(|()| get_quote("AAPL"));
///     match quote {
///         Ok(_quote) => breaker.record_success(),
///         Err(_) => {
///             breaker.record_failure();
///             coordinator.record_failure("ibkr")?;
///         }
///     }
/// }
/// # Ok(()) }
/// ```
///
/// The seed's gradual migration (pattern 2) registers a provider with the defaults:
///
/// ```
/// use market_data_pipeline::flow::RateCoordinator;
/// let coordinator = RateCoordinator::new();
/// coordinator.register_provider("ibkr").unwrap();
/// ```
///
/// All the seed's examples, line for line, are in [`crate::seed`].
#[derive(Debug)]
pub struct RateCoordinator {
    providers: Directory,
    /// The pressure level last set per provider (`set_global_pressure`; control plane only).
    pressure: std::sync::Mutex<HashMap<String, Pressure>>,
    clock: SharedClock,
    idle: IdleStrategy,
}

impl Default for RateCoordinator {
    fn default() -> Self {
        RateCoordinator::new()
    }
}

impl RateCoordinator {
    /// A coordinator on the real monotonic clock.
    pub fn new() -> RateCoordinator {
        RateCoordinator::with_clock(MonotonicClock::shared())
    }

    /// A coordinator reading time from `clock`.
    pub fn with_clock(clock: SharedClock) -> RateCoordinator {
        RateCoordinator {
            providers: Directory::new(),
            pressure: std::sync::Mutex::new(HashMap::new()),
            clock,
            idle: IdleStrategy::default(),
        }
    }

    /// Wait with `idle` in blocking acquires (for providers registered afterwards).
    pub fn with_idle(mut self, idle: IdleStrategy) -> RateCoordinator {
        self.idle = idle;
        self
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Register `name` with the default [`ProviderLimits`] (the seed's
    /// `register_provider("ibkr")`): 60 tokens, 60/s, 600 s cooldown, breaker 5 failures / 60 s.
    ///
    /// # Errors
    /// As [`register_provider_with`](Self::register_provider_with).
    pub fn register_provider(&self, name: &str) -> Result<ProviderHandle, CoordinatorError> {
        self.register_provider_with(name, ProviderLimits::default())
    }

    /// Register `name` with `limits` (the seed's keyword arguments:
    /// `ProviderLimits::new().capacity(60).refill_rate(60)…`); returns its handle. Registering
    /// the same name again with equal limits returns the existing handle.
    ///
    /// Copies one shard of the name index (about `n / 64` integer pairs); register many at once
    /// with
    /// [`register_providers`](Self::register_providers).
    ///
    /// # Errors
    /// [`CoordinatorError::Config`] for invalid limits, for a name already registered with
    /// other limits (use [`update_limits`](Self::update_limits)), or past [`MAX_PROVIDERS`].
    pub fn register_provider_with(
        &self,
        name: &str,
        limits: ProviderLimits,
    ) -> Result<ProviderHandle, CoordinatorError> {
        let mut handles = self.register_providers([(name, limits)])?;
        Ok(handles.swap_remove(0))
    }

    /// Register every `(name, limits)`, all or nothing, copying each shard of the name map at
    /// most once (`O(n + m)` for `m` providers added to `n`). Returns the handles in order; a
    /// name already registered (or given twice) with equal limits gets the existing handle.
    ///
    /// ```
    /// use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
    /// let coordinator = RateCoordinator::new();
    /// let names: Vec<String> = (0..1000).map(|i| format!("venue-{i}")).collect();
    /// let handles = coordinator
    ///     .register_providers(names.iter().map(|n| (n.as_str(), ProviderLimits::default())))
    ///     .unwrap();
    /// assert_eq!(handles.len(), 1000);
    /// assert_eq!(coordinator.providers().len(), 1000);
    /// ```
    ///
    /// # Errors
    /// As [`register_provider_with`](Self::register_provider_with), for the first offending item;
    /// nothing is registered then.
    pub fn register_providers<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, ProviderLimits)>,
    ) -> Result<Vec<ProviderHandle>, CoordinatorError> {
        let items: Vec<(&str, ProviderLimits)> = items.into_iter().collect();
        // Refuse past the limit before building anything.
        self.providers.check_room(items.iter().map(|(n, _)| *n))?;
        let mut built = Vec::with_capacity(items.len());
        let mut limits = Vec::with_capacity(items.len());
        for (name, l) in items {
            let h = Provider::build(name, &l, self.clock.clone(), self.idle)?;
            built.push((Arc::<str>::from(name), h));
            limits.push(l);
        }
        let found = self.providers.insert_all(built)?;
        found
            .into_iter()
            .zip(limits)
            .map(|(f, l)| match f {
                Found::Fresh(h) => Ok(h),
                Found::Existing(h) if h.limits() == l => Ok(h),
                Found::Existing(h) => Err(ConfigError::new(
                    format!("providers.{}", h.name()),
                    "already registered with other limits; use update_limits",
                )
                .into()),
            })
            .collect()
    }

    /// Entries of the name map copied by registrations so far (the work registration does;
    /// tests check its growth with it).
    #[cfg(test)]
    pub(crate) fn map_entries_copied(&self) -> u64 {
        self.providers.copied()
    }

    /// A tenant's budget at `provider`.
    ///
    /// # Errors
    /// [`CoordinatorError::UnknownProvider`].
    pub fn register_tenant(
        &self,
        provider: &str,
        tenant: &str,
        limits: BucketLimits,
    ) -> Result<TenantHandle, CoordinatorError> {
        let p = self.handle(provider)?;
        let bucket = TokenBucket::with_clock(limits, self.clock.clone()).with_idle(self.idle);
        Ok(TenantHandle::new(tenant, bucket, p))
    }

    /// The handle of `name`.
    ///
    /// # Errors
    /// [`CoordinatorError::UnknownProvider`], listing the registered names.
    pub fn handle(&self, name: &str) -> Result<ProviderHandle, CoordinatorError> {
        self.with(name, Clone::clone)
    }

    #[inline]
    fn with<T>(
        &self,
        name: &str,
        f: impl FnOnce(&ProviderHandle) -> T,
    ) -> Result<T, CoordinatorError> {
        self.providers
            .with(name, f)
            .ok_or_else(|| CoordinatorError::UnknownProvider {
                name: name.to_string(),
                registered: self.providers.names(),
            })
    }

    /// Take one token from `provider`, waiting while rate limited.
    ///
    /// # Errors
    /// See [`ProviderHandle::acquire`]; also `UnknownProvider`.
    pub fn acquire(&self, provider: &str) -> Result<(), CoordinatorError> {
        self.with(provider, ProviderHandle::acquire)?
    }

    /// Take `n` tokens (weighted cost), waiting while rate limited.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_n(&self, provider: &str, n: u64) -> Result<(), CoordinatorError> {
        self.with(provider, |h| h.acquire_n(n))?
    }

    /// Take one token for a request in cooldown `scope`, waiting while rate limited.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire); `CoolingDown` while `scope` or the global scope cools.
    pub fn acquire_in(&self, provider: &str, scope: &str) -> Result<(), CoordinatorError> {
        self.with(provider, |h| {
            // A scope never cooled down has no deadline: no need to claim a slot for it.
            let scope = h.known_scope(scope).unwrap_or(ScopeId::GLOBAL);
            h.acquire_request(Request::cost(1).scope(scope))
        })?
    }

    /// Take one token now, or say why not.
    ///
    /// # Errors
    /// See [`ProviderHandle::try_request_at`]; also `UnknownProvider`.
    pub fn try_acquire(&self, provider: &str) -> Result<(), CoordinatorError> {
        self.with(provider, ProviderHandle::try_acquire)?
    }

    /// Take `n` tokens now, or say why not.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_n(&self, provider: &str, n: u64) -> Result<(), CoordinatorError> {
        self.with(provider, |h| h.try_acquire_n(n))?
    }

    /// Report a failed call to `provider`'s breaker.
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn record_failure(&self, provider: &str) -> Result<(), CoordinatorError> {
        self.with(provider, ProviderHandle::record_failure)
    }

    /// Report a successful call to `provider`'s breaker.
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn record_success(&self, provider: &str) -> Result<(), CoordinatorError> {
        self.with(provider, ProviderHandle::record_success)
    }

    /// Cool `scope` of `provider` down for the provider's `cooldown_sec` (the seed's
    /// `trigger_cooldown("ibkr", "market_data")`; `"global"`: the whole provider). Returns at
    /// once; never shortens a running cooldown. Returns the clock reading it ends at.
    ///
    /// # Errors
    /// `UnknownProvider`, `TooManyScopes`.
    pub fn trigger_cooldown(&self, provider: &str, scope: &str) -> Result<u64, CoordinatorError> {
        self.with(provider, |h| h.trigger_cooldown_default(scope))?
    }

    /// Cool `scope` of `provider` down for `duration` — a [`Duration`](std::time::Duration) or seconds (`600`,
    /// `0.5`) — as [`trigger_cooldown`](Self::trigger_cooldown) does with the configured one.
    ///
    /// # Errors
    /// `UnknownProvider`, `TooManyScopes`; `Config` naming `duration` for a negative or
    /// non-finite number of seconds.
    pub fn trigger_cooldown_for(
        &self,
        provider: &str,
        scope: &str,
        duration: impl Seconds,
    ) -> Result<u64, CoordinatorError> {
        let duration = duration
            .into_duration()
            .map_err(|reason| ConfigError::new("duration", reason))?;
        self.with(provider, |h| h.trigger_cooldown(scope, duration))?
    }

    /// The same as [`trigger_cooldown`](Self::trigger_cooldown) (kept for existing callers).
    ///
    /// # Errors
    /// As [`trigger_cooldown`](Self::trigger_cooldown).
    pub fn trigger_cooldown_default(
        &self,
        provider: &str,
        scope: &str,
    ) -> Result<u64, CoordinatorError> {
        self.with(provider, |h| h.trigger_cooldown_default(scope))?
    }

    /// Change `provider`'s limits live, keeping its buckets' tokens.
    ///
    /// # Errors
    /// `UnknownProvider`, or see [`ProviderHandle::update_limits`].
    pub fn update_limits(
        &self,
        provider: &str,
        limits: &ProviderLimits,
    ) -> Result<(), CoordinatorError> {
        Ok(self.with(provider, |h| h.update_limits(limits))??)
    }

    /// Scale `provider`'s refill rates by `scale` in `[0, 1]`.
    ///
    /// # Errors
    /// `UnknownProvider`, or `Config` naming `scale`.
    pub fn set_scale(&self, provider: &str, scale: f64) -> Result<(), CoordinatorError> {
        Ok(self.with(provider, |h| h.set_scale(scale))??)
    }

    /// Tokens, breaker state, cooldowns remaining, scale and counters of `provider`.
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn provider_state(&self, provider: &str) -> Result<ProviderState, CoordinatorError> {
        self.with(provider, ProviderHandle::state)
    }

    /// The registered names, sorted.
    pub fn providers(&self) -> Vec<String> {
        self.providers.names()
    }
}
