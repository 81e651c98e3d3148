//! `SourceSpec`: what a factory builds a source from (a provider's section of the settings),
//! and typed access to its parameters with errors that name the TOML key.

use std::sync::Arc;

use crate::error::ConfigError;
use crate::symbol::SymbolTable;

/// A provider's source configuration: `[providers.<name>]` with `kind`, `symbols` and the
/// kind's own parameters.
///
/// ```
/// use market_data_pipeline::registry::SourceSpec;
/// let spec = SourceSpec::named("primary", "synthetic", &["AAPL", "MSFT"])
///     .param("rate", 1_000_000)
///     .param("seed", 7);
/// assert_eq!(spec.key("rate"), "providers.primary.rate");
/// assert_eq!(spec.params().u64("seed").unwrap(), Some(7));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceSpec {
    /// The provider's name (key of `[providers.<name>]`; the source's name).
    pub name: String,
    /// The registered factory that builds it (`synthetic`, `replay`, or a discovered one).
    pub kind: String,
    /// Symbols to produce (a pipeline may override them).
    pub symbols: Vec<String>,
    /// Everything else in the section, for the factory to read.
    pub params: toml::Table,
}

impl SourceSpec {
    /// A spec of `kind`, named after it, with no parameters.
    pub fn new<S: AsRef<str>>(kind: &str, symbols: &[S]) -> SourceSpec {
        SourceSpec::named(kind, kind, symbols)
    }

    /// A spec named `name` of `kind`.
    pub fn named<S: AsRef<str>>(name: &str, kind: &str, symbols: &[S]) -> SourceSpec {
        SourceSpec {
            name: name.to_string(),
            kind: kind.to_string(),
            symbols: symbols.iter().map(|s| s.as_ref().to_string()).collect(),
            params: toml::Table::new(),
        }
    }

    /// Set parameter `key`.
    pub fn param(mut self, key: &str, value: impl Into<toml::Value>) -> SourceSpec {
        self.params.insert(key.to_string(), value.into());
        self
    }

    /// The same spec producing `symbols` instead.
    pub fn with_symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> SourceSpec {
        self.symbols = symbols.iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// The TOML key path of `field`: `providers.<name>.<field>`.
    pub fn key(&self, field: &str) -> String {
        format!("providers.{}.{field}", self.name)
    }

    /// Typed access to the parameters.
    pub fn params(&self) -> Params<'_> {
        Params { spec: self }
    }
}

/// What a factory gets besides the spec: the pipeline's symbol table and the source id to
/// stamp into ticks.
#[derive(Clone, Debug)]
pub struct SourceContext {
    /// Symbols are interned here.
    pub symbols: Arc<SymbolTable>,
    /// Source id written into every tick (distinct per source of a router).
    pub source_id: u16,
}

impl Default for SourceContext {
    fn default() -> Self {
        SourceContext {
            symbols: Arc::new(SymbolTable::new()),
            source_id: 0,
        }
    }
}

impl SourceContext {
    /// A context interning into `symbols`, source id 0.
    pub fn new(symbols: Arc<SymbolTable>) -> SourceContext {
        SourceContext {
            symbols,
            source_id: 0,
        }
    }
}

/// Typed reads of a spec's parameters; every error names `providers.<name>.<key>`.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    spec: &'a SourceSpec,
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.spec.params.get(key)
    }

    fn wrong(&self, key: &str, expected: &str, v: &toml::Value) -> ConfigError {
        ConfigError::new(
            self.spec.key(key),
            format!("expected {expected}, found {} {v}", type_name(v)),
        )
    }

    /// Fail on any key not in `known` (catches typos such as `rat = 5`).
    ///
    /// # Errors
    /// The first unknown key, with the known ones.
    pub fn only(&self, known: &[&str]) -> Result<(), ConfigError> {
        match self
            .spec
            .params
            .keys()
            .find(|k| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some(k) => Err(ConfigError::new(
                self.spec.key(k),
                format!(
                    "unknown parameter for kind {:?} (known: {})",
                    self.spec.kind,
                    known.join(", ")
                ),
            )),
        }
    }

    /// A non-negative integer.
    ///
    /// # Errors
    /// Another type, or a negative number.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ toml::Value::Integer(i)) => u64::try_from(*i)
                .map(Some)
                .map_err(|_| self.wrong(key, "a non-negative integer", v)),
            Some(v) => Err(self.wrong(key, "a non-negative integer", v)),
        }
    }

    /// A number (integers are accepted).
    ///
    /// # Errors
    /// Another type.
    pub fn f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Float(f)) => Ok(Some(*f)),
            Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(self.wrong(key, "a number", v)),
        }
    }

    /// A string.
    ///
    /// # Errors
    /// Another type.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A boolean.
    ///
    /// # Errors
    /// Another type.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    /// An array of tables (`faults = [{ at_tick = 1, kind = "error" }]`).
    ///
    /// # Errors
    /// Another type, or an element that is not a table (named `key[i]`).
    pub fn tables(&self, key: &str) -> Result<Vec<&'a toml::Table>, ConfigError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    toml::Value::Table(t) => Ok(t),
                    v => Err(self.wrong(&format!("{key}[{i}]"), "a table", v)),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "an array of tables", v)),
        }
    }
}
