//! Stand-ins for the seed's IBKR and Polygon providers: deterministic, synthetic-backed
//! factories for examples and tests, so the seed's `registry.load("ibkr")` and
//! `registry.load("polygon")` run without a broker.
//!
//! They are not registered anywhere by default (the names belong to real providers): a binary
//! submits them under the seed's names, and `discover_entrypoints()` finds them as it would
//! find a provider crate's:
//!
//! ```
//! use market_data_pipeline::register_source_provider;
//! use market_data_pipeline::registry::{standin, SourceRegistry};
//! register_source_provider!("ibkr", standin::ibkr);
//! register_source_provider!("polygon", standin::polygon);
//!
//! let registry = SourceRegistry::empty();
//! registry.discover_entrypoints();
//! let ibkr = registry.load("ibkr").unwrap().create(&["AAPL"]).unwrap();
//! assert_eq!((ibkr.name(), ibkr.symbols()), ("ibkr", &["AAPL".to_string()][..]));
//! ```
//!
//! Each is the built-in `synthetic` source (unpaced unless `rate` is given) with its own fixed
//! seed (IBKR 1, Polygon 2), so two runs produce the same ticks. Besides the synthetic
//! parameters they take `fail_at_tick`: the source fails for good at that tick, to show a
//! router's fallback.

use crate::error::ConfigError;
use crate::registry::builtin;
use crate::registry::error::RegistryError;
use crate::registry::spec::{SourceContext, SourceSpec};
use crate::source::TickSource;

/// The IBKR stand-in: synthetic, seed 1.
///
/// # Errors
/// As [`builtin::synthetic`]; `fail_at_tick` that is not a non-negative integer.
pub fn ibkr(spec: &SourceSpec, ctx: &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> {
    standin(spec, ctx, 1)
}

/// The Polygon stand-in: synthetic, seed 2.
///
/// # Errors
/// As [`ibkr`].
pub fn polygon(
    spec: &SourceSpec,
    ctx: &SourceContext,
) -> Result<Box<dyn TickSource>, RegistryError> {
    standin(spec, ctx, 2)
}

fn standin(
    spec: &SourceSpec,
    ctx: &SourceContext,
    seed: i64,
) -> Result<Box<dyn TickSource>, RegistryError> {
    let mut spec = spec.clone();
    if let Some(at) = spec.params.remove("fail_at_tick") {
        let at = at.as_integer().filter(|v| *v >= 0).ok_or_else(|| {
            ConfigError::new(
                spec.key("fail_at_tick"),
                format!("expected a non-negative integer, found {at}"),
            )
        })?;
        let mut fault = toml::Table::new();
        fault.insert("at_tick".into(), at.into());
        fault.insert("kind".into(), "fail".into());
        spec.params.insert(
            "faults".into(),
            toml::Value::Array(vec![toml::Value::Table(fault)]),
        );
    }
    spec.params.entry("seed").or_insert(seed.into());
    builtin::synthetic(&spec, ctx)
}
