//! Providers linked in from other crates: the Rust analogue of Python entry points.
//!
//! A provider crate submits a [`ProviderEntry`] with [`register_source_provider!`](crate::register_source_provider); the entry is
//! collected at link time by `inventory`, and
//! [`SourceRegistry::discover_entrypoints`](super::SourceRegistry::discover_entrypoints) registers
//! every entry of the final binary:
//!
//! ```ignore
//! // in the provider crate (depends on market-data-pipeline):
//! fn build(spec: &SourceSpec, ctx: &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> {
//!     /* ... */
//! }
//! market_data_pipeline::register_source_provider!("constant", build);
//! ```
//!
//! The binary must link the provider crate: depend on it and name it once
//! (`use my_provider as _;`), as with any crate used only for its side effects.

use crate::registry::error::RegistryError;
use crate::registry::spec::{SourceContext, SourceSpec};
use crate::source::TickSource;

/// A factory function, as providers submit it.
pub type ProviderFn = fn(&SourceSpec, &SourceContext) -> Result<Box<dyn TickSource>, RegistryError>;

/// One provider submitted at link time.
#[derive(Debug)]
pub struct ProviderEntry {
    /// The name it registers under (`kind = "<name>"` in the settings).
    pub name: &'static str,
    /// Its factory.
    pub factory: ProviderFn,
    /// The crate that submitted it (for listings).
    pub origin: &'static str,
}

impl ProviderEntry {
    /// An entry; use [`register_source_provider!`](crate::register_source_provider) rather than calling this.
    pub const fn new(name: &'static str, factory: ProviderFn, origin: &'static str) -> Self {
        ProviderEntry {
            name,
            factory,
            origin,
        }
    }
}

inventory::collect!(ProviderEntry);

/// Every entry linked into this binary, in no particular order.
pub fn linked_providers() -> impl Iterator<Item = &'static ProviderEntry> {
    inventory::iter::<ProviderEntry>.into_iter()
}

/// Submit a source provider for [`discover_entrypoints`](crate::registry::SourceRegistry::discover_entrypoints).
///
/// `register_source_provider!("name", factory_fn);` where `factory_fn` is a
/// [`ProviderFn`](crate::registry::ProviderFn). Use it at module level of the provider crate.
#[macro_export]
macro_rules! register_source_provider {
    ($name:expr, $factory:expr $(,)?) => {
        $crate::registry::__inventory::submit! {
            $crate::registry::ProviderEntry::new($name, $factory, ::core::module_path!())
        }
    };
}
