//! `PipelineRuntimeSettings`: the seed's fields, providers and pipeline defaults; validated
//! before use and before every live swap, with errors naming the field path.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::ConfigError;
use crate::flow::ProviderLimits;
use crate::pipeline::PipelineSettings;
use crate::registry::SourceSpec;
use crate::router::{RouterConfig, RoutingStrategy};
use crate::runtime::spec::PipelineSpec;

/// One provider: how to build its source, and its budget and breaker.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSettings {
    /// The source (`kind`, `symbols`, parameters).
    pub source: SourceSpec,
    /// Every poll chunk costs one token of the provider's budget.
    pub request_based: bool,
    /// Burst capacity of the budget (default 60).
    pub capacity: Option<u64>,
    /// Tokens per second (default 60).
    pub refill_rate: Option<u64>,
    /// Default cooldown, seconds, fractions allowed (default 600).
    pub cooldown_sec: Option<f64>,
    /// Breaker threshold (default: the runtime's `circuit_breaker_threshold`).
    pub breaker_threshold: Option<u32>,
    /// Breaker timeout, seconds (default: the runtime's `circuit_breaker_timeout_sec`).
    pub breaker_timeout: Option<f64>,
}

impl ProviderSettings {
    /// A provider of source `kind` (a registered factory: `synthetic`, `replay`, a discovered
    /// provider…), with default limits, not request-based. It takes its name from its key in
    /// [`PipelineRuntimeSettings::providers`]: nothing to repeat.
    ///
    /// ```
    /// use market_data_pipeline::runtime::{PipelineRuntimeSettings, ProviderSettings};
    /// let settings = PipelineRuntimeSettings {
    ///     providers: [
    ///         ("ibkr".into(), ProviderSettings::kind("synthetic").param("seed", 1)),
    ///         ("polygon".into(), ProviderSettings::kind("synthetic").param("seed", 2)),
    ///     ].into(),
    ///     default_sources: vec!["ibkr".into(), "polygon".into()],
    ///     ..Default::default()
    /// };
    /// assert!(settings.validate().is_ok());
    /// assert_eq!(settings.provider_spec("ibkr").unwrap().name, "ibkr");
    /// ```
    pub fn kind(kind: &str) -> ProviderSettings {
        ProviderSettings::new(SourceSpec::named::<&str>("", kind, &[]))
    }

    /// Set source parameter `key` (as in `[providers.<name>]`).
    pub fn param(mut self, key: &str, value: impl Into<toml::Value>) -> ProviderSettings {
        self.source = self.source.param(key, value);
        self
    }

    /// Produce `symbols` when a pipeline names none.
    pub fn symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> ProviderSettings {
        self.source = self.source.with_symbols(symbols);
        self
    }

    /// A provider building `source` (named like its key, or unnamed), with default limits,
    /// not request-based.
    pub fn new(source: SourceSpec) -> ProviderSettings {
        ProviderSettings {
            source,
            request_based: false,
            capacity: None,
            refill_rate: None,
            cooldown_sec: None,
            breaker_threshold: None,
            breaker_timeout: None,
        }
    }
}

/// The former name of [`PipelineSettings`], which is now the one type both
/// `create_pipeline_with` and [`PipelineRuntimeSettings::pipeline`] take.
pub type PipelineDefaults = PipelineSettings;

/// Settings of a [`PipelineRuntime`](super::PipelineRuntime).
///
/// `Default` is ready to stream: one provider, `synthetic`, registered with the coordinator.
///
/// ```
/// use market_data_pipeline::runtime::PipelineRuntimeSettings;
/// let settings = PipelineRuntimeSettings {
///     orchestration_enabled: true,
///     max_concurrent_pipelines: 10,
///     enable_rate_coordination: true,
///     circuit_breaker_threshold: 5,
///     circuit_breaker_timeout_sec: 60.0,
///     ..Default::default()
/// };
/// assert!(settings.validate().is_ok());
/// let bad = PipelineRuntimeSettings { max_concurrent_pipelines: 0, ..Default::default() };
/// assert_eq!(bad.validate().unwrap_err().field, "max_concurrent_pipelines");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineRuntimeSettings {
    /// Route multi-source pipelines and coordinate rates. `false`: each pipeline reads its
    /// first source directly, without budget, breaker or router.
    pub orchestration_enabled: bool,
    /// Pipelines (quote streams included) that may run at once.
    pub max_concurrent_pipelines: usize,
    /// Admit request-based sources' poll chunks through their provider's budget.
    pub enable_rate_coordination: bool,
    /// Default breaker threshold of providers.
    pub circuit_breaker_threshold: u32,
    /// Default breaker timeout of providers, seconds.
    pub circuit_breaker_timeout_sec: f64,
    /// How multi-source pipelines pick a source (their `SourceRouter`'s strategy).
    pub routing_strategy: RoutingStrategy,
    /// How long a failed source stays out before fail-back is probed, ms (router hold-down).
    pub routing_hold_down_ms: u64,
    /// A routed source that produces nothing for this long is stale and failed over, ms
    /// (for sources that declare no staleness bound).
    pub routing_staleness_ms: u64,
    /// Providers used when a pipeline names none, in priority order.
    pub default_sources: Vec<String>,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Defaults of every pipeline (the seed's `pipeline=PipelineSettings(...)`).
    pub pipeline: PipelineSettings,
    /// Pipelines to start with the runtime (`mdp run --config`).
    pub pipelines: Vec<PipelineSpec>,
    /// Worker threads hosting the stages of every pipeline and quote stream (default: one
    /// per available core; 1 to [`MAX_WORKERS`](crate::exec::MAX_WORKERS)). Worker `i` is
    /// pinned to core `i mod cores`. Fixed when the runtime starts. A pipeline that asks for
    /// [`dedicated`](PipelineSpec::dedicated) threads runs beside them instead.
    pub workers: usize,
    /// The `[coordination]` section (TOML text), for a coordination layer outside the core
    /// (the workspace crate `mdp-redis` shares provider budgets through Redis with it); the
    /// core keeps it and does not read it.
    pub coordination: Option<String>,
    /// Serve the OpenMetrics text of [`metrics::render`](crate::metrics::render) at
    /// `http://<metrics_addr>/metrics` (an `IP:port`, e.g. `127.0.0.1:9100`; port 0 picks a
    /// free one, see [`PipelineRuntime::metrics_addr`](super::PipelineRuntime::metrics_addr)).
    /// `None` (the default): no server. Fixed when the runtime starts.
    pub metrics_addr: Option<String>,
}

impl Default for PipelineRuntimeSettings {
    fn default() -> Self {
        let mut providers = BTreeMap::new();
        providers.insert(
            "synthetic".to_string(),
            ProviderSettings::new(SourceSpec::new::<&str>("synthetic", &[])),
        );
        PipelineRuntimeSettings {
            orchestration_enabled: true,
            max_concurrent_pipelines: 10,
            enable_rate_coordination: true,
            circuit_breaker_threshold: 5,
            circuit_breaker_timeout_sec: 60.0,
            routing_strategy: RoutingStrategy::First,
            routing_hold_down_ms: 5_000,
            routing_staleness_ms: 2_000,
            default_sources: vec!["synthetic".to_string()],
            providers,
            pipeline: PipelineSettings::default(),
            pipelines: Vec::new(),
            workers: crate::pin::available_cores(),
            coordination: None,
            metrics_addr: None,
        }
    }
}

fn positive(field: &str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::new(field, "must be greater than 0"));
    }
    Ok(())
}

impl PipelineRuntimeSettings {
    /// The source spec of provider `name`, named `name` (a provider's spec may leave its name
    /// empty: its key names it).
    pub fn provider_spec(&self, name: &str) -> Option<SourceSpec> {
        let mut spec = self.providers.get(name)?.source.clone();
        if spec.name.is_empty() {
            spec.name = name.to_string();
        }
        Some(spec)
    }

    /// The coordinator limits of provider `name`: its own values, else the runtime's breaker
    /// defaults, else [`ProviderLimits::default`].
    pub fn provider_limits(&self, name: &str) -> Option<ProviderLimits> {
        let p = self.providers.get(name)?;
        let d = ProviderLimits::default();
        Some(ProviderLimits {
            capacity: p.capacity.unwrap_or(d.capacity),
            refill_rate: p.refill_rate.unwrap_or(d.refill_rate),
            cooldown_sec: p.cooldown_sec.unwrap_or(d.cooldown_sec),
            breaker_threshold: p
                .breaker_threshold
                .unwrap_or(self.circuit_breaker_threshold),
            breaker_timeout: p
                .breaker_timeout
                .unwrap_or(self.circuit_breaker_timeout_sec),
            ..d
        })
    }

    /// `base` with the fields these settings own: strategy, hold-down, staleness, and the
    /// router's breaker threshold and timeout (which guard only routed sources without a
    /// provider: a runtime's routed sources poll through their provider's gate and breaker).
    pub fn router_config(&self, base: RouterConfig) -> RouterConfig {
        RouterConfig {
            strategy: self.routing_strategy,
            hold_down: Duration::from_millis(self.routing_hold_down_ms),
            default_staleness: Duration::from_millis(self.routing_staleness_ms),
            breaker_threshold: self.circuit_breaker_threshold,
            breaker_timeout: Duration::try_from_secs_f64(self.circuit_breaker_timeout_sec)
                .unwrap_or(Duration::MAX),
            ..base
        }
    }

    /// Check every field that can be checked without building sources (the runtime also
    /// builds each provider's source once to check its parameters).
    ///
    /// # Errors
    /// The first invalid field, by path (`providers.primary.refill_rate`, `pipelines[2].sources[0]`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("max_concurrent_pipelines", self.max_concurrent_pipelines)?;
        crate::exec::check_workers("workers", self.workers)?;
        if let Some(addr) = &self.metrics_addr {
            crate::metrics::parse_addr("metrics_addr", addr)?;
        }
        if self.circuit_breaker_threshold == 0 {
            return Err(ConfigError::new(
                "circuit_breaker_threshold",
                "must be greater than 0",
            ));
        }
        if !(self.circuit_breaker_timeout_sec.is_finite()
            && self.circuit_breaker_timeout_sec >= 0.0)
        {
            return Err(ConfigError::new(
                "circuit_breaker_timeout_sec",
                format!(
                    "{} is not a non-negative number of seconds",
                    self.circuit_breaker_timeout_sec
                ),
            ));
        }
        self.router_config(RouterConfig::default())
            .validate()
            .map_err(|e| {
                let field = match e.field.as_str() {
                    "router.strategy" => "routing_strategy",
                    "router.hold_down" => "routing_hold_down_ms",
                    "router.default_staleness" => "routing_staleness_ms",
                    "router.breaker_threshold" => "circuit_breaker_threshold",
                    "router.breaker_timeout" => "circuit_breaker_timeout_sec",
                    other => other,
                };
                ConfigError::new(field, e.reason)
            })?;
        if self.providers.is_empty() {
            return Err(ConfigError::new(
                "providers",
                "at least one provider is needed",
            ));
        }
        if self.providers.len() > crate::flow::MAX_PROVIDERS {
            return Err(ConfigError::new(
                "providers",
                format!(
                    "{} providers; at most {} can be registered",
                    self.providers.len(),
                    crate::flow::MAX_PROVIDERS
                ),
            ));
        }
        for (name, p) in &self.providers {
            if !p.source.name.is_empty() && p.source.name != *name {
                return Err(ConfigError::new(
                    format!("providers.{name}"),
                    format!(
                        "source is named {:?}, not {:?}",
                        crate::error::bounded(&p.source.name),
                        crate::error::bounded(name)
                    ),
                ));
            }
            if p.source.kind.is_empty() {
                return Err(ConfigError::new(
                    format!("providers.{name}.kind"),
                    "missing",
                ));
            }
            if let Some(limits) = self.provider_limits(name) {
                limits.validate(name)?;
            }
        }
        if self.default_sources.is_empty() {
            return Err(ConfigError::new(
                "default_sources",
                "at least one provider is needed (priority order)",
            ));
        }
        self.check_sources("default_sources", &self.default_sources)?;
        self.check_defaults()?;
        let mut keys = std::collections::BTreeSet::new();
        for (i, spec) in self.pipelines.iter().enumerate() {
            let at = |f: &str| format!("pipelines[{i}].{f}");
            if spec.tenant_id.is_empty() {
                return Err(ConfigError::new(at("tenant_id"), "must not be empty"));
            }
            if spec.pipeline_id.is_empty() {
                return Err(ConfigError::new(at("pipeline_id"), "must not be empty"));
            }
            if !keys.insert(spec.key()) {
                return Err(ConfigError::new(
                    at("pipeline_id"),
                    format!("{} is already used by an earlier pipeline", spec.key()),
                ));
            }
            self.check_sources(&at("sources"), &spec.sources)?;
        }
        if self.pipelines.len() > self.max_concurrent_pipelines {
            return Err(ConfigError::new(
                "pipelines",
                format!(
                    "{} pipelines exceed max_concurrent_pipelines = {}",
                    self.pipelines.len(),
                    self.max_concurrent_pipelines
                ),
            ));
        }
        Ok(())
    }

    /// Every name in `names` is a configured provider (errors name `field[i]`).
    pub(crate) fn check_sources(&self, field: &str, names: &[String]) -> Result<(), ConfigError> {
        for (i, n) in names.iter().enumerate() {
            if !self.providers.contains_key(n) {
                // At most 16 names in the message: there may be a quarter million.
                let mut known: Vec<&str> =
                    self.providers.keys().take(16).map(String::as_str).collect();
                if self.providers.len() > 16 {
                    known.push("…");
                }
                return Err(ConfigError::new(
                    format!("{field}[{i}]"),
                    format!(
                        "unknown provider {:?} (configured: {})",
                        crate::error::bounded(n),
                        crate::error::bounded_list(&known)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_defaults(&self) -> Result<(), ConfigError> {
        let d = &self.pipeline;
        positive("pipeline.chunk_size", d.chunk_size)?;
        if let Some(slots) = d.ring_capacity {
            positive("pipeline.ring_capacity", slots)?;
        }
        positive("pipeline.batch_rows", d.batch_rows)?;
        positive("pipeline.stream_capacity", d.stream_capacity)?;
        // Unset, the ring capacity is a host's default: at least a chunk, up to the largest
        // ring (so the chunk must fit in one).
        for (field, slots) in [
            ("pipeline.ring_capacity", d.ring_capacity),
            ("pipeline.stream_capacity", Some(d.stream_capacity)),
            ("pipeline.chunk_size", Some(d.chunk_size)),
        ] {
            if let Some(slots) = slots {
                crate::ring::check_capacity::<crate::tick::Tick>(slots)
                    .map_err(|e| ConfigError::new(field, e.reason))?;
            }
        }
        if let Some(slots) = d.ring_capacity.filter(|&n| n < d.chunk_size) {
            return Err(ConfigError::new(
                "pipeline.ring_capacity",
                format!("{slots} is smaller than chunk_size {}", d.chunk_size),
            ));
        }
        if d.batch_age.is_zero() {
            return Err(ConfigError::new(
                "pipeline.batch_age_ms",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}
