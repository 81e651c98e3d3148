//! Prometheus / OpenMetrics metrics of a [`PipelineRuntime`], rendered at scrape time from the
//! counters the engine keeps anyway (no work per tick), and a small blocking HTTP responder
//! serving them.
//!
//! ```
//! use market_data_pipeline::runtime::{PipelineRuntime, PipelineSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = PipelineRuntime::start(Default::default())?;
//! let key = runtime.run_pipeline(PipelineSpec::new("t", "p").symbols(&["AAPL"]).max_ticks(1_000))?;
//! // The OpenMetrics text, without any server (for users who embed it in their own):
//! let text = market_data_pipeline::metrics::render(&runtime);
//! assert!(text.contains("# TYPE mdp_pipeline_produced counter"));
//! assert!(text.contains(&format!("mdp_pipeline_produced_total{{pipeline=\"{key}\"")));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok(()) }
//! ```
//!
//! With [`metrics_addr`](crate::runtime::PipelineRuntimeSettings::metrics_addr) set, the
//! runtime serves the same text at `http://<addr>/metrics` ([`MetricsServer`]).
//!
//! # Families
//! Every name starts with `mdp_`; counters end in `_total`, times are in seconds.
//!
//! | family | labels | from |
//! |---|---|---|
//! | `mdp_provider_admitted_total`, `…_rate_limited_total`, `…_cooldown_refused_total`, `…_breaker_refused_total` | `provider` | [`ProviderCounters`](crate::flow::ProviderCounters) |
//! | `mdp_provider_cooldown_remaining_seconds`, `mdp_provider_cooldown_deadline_seconds` (Unix time) | `provider`, `scope` | running cooldowns |
//! | `mdp_provider_breaker_state` (1 for the state it is in) | `provider`, `state` | [`BreakerStats`](crate::flow::BreakerStats) |
//! | `mdp_provider_breaker_transitions_total` | `provider`, `to` | [`BreakerStats`](crate::flow::BreakerStats) |
//! | `mdp_provider_budget_scale`, `mdp_provider_tokens` (`window`) | `provider` | [`ProviderState`](crate::flow::ProviderState) |
//! | `mdp_pipeline_{produced,processed,delivered,dropped,conflated,after_close,late,lost,source_errors}_total` | `pipeline`, `kind` | [`PipelineStats`](crate::pipeline::PipelineStats) |
//! | `mdp_pipeline_operator_{filtered,duplicates,conflated}_total` | `pipeline`, `kind` | [`OperatorStats`](crate::operator::OperatorStats) |
//! | `mdp_pipeline_in_flight`, `mdp_pipeline_state` (1 for its state) | `pipeline`, `kind` (`state`) | [`PipelineStats`](crate::pipeline::PipelineStats) |
//! | `mdp_pipeline_latency_seconds` (histogram, `ts_recv` → sink write) | `pipeline`, `kind` | [`LatencyBuckets`] at [`LATENCY_BOUNDS_NS`] |
//! | `mdp_router_active_source` (1 for the delivered one) | `pipeline`, `source` | [`RouterStats`](crate::router::RouterStats) |
//! | `mdp_router_switches_total` | `pipeline`, `reason` | [`RouterStats::switches_by_reason`](crate::router::RouterStats::switches_by_reason) |
//! | `mdp_router_source_{delivered,errors,drained}_total`, `mdp_router_source_staleness_seconds` | `pipeline`, `source` | [`RouterStats::sources`](crate::router::RouterStats::sources) |
//! | `mdp_router_{gaps,duplicates,late}_total` | `pipeline` | `Arbitrate`'s sequence window |
//! | `mdp_runtime_settings_version`, `mdp_runtime_pipelines` | | the runtime |
//!
//! `dropped` and `conflated` count what backpressure took on the pipeline's own source edge
//! and on its fan-out subscription ring; `after_close` what its subscription was offered after
//! it stopped reading (a bounded pipeline done, a stopped one: see
//! [`EdgeStats::after_close`](crate::ring::EdgeStats::after_close)), which is no loss;
//! `late` is its operator's late ticks. The histogram's
//! `_sum` comes from the histogram's bucket values (3 significant digits).

mod families;
mod server;

use std::net::SocketAddr;

use crate::error::ConfigError;
use crate::pipeline::LatencyBuckets;
use crate::runtime::{PipelineRuntime, RuntimeSnapshot};

pub use server::{MetricsServer, ServerError, MAX_REQUEST_BYTES, REQUEST_DEADLINE};

/// Upper bounds of the latency histogram's buckets, ns (1 µs to 10 s, 1-2.5-5 steps).
pub const LATENCY_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// What one scrape reads: the runtime's snapshot and each listed pipeline's latency buckets
/// ([`LATENCY_BOUNDS_NS`]), taken together.
#[derive(Clone, Debug, PartialEq)]
pub struct Scrape {
    /// The snapshot ([`PipelineRuntime::snapshot`]).
    pub snapshot: RuntimeSnapshot,
    /// `latency[i]` belongs to `snapshot.pipelines[i]`.
    pub latency: Vec<LatencyBuckets>,
}

/// The runtime's metrics as OpenMetrics text (what `/metrics` serves), ending in `# EOF`.
pub fn render(runtime: &PipelineRuntime) -> String {
    render_scrape(runtime.scrape())
}

/// Render what a scrape read (see [`render`]).
pub fn render_scrape(scrape: Scrape) -> String {
    let mut registry = prometheus_client::registry::Registry::with_prefix("mdp");
    registry.register_collector(Box::new(families::ScrapeCollector(scrape)));
    let mut text = String::new();
    // Writing to a String cannot fail, and the collector returns only the writer's errors.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// Parse `value`, the setting `key`, as a socket address (`IP:port`).
///
/// # Errors
/// A [`ConfigError`] naming `key` and saying what is expected.
pub fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!(
                "{:?} is not a socket address: expected IP:port, e.g. 127.0.0.1:9100 or [::1]:9100",
                crate::error::bounded(value)
            ),
        )
    })
}
