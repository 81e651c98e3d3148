//! Assembling a runtime pipeline from a [`PipelineSpec`] and the current settings.

use std::sync::Arc;
use std::time::Duration;

use crate::batcher::HybridBatcher;
use crate::clock::SharedClock;
use crate::error::{ConfigError, PipelineError};
use crate::flow::RateCoordinator;
use crate::operator::{BarConfig, BarOperator, Operator, Passthrough};
use crate::pipeline::{PipelineContext, Placement, StreamingPipeline};
use crate::registry::{SourceContext, SourceRegistry};
use crate::runtime::admit::{Admitted, Flags};
use crate::runtime::error::RuntimeError;
use crate::runtime::settings::PipelineRuntimeSettings;
use crate::runtime::spec::{OperatorSpec, PipelineSpec};
use crate::sink::Sink;
use crate::source::TickSource;
use crate::symbol::SymbolTable;

/// What every pipeline of a runtime shares.
pub(crate) struct Parts<'a> {
    pub registry: &'a SourceRegistry,
    pub coordinator: &'a RateCoordinator,
    pub symbols: &'a Arc<SymbolTable>,
    pub flags: &'a Arc<Flags>,
    pub clock: &'a SharedClock,
}

/// The source of a pipeline reading `names` (already checked against the settings).
pub(crate) fn source(
    parts: &Parts<'_>,
    settings: &PipelineRuntimeSettings,
    spec: &PipelineSpec,
    names: &[String],
) -> Result<Box<dyn TickSource>, RuntimeError> {
    let orchestrated = settings.orchestration_enabled;
    // Without orchestration a pipeline reads its first source directly.
    let used = if orchestrated { names } else { &names[..1] };
    let mut sources: Vec<Box<dyn TickSource>> = Vec::with_capacity(used.len());
    for (i, name) in used.iter().enumerate() {
        let p = &settings.providers[name];
        let mut source_spec = p.source.clone();
        if !spec.symbols.is_empty() {
            source_spec.symbols = spec.symbols.clone();
        }
        let ctx = SourceContext {
            symbols: parts.symbols.clone(),
            source_id: u16::try_from(i).unwrap_or(u16::MAX),
        };
        let inner = parts.registry.build(&source_spec, &ctx)?;
        let provider = if orchestrated {
            Some(parts.coordinator.handle(name)?)
        } else {
            None
        };
        sources.push(Box::new(Admitted::new(
            inner,
            provider,
            parts.flags.clone(),
            p.request_based,
            spec.max_ticks,
        )));
    }
    // Until the router lands, a multi-source pipeline reads its highest-priority source.
    Ok(sources.swap_remove(0))
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
) -> Result<StreamingPipeline, RuntimeError> {
    let d = &settings.pipeline;
    let source = source(parts, settings, spec, names)?;
    let mut b = StreamingPipeline::builder()
        .boxed_source(source)
        .boxed_operator(operator(spec)?)
        .batcher(HybridBatcher::new(d.batch_rows, d.batch_age).map_err(PipelineError::from)?);
    if let Some(sink) = sink {
        b = b.boxed_sink(sink);
    }
    Ok(
        b.ctx(PipelineContext::new(&spec.tenant_id, &spec.pipeline_id))
            .placement(Placement::default())
            .backpressure(d.backpressure)
            .ring_capacity(ring_capacity)
            .chunk_size(d.chunk_size)
            .clock(parts.clock.clone())
            .build()?,
    )
}
