//! Engine errors as Python exceptions: the original's names, the Rust message.

use market_data_pipeline as mdp;
use mdp::flow::CoordinatorError;
use mdp::runtime::{RuntimeError, SettingsError};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    market_data_pipeline,
    MarketDataError,
    PyException,
    "Base of the engine's errors."
);
create_exception!(
    market_data_pipeline,
    CircuitBreakerOpen,
    MarketDataError,
    "A circuit breaker is open (the message names it and when to retry)."
);
create_exception!(
    market_data_pipeline,
    RateLimited,
    MarketDataError,
    "A budget has no room now (try_acquire); the message says when to retry."
);
create_exception!(
    market_data_pipeline,
    CoolingDown,
    MarketDataError,
    "A provider's cooldown is running."
);
create_exception!(
    market_data_pipeline,
    UnknownProvider,
    MarketDataError,
    "No provider of that name (the message lists the known ones)."
);
create_exception!(
    market_data_pipeline,
    ConfigError,
    MarketDataError,
    "Invalid configuration (the message names the field)."
);
create_exception!(
    market_data_pipeline,
    RegistryError,
    MarketDataError,
    "A source could not be loaded or built."
);
create_exception!(
    market_data_pipeline,
    SourceError,
    MarketDataError,
    "A source failed."
);
create_exception!(
    market_data_pipeline,
    PipelineError,
    MarketDataError,
    "A pipeline could not be built, started or run."
);
create_exception!(
    market_data_pipeline,
    PipelineRuntimeError,
    MarketDataError,
    "The runtime refused (limits, unknown or duplicate pipeline)."
);

/// Register the exception classes in the module.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MarketDataError", py.get_type::<MarketDataError>())?;
    m.add("CircuitBreakerOpen", py.get_type::<CircuitBreakerOpen>())?;
    m.add("RateLimited", py.get_type::<RateLimited>())?;
    m.add("CoolingDown", py.get_type::<CoolingDown>())?;
    m.add("UnknownProvider", py.get_type::<UnknownProvider>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("RegistryError", py.get_type::<RegistryError>())?;
    m.add("SourceError", py.get_type::<SourceError>())?;
    m.add("PipelineError", py.get_type::<PipelineError>())?;
    m.add(
        "PipelineRuntimeError",
        py.get_type::<PipelineRuntimeError>(),
    )?;
    Ok(())
}

/// The Python exception of a coordinator error.
pub(crate) fn coordinator(e: CoordinatorError) -> PyErr {
    let msg = e.to_string();
    match e {
        CoordinatorError::CircuitOpen(_) => CircuitBreakerOpen::new_err(msg),
        CoordinatorError::RateLimited { .. } => RateLimited::new_err(msg),
        CoordinatorError::CoolingDown { .. } => CoolingDown::new_err(msg),
        CoordinatorError::UnknownProvider { .. } => UnknownProvider::new_err(msg),
        CoordinatorError::Config(_) => ConfigError::new_err(msg),
        _ => MarketDataError::new_err(msg),
    }
}

/// The Python exception of a configuration error.
pub(crate) fn config(e: mdp::ConfigError) -> PyErr {
    ConfigError::new_err(e.to_string())
}

/// The Python exception of a registry error.
pub(crate) fn registry(e: mdp::RegistryError) -> PyErr {
    RegistryError::new_err(e.to_string())
}

/// The Python exception of a pipeline error.
pub(crate) fn pipeline(e: mdp::PipelineError) -> PyErr {
    match e {
        mdp::PipelineError::Config(c) => config(c),
        other => PipelineError::new_err(other.to_string()),
    }
}

/// The Python exception of a runtime error.
pub(crate) fn runtime(e: RuntimeError) -> PyErr {
    match e {
        RuntimeError::Settings(s) => settings(s),
        RuntimeError::Registry(r) => registry(r),
        RuntimeError::Coordinator(c) => coordinator(c),
        RuntimeError::Pipeline(p) => pipeline(p),
        other => PipelineRuntimeError::new_err(other.to_string()),
    }
}

/// The Python exception of a settings error.
pub(crate) fn settings(e: SettingsError) -> PyErr {
    ConfigError::new_err(format!("settings: {e}"))
}
