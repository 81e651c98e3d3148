//! Errors of the runtime and of its settings.

use crate::error::{ConfigError, PipelineError};
use crate::flow::CoordinatorError;
use crate::registry::RegistryError;
use crate::runtime::spec::PipelineKey;

/// Settings that could not be read or do not validate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// Malformed TOML, an unknown key or a wrong type.
    #[error("line {line}, column {column}: {message}")]
    Parse {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// A value that does not validate (key path; line when it could be found).
    #[error("{}{error}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid {
        /// The field.
        error: ConfigError,
        /// 1-based line where the key is written, when found.
        line: Option<usize>,
    },
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS message.
        message: String,
    },
    /// An error in a named file.
    #[error("{path}: {error}")]
    InFile {
        /// The file.
        path: String,
        /// The error.
        error: Box<SettingsError>,
    },
}

impl From<ConfigError> for SettingsError {
    fn from(error: ConfigError) -> SettingsError {
        SettingsError::Invalid { error, line: None }
    }
}

/// A refusal of the [`PipelineRuntime`](super::PipelineRuntime).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// Invalid settings (at start or in `update_settings`); nothing was changed.
    #[error("settings: {0}")]
    Settings(#[from] SettingsError),
    /// A source could not be loaded or built.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The coordinator refused a provider's limits.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    /// A pipeline could not be built or started.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// `max_concurrent_pipelines` are already running.
    #[error(
        "cannot start {key}: {running} pipelines are running and max_concurrent_pipelines = {max}"
    )]
    MaxPipelines {
        /// The pipeline refused.
        key: PipelineKey,
        /// Running now.
        running: usize,
        /// The limit.
        max: usize,
    },
    /// No running pipeline has that key.
    #[error("unknown pipeline {key} (running: {})", running.join(", "))]
    UnknownPipeline {
        /// The key asked for.
        key: PipelineKey,
        /// The keys that are running, sorted.
        running: Vec<String>,
    },
    /// A pipeline with that key is already running.
    #[error("pipeline {key} is already running")]
    DuplicatePipeline {
        /// The key.
        key: PipelineKey,
    },
    /// The pipeline is a quote stream: stop it through its `QuoteStream`.
    #[error("pipeline {key} is a quote stream; drop or stop its QuoteStream to stop it")]
    StreamPipeline {
        /// The key.
        key: PipelineKey,
    },
}

impl From<ConfigError> for RuntimeError {
    fn from(e: ConfigError) -> RuntimeError {
        RuntimeError::Settings(e.into())
    }
}
