//! One provider's budgets, breaker and cooldowns, and the handle hot paths use.

use std::sync::Arc;
use std::time::Duration;

use super::cooldown::{Cooldowns, ScopeId, MAX_SCOPES};
use super::error::CoordinatorError;
use super::limits::ProviderLimits;
use super::shared::SharedBudget;
use super::state::{ProviderCounters, ProviderState};
use super::tenant::TenantBudget;
use crate::clock::{duration_ns, SharedClock};
use crate::error::{ConfigError, PacingError};
use crate::flow::breaker::{CircuitBreaker, Permit};
use crate::flow::bucket::TokenBucket;
use crate::idle::{IdleStrategy, Idler};
use crate::sync::{AtomicU64, Ordering};

/// How urgent a request is: normal requests leave the provider's reserved share
/// (`high_priority_reserve`) to high-priority ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Priority {
    /// May not use the reserved share.
    #[default]
    Normal,
    /// May use the whole budget.
    High,
}

/// What to acquire: cost in tokens, priority and cooldown scope.
///
/// ```
/// use market_data_pipeline::flow::{Priority, Request};
/// let r = Request::cost(5).priority(Priority::High);
/// assert_eq!(r.tokens, 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Tokens taken from every window.
    pub tokens: u64,
    /// Priority.
    pub priority: Priority,
    /// The cooldown scope the request belongs to (the global scope always applies).
    pub scope: ScopeId,
}

impl Default for Request {
    fn default() -> Self {
        Request::cost(1)
    }
}

impl Request {
    /// A normal-priority request for `tokens` in the global scope.
    pub const fn cost(tokens: u64) -> Request {
        Request {
            tokens,
            priority: Priority::Normal,
            scope: ScopeId::GLOBAL,
        }
    }

    /// With priority `p`.
    pub const fn priority(self, p: Priority) -> Request {
        Request {
            priority: p,
            ..self
        }
    }

    /// In cooldown scope `scope`.
    pub const fn scope(self, scope: ScopeId) -> Request {
        Request { scope, ..self }
    }
}

#[derive(Debug)]
struct Window {
    label: Arc<str>,
    bucket: TokenBucket,
    /// Tokens kept for high priority.
    reserve: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Provider {
    name: Arc<str>,
    windows: Box<[Window]>,
    /// Shared (not inline) so that a router can hand the one breaker of a routed source out.
    breaker: Arc<CircuitBreaker>,
    cooldowns: Cooldowns,
    /// A budget shared with other processes; when set, it admits instead of `windows`.
    shared: std::sync::OnceLock<Arc<dyn SharedBudget>>,
    limits: std::sync::Mutex<ProviderLimits>,
    default_cooldown_ns: AtomicU64,
    /// Requests admitted (every budget window and the breaker passed). Padded: it is bumped
    /// on every admission, from every thread that spends this provider's budget.
    admitted: crossbeam::utils::CachePadded<AtomicU64>,
    rate_limited: AtomicU64,
    circuit_open: AtomicU64,
    cooling_down: AtomicU64,
    clock: SharedClock,
    idle: IdleStrategy,
}

/// A registered provider, for O(1) use on hot paths (no name lookup). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderHandle(Arc<Provider>);

impl Provider {
    pub(super) fn build(
        name: &str,
        limits: &ProviderLimits,
        clock: SharedClock,
        idle: IdleStrategy,
    ) -> Result<ProviderHandle, ConfigError> {
        let checked = limits.check(name)?;
        let name: Arc<str> = Arc::from(name);
        let breaker = CircuitBreaker::builder(limits.breaker_threshold, checked.breaker_timeout)
            .name(name.clone())
            .half_open_max_probes(limits.half_open_max_probes)
            .clock(clock.clone())
            .build()
            .map_err(|e| {
                ConfigError::new(format!("providers.{name}.breaker_{}", e.field), e.reason)
            })?;
        let windows = checked
            .windows
            .iter()
            .enumerate()
            .map(|(i, l)| Window {
                label: Arc::from(format!("window {i}")),
                bucket: TokenBucket::with_clock(*l, clock.clone()).with_idle(idle),
                reserve: AtomicU64::new(limits.reserve_of(l.capacity())),
            })
            .collect();
        Ok(ProviderHandle(Arc::new(Provider {
            name,
            windows,
            breaker: Arc::new(breaker),
            cooldowns: Cooldowns::new(),
            shared: std::sync::OnceLock::new(),
            limits: std::sync::Mutex::new(limits.clone()),
            default_cooldown_ns: AtomicU64::new(duration_ns(checked.cooldown)),
            admitted: crossbeam::utils::CachePadded::new(AtomicU64::new(0)),
            rate_limited: AtomicU64::new(0),
            circuit_open: AtomicU64::new(0),
            cooling_down: AtomicU64::new(0),
            clock,
            idle,
        })))
    }
}

/// Counts a refusal. Relaxed: statistics only.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl ProviderHandle {
    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The limits it was registered (or last updated) with, or last adopted from another host
    /// ([`apply_remote_limits`](Self::apply_remote_limits)).
    pub fn limits(&self) -> ProviderLimits {
        crate::sync::lock(&self.0.limits).clone()
    }

    /// The provider's circuit breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.0.breaker
    }

    /// The provider's circuit breaker, shared (the router hands it out as a routed source's).
    pub(crate) fn shared_breaker(&self) -> Arc<CircuitBreaker> {
        self.0.breaker.clone()
    }

    /// The clock the provider reads.
    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    /// Resolve a cooldown scope once (`"global"` is the provider-wide one).
    ///
    /// # Errors
    /// [`CoordinatorError::TooManyScopes`] past 16 named scopes.
    pub fn scope(&self, scope: &str) -> Result<ScopeId, CoordinatorError> {
        self.0
            .cooldowns
            .resolve(scope)
            .ok_or_else(|| CoordinatorError::TooManyScopes {
                provider: self.0.name.clone(),
                max: MAX_SCOPES,
            })
    }

    /// The id of `scope` if it has been resolved or triggered before (no slot is claimed).
    pub fn known_scope(&self, scope: &str) -> Option<ScopeId> {
        self.0.cooldowns.find(scope)
    }

    /// Whether a request in `scope` would be refused for a cooldown now (the scope's own or
    /// the global one). Changes nothing.
    pub fn is_cooling_down_in(&self, scope: ScopeId) -> bool {
        let now = self.0.clock.now_ns();
        self.0.cooldowns.blocking(scope, now).is_some()
    }

    /// Take one token now, or say why not.
    ///
    /// # Errors
    /// See [`try_request_at`](Self::try_request_at).
    #[inline]
    pub fn try_acquire(&self) -> Result<(), CoordinatorError> {
        self.try_request_at(self.0.clock.now_ns(), Request::cost(1))
    }

    /// Take `n` tokens now, or say why not.
    ///
    /// # Errors
    /// See [`try_request_at`](Self::try_request_at).
    pub fn try_acquire_n(&self, n: u64) -> Result<(), CoordinatorError> {
        self.try_request_at(self.0.clock.now_ns(), Request::cost(n))
    }

    /// Take one token at a time already read from the provider's clock.
    ///
    /// # Errors
    /// See [`try_request_at`](Self::try_request_at).
    #[inline(always)] // see TokenBucket::try_acquire_keeping_at
    pub fn try_acquire_at(&self, now_ns: u64) -> Result<(), CoordinatorError> {
        self.try_request_at(now_ns, Request::cost(1))
    }

    /// The general non-blocking acquire: cooldowns (global, then the request's scope), the
    /// breaker, then every window in order; a window that refuses gets the tokens of the
    /// earlier ones given back.
    ///
    /// In HALF_OPEN the breaker admits its configured probes; each stays out until
    /// `record_success` / `record_failure` reports it. Callers that poll on behalf of the
    /// request should use [`try_request_permit_at`](Self::try_request_permit_at), whose probe
    /// is resolved even when the call comes to nothing.
    ///
    /// # Errors
    /// `CoolingDown`, `CircuitOpen`, `RateLimited`, `Suspended` (not now) or `ExceedsCapacity`
    /// (never).
    #[inline(always)] // see TokenBucket::try_acquire_keeping_at
    pub fn try_request_at(&self, now_ns: u64, req: Request) -> Result<(), CoordinatorError> {
        // The probe (if any) stays out until the bare record_success/record_failure.
        self.request_with(now_ns, req, None).map(Permit::detach)
    }

    /// [`try_request_at`](Self::try_request_at), handing back the breaker's permit for the
    /// call the request pays for: report it with [`Permit::success`] / [`Permit::failure`];
    /// dropped unreported (the call found nothing to do, or ended), a HALF_OPEN probe slot is
    /// released without counting either way, so a probe is never left out for ever.
    ///
    /// # Errors
    /// As [`try_request_at`](Self::try_request_at).
    #[inline(always)] // see TokenBucket::try_acquire_keeping_at
    pub fn try_request_permit_at(
        &self,
        now_ns: u64,
        req: Request,
    ) -> Result<Permit<'_>, CoordinatorError> {
        self.request_with(now_ns, req, None)
    }

    /// The breaker alone (no cooldown, no budget): the admission of a poll that spends no
    /// tokens. A refusal is counted like a request's (`circuit_open`).
    ///
    /// # Errors
    /// `CircuitOpen`.
    #[inline]
    pub(crate) fn breaker_permit_at(&self, now_ns: u64) -> Result<Permit<'_>, CoordinatorError> {
        let p = &*self.0;
        p.breaker.allow_at(now_ns).map_err(|e| {
            bump(&p.circuit_open);
            CoordinatorError::CircuitOpen(e)
        })
    }

    #[inline(always)] // see TokenBucket::try_acquire_keeping_at
    pub(crate) fn request_with(
        &self,
        now_ns: u64,
        req: Request,
        tenant: Option<&TenantBudget>,
    ) -> Result<Permit<'_>, CoordinatorError> {
        let p = &*self.0;
        if let Some((until_ns, scope)) = p.cooldowns.blocking(req.scope, now_ns) {
            bump(&p.cooling_down);
            return Err(CoordinatorError::CoolingDown {
                provider: p.name.clone(),
                scope: scope.clone(),
                until_ns,
                remaining: Duration::from_nanos(until_ns - now_ns),
            });
        }
        // CLOSED (the hot path): one load, a permit with nothing to resolve. Otherwise a probe
        // permit, given back (dropped) if a budget refuses below.
        let permit = p.breaker.allow_at(now_ns).map_err(|e| {
            bump(&p.circuit_open);
            CoordinatorError::CircuitOpen(e)
        })?;
        if let Some(t) = tenant {
            if let Err(e) = t.take(now_ns, req.tokens) {
                return Err(self.refused(e, &t.label));
            }
        }
        if let Some(shared) = p.shared.get() {
            return match shared.try_take_as(now_ns, req.tokens, req.priority) {
                Ok(()) => {
                    bump(&p.admitted);
                    Ok(permit)
                }
                Err(e) => {
                    if let Some(t) = tenant {
                        t.refund(req.tokens);
                    }
                    Err(self.refused(e, &self.0.name))
                }
            };
        }
        for (i, w) in p.windows.iter().enumerate() {
            let keep = match req.priority {
                Priority::High => 0,
                // Relaxed: an independent setting, like the bucket limits.
                Priority::Normal => w.reserve.load(Ordering::Relaxed),
            };
            if let Err(e) = w.bucket.try_acquire_keeping_at(now_ns, req.tokens, keep) {
                self.refund(i, req.tokens, tenant);
                return Err(self.refused(e, &w.label)); // dropping the permit frees a probe slot
            }
        }
        bump(&p.admitted);
        Ok(permit)
    }

    /// Give `n` tokens back to the windows before `window` and to the tenant.
    #[cold]
    fn refund(&self, window: usize, n: u64, tenant: Option<&TenantBudget>) {
        for earlier in &self.0.windows[..window] {
            earlier.bucket.refund(n);
        }
        if let Some(t) = tenant {
            t.refund(n);
        }
    }

    /// The coordinator's error for a refusal by the budget called `label`.
    #[cold]
    fn refused(&self, e: PacingError, label: &Arc<str>) -> CoordinatorError {
        let provider = self.0.name.clone();
        let window = label.clone();
        match e {
            PacingError::RateLimited { retry_after } => {
                bump(&self.0.rate_limited);
                CoordinatorError::RateLimited {
                    provider,
                    window,
                    retry_after,
                }
            }
            PacingError::ExceedsCapacity {
                requested,
                capacity,
            } => CoordinatorError::ExceedsCapacity {
                provider,
                window,
                requested,
                capacity,
            },
            PacingError::Suspended => CoordinatorError::Suspended { provider },
        }
    }

    /// Take one token, waiting (idle strategy) while rate limited.
    ///
    /// # Errors
    /// Cooldowns, an open breaker, suspension and impossible requests are returned at once:
    /// they are long or permanent, and the caller decides what to do.
    pub fn acquire(&self) -> Result<(), CoordinatorError> {
        self.acquire_request(Request::cost(1))
    }

    /// Take `n` tokens (weighted cost), waiting while rate limited.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_n(&self, n: u64) -> Result<(), CoordinatorError> {
        self.acquire_request(Request::cost(n))
    }

    /// The general blocking acquire.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_request(&self, req: Request) -> Result<(), CoordinatorError> {
        self.wait_with(|now| self.try_request_at(now, req))
    }

    pub(crate) fn wait_with(
        &self,
        attempt: impl Fn(u64) -> Result<(), CoordinatorError>,
    ) -> Result<(), CoordinatorError> {
        let clock = &self.0.clock;
        let mut idler = Idler::new(self.0.idle);
        loop {
            let now = clock.now_ns();
            match attempt(now) {
                Err(CoordinatorError::RateLimited { retry_after, .. }) => {
                    if retry_after.is_zero() {
                        // A live limit change under way (`TokenBucket::set_limits`): one
                        // round, then again.
                        idler.idle();
                        continue;
                    }
                    let until = now.saturating_add(duration_ns(retry_after));
                    while clock.now_ns() < until {
                        idler.idle();
                    }
                }
                done => return done,
            }
        }
    }

    /// Report a failed call to the breaker.
    pub fn record_failure(&self) {
        self.0.breaker.record_failure();
    }

    /// Report a successful call to the breaker.
    #[inline]
    pub fn record_success(&self) {
        self.0.breaker.record_success();
    }

    /// Start (or extend) a cooldown of `scope` for `duration` from now. Never blocks and never
    /// shortens a running cooldown. Returns the clock reading (ns) it ends at.
    ///
    /// # Errors
    /// [`CoordinatorError::TooManyScopes`].
    pub fn trigger_cooldown(
        &self,
        scope: &str,
        duration: Duration,
    ) -> Result<u64, CoordinatorError> {
        let until = self.apply_cooldown(scope, duration)?;
        if let Some(shared) = self.0.shared.get() {
            shared.cooldown_triggered(scope, duration);
        }
        Ok(until)
    }

    /// Start (or extend) a cooldown of `scope` locally only, without telling a shared budget:
    /// how a shared budget applies a cooldown another host triggered. Never shortens one.
    ///
    /// # Errors
    /// [`CoordinatorError::TooManyScopes`].
    pub fn apply_cooldown(&self, scope: &str, duration: Duration) -> Result<u64, CoordinatorError> {
        let id = self.scope(scope)?;
        let until = self.0.clock.now_ns().saturating_add(duration_ns(duration));
        let deadline = self.0.cooldowns.trigger(id, until);
        tracing::info!(
            target: "market_data_pipeline::coordinator",
            provider = &*self.0.name,
            scope,
            seconds = duration.as_secs_f64(),
            until_ns = deadline,
            "cooldown triggered"
        );
        Ok(deadline)
    }

    /// Admit this provider's requests through `budget` (shared with other processes) instead
    /// of its local windows, from the next request on. Once per provider.
    ///
    /// # Errors
    /// [`ConfigError`] naming the provider when a shared budget is already attached.
    pub fn attach_shared_budget(&self, budget: Arc<dyn SharedBudget>) -> Result<(), ConfigError> {
        self.0.shared.set(budget).map_err(|_| {
            ConfigError::new(
                format!("providers.{}.shared_budget", self.0.name),
                "a shared budget is already attached",
            )
        })
    }

    /// Share this provider's breaker (trips and HALF_OPEN probes) with other processes
    /// through `breaker`; see [`SharedBreaker`](crate::flow::SharedBreaker). Once per provider.
    ///
    /// # Errors
    /// [`ConfigError`] naming the provider when a shared breaker is already attached.
    pub fn attach_shared_breaker(
        &self,
        breaker: Arc<dyn crate::flow::SharedBreaker>,
    ) -> Result<(), ConfigError> {
        self.0.breaker.attach_shared(breaker).map_err(|_| {
            ConfigError::new(
                format!("providers.{}.shared_breaker", self.0.name),
                "a shared breaker is already attached",
            )
        })
    }

    /// The shared budget attached to this provider, if any.
    pub fn shared_budget(&self) -> Option<&Arc<dyn SharedBudget>> {
        self.0.shared.get()
    }

    /// [`trigger_cooldown`](Self::trigger_cooldown) for the provider's `cooldown_sec`.
    ///
    /// # Errors
    /// As [`trigger_cooldown`](Self::trigger_cooldown).
    pub fn trigger_cooldown_default(&self, scope: &str) -> Result<u64, CoordinatorError> {
        // Relaxed: an independent setting.
        let d = Duration::from_nanos(self.0.default_cooldown_ns.load(Ordering::Relaxed));
        self.trigger_cooldown(scope, d)
    }

    /// Scale every window's refill rate by `scale` in `[0, 1]` (feedback, backpressure);
    /// tokens held are kept. A shared budget is told ([`SharedBudget::scale_changed`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming `scale`.
    pub fn set_scale(&self, scale: f64) -> Result<(), ConfigError> {
        self.scale_windows(scale)?;
        if let Some(shared) = self.0.shared.get() {
            shared.scale_changed(scale);
        }
        Ok(())
    }

    /// Apply a scale another host set on the shared budget (adopted by it): as
    /// [`set_scale`](Self::set_scale), but the shared budget is not told (it already admits
    /// under it), so the change is not echoed back.
    ///
    /// # Errors
    /// As [`set_scale`](Self::set_scale).
    pub fn apply_remote_scale(&self, scale: f64) -> Result<(), ConfigError> {
        self.scale_windows(scale)
    }

    fn scale_windows(&self, scale: f64) -> Result<(), ConfigError> {
        for w in self.0.windows.iter() {
            w.bucket.set_scale(scale)?;
        }
        Ok(())
    }

    /// Change the limits live, keeping the tokens every window holds and the breaker's state
    /// (see [`CircuitBreaker::set_limits`]). The number of windows cannot change live. A
    /// shared budget is told ([`SharedBudget::limits_changed`]).
    ///
    /// # Errors
    /// [`ConfigError`] for invalid limits or a change of window count; nothing is changed.
    pub fn update_limits(&self, limits: &ProviderLimits) -> Result<(), ConfigError> {
        self.change_limits(limits, true)
    }

    /// Apply limits another host set on the shared budget (adopted by it): as
    /// [`update_limits`](Self::update_limits), but the shared budget is not told (it already
    /// admits under them), so the change is not echoed back.
    ///
    /// # Errors
    /// As [`update_limits`](Self::update_limits).
    pub fn apply_remote_limits(&self, limits: &ProviderLimits) -> Result<(), ConfigError> {
        self.change_limits(limits, false)
    }

    /// `update_limits`, telling the shared budget if `share`.
    fn change_limits(&self, limits: &ProviderLimits, share: bool) -> Result<(), ConfigError> {
        let checked = limits.check(&self.0.name)?;
        let mut current = crate::sync::lock(&self.0.limits);
        let at = |f: &str| format!("providers.{}.{f}", self.0.name);
        if checked.windows.len() != self.0.windows.len() {
            return Err(ConfigError::new(
                at("windows"),
                "the number of windows cannot change live",
            ));
        }
        // First, as it is the one step that can still refuse: nothing is changed if it does.
        self.0
            .breaker
            .set_limits(
                limits.breaker_threshold,
                limits.half_open_max_probes,
                checked.breaker_timeout,
            )
            .map_err(|e| ConfigError::new(at(&format!("breaker_{}", e.field)), e.reason))?;
        for (w, l) in self.0.windows.iter().zip(&checked.windows) {
            w.bucket.set_limits(*l);
            w.reserve
                .store(limits.reserve_of(l.capacity()), Ordering::Relaxed);
        }
        self.0
            .default_cooldown_ns
            .store(duration_ns(checked.cooldown), Ordering::Relaxed);
        // Under the lock: concurrent changes reach the shared budget in the order they took
        // effect here (the hook only queues the change).
        if let Some(shared) = self.0.shared.get().filter(|_| share) {
            shared.limits_changed(limits);
        }
        *current = limits.clone();
        Ok(())
    }

    /// A snapshot: tokens per window, breaker, running cooldowns, scale, counters.
    pub fn state(&self) -> ProviderState {
        let p = &*self.0;
        let now = p.clock.now_ns();
        ProviderState {
            name: p.name.to_string(),
            tokens: p
                .windows
                .iter()
                .map(|w| w.bucket.available_at(now))
                .collect(),
            breaker: p.breaker.stats(),
            cooldowns: p
                .cooldowns
                .running(now)
                .into_iter()
                .map(|(scope, until)| (scope.to_string(), Duration::from_nanos(until - now)))
                .collect(),
            scale: p.windows[0].bucket.scale(),
            shared: p.shared.get().map(|b| b.status()),
            shared_breaker: p.breaker.shared().map(|b| b.status()),
            counters: ProviderCounters {
                admitted: p.admitted.load(Ordering::Relaxed),
                rate_limited: p.rate_limited.load(Ordering::Relaxed),
                circuit_open: p.circuit_open.load(Ordering::Relaxed),
                cooling_down: p.cooling_down.load(Ordering::Relaxed),
            },
        }
    }
}
