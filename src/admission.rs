//! `AdmissionGate`: the one place a source's polls are admitted — its breaker, its provider's
//! budget and cooldowns, and the live rate-coordination switch — and the [`Grant`] each
//! admitted poll runs under.
//!
//! The runtime's provider sources and the router's routed sources both poll through a gate,
//! so a refusal, a HALF_OPEN probe and a live change mean the same on every path. A source
//! has one gate and so one breaker: its provider's when it has one (every source the runtime
//! builds; a request-based routed source), otherwise one of its own (a router's source with
//! no provider).
//!
//! # What a gate checks, once per poll (never per tick)
//!
//! | gate | checks, in order |
//! |---|---|
//! | provider, request-based, coordination on | the cooldowns (global scope), the provider's breaker, one token of every budget window |
//! | provider, otherwise | the provider's breaker |
//! | own breaker | that breaker |
//!
//! The coordination switch ([`CoordinationSwitch`]) is read at every admission (one relaxed
//! load): turning it off or on applies from the next poll on every path. Limits changed live
//! ([`ProviderHandle::update_limits`], [`ProviderHandle::set_scale`]) apply from the next
//! admission too: a gate holds the provider's handle, never a copy of its limits.
//!
//! # Refusals ([`Refusal`])
//!
//! | refusal | when | the source | a pipeline's source stage | a router |
//! |---|---|---|---|---|
//! | `NotNow` | budget spent, cooling down, suspended | not polled, not failed | sees `Pending` and waits | neither fails it over nor judges it stale in that poll |
//! | `BreakerOpen` | OPEN, or HALF_OPEN with every probe out | not polled | sees `Pending` (nothing to fail over to) | fails it over (`SwitchReason::BreakerOpen`) |
//! | `Never` | the request can never pass (a cost above a window's capacity) | not polled | fails (`SourceError::Failed`) | takes it out for good |
//!
//! # Grants: what each poll outcome resolves to
//!
//! An admitted poll runs under a [`Grant`], a value that must be resolved with the poll's
//! outcome ([`Resolution::of`] decides; [`AdmissionGate::poll`] does all of it):
//!
//! | the poll returned | the grant resolves as | a HALF_OPEN probe |
//! |---|---|---|
//! | `Ready(n)`, `n ≥ 1` | success | counts toward closing the breaker |
//! | an error | failure | re-opens the breaker for its timeout |
//! | `Ready(0)` or `Pending` | released | its slot is freed, nothing counted: the next admission probes again |
//! | `Ended` | released | as `Pending` |
//!
//! Dropping a grant unresolved releases it (also when the poll panics), so a probe handed
//! out is never left out for ever. Tokens a grant spent are not given back when the poll found
//! nothing: the request was made.
//!
//! # Cost
//!
//! A CLOSED breaker with coordination off or a source that is not request-based: one relaxed
//! load of the switch and the breaker word's load. Request-based with coordination on: the
//! cooldown check and one GCRA step per window. No allocation, lock or clock read.
//!
//! ```
//! use std::sync::Arc;
//! use market_data_pipeline::admission::{AdmissionGate, CoordinationSwitch, Refusal};
//! use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
//! use market_data_pipeline::{ManualClock, SourcePoll};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
//! let ibkr = coordinator.register_provider_with("ibkr", ProviderLimits::new().capacity(1))?;
//! let switch = Arc::new(CoordinationSwitch::new(true));
//! let gate = AdmissionGate::for_provider(ibkr, true).with_switch(switch.clone());
//!
//! let polled = gate.poll(0, || Ok(SourcePoll::Ready(1))); // spends the one token
//! assert_eq!(polled.unwrap()?, SourcePoll::Ready(1));
//! assert!(matches!(gate.poll(0, || Ok(SourcePoll::Ready(1))), Err(Refusal::NotNow(_))));
//! switch.set(false); // from the next poll: no budget, the breaker only
//! assert!(gate.poll(0, || Ok(SourcePoll::Ready(1))).is_ok());
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::error::SourceError;
use crate::flow::{
    CircuitBreaker, CircuitBreakerOpen, CoordinatorError, Permit, ProviderHandle, Request,
};
use crate::source::SourcePoll;
use crate::sync::{AtomicBool, Ordering};

/// The live "rate coordination on" switch (the runtime's `enable_rate_coordination`), shared
/// by every gate of a runtime.
#[derive(Debug)]
pub struct CoordinationSwitch(AtomicBool);

impl CoordinationSwitch {
    /// A switch, on or off.
    pub fn new(on: bool) -> CoordinationSwitch {
        CoordinationSwitch(AtomicBool::new(on))
    }

    /// Whether coordination is on.
    #[inline]
    pub fn is_on(&self) -> bool {
        // Relaxed: an independent switch; a poll admitted under the old value is fine.
        self.0.load(Ordering::Relaxed)
    }

    /// Turn coordination on or off (from the next admission of every gate that reads it).
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// What guards a source. See the [module docs](self).
#[derive(Debug)]
pub struct AdmissionGate {
    guard: Guard,
}

#[derive(Debug)]
enum Guard {
    /// A provider of the rate coordinator: its breaker, and its budget and cooldowns when the
    /// source is request-based and coordination is on (`None`: always on).
    Provider {
        handle: ProviderHandle,
        request_based: bool,
        switch: Option<Arc<CoordinationSwitch>>,
    },
    /// A breaker of the source's own.
    Breaker(Arc<CircuitBreaker>),
}

/// Why a gate refused a poll. See the [module docs](self) for what each path does with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not now, and not a failure: a budget is spent, a cooldown runs, or the provider is
    /// suspended (`CoordinatorError::{RateLimited, CoolingDown, Suspended}`).
    NotNow(CoordinatorError),
    /// The breaker refuses: OPEN, or HALF_OPEN with every probe slot taken.
    BreakerOpen(CircuitBreakerOpen),
    /// The request can never pass (`CoordinatorError::ExceedsCapacity`).
    Never(CoordinatorError),
}

impl From<CoordinatorError> for Refusal {
    fn from(e: CoordinatorError) -> Refusal {
        match e {
            CoordinatorError::CircuitOpen(b) => Refusal::BreakerOpen(b),
            e if e.is_retryable() => Refusal::NotNow(e),
            e => Refusal::Never(e),
        }
    }
}

impl AdmissionGate {
    /// The gate of a source of provider `handle`: the provider's breaker, and (when
    /// `request_based`) its cooldowns and budget, always (see [`with_switch`](Self::with_switch)).
    pub fn for_provider(handle: ProviderHandle, request_based: bool) -> AdmissionGate {
        AdmissionGate {
            guard: Guard::Provider {
                handle,
                request_based,
                switch: None,
            },
        }
    }

    /// The gate of a source with a breaker of its own and no budget.
    pub fn for_breaker(breaker: Arc<CircuitBreaker>) -> AdmissionGate {
        AdmissionGate {
            guard: Guard::Breaker(breaker),
        }
    }

    /// Spend the budget only while `switch` is on (a provider gate; no effect on a breaker
    /// gate, which has no budget).
    pub fn with_switch(mut self, switch: Arc<CoordinationSwitch>) -> AdmissionGate {
        if let Guard::Provider { switch: s, .. } = &mut self.guard {
            *s = Some(switch);
        }
        self
    }

    /// The one breaker guarding the source.
    #[inline]
    pub fn breaker(&self) -> &CircuitBreaker {
        match &self.guard {
            Guard::Provider { handle, .. } => handle.breaker(),
            Guard::Breaker(b) => b,
        }
    }

    /// The breaker, shared.
    pub fn shared_breaker(&self) -> Arc<CircuitBreaker> {
        match &self.guard {
            Guard::Provider { handle, .. } => handle.shared_breaker(),
            Guard::Breaker(b) => b.clone(),
        }
    }

    /// The breaker, when it is the gate's only guard (a source with no provider): admitting
    /// a poll is then exactly [`CircuitBreaker::allow_at`], and its permit resolves as a
    /// [`Grant`] does. Decided when the gate is built, never changed.
    #[inline]
    pub(crate) fn own_breaker(&self) -> Option<&CircuitBreaker> {
        match &self.guard {
            Guard::Breaker(b) => Some(b),
            Guard::Provider { .. } => None,
        }
    }

    /// The provider, for a provider gate.
    pub fn provider(&self) -> Option<&ProviderHandle> {
        match &self.guard {
            Guard::Provider { handle, .. } => Some(handle),
            Guard::Breaker(_) => None,
        }
    }

    /// Whether the source is request-based (its polls spend budget while coordination is on).
    pub fn request_based(&self) -> bool {
        matches!(
            self.guard,
            Guard::Provider {
                request_based: true,
                ..
            }
        )
    }

    /// Admit one poll at `now_ns` (a reading of the provider's or breaker's clock): the
    /// [`Grant`] it runs under, or why not. Nothing is spent on a refusal.
    ///
    /// # Errors
    /// A [`Refusal`]; see the [module docs](self).
    #[inline]
    pub fn admit(&self, now_ns: u64) -> Result<Grant<'_>, Refusal> {
        match &self.guard {
            Guard::Provider {
                handle,
                request_based,
                switch,
            } => {
                let spends = *request_based && switch.as_ref().is_none_or(|s| s.is_on());
                let permit = if spends {
                    handle.try_request_permit_at(now_ns, Request::cost(1))
                } else {
                    handle.breaker_permit_at(now_ns)
                };
                permit.map(Grant).map_err(Refusal::from)
            }
            Guard::Breaker(b) => b.allow_at(now_ns).map(Grant).map_err(Refusal::BreakerOpen),
        }
    }

    /// Admit a poll at `now_ns`, run it (`call`), and resolve its grant with what it returned
    /// (see [`Resolution::of`]). The poll's result, or the refusal (`call` not run).
    ///
    /// # Errors
    /// A [`Refusal`]; `call` was not run.
    #[inline]
    pub fn poll(
        &self,
        now_ns: u64,
        call: impl FnOnce() -> Result<SourcePoll, SourceError>,
    ) -> Result<Result<SourcePoll, SourceError>, Refusal> {
        let grant = self.admit(now_ns)?;
        let r = call();
        grant.resolve(Resolution::of(&r), now_ns);
        Ok(r)
    }

    /// Count a failure seen outside a poll (a router judging the source stale) against the
    /// breaker, as [`CircuitBreaker::record_failure_at`] does.
    pub fn record_failure_at(&self, now_ns: u64) {
        self.breaker().record_failure_at(now_ns);
    }
}

/// How an admitted poll resolves its [`Grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The call did what it was admitted for.
    Success,
    /// The call failed.
    Failure,
    /// The call was inconclusive: nothing counted, a probe slot freed.
    Released,
}

impl Resolution {
    /// The resolution of a poll that returned `r`: ticks are a success, an error a failure;
    /// `Ready(0)`, `Pending` and `Ended` release.
    #[inline]
    pub fn of(r: &Result<SourcePoll, SourceError>) -> Resolution {
        match r {
            Ok(SourcePoll::Ready(n)) if *n > 0 => Resolution::Success,
            Err(_) => Resolution::Failure,
            Ok(_) => Resolution::Released,
        }
    }
}

/// Leave for one poll, handed out by [`AdmissionGate::admit`]. Resolve it with
/// [`resolve`](Self::resolve) (or `success` / `failure_at` / `release`); dropping it
/// unresolved releases it, so a HALF_OPEN probe is never left out.
#[must_use = "resolve the grant with the poll's outcome (dropping it releases it)"]
#[derive(Debug)]
pub struct Grant<'a>(Permit<'a>);

impl Grant<'_> {
    /// Whether this grant carries the breaker's HALF_OPEN probe.
    pub fn is_probe(&self) -> bool {
        self.0.is_probe()
    }

    /// Resolve as `how`, at `now_ns` (a failure re-opens an open period from then).
    #[inline]
    pub fn resolve(self, how: Resolution, now_ns: u64) {
        match how {
            Resolution::Success => self.0.success(),
            Resolution::Failure => self.0.failure_at(now_ns),
            Resolution::Released => drop(self),
        }
    }

    /// The poll delivered.
    #[inline]
    pub fn success(self) {
        self.0.success();
    }

    /// The poll failed at `now_ns`.
    pub fn failure_at(self, now_ns: u64) {
        self.0.failure_at(now_ns);
    }

    /// The poll was inconclusive (the same as dropping the grant).
    pub fn release(self) {
        drop(self);
    }
}

#[cfg(test)]
mod tests;
