//! Flow control by handle: a provider of the runtime's coordinator (acquire / try_acquire,
//! record outcomes) and circuit breakers (allow / record).

use std::ffi::c_char;
use std::time::Duration;

use market_data_pipeline::flow::{BreakerState, CircuitBreaker, ProviderHandle};

use crate::args::{free_handle, handle, into_handle, out, put, text};
use crate::runtime::{coordinator_failure, MdpRuntime};
use crate::status::{guard, Failure, MdpStatus};

/// One provider registered with a runtime's rate coordinator (its token budget, cooldowns
/// and circuit breaker), looked up once by name.
///
/// Ownership: made by `mdp_runtime_provider`, owned by the caller, freed once by
/// `mdp_provider_free`; it stays usable after its runtime is freed.
///
/// Thread safety: shared; any thread may call any function on it at the same time (but
/// `mdp_provider_free`).
pub struct MdpProvider {
    inner: ProviderHandle,
}

/// A circuit breaker: its own, or a provider's.
///
/// Ownership: made by `mdp_breaker_new` or `mdp_provider_breaker`, owned by the caller,
/// freed once by `mdp_breaker_free` (a provider's breaker lives on with its provider).
///
/// Thread safety: shared; any thread may call any function on it at the same time (but
/// `mdp_breaker_free`).
pub struct MdpBreaker {
    inner: Breaker,
}

enum Breaker {
    Own(CircuitBreaker),
    Provider(ProviderHandle),
}

impl MdpBreaker {
    fn get(&self) -> &CircuitBreaker {
        match &self.inner {
            Breaker::Own(b) => b,
            Breaker::Provider(p) => p.breaker(),
        }
    }
}

/// A circuit breaker's state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdpBreakerState {
    /// Calls pass; failures are counted.
    Closed = 0,
    /// Calls are refused until the timeout ends.
    Open = 1,
    /// A limited number of probe calls pass.
    HalfOpen = 2,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Look up provider `name` of the runtime's coordinator. On success `*out_provider` is a
/// handle to free with `mdp_provider_free`.
///
/// Errors: `MDP_STATUS_NOT_FOUND` (the message lists the registered names).
///
/// # Safety
/// `runtime` is null or a live runtime; `name` is null or a NUL-terminated string;
/// `out_provider` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_provider(
    runtime: *const MdpRuntime,
    name: *const c_char,
    out_provider: *mut *mut MdpProvider,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let runtime = unsafe { handle(runtime, "runtime") }?;
        // SAFETY: per this function's contract.
        let name = unsafe { text(name, "name") }?;
        out(out_provider, "out_provider")?;
        let inner = runtime
            .inner
            .coordinator()
            .handle(name)
            .map_err(|e| coordinator_failure(&e))?;
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_provider, into_handle(MdpProvider { inner })) };
        Ok(MdpStatus::Ok)
    })
}

/// Take `n` tokens of the provider's budget, waiting while it is rate limited.
///
/// Errors, returned at once: `MDP_STATUS_RETRY_LATER` (cooling down, suspended),
/// `MDP_STATUS_CIRCUIT_OPEN`, `MDP_STATUS_REFUSED` (`n` above what the budget can ever hold).
///
/// # Safety
/// `provider` is null or a live provider handle.
#[no_mangle]
pub unsafe extern "C" fn mdp_provider_acquire(provider: *const MdpProvider, n: u64) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let provider = unsafe { handle(provider, "provider") }?;
        provider
            .inner
            .acquire_n(n)
            .map_err(|e| coordinator_failure(&e))?;
        Ok(MdpStatus::Ok)
    })
}

/// Take `n` tokens of the provider's budget if they are there now; never waits.
///
/// Errors: `MDP_STATUS_RETRY_LATER` (rate limited, cooling down, suspended) and
/// `MDP_STATUS_CIRCUIT_OPEN`, with `*out_retry_after_ns` (null: not wanted) set to the wait
/// before the same request can pass (0 when unknown); `MDP_STATUS_REFUSED` when it never
/// can.
///
/// # Safety
/// `provider` is null or a live provider handle; `out_retry_after_ns` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_provider_try_acquire(
    provider: *const MdpProvider,
    n: u64,
    out_retry_after_ns: *mut u64,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let provider = unsafe { handle(provider, "provider") }?;
        // SAFETY: per this function's contract.
        unsafe { put(out_retry_after_ns, 0) };
        provider.inner.try_acquire_n(n).map_err(|e| {
            // SAFETY: per this function's contract.
            unsafe { put(out_retry_after_ns, e.retry_after().map_or(0, nanos)) };
            coordinator_failure(&e)
        })?;
        Ok(MdpStatus::Ok)
    })
}

/// Report a call to the provider as successful (`ok` nonzero) or failed to its breaker.
///
/// # Safety
/// `provider` is null or a live provider handle.
#[no_mangle]
pub unsafe extern "C" fn mdp_provider_record(provider: *const MdpProvider, ok: u8) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let provider = unsafe { handle(provider, "provider") }?;
        if ok != 0 {
            provider.inner.record_success();
        } else {
            provider.inner.record_failure();
        }
        Ok(MdpStatus::Ok)
    })
}

/// Free a provider handle (the provider stays registered). Null is ignored (`MDP_STATUS_OK`);
/// `MDP_STATUS_PANIC` if freeing failed inside.
///
/// # Safety
/// `provider` is null or a live provider handle in use by no other call; it is invalid
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn mdp_provider_free(provider: *mut MdpProvider) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(provider) };
        Ok(MdpStatus::Ok)
    })
}

/// A new circuit breaker named `name` (null: `"circuit-breaker"`): `threshold` consecutive
/// failures open it for `timeout_sec` seconds, then one probe call at a time may pass.
///
/// Errors: `MDP_STATUS_INVALID_ARGUMENT` naming `threshold` (0 or above 65535) or `timeout`
/// (negative, NaN or infinite).
///
/// # Safety
/// `name` is null or a NUL-terminated string; `out_breaker` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_breaker_new(
    name: *const c_char,
    threshold: u32,
    timeout_sec: f64,
    out_breaker: *mut *mut MdpBreaker,
) -> MdpStatus {
    guard(|| {
        out(out_breaker, "out_breaker")?;
        let mut builder = CircuitBreaker::builder(threshold, timeout_sec);
        if !name.is_null() {
            // SAFETY: per this function's contract.
            builder = builder.name(unsafe { text(name, "name") }?);
        }
        let breaker = builder
            .build()
            .map_err(|e| Failure::new(MdpStatus::InvalidArgument, e.to_string()))?;
        let made = into_handle(MdpBreaker {
            inner: Breaker::Own(breaker),
        });
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_breaker, made) };
        Ok(MdpStatus::Ok)
    })
}

/// The circuit breaker of a provider (what its pipelines and `mdp_provider_acquire` obey),
/// as a breaker handle to free with `mdp_breaker_free`.
///
/// # Safety
/// `provider` is null or a live provider handle; `out_breaker` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_provider_breaker(
    provider: *const MdpProvider,
    out_breaker: *mut *mut MdpBreaker,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let provider = unsafe { handle(provider, "provider") }?;
        out(out_breaker, "out_breaker")?;
        let made = into_handle(MdpBreaker {
            inner: Breaker::Provider(provider.inner.clone()),
        });
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_breaker, made) };
        Ok(MdpStatus::Ok)
    })
}

/// May a call go ahead now? `MDP_STATUS_OK` (then report its outcome with
/// `mdp_breaker_record`; `*out_is_probe`, if not null, is 1 for a half-open probe), or
/// `MDP_STATUS_CIRCUIT_OPEN` with `*out_retry_after_ns` (if not null) the time until probing
/// (0 when unknown: a probe is under way).
///
/// A probe's slot stays taken until its outcome is recorded.
///
/// # Safety
/// `breaker` is null or a live breaker handle; the out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_breaker_allow(
    breaker: *const MdpBreaker,
    out_is_probe: *mut u8,
    out_retry_after_ns: *mut u64,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let breaker = unsafe { handle(breaker, "breaker") }?.get();
        match breaker.allow() {
            Ok(permit) => {
                // SAFETY: per this function's contract.
                unsafe { put(out_is_probe, u8::from(permit.is_probe())) };
                permit.detach();
                Ok(MdpStatus::Ok)
            }
            Err(open) => {
                // SAFETY: per this function's contract.
                unsafe { put(out_retry_after_ns, open.retry_after.map_or(0, nanos)) };
                Err(Failure::new(MdpStatus::CircuitOpen, open.to_string()))
            }
        }
    })
}

/// Report the outcome of a call the breaker allowed: success (`ok` nonzero) or failure.
///
/// # Safety
/// `breaker` is null or a live breaker handle.
#[no_mangle]
pub unsafe extern "C" fn mdp_breaker_record(breaker: *const MdpBreaker, ok: u8) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let breaker = unsafe { handle(breaker, "breaker") }?.get();
        if ok != 0 {
            breaker.record_success();
        } else {
            breaker.record_failure();
        }
        Ok(MdpStatus::Ok)
    })
}

/// The breaker's state now, in `*out_state`.
///
/// # Safety
/// `breaker` is null or a live breaker handle; `out_state` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_breaker_state(
    breaker: *const MdpBreaker,
    out_state: *mut MdpBreakerState,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let breaker = unsafe { handle(breaker, "breaker") }?.get();
        out(out_state, "out_state")?;
        let state = match breaker.state() {
            BreakerState::Closed => MdpBreakerState::Closed,
            BreakerState::Open => MdpBreakerState::Open,
            BreakerState::HalfOpen => MdpBreakerState::HalfOpen,
        };
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_state, state) };
        Ok(MdpStatus::Ok)
    })
}

/// Free a breaker handle. Null is ignored (`MDP_STATUS_OK`); `MDP_STATUS_PANIC` if freeing
/// failed inside.
///
/// # Safety
/// `breaker` is null or a live breaker handle in use by no other call; it is invalid
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn mdp_breaker_free(breaker: *mut MdpBreaker) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(breaker) };
        Ok(MdpStatus::Ok)
    })
}
