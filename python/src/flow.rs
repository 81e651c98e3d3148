//! `RateCoordinator` and `CircuitBreaker` for Python, with the seed's keywords.
//!
//! Calls that never wait run at once and return the shared done awaitable, so the seed's
//! `await breaker.record_failure()` and the plain `breaker.record_failure()` both work. An
//! `acquire` that is admitted at once does the same; a rate-limited one blocks (GIL
//! released) when called outside an event loop, and inside one returns a coroutine that
//! sleeps until the budget's refill time and tries again, so the loop never blocks.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::flow::{
    CircuitBreaker, CoordinatorError, ProviderLimits, RateCoordinator,
};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;

use crate::awaitable::{in_event_loop, ready};
use crate::errors;

/// Global rate limiting across pipelines and providers (the original's `RateCoordinator`).
#[pyclass(
    frozen,
    name = "RateCoordinator",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PyRateCoordinator {
    pub(crate) inner: Arc<RateCoordinator>,
}

static ACQUIRE_LATER: GILOnceCell<PyObject> = GILOnceCell::new();

fn acquire_later(py: Python<'_>) -> PyResult<&PyObject> {
    ACQUIRE_LATER.get_or_try_init(py, || {
        Ok(py
            .import("market_data_pipeline._aio")?
            .getattr("acquire_later")?
            .unbind())
    })
}

#[pymethods]
impl PyRateCoordinator {
    #[new]
    fn new() -> Self {
        PyRateCoordinator {
            inner: Arc::new(RateCoordinator::new()),
        }
    }

    /// Register `name` with its budget and breaker (omitted keywords take the defaults:
    /// 60 tokens, 60/s, 600 s cooldown, breaker 5 failures / 60 s).
    #[pyo3(signature = (name, capacity=None, refill_rate=None, cooldown_sec=None, breaker_threshold=None, breaker_timeout=None))]
    #[allow(clippy::too_many_arguments)] // the seed's keywords, one parameter each
    fn register_provider(
        &self,
        py: Python<'_>,
        name: &str,
        capacity: Option<u64>,
        refill_rate: Option<u64>,
        cooldown_sec: Option<f64>,
        breaker_threshold: Option<u32>,
        breaker_timeout: Option<f64>,
    ) -> PyResult<PyObject> {
        let mut limits = ProviderLimits::new();
        if let Some(v) = capacity {
            limits = limits.capacity(v);
        }
        if let Some(v) = refill_rate {
            limits = limits.refill_rate(v);
        }
        if let Some(v) = cooldown_sec {
            limits = limits.cooldown_sec(v);
        }
        if let Some(v) = breaker_threshold {
            limits = limits.breaker_threshold(v);
        }
        if let Some(v) = breaker_timeout {
            limits = limits.breaker_timeout(v);
        }
        self.inner
            .register_provider_with(name, limits)
            .map_err(errors::coordinator)?;
        Ok(ready(py)?.into_any())
    }

    /// Take `n` tokens of `provider`'s budget, waiting while it is rate limited. Cooldowns, an
    /// open breaker (`CircuitBreakerOpen`) and unknown providers raise at once.
    #[pyo3(signature = (provider, n=1))]
    fn acquire(&self, py: Python<'_>, provider: &str, n: u64) -> PyResult<PyObject> {
        match self.inner.try_acquire_n(provider, n) {
            Ok(()) => Ok(ready(py)?.into_any()),
            Err(CoordinatorError::RateLimited { retry_after, .. }) => {
                if in_event_loop(py)? {
                    let coro = acquire_later(py)?.call1(
                        py,
                        (
                            PyRateCoordinator {
                                inner: self.inner.clone(),
                            },
                            provider,
                            n,
                            retry_after.as_secs_f64(),
                        ),
                    )?;
                    Ok(coro)
                } else {
                    let inner = &self.inner;
                    py.allow_threads(|| inner.acquire_n(provider, n))
                        .map_err(errors::coordinator)?;
                    Ok(ready(py)?.into_any())
                }
            }
            Err(e) => Err(errors::coordinator(e)),
        }
    }

    /// One attempt: `None` when admitted, else the seconds to wait before the next (rate
    /// limited); other refusals raise.
    #[pyo3(signature = (provider, n=1))]
    fn _try_acquire_delay(&self, provider: &str, n: u64) -> PyResult<Option<f64>> {
        match self.inner.try_acquire_n(provider, n) {
            Ok(()) => Ok(None),
            Err(CoordinatorError::RateLimited { retry_after, .. }) => Ok(Some(
                retry_after.max(Duration::from_micros(50)).as_secs_f64(),
            )),
            Err(e) => Err(errors::coordinator(e)),
        }
    }

    /// Take `n` tokens now or raise `RateLimited` (never waits).
    #[pyo3(signature = (provider, n=1))]
    fn try_acquire(&self, py: Python<'_>, provider: &str, n: u64) -> PyResult<PyObject> {
        self.inner
            .try_acquire_n(provider, n)
            .map_err(errors::coordinator)?;
        Ok(ready(py)?.into_any())
    }

    /// Report a failed call to `provider`'s breaker.
    fn record_failure(&self, py: Python<'_>, provider: &str) -> PyResult<PyObject> {
        self.inner
            .record_failure(provider)
            .map_err(errors::coordinator)?;
        Ok(ready(py)?.into_any())
    }

    /// Report a successful call to `provider`'s breaker.
    fn record_success(&self, py: Python<'_>, provider: &str) -> PyResult<PyObject> {
        self.inner
            .record_success(provider)
            .map_err(errors::coordinator)?;
        Ok(ready(py)?.into_any())
    }

    /// Start `provider`'s cooldown in `scope` (its default length, or `duration_sec`);
    /// returns at once, `acquire` honours it.
    #[pyo3(signature = (provider, scope="global", duration_sec=None))]
    fn trigger_cooldown(
        &self,
        py: Python<'_>,
        provider: &str,
        scope: &str,
        duration_sec: Option<f64>,
    ) -> PyResult<PyObject> {
        match duration_sec {
            None => {
                self.inner
                    .trigger_cooldown(provider, scope)
                    .map_err(errors::coordinator)?;
            }
            Some(s) => {
                self.inner
                    .trigger_cooldown_for(provider, scope, s)
                    .map_err(errors::coordinator)?;
            }
        }
        Ok(ready(py)?.into_any())
    }

    /// Whether `provider` is cooling down in `scope` (or globally).
    #[pyo3(signature = (provider, scope="global"))]
    fn is_cooling_down(&self, provider: &str, scope: &str) -> PyResult<bool> {
        self.inner
            .is_cooling_down(provider, scope)
            .map_err(errors::coordinator)
    }

    /// The registered provider names.
    fn providers(&self) -> Vec<String> {
        self.inner.providers()
    }

    /// `provider`'s state: tokens per window, breaker state, running cooldowns, scale.
    fn get_provider_state(&self, provider: &str) -> PyResult<String> {
        let s = self
            .inner
            .provider_state(provider)
            .map_err(errors::coordinator)?;
        Ok(format!("{s:?}"))
    }
}

/// Protection against repeated provider failures (CLOSED, OPEN, HALF_OPEN).
#[pyclass(
    frozen,
    name = "CircuitBreaker",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PyCircuitBreaker {
    inner: Arc<CircuitBreaker>,
}

#[pymethods]
impl PyCircuitBreaker {
    /// Open after `threshold` consecutive failures; stay open `timeout` seconds.
    #[new]
    #[pyo3(signature = (threshold=5, timeout=60.0))]
    fn new(threshold: u32, timeout: f64) -> PyResult<Self> {
        let inner = CircuitBreaker::new(threshold, timeout).map_err(errors::config)?;
        Ok(PyCircuitBreaker {
            inner: Arc::new(inner),
        })
    }

    /// The gate: `True` while open. In HALF_OPEN it hands out the probe (the caller that gets
    /// `False` holds it until its `record_success` / `record_failure`).
    fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    /// Whether it is open, without taking a probe.
    fn peek_is_open(&self) -> bool {
        self.inner.peek_is_open()
    }

    /// `"closed"`, `"open"` or `"half_open"` (does not change the state).
    fn get_state(&self) -> &'static str {
        self.inner.get_state()
    }

    /// As `get_state()`.
    #[getter(state)]
    fn state_name(&self) -> &'static str {
        self.inner.get_state()
    }

    /// Record a failure.
    fn record_failure(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.inner.record_failure();
        Ok(ready(py)?.into_any())
    }

    /// Record a success.
    fn record_success(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.inner.record_success();
        Ok(ready(py)?.into_any())
    }

    /// Close it and clear the failure count.
    fn reset(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.inner.reset();
        Ok(ready(py)?.into_any())
    }
}
