//! Errors of the runtime and of its settings.

use crate::error::{bounded, bounded_list, ConfigError, PipelineError};
use crate::flow::CoordinatorError;
use crate::registry::RegistryError;
use crate::runtime::spec::PipelineKey;

/// Settings that could not be read or do not validate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
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
    #[error("{}: {message}", bounded(.path))]
    Io {
        /// The file.
        path: String,
        /// The OS message.
        message: String,
    },
    /// An error in a named file.
    #[error("{}: {error}", bounded(.path))]
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
#[non_exhaustive]
pub enum RuntimeError {
    /// Invalid settings (at start or in `update_settings`); nothing was changed.
    ///
    /// The message includes the settings error's, so it is not also given as `source()`
    /// (a caller printing the chain would print it twice).
    #[error("settings: {0}")]
    Settings(SettingsError),
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
        "cannot start {}: {running} pipelines are running and max_concurrent_pipelines = {max}",
        bounded(.key.as_str())
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
    #[error(
        "unknown pipeline {} (running: {})",
        bounded(.key.as_str()),
        bounded_list(.running)
    )]
    UnknownPipeline {
        /// The key asked for.
        key: PipelineKey,
        /// The keys that are running, sorted.
        running: Vec<String>,
    },
    /// A pipeline with that key is already running.
    #[error("pipeline {} is already running", bounded(.key.as_str()))]
    DuplicatePipeline {
        /// The key.
        key: PipelineKey,
    },
    /// Starting the runtime from a settings file failed after the file was read: the error,
    /// with the file and (when the key it names is found) the line.
    #[error(
        "{}{}: {error}",
        bounded(.path),
        line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    InFile {
        /// The settings file.
        path: String,
        /// 1-based line of the key the error names, when found.
        line: Option<usize>,
        /// The error.
        error: Box<RuntimeError>,
    },
    /// A stop with a deadline ran out: the stages named are still running, detached.
    #[error(transparent)]
    NotStopped(Box<crate::pipeline::StopTimeout>),
    /// The pipeline is a quote stream: stop it through its `QuoteStream`.
    #[error(
        "pipeline {} is a quote stream; drop or stop its QuoteStream to stop it",
        bounded(.key.as_str())
    )]
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

impl From<SettingsError> for RuntimeError {
    fn from(e: SettingsError) -> RuntimeError {
        RuntimeError::Settings(e)
    }
}

impl RuntimeError {
    /// The settings key the error is about, when it names one (`providers.primary.path`).
    pub fn key(&self) -> Option<String> {
        use crate::error::SourceError;
        let config = match self {
            RuntimeError::Settings(SettingsError::Invalid { error, .. }) => Some(error),
            RuntimeError::Registry(RegistryError::Config(c)) => Some(c),
            RuntimeError::Coordinator(CoordinatorError::Config(c)) => Some(c),
            RuntimeError::Pipeline(PipelineError::Config(c)) => Some(c),
            _ => None,
        };
        if let Some(c) = config {
            return Some(c.field.clone());
        }
        // A provider's source refusing to be built names the provider.
        match self {
            RuntimeError::Registry(RegistryError::Source(
                SourceError::Config { source_name, .. }
                | SourceError::Data { source_name, .. }
                | SourceError::Failed { source_name, .. }
                | SourceError::Disconnected { source_name, .. }
                | SourceError::NoSymbols { source_name },
            )) => Some(format!("providers.{source_name}")),
            _ => None,
        }
    }
}
