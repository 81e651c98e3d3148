//! Assembling a runtime pipeline from a [`PipelineSpec`] and the current settings.

use std::sync::Arc;
use std::time::Duration;

use crate::admission::{AdmissionGate, CoordinationSwitch};
use crate::batcher::HybridBatcher;
use crate::clock::SharedClock;
use crate::error::{ConfigError, PipelineError, SourceError};
use crate::fanout::{HubConfig, SubscriberConfig};
use crate::flow::RateCoordinator;
use crate::operator::{BarConfig, BarOperator, Operator, Passthrough};
use crate::pipeline::{PipelineContext, Placement, StreamingPipeline};
use crate::registry::{RegistryError, SourceContext, SourceRegistry, SourceSpec};
use crate::ring::EdgeCounters;
use crate::router::{RouterConfig, RouterControl, SourceRouter};
use crate::runtime::admit::GatedSource;
use crate::runtime::error::RuntimeError;
use crate::runtime::hubs::{Hubs, Provided, Upstream};
use crate::runtime::settings::PipelineRuntimeSettings;
use crate::runtime::spec::{OperatorSpec, PipelineSpec};
use crate::sink::Sink;
use crate::source::TickSource;
use crate::symbol::SymbolTable;

/// What every pipeline of a runtime shares.
pub(crate) struct Parts<'a> {
    pub registry: &'a SourceRegistry,
    pub coordinator: &'a Arc<RateCoordinator>,
    pub symbols: &'a Arc<SymbolTable>,
    pub switch: &'a Arc<CoordinationSwitch>,
    pub clock: &'a SharedClock,
    pub hubs: &'a Hubs,
    pub workers: &'a crate::exec::WorkerSet,
}

/// A pipeline's router's control, when it routes several sources.
#[derive(Debug)]
pub(crate) struct Routed {
    pub router: Option<RouterControl>,
    /// Every routed source declares `shared_sequence` (so `Arbitrate` may be switched to).
    pub shared_sequence: bool,
    /// The counters of its subscription to its provider's fan-out, when it has one.
    pub subscription: Option<Arc<EdgeCounters>>,
}

impl Routed {
    /// A pipeline reading one source (no router), through a fan-out subscription whose
    /// ring has `subscription` counters (`None`: a source of its own).
    fn single(subscription: Option<Arc<EdgeCounters>>) -> Routed {
        Routed {
            router: None,
            shared_sequence: false,
            subscription,
        }
    }
}

/// The source of a pipeline reading `names` (already checked against the settings).
///
/// One provider: a subscriber of the provider's one running fan-out hub (see
/// [`crate::fanout`] and `runtime::hubs`), started on first use, with the pipeline's symbols
/// (none: all of the provider's), a ring of `ring_capacity` under the pipeline's backpressure
/// policy, and its own `max_ticks` bound. With orchestration the hub polls through the
/// provider's [`AdmissionGate`] (breaker, and budget when request-based and coordination is
/// on): once for every subscriber. A replay is not shared: each pipeline replays the file
/// from its start (a late subscriber of a shared replay would miss its beginning).
///
/// Several providers (orchestrated): a [`SourceRouter`] over one subscriber of each
/// provider's hub (as above), in priority order. The routed sources are produced on their
/// hubs' workers and reach the router through rings, so a slow or blocking provider does not
/// stall the router; each hub applies its provider's gate once, and the router reads the
/// gate's breaker only (see `SourceRouter::with_provider_gates`). An upstream error, end or
/// breaker trip reaches the router through the subscriber and fails the source over. A
/// replay provider is read by the router directly (its own source, gated the same way).
/// Without orchestration: the first provider, shared as above, without a gate.
pub(crate) fn source(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    names: &[String],
    ring_capacity: usize,
) -> Result<(Box<dyn TickSource>, Routed), RuntimeError> {
    let orchestrated = settings.orchestration_enabled;
    let used = if orchestrated { names } else { &names[..1] };
    if used.len() == 1 {
        let (shared, counters) = shared_source(parts, settings, spec, &used[0], ring_capacity)?;
        let bounded = GatedSource::new(shared, None, spec.max_ticks);
        return Ok((Box::new(bounded), Routed::single(counters)));
    }
    // Each routed source is a subscriber of its provider's hub (a task of its own on the
    // worker set, feeding this pipeline through a ring), already behind the provider's gate.
    let sources = used
        .iter()
        .map(|name| shared_source(parts, settings, spec, name, ring_capacity).map(|(s, _)| s))
        .collect::<Result<Vec<_>, _>>()?;
    let gates = used
        .iter()
        .map(|name| provider_gate(parts, settings, name))
        .collect::<Result<Vec<_>, _>>()?;
    let shared_sequence = sources.iter().all(|c| c.capabilities().shared_sequence);
    let config = settings.router_config(RouterConfig::default());
    let router = SourceRouter::with_config(sources, config, parts.clock.clone())?
        .with_name(format!("{}/{}", spec.tenant_id, spec.pipeline_id))
        .with_provider_gates(parts.coordinator.clone(), gates, parts.switch.clone(), true);
    let control = router.control();
    let bounded = GatedSource::new(Box::new(router), None, spec.max_ticks);
    let routed = Routed {
        router: Some(control),
        shared_sequence,
        subscription: None,
    };
    Ok((Box::new(bounded), routed))
}

/// A subscriber of provider `name`'s hub (or, for a replay, a source of its own), behind the
/// provider's gate when orchestrated.
fn shared_source(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    name: &str,
    ring_capacity: usize,
) -> Result<Provided, RuntimeError> {
    let d = &settings.pipeline;
    let symbols = spec
        .symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parts
                .symbols
                .intern(s)
                .map_err(|e| ConfigError::new(format!("symbols[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = SubscriberConfig {
        symbols,
        capacity: ring_capacity,
        backpressure: d.backpressure,
    };
    let hub = HubConfig {
        chunk_size: d.chunk_size,
        keep_open: false,
    };
    parts
        .hubs
        .subscribe(name, config, hub, parts.clock, parts.workers, || {
            let source = build_one(parts, settings, spec, name, 0)?;
            let replay = source.capabilities().replay;
            let gate = if settings.orchestration_enabled {
                Some(provider_gate(parts, settings, name)?)
            } else {
                None
            };
            let gated: Box<dyn TickSource> = Box::new(GatedSource::new(source, gate, None));
            Ok(if replay {
                Upstream::Own(gated)
            } else {
                Upstream::Shared(gated)
            })
        })
}

/// Build provider `name`'s source for `spec` (its symbols when it names any), with source
/// id `source_id`.
fn build_one(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    name: &str,
    source_id: usize,
) -> Result<Box<dyn TickSource>, RuntimeError> {
    let mut source_spec = settings.provider_spec(name).ok_or_else(|| {
        let reason = format!("unknown provider {:?}", crate::error::bounded(name));
        ConfigError::new("sources", reason)
    })?;
    if !spec.symbols.is_empty() {
        source_spec.symbols = spec.symbols.clone();
    }
    let ctx = SourceContext {
        symbols: parts.symbols.clone(),
        source_id: u16::try_from(source_id).unwrap_or(u16::MAX),
    };
    // No symbols on either side: the kind decides (a replay reads all of its file's).
    parts.registry.build(&source_spec, &ctx).map_err(|e| {
        if source_spec.symbols.is_empty() && wants_symbols(&source_spec, &e) {
            RuntimeError::from(ConfigError::new(
                "symbols",
                format!("the pipeline names no symbols and providers.{name}.symbols is empty"),
            ))
        } else {
            e.into()
        }
    })
}

/// The gate of provider `name`'s source: the provider's breaker, and its budget when it is
/// request-based and the runtime's coordination switch is on.
fn provider_gate(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    name: &str,
) -> Result<AdmissionGate, RuntimeError> {
    let handle = parts.coordinator.handle(name)?;
    let request_based = settings.providers[name].request_based;
    Ok(AdmissionGate::for_provider(handle, request_based).with_switch(parts.switch.clone()))
}

/// Whether `e` is `spec`'s kind refusing to build without symbols.
pub(crate) fn wants_symbols(spec: &SourceSpec, e: &RegistryError) -> bool {
    match e {
        RegistryError::Config(c) => c.field == spec.key("symbols"),
        RegistryError::Source(SourceError::NoSymbols { .. }) => true,
        _ => false,
    }
}

fn operator(spec: &PipelineSpec) -> Result<Box<dyn Operator>, PipelineError> {
    Ok(match spec.operator {
        OperatorSpec::Passthrough => Box::new(Passthrough::new()),
        OperatorSpec::Bars { window } => {
            Box::new(BarOperator::new(BarConfig::new(window, Duration::ZERO))?)
        }
    })
}

/// The names a spec reads: its own, or the default sources; each must be configured.
pub(crate) fn source_names(
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
) -> Result<Vec<String>, ConfigError> {
    if spec.tenant_id.is_empty() {
        return Err(ConfigError::new("tenant_id", "must not be empty"));
    }
    if spec.pipeline_id.is_empty() {
        return Err(ConfigError::new("pipeline_id", "must not be empty"));
    }
    let names = if spec.sources.is_empty() {
        settings.default_sources.clone()
    } else {
        spec.sources.clone()
    };
    settings.check_sources("sources", &names)?;
    Ok(names)
}

/// A pipeline ready to start (`sink: None`: a counting sink).
pub(crate) fn pipeline(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    names: &[String],
    sink: Option<Box<dyn Sink>>,
    ring_capacity: usize,
) -> Result<(StreamingPipeline, Routed), RuntimeError> {
    let d = &settings.pipeline;
    let (source, routed) = source(parts, settings, spec, names, ring_capacity)?;
    let mut b = StreamingPipeline::builder()
        .boxed_source(source)
        .boxed_operator(operator(spec)?)
        .batcher(HybridBatcher::new(d.batch_rows, d.batch_age).map_err(PipelineError::from)?);
    if let Some(sink) = sink {
        b = b.boxed_sink(sink);
    }
    let pipeline = b
        .ctx(PipelineContext::new(&spec.tenant_id, &spec.pipeline_id))
        .placement(Placement::default())
        .backpressure(d.backpressure)
        .ring_capacity(ring_capacity)
        .chunk_size(d.chunk_size)
        .clock(parts.clock.clone())
        .build()?;
    Ok((pipeline, routed))
}
