//! `PipelineSpec` (what `run_pipeline` starts) and `PipelineKey` (how it is named afterwards).

use std::fmt;
use std::time::Duration;

/// The name of a running pipeline: `tenant/pipeline`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipelineKey(String);

impl PipelineKey {
    /// The key of `pipeline_id` of `tenant_id`.
    pub fn new(tenant_id: &str, pipeline_id: &str) -> PipelineKey {
        PipelineKey(format!("{tenant_id}/{pipeline_id}"))
    }

    /// `tenant/pipeline`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PipelineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PipelineKey {
    fn from(s: &str) -> PipelineKey {
        PipelineKey(s.to_string())
    }
}

/// The operator stage of a runtime pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OperatorSpec {
    /// Ticks unchanged.
    #[default]
    Passthrough,
    /// OHLCV bars over this window.
    Bars {
        /// Bar window.
        window: Duration,
    },
}

/// What [`run_pipeline`](super::PipelineRuntime::run_pipeline) starts.
///
/// ```
/// use market_data_pipeline::runtime::{OperatorSpec, PipelineSpec};
/// use std::time::Duration;
/// let spec = PipelineSpec::new("my_tenant", "bars")
///     .sources(&["primary", "backup"])
///     .symbols(&["AAPL", "MSFT"])
///     .operator(OperatorSpec::Bars { window: Duration::from_secs(1) })
///     .max_ticks(1_000_000);
/// assert_eq!(spec.key().as_str(), "my_tenant/bars");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineSpec {
    /// Tenant.
    pub tenant_id: String,
    /// Pipeline id (unique per tenant among running pipelines).
    pub pipeline_id: String,
    /// Providers to read, in priority order; several are routed. Empty: the settings'
    /// `default_sources`.
    pub sources: Vec<String>,
    /// Symbols; empty: each provider's own.
    pub symbols: Vec<String>,
    /// The operator.
    pub operator: OperatorSpec,
    /// End the stream after this many ticks (bounded runs, tests); `None`: until stopped.
    pub max_ticks: Option<u64>,
    /// Run the stages on dedicated threads of their own instead of the runtime's workers: for
    /// latency-critical pipelines (default `false`).
    pub dedicated: bool,
    /// Run on exactly one host at a time (default `false`): a coordination layer outside the
    /// core starts it only where it owns it ([`PipelineRuntime::run_owned_pipeline`]) and stops
    /// it when fenced out. Run through [`PipelineRuntime::run_pipeline`], this runtime is
    /// taken to be the only host.
    ///
    /// [`PipelineRuntime::run_owned_pipeline`]: super::PipelineRuntime::run_owned_pipeline
    /// [`PipelineRuntime::run_pipeline`]: super::PipelineRuntime::run_pipeline
    pub singleton: bool,
}

impl PipelineSpec {
    /// A spec for `pipeline_id` of `tenant_id` reading the default sources.
    pub fn new(tenant_id: &str, pipeline_id: &str) -> PipelineSpec {
        PipelineSpec {
            tenant_id: tenant_id.to_string(),
            pipeline_id: pipeline_id.to_string(),
            ..PipelineSpec::default()
        }
    }

    /// Read these providers (priority order).
    pub fn sources<S: AsRef<str>>(mut self, names: &[S]) -> PipelineSpec {
        self.sources = names.iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// Produce these symbols.
    pub fn symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> PipelineSpec {
        self.symbols = symbols.iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// Use this operator.
    pub fn operator(mut self, op: OperatorSpec) -> PipelineSpec {
        self.operator = op;
        self
    }

    /// End after `n` ticks.
    pub fn max_ticks(mut self, n: u64) -> PipelineSpec {
        self.max_ticks = Some(n);
        self
    }

    /// Run on dedicated threads (`true`) or on the runtime's workers (`false`, the default).
    pub fn dedicated(mut self, on: bool) -> PipelineSpec {
        self.dedicated = on;
        self
    }

    /// Mark it a singleton ([`PipelineSpec::singleton`]).
    pub fn singleton(mut self, on: bool) -> PipelineSpec {
        self.singleton = on;
        self
    }

    /// Its key.
    pub fn key(&self) -> PipelineKey {
        PipelineKey::new(&self.tenant_id, &self.pipeline_id)
    }
}
