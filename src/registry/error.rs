//! `RegistryError`: why a source could not be loaded or built.

use crate::error::{bounded, bounded_list, ConfigError, SourceError};

/// A refusal of the [`SourceRegistry`](super::SourceRegistry) or one of its factories.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No factory is registered under that name.
    #[error("unknown source {:?} (known: {})", bounded(.name), bounded_list(.known))]
    UnknownSource {
        /// The name asked for.
        name: String,
        /// The registered names, sorted.
        known: Vec<String>,
    },
    /// The spec is invalid; the error names the TOML key (`providers.<name>.<key>`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source itself refused to be built (e.g. a replay file that does not open).
    #[error(transparent)]
    Source(#[from] SourceError),
}
