//! The runtime handle: start from TOML text or a file, run/list/stop pipelines, snapshot,
//! free.

use std::ffi::c_char;

use market_data_pipeline::flow::CoordinatorError;
use market_data_pipeline::runtime::{
    OperatorSpec, PipelineKey, PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, RuntimeError,
};

use crate::args::{c_string, free_handle, handle, into_handle, out, put, text, texts};
use crate::json;
use crate::status::{guard, Failure, MdpStatus};

/// A running runtime: its providers, coordinator, workers and pipelines.
///
/// Ownership: made by `mdp_runtime_start_toml` / `mdp_runtime_start_file`, owned by the
/// caller, freed once by `mdp_runtime_free` (which stops every pipeline). Streams and
/// provider handles made from it may outlive it.
///
/// Thread safety: shared; every function taking a `const MdpRuntime *` may be called from
/// any thread at the same time. `mdp_runtime_free` must not run concurrently with any other
/// use of the handle.
pub struct MdpRuntime {
    pub(crate) inner: PipelineRuntime,
}

/// What `mdp_runtime_run_pipeline` starts. Strings are borrowed for the call only.
#[repr(C)]
pub struct MdpPipelineSpec {
    /// Tenant (required, UTF-8).
    pub tenant_id: *const c_char,
    /// Pipeline id, unique per tenant among running pipelines (required, UTF-8).
    pub pipeline_id: *const c_char,
    /// Providers to read in priority order (`n_sources` strings; may be null when 0: the
    /// settings' `default_sources`).
    pub sources: *const *const c_char,
    /// Number of `sources`.
    pub n_sources: usize,
    /// Symbols (`n_symbols` strings; may be null when 0: each provider's own).
    pub symbols: *const *const c_char,
    /// Number of `symbols`.
    pub n_symbols: usize,
    /// End after this many ticks; 0: run until stopped.
    pub max_ticks: u64,
    /// OHLCV bars over this window in milliseconds; 0: ticks pass unchanged.
    pub bar_window_ms: u64,
    /// Nonzero: stages on dedicated threads instead of the runtime's workers.
    pub dedicated: u8,
}

/// The status of a runtime refusal.
pub(crate) fn runtime_failure(e: &RuntimeError) -> Failure {
    let status = match e {
        RuntimeError::Settings(_) => MdpStatus::Settings,
        RuntimeError::InFile { error, .. } => return runtime_failure_in(error, e),
        RuntimeError::UnknownPipeline { .. } => MdpStatus::NotFound,
        RuntimeError::Coordinator(c) => coordinator_failure(c).status,
        _ => MdpStatus::Runtime,
    };
    Failure::new(status, e.to_string())
}

/// The status of `inner`, the message of `outer` (which names the file).
fn runtime_failure_in(inner: &RuntimeError, outer: &RuntimeError) -> Failure {
    Failure::new(runtime_failure(inner).status, outer.to_string())
}

/// The status of a coordinator refusal: "not now" apart from "never".
pub(crate) fn coordinator_failure(e: &CoordinatorError) -> Failure {
    let status = match e {
        CoordinatorError::UnknownProvider { .. } => MdpStatus::NotFound,
        CoordinatorError::CircuitOpen(_) => MdpStatus::CircuitOpen,
        CoordinatorError::Config(_) => MdpStatus::InvalidArgument,
        e if e.is_retryable() => MdpStatus::RetryLater,
        _ => MdpStatus::Refused,
    };
    Failure::new(status, e.to_string())
}

fn start(
    settings: Result<PipelineRuntimeSettings, RuntimeError>,
    out_runtime: *mut *mut MdpRuntime,
) -> Result<MdpStatus, Failure> {
    let inner = settings
        .and_then(PipelineRuntime::start)
        .map_err(|e| runtime_failure(&e))?;
    // SAFETY: checked non-null by the caller; writable per the header's contract.
    unsafe { put(out_runtime, into_handle(MdpRuntime { inner })) };
    Ok(MdpStatus::Ok)
}

/// Start a runtime from settings written as TOML (the format of the settings files; `""`
/// gives the defaults: one synthetic provider). The pipelines the settings list are started.
///
/// On success `*out_runtime` is the new runtime (free it with `mdp_runtime_free`); on
/// failure it is left unchanged and the status is `MDP_STATUS_SETTINGS` (line and key in the
/// message) or `MDP_STATUS_RUNTIME`.
///
/// # Safety
/// `toml` is null or a NUL-terminated string; `out_runtime` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_start_toml(
    toml: *const c_char,
    out_runtime: *mut *mut MdpRuntime,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let toml = unsafe { text(toml, "toml") }?;
        out(out_runtime, "out_runtime")?;
        let settings = PipelineRuntimeSettings::from_toml_str(toml).map_err(RuntimeError::Settings);
        start(settings, out_runtime)
    })
}

/// Start a runtime from the TOML settings file at `path` (at most 16 MiB). As
/// `mdp_runtime_start_toml`; messages name the file and line.
///
/// # Safety
/// `path` is null or a NUL-terminated string; `out_runtime` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_start_file(
    path: *const c_char,
    out_runtime: *mut *mut MdpRuntime,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let path = unsafe { text(path, "path") }?;
        out(out_runtime, "out_runtime")?;
        let inner = PipelineRuntime::start_from_file(path).map_err(|e| runtime_failure(&e))?;
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_runtime, into_handle(MdpRuntime { inner })) };
        Ok(MdpStatus::Ok)
    })
}

/// Stop every pipeline gracefully (each drains), then free the runtime. Null is ignored
/// (`MDP_STATUS_OK`); `MDP_STATUS_PANIC` if freeing failed inside (a bug). Either way the
/// handle must not be used again.
/// Quote streams still open end once their buffered ticks are read.
///
/// # Safety
/// `runtime` is null or a live runtime handle not in use by any other call; it is invalid
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_free(runtime: *mut MdpRuntime) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(runtime) };
        Ok(MdpStatus::Ok)
    })
}

/// Start a pipeline (its output goes to a counting sink). On success `*out_key` is its key,
/// `tenant/pipeline`, a string to free with `mdp_string_free`; pass null to not receive it.
///
/// Errors: `MDP_STATUS_RUNTIME` (limit reached, duplicate key, unknown provider, a source
/// that cannot be built), `MDP_STATUS_NULL_ARGUMENT` / `MDP_STATUS_INVALID_ARGUMENT` naming
/// the field of `spec`.
///
/// # Safety
/// `runtime` is null or a live runtime; `spec` is null or points to a spec whose strings
/// follow `MdpPipelineSpec`'s contract; `out_key` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_run_pipeline(
    runtime: *const MdpRuntime,
    spec: *const MdpPipelineSpec,
    out_key: *mut *mut c_char,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let runtime = unsafe { handle(runtime, "runtime") }?;
        // SAFETY: per this function's contract (a plain C struct, read as is).
        let spec = unsafe { handle(spec, "spec") }?;
        // SAFETY: the spec's pointers follow MdpPipelineSpec's contract.
        let (tenant, id, sources, symbols) = unsafe {
            (
                text(spec.tenant_id, "spec.tenant_id")?,
                text(spec.pipeline_id, "spec.pipeline_id")?,
                texts(spec.sources, spec.n_sources, "spec.sources")?,
                texts(spec.symbols, spec.n_symbols, "spec.symbols")?,
            )
        };
        let mut rust = PipelineSpec::new(tenant, id)
            .sources(&sources)
            .symbols(&symbols)
            .dedicated(spec.dedicated != 0);
        if spec.max_ticks > 0 {
            rust = rust.max_ticks(spec.max_ticks);
        }
        if spec.bar_window_ms > 0 {
            rust = rust.operator(OperatorSpec::Bars {
                window: std::time::Duration::from_millis(spec.bar_window_ms),
            });
        }
        let key = runtime
            .inner
            .run_pipeline(rust)
            .map_err(|e| runtime_failure(&e))?;
        // SAFETY: per this function's contract.
        unsafe { put(out_key, c_string(key.to_string())) };
        Ok(MdpStatus::Ok)
    })
}

/// Stop pipeline `key` (`tenant/pipeline`): its source stops, every stage drains, and its
/// final counts are reported. `*out_report_json` (null: not wanted) receives them as JSON
/// (`{"key":..,"stats":{..},"error":..,"elapsed_ns":..}`), to free with `mdp_string_free`.
///
/// Errors: `MDP_STATUS_NOT_FOUND` (the message lists the running keys), `MDP_STATUS_RUNTIME`
/// for a quote stream's pipeline (free its stream instead).
///
/// # Safety
/// `runtime` is null or a live runtime; `key` is null or a NUL-terminated string;
/// `out_report_json` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_stop_pipeline(
    runtime: *const MdpRuntime,
    key: *const c_char,
    out_report_json: *mut *mut c_char,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let runtime = unsafe { handle(runtime, "runtime") }?;
        // SAFETY: per this function's contract.
        let key = PipelineKey::from(unsafe { text(key, "key") }?);
        let report = runtime
            .inner
            .stop_pipeline(&key)
            .map_err(|e| runtime_failure(&e))?;
        if !out_report_json.is_null() {
            let text = json::report(&key, &report).to_string();
            // SAFETY: not null; writable per the contract.
            unsafe { put(out_report_json, c_string(text)) };
        }
        Ok(MdpStatus::Ok)
    })
}

/// Hand what `make` writes about the runtime to `*out_json`, as a string to free with
/// `mdp_string_free`.
///
/// # Safety
/// As the JSON entry points.
unsafe fn json_call(
    runtime: *const MdpRuntime,
    out_json: *mut *mut c_char,
    make: impl FnOnce(&PipelineRuntime) -> String,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per the caller's contract.
        let runtime = unsafe { handle(runtime, "runtime") }?;
        out(out_json, "out_json")?;
        let text = make(&runtime.inner);
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_json, c_string(text)) };
        Ok(MdpStatus::Ok)
    })
}

/// The running pipelines (quote streams included) as a JSON array of
/// `{"key","kind","sources","state","stats",..}`, in `*out_json` (free with
/// `mdp_string_free`).
///
/// # Safety
/// `runtime` is null or a live runtime; `out_json` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_list_pipelines_json(
    runtime: *const MdpRuntime,
    out_json: *mut *mut c_char,
) -> MdpStatus {
    // SAFETY: per this function's contract.
    unsafe {
        json_call(runtime, out_json, |rt| {
            json::pipelines(&rt.list_pipelines()).to_string()
        })
    }
}

/// The runtime's monitoring snapshot as JSON: settings version, routing strategy, every
/// provider's health (tokens, breaker, cooldowns, refusals) and every pipeline's counters
/// and latency. In `*out_json`, to free with `mdp_string_free`.
///
/// # Safety
/// `runtime` is null or a live runtime; `out_json` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_snapshot_json(
    runtime: *const MdpRuntime,
    out_json: *mut *mut c_char,
) -> MdpStatus {
    // SAFETY: per this function's contract.
    unsafe {
        json_call(runtime, out_json, |rt| {
            json::snapshot(&rt.snapshot()).to_string()
        })
    }
}
