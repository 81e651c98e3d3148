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
pub mod standin;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

pub use discover::{linked_providers, ProviderEntry, ProviderFn};
pub use error::RegistryError;
pub use spec::{Params, SourceContext, SourceSpec};

#[doc(hidden)]
pub use inventory as __inventory;

use crate::error::ConfigError;
use crate::source::TickSource;
use crate::symbol::SymbolTable;
use crate::sync::{AtomicU32, Ordering};

type FactoryFn =
    dyn Fn(&SourceSpec, &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> + Send + Sync;

/// Builds sources of one kind from a [`SourceSpec`] (the seed's source class).
///
/// A factory returned by [`SourceRegistry::load`] is bound to its registry:
/// [`create`](Self::create) names the source after the provider it was loaded as, gives it the
/// registry's next source id and interns into the registry's shared symbol table, so sources
/// from one registry can be routed together and their ticks' symbol ids mean the same thing.
/// [`build`](Self::build) takes the spec and context from the caller instead.
#[derive(Clone)]
pub struct SourceFactory {
    f: Arc<FactoryFn>,
    bound: Option<(String, Arc<RegistryShared>)>,
}

impl fmt::Debug for SourceFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bound {
            Some((name, _)) => write!(f, "SourceFactory({name:?})"),
            None => f.write_str("SourceFactory"),
        }
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
        SourceFactory {
            f: Arc::new(f),
            bound: None,
        }
    }

    /// Build a source from an explicit spec and context.
    ///
    /// # Errors
    /// Whatever the factory refuses, naming the TOML key.
    pub fn build(
        &self,
        spec: &SourceSpec,
        ctx: &SourceContext,
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        (self.f)(spec, ctx)
    }

    /// Build one with default parameters producing `symbols` (the seed's
    /// `source_cls(symbols=[...])`).
    ///
    /// From a factory that [`SourceRegistry::load`] returned: the source is named after the
    /// provider (`registry.load("ibkr")?.create(..)` is named `"ibkr"`), has the registry's
    /// next source id (1, 2, …) and interns into [`SourceRegistry::symbols`]. From a factory
    /// made with [`new`](Self::new): named `"source"`, id 0, a fresh symbol table.
    ///
    /// # Errors
    /// As [`build`](Self::build); a registry that has handed out all 65535 source ids.
    pub fn create<S: AsRef<str>>(
        &self,
        symbols: &[S],
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        self.create_with(symbols, toml::Table::new())
    }

    /// [`create`](Self::create) with parameters (the seed's
    /// `source_cls(symbols=[...], rate=1000)`), as in a `[providers.<name>]` section.
    ///
    /// ```
    /// use market_data_pipeline::registry::SourceRegistry;
    /// let registry = SourceRegistry::new();
    /// let params = toml::Table::from_iter([("rate".to_string(), toml::Value::from(1_000))]);
    /// let source = registry.load("synthetic")?.create_with(&["AAPL"], params)?;
    /// assert_eq!(source.name(), "synthetic");
    /// let bad = toml::Table::from_iter([("rat".to_string(), toml::Value::from(1))]);
    /// assert!(registry.load("synthetic")?.create_with(&["AAPL"], bad).is_err());
    /// # Ok::<(), market_data_pipeline::RegistryError>(())
    /// ```
    ///
    /// # Errors
    /// As [`create`](Self::create); parameters the factory does not know or accept.
    pub fn create_with<S: AsRef<str>>(
        &self,
        symbols: &[S],
        params: toml::Table,
    ) -> Result<Box<dyn TickSource>, RegistryError> {
        match &self.bound {
            Some((name, shared)) => {
                let ctx = SourceContext {
                    symbols: shared.symbols.clone(),
                    source_id: shared.next_source_id()?,
                };
                let mut spec = SourceSpec::new(name, symbols);
                spec.params = params;
                self.build(&spec, &ctx)
            }
            None => {
                let mut spec = SourceSpec::new("source", symbols);
                spec.params = params;
                self.build(&spec, &SourceContext::default())
            }
        }
    }

    fn bind(mut self, name: &str, shared: &Arc<RegistryShared>) -> SourceFactory {
        self.bound = Some((name.to_string(), shared.clone()));
        self
    }
}

/// What the sources a registry creates share.
#[derive(Debug)]
struct RegistryShared {
    symbols: Arc<SymbolTable>,
    /// The last source id handed out.
    last_id: AtomicU32,
}

impl RegistryShared {
    fn next_source_id(&self) -> Result<u16, ConfigError> {
        // Relaxed: a counter; uniqueness comes from the atomic increment itself.
        let id = self
            .last_id
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        u16::try_from(id).map_err(|_| {
            self.last_id.store(u32::from(u16::MAX), Ordering::Relaxed);
            ConfigError::new(
                "source_id",
                "this registry has handed out all 65535 source ids",
            )
        })
    }
}

/// Source factories by name. Cheap to share (`&self` everywhere; a lock guards the map, which
/// only the control plane touches).
#[derive(Debug)]
pub struct SourceRegistry {
    factories: RwLock<BTreeMap<String, SourceFactory>>,
    shared: Arc<RegistryShared>,
}

impl Default for SourceRegistry {
    fn default() -> Self {
        SourceRegistry::new()
    }
}

/// Names of the built-in factories.
pub const BUILTIN_KINDS: &[&str] = &["replay", "synthetic", "tcp"];

impl SourceRegistry {
    /// A registry with the built-ins (`synthetic`, `replay`, `tcp`). The seed's
    /// `SourceRegistry()` starts empty: that is [`empty`](Self::empty).
    pub fn new() -> SourceRegistry {
        let r = SourceRegistry::empty();
        r.register("synthetic", SourceFactory::new(builtin::synthetic));
        r.register("replay", SourceFactory::new(builtin::replay));
        r.register("tcp", SourceFactory::new(builtin::tcp));
        r
    }

    /// A registry with nothing registered: the seed's `SourceRegistry()`.
    pub fn empty() -> SourceRegistry {
        SourceRegistry::empty_with_symbols(Arc::new(SymbolTable::new()))
    }

    /// An empty registry whose created sources intern into `symbols`.
    pub fn empty_with_symbols(symbols: Arc<SymbolTable>) -> SourceRegistry {
        SourceRegistry {
            factories: RwLock::new(BTreeMap::new()),
            shared: Arc::new(RegistryShared {
                symbols,
                last_id: AtomicU32::new(0),
            }),
        }
    }

    /// The symbol table every source [`create`](SourceFactory::create)d from this registry's
    /// factories interns into.
    pub fn symbols(&self) -> &Arc<SymbolTable> {
        &self.shared.symbols
    }

    /// Register `factory` under `name`; returns the factory it replaces, if any.
    pub fn register(&self, name: &str, factory: SourceFactory) -> Option<SourceFactory> {
        crate::sync::write_lock(&self.factories).insert(name.to_string(), factory)
    }

    /// The factory registered under `name`, bound to this registry (its
    /// [`create`](SourceFactory::create) names sources `name`, with unique ids and the shared
    /// symbol table).
    ///
    /// # Errors
    /// [`RegistryError::UnknownSource`] listing the known names.
    pub fn load(&self, name: &str) -> Result<SourceFactory, RegistryError> {
        let map = crate::sync::read_lock(&self.factories);
        map.get(name)
            .map(|f| f.clone().bind(name, &self.shared))
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
                RegistryError::Config(ConfigError::new(
                    spec.key("kind"),
                    format!(
                        "unknown source kind {:?} (known: {})",
                        crate::error::bounded(&name),
                        crate::error::bounded_list(&known)
                    ),
                ))
            }
            other => other,
        })?;
        factory.build(spec, ctx)
    }

    /// The registered names, sorted.
    pub fn list_sources(&self) -> Vec<String> {
        crate::sync::read_lock(&self.factories)
            .keys()
            .cloned()
            .collect()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        crate::sync::read_lock(&self.factories).contains_key(name)
    }

    /// Register every provider linked into this binary with [`register_source_provider!`](crate::register_source_provider)
    /// (names registered explicitly keep their factory). Returns the names found, sorted.
    pub fn discover_entrypoints(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut map = crate::sync::write_lock(&self.factories);
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
