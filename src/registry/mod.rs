//! `SourceRegistry`: source factories by name, the built-ins, and providers discovered at link
//! time.
//!
//! The seed's usage, line for line:
//!
//! ```
//! use market_data_pipeline::registry::{SourceRegistry, SourceFactory};
//! use market_data_pipeline::registry::builtin;
//! # fn main() -> Result<(), market_data_pipeline::registry::RegistryError> {
//! let registry = SourceRegistry::empty();
//!
//! // Manual registration
//! registry.register("synthetic", SourceFactory::new(builtin::synthetic));
//!
//! // Load by name
//! let source_cls = registry.load("synthetic")?;
//! let source = source_cls.create(&["AAPL"])?;
//! assert_eq!(source.symbols(), ["AAPL"]);
//!
//! // Discover external providers (none are linked into this doctest)
//! registry.discover_entrypoints();
//!
//! // Unknown names list the known ones
//! let err = registry.load("ibkr").unwrap_err();
//! assert_eq!(err.to_string(), "unknown source \"ibkr\" (known: synthetic)");
//! # Ok(()) }
//! ```

pub mod builtin;
mod discover;
mod error;
mod spec;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

pub use discover::{linked_providers, ProviderEntry, ProviderFn};
pub use error::RegistryError;
pub use spec::{Params, SourceContext, SourceSpec};

#[doc(hidden)]
pub use inventory as __inventory;

use crate::source::TickSource;

type FactoryFn =
    dyn Fn(&SourceSpec, &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> + Send + Sync;

/// Builds sources of one kind from a [`SourceSpec`] (the seed's source class).
#[derive(Clone)]
pub struct SourceFactory(Arc<FactoryFn>);

impl fmt::Debug for SourceFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourceFactory")
    }
}

impl SourceFactory {
    /// A factory from a function or closure.
    pub fn new<F>(f: F) -> SourceFactory
    where
        F: Fn(&SourceSpec, &SourceContext) -> Result<Box<dyn TickSource>, RegistryError>
            + Send
            + Sync
            + 'static,
    {
        SourceFactory(Arc::new(f))
    }

    /// Build a source.
    ///
    /// # Errors
    /// Whatever the factory refuses, naming the TOML key.
    pub fn build(
        &self,
        spec: &SourceSpec,
        ctx: &SourceContext,
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        (self.0)(spec, ctx)
    }

    /// Build one with default parameters producing `symbols` (the seed's
    /// `source_cls(symbols=[...])`), interning into a fresh symbol table.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn create<S: AsRef<str>>(
        &self,
        symbols: &[S],
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        self.build(
            &SourceSpec::new("source", symbols),
            &SourceContext::default(),
        )
    }
}

/// Source factories by name. Cheap to share (`&self` everywhere; a lock guards the map, which
/// only the control plane touches).
#[derive(Debug)]
pub struct SourceRegistry {
    factories: RwLock<BTreeMap<String, SourceFactory>>,
}

impl Default for SourceRegistry {
    fn default() -> Self {
        SourceRegistry::new()
    }
}

/// Names of the built-in factories.
pub const BUILTIN_KINDS: &[&str] = &["replay", "synthetic", "tcp"];

impl SourceRegistry {
    /// A registry with the built-ins (`synthetic`, `replay`, `tcp`).
    pub fn new() -> SourceRegistry {
        let r = SourceRegistry::empty();
        r.register("synthetic", SourceFactory::new(builtin::synthetic));
        r.register("replay", SourceFactory::new(builtin::replay));
        r.register("tcp", SourceFactory::new(builtin::tcp));
        r
    }

    /// A registry with nothing registered.
    pub fn empty() -> SourceRegistry {
        SourceRegistry {
            factories: RwLock::new(BTreeMap::new()),
        }
    }

    /// Register `factory` under `name`; returns the factory it replaces, if any.
    pub fn register(&self, name: &str, factory: SourceFactory) -> Option<SourceFactory> {
        self.factories
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), factory)
    }

    /// The factory registered under `name`.
    ///
    /// # Errors
    /// [`RegistryError::UnknownSource`] listing the known names.
    pub fn load(&self, name: &str) -> Result<SourceFactory, RegistryError> {
        let map = self.factories.read().unwrap_or_else(|e| e.into_inner());
        map.get(name)
            .cloned()
            .ok_or_else(|| RegistryError::UnknownSource {
                name: name.to_string(),
                known: map.keys().cloned().collect(),
            })
    }

    /// Build the source `spec` describes with the factory of `spec.kind`.
    ///
    /// # Errors
    /// An unknown kind (named `providers.<name>.kind`, listing the known kinds), or whatever
    /// the factory refuses.
    pub fn build(
        &self,
        spec: &SourceSpec,
        ctx: &SourceContext,
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        let factory = self.load(&spec.kind).map_err(|e| match e {
            RegistryError::UnknownSource { name, known } => {
                RegistryError::Config(crate::error::ConfigError::new(
                    spec.key("kind"),
                    format!("unknown source kind {name:?} (known: {})", known.join(", ")),
                ))
            }
            other => other,
        })?;
        factory.build(spec, ctx)
    }

    /// The registered names, sorted.
    pub fn list_sources(&self) -> Vec<String> {
        self.factories
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    /// Register every provider linked into this binary with [`register_source_provider!`](crate::register_source_provider)
    /// (names registered explicitly keep their factory). Returns the names found, sorted.
    pub fn discover_entrypoints(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut map = self.factories.write().unwrap_or_else(|e| e.into_inner());
        for entry in linked_providers() {
            let f = entry.factory;
            map.entry(entry.name.to_string())
                .or_insert_with(|| SourceFactory::new(f));
            found.push(entry.name.to_string());
        }
        found.sort();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests;
