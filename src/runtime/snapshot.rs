//! What `list_pipelines` and `snapshot` report.

use crate::flow::ProviderState;
use crate::pipeline::{PipelineState, PipelineStats};
use crate::ring::EdgeStats;
use crate::router::{RouterStats, RoutingStrategy};
use crate::runtime::spec::PipelineKey;

/// What kind of pipeline an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineKind {
    /// Started by `run_pipeline` (or the settings); stopped by `stop_pipeline`.
    Pipeline,
    /// Feeding a `QuoteStream`; stopped by dropping or stopping the stream.
    QuoteStream,
}

/// One running pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineInfo {
    /// Its key.
    pub key: PipelineKey,
    /// Pipeline or quote stream.
    pub kind: PipelineKind,
    /// The providers it reads, in priority order.
    pub sources: Vec<String>,
    /// Life-cycle state.
    pub state: PipelineState,
    /// Counters and latency percentiles.
    pub stats: PipelineStats,
    /// The router's switches, breaker states and per-source selection counts, when the
    /// pipeline routes several sources.
    pub routing: Option<RouterStats>,
    /// Its subscription to its provider's shared source: what the fan-out offered it and
    /// what became of it (pushed, dropped or conflated under its backpressure policy,
    /// popped by the pipeline). `None` for a pipeline with sources of its own (routed, or a
    /// replay).
    pub subscription: Option<EdgeStats>,
    /// Slots of the ring between its stages, and of its subscription's ring:
    /// `pipeline.ring_capacity`, or when unset the default of where its stages run (see
    /// [`StageHost`](crate::pipeline::StageHost)). `None` for a quote stream (its ring has
    /// `pipeline.stream_capacity` slots).
    pub ring_capacity: Option<usize>,
    /// The owner of a singleton pipeline as its [`PipelineOwner`](super::PipelineOwner)
    /// reports it (e.g. `host-a token 7`); `None` for a pipeline started without one.
    pub owner: Option<String>,
}

/// One provider's health.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderHealth {
    /// Name.
    pub name: String,
    /// Source kind.
    pub kind: String,
    /// Whether its poll chunks are admitted by its budget.
    pub request_based: bool,
    /// Tokens, breaker state and transitions, cooldowns, refusal counters.
    pub state: ProviderState,
}

/// The runtime's monitoring snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeSnapshot {
    /// Incremented by every successful `update_settings`.
    pub settings_version: u64,
    /// Routing strategy in force.
    pub routing_strategy: RoutingStrategy,
    /// Providers, by name.
    pub providers: Vec<ProviderHealth>,
    /// Running pipelines, by key.
    pub pipelines: Vec<PipelineInfo>,
}
