//! Assembling a runtime pipeline from a [`PipelineSpec`] and the current settings.

use std::sync::Arc;
use std::time::Duration;

use crate::admission::{AdmissionGate, CoordinationSwitch};
use crate::batcher::HybridBatcher;
use crate::clock::SharedClock;
use crate::error::{ConfigError, PipelineError, SourceError};
use crate::flow::RateCoordinator;
use crate::operator::{BarConfig, BarOperator, Operator, Passthrough};
use crate::pipeline::{PipelineContext, Placement, StreamingPipeline};
use crate::registry::{RegistryError, SourceContext, SourceRegistry, SourceSpec};
use crate::router::{RouterConfig, RouterControl, SourceRouter};
use crate::runtime::admit::GatedSource;
use crate::runtime::error::RuntimeError;
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
}

/// A pipeline's router's control, when it routes several sources.
#[derive(Debug)]
pub(crate) struct Routed {
    pub router: Option<RouterControl>,
    /// Every routed source declares `shared_sequence` (so `Arbitrate` may be switched to).
    pub shared_sequence: bool,
}

impl Routed {
    /// A pipeline reading one source (no router).
    fn single() -> Routed {
        Routed {
            router: None,
            shared_sequence: false,
        }
    }
}

/// The source of a pipeline reading `names` (already checked against the settings).
///
/// With orchestration every source polls through its provider's [`AdmissionGate`] (the
/// provider's breaker, its budget when request-based and coordination is on): one provider
/// directly, several through a [`SourceRouter`] in priority order that polls each through its
/// gate. Without orchestration: the first source, directly.
pub(crate) fn source(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    names: &[String],
) -> Result<(Box<dyn TickSource>, Routed), RuntimeError> {
    let orchestrated = settings.orchestration_enabled;
    let used = if orchestrated { names } else { &names[..1] };
    let mut sources: Vec<Box<dyn TickSource>> = Vec::with_capacity(used.len());
    for (i, name) in used.iter().enumerate() {
        let mut source_spec = settings.provider_spec(name).ok_or_else(|| {
            let reason = format!("unknown provider {:?}", crate::error::bounded(name));
            ConfigError::new("sources", reason)
        })?;
        if !spec.symbols.is_empty() {
            source_spec.symbols = spec.symbols.clone();
        }
        let ctx = SourceContext {
            symbols: parts.symbols.clone(),
            source_id: u16::try_from(i).unwrap_or(u16::MAX),
        };
        // No symbols on either side: the kind decides (a replay reads all of its file's).
        let built = parts.registry.build(&source_spec, &ctx).map_err(|e| {
            if source_spec.symbols.is_empty() && wants_symbols(&source_spec, &e) {
                RuntimeError::from(ConfigError::new(
                    "symbols",
                    format!("the pipeline names no symbols and providers.{name}.symbols is empty"),
                ))
            } else {
                e.into()
            }
        })?;
        sources.push(built);
    }
    if !orchestrated {
        let plain = GatedSource::new(sources.swap_remove(0), None, spec.max_ticks);
        return Ok((Box::new(plain), Routed::single()));
    }
    let mut gates = used
        .iter()
        .map(|name| provider_gate(parts, settings, name))
        .collect::<Result<Vec<_>, _>>()?;
    if sources.len() == 1 {
        let single = GatedSource::new(sources.swap_remove(0), gates.pop(), spec.max_ticks);
        return Ok((Box::new(single), Routed::single()));
    }
    let shared_sequence = sources.iter().all(|c| c.capabilities().shared_sequence);
    let config = settings.router_config(RouterConfig::default());
    let router = SourceRouter::with_config(sources, config, parts.clock.clone())?
        .with_name(format!("{}/{}", spec.tenant_id, spec.pipeline_id))
        .with_provider_gates(parts.coordinator.clone(), gates, parts.switch.clone());
    let control = router.control();
    let bounded = GatedSource::new(Box::new(router), None, spec.max_ticks);
    let routed = Routed {
        router: Some(control),
        shared_sequence,
    };
    Ok((Box::new(bounded), routed))
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
    let (source, routed) = source(parts, settings, spec, names)?;
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
