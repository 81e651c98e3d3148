//! Building a pipeline: stages, placement, edges, waiting, pinning, clock.

use std::time::Duration;

use crate::batcher::HybridBatcher;
use crate::clock::{MonotonicClock, SharedClock};
use crate::error::{ConfigError, PipelineError};
use crate::idle::IdleStrategy;
use crate::operator::{Operator, Passthrough};
use crate::pin::{CoreChoice, PinFailure};
use crate::pipeline::stats::PipelineReport;
use crate::pipeline::PipelineContext;
use crate::ring::Backpressure;
use crate::sink::{CountingSink, Sink};
use crate::source::TickSource;
use crate::tick::Tick;

/// Which stages share a host: one task (fused) or two joined by an edge (split). With
/// [`start`](StreamingPipeline::start) each task gets a dedicated thread on the given core;
/// with [`start_on`](StreamingPipeline::start_on) the worker set's workers host them and the
/// cores are the set's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Everything on one worker (no ring; direct calls).
    Fused {
        /// Core of the worker.
        core: CoreChoice,
    },
    /// The source on one worker; operator, batcher and sink on another, joined by an rtrb edge.
    Split {
        /// Core of the source worker.
        source_core: CoreChoice,
        /// Core of the process worker.
        process_core: CoreChoice,
    },
}

impl Default for Placement {
    /// Split across two unpinned workers: the right shape for a shared 2-core machine running
    /// several pipelines. Pin explicitly for benchmarks and dedicated cores.
    fn default() -> Self {
        Placement::Split {
            source_core: CoreChoice::Unpinned,
            process_core: CoreChoice::Unpinned,
        }
    }
}

impl Placement {
    /// Split, pinned to cores `a` (source) and `b` (process).
    pub fn pinned(a: usize, b: usize) -> Placement {
        Placement::Split {
            source_core: CoreChoice::Core(a),
            process_core: CoreChoice::Core(b),
        }
    }
}

/// Builder of a [`StreamingPipeline`]; see the module docs.
pub struct StreamingPipelineBuilder {
    source: Option<Box<dyn TickSource>>,
    operator: Option<Box<dyn Operator>>,
    batcher: Option<HybridBatcher>,
    sink: Option<Box<dyn Sink>>,
    ctx: PipelineContext,
    placement: Placement,
    backpressure: Backpressure,
    ring_capacity: Option<usize>,
    chunk: usize,
    idle: IdleStrategy,
    process_idle: Option<IdleStrategy>,
    pin_failure: PinFailure,
    clock: Option<SharedClock>,
    max_consecutive_errors: u32,
    flush_caught_up: bool,
}

impl std::fmt::Debug for StreamingPipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingPipelineBuilder")
            .field("ctx", &self.ctx)
            .field("source", &self.source.as_ref().map(|s| s.name()))
            .field("operator", &self.operator.as_ref().map(|o| o.name()))
            .field("sink", &self.sink.as_ref().map(|s| s.name()))
            .field("placement", &self.placement)
            .field("backpressure", &self.backpressure)
            .field("ring_capacity", &self.ring_capacity)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

impl Default for StreamingPipelineBuilder {
    fn default() -> Self {
        StreamingPipelineBuilder {
            source: None,
            operator: None,
            batcher: None,
            sink: None,
            ctx: PipelineContext::new("default", "pipeline"),
            placement: Placement::default(),
            backpressure: Backpressure::Block,
            ring_capacity: None,
            chunk: 256,
            idle: IdleStrategy::default(),
            process_idle: None,
            pin_failure: PinFailure::Warn,
            clock: None,
            max_consecutive_errors: 1_000,
            flush_caught_up: true,
        }
    }
}

impl StreamingPipelineBuilder {
    /// The source (required).
    pub fn source(mut self, s: impl TickSource + 'static) -> Self {
        self.source = Some(Box::new(s));
        self
    }

    /// The source, already boxed.
    pub fn boxed_source(mut self, s: Box<dyn TickSource>) -> Self {
        self.source = Some(s);
        self
    }

    /// The operator (default: [`Passthrough`]).
    pub fn operator(mut self, o: impl Operator + 'static) -> Self {
        self.operator = Some(Box::new(o));
        self
    }

    /// The operator, already boxed.
    pub fn boxed_operator(mut self, o: Box<dyn Operator>) -> Self {
        self.operator = Some(o);
        self
    }

    /// The batcher (default: 500 rows / 250 ms).
    pub fn batcher(mut self, b: HybridBatcher) -> Self {
        self.batcher = Some(b);
        self
    }

    /// The sink (default: a [`CountingSink`]).
    pub fn sink(mut self, s: impl Sink + 'static) -> Self {
        self.sink = Some(Box::new(s));
        self
    }

    /// The sink, already boxed.
    pub fn boxed_sink(mut self, s: Box<dyn Sink>) -> Self {
        self.sink = Some(s);
        self
    }

    /// Tenant, pipeline id and labels.
    pub fn ctx(mut self, ctx: PipelineContext) -> Self {
        self.ctx = ctx;
        self
    }

    /// Stage placement (default: split, unpinned).
    pub fn placement(mut self, p: Placement) -> Self {
        self.placement = p;
        self
    }

    /// Policy of the source edge when it is full (default: block).
    pub fn backpressure(mut self, b: Backpressure) -> Self {
        self.backpressure = b;
        self
    }

    /// Slots of the source edge, wherever the stages run (at most
    /// [`max_capacity`](crate::ring::max_capacity), checked by `build`). Unset, it depends on
    /// the host ([`StageHost::default_ring_capacity`](crate::pipeline::StageHost::default_ring_capacity)): 16384 on
    /// dedicated threads ([`start`](StreamingPipeline::start)), 8 chunks (2048 slots at the
    /// default chunk) on a worker set ([`start_on`](StreamingPipeline::start_on)), where the
    /// rings of many pipelines share the workers' caches.
    pub fn ring_capacity(mut self, n: usize) -> Self {
        self.ring_capacity = Some(n);
        self
    }

    /// Ticks per chunk (default 256).
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk = n;
        self
    }

    /// How dedicated threads wait (default: spin → yield → park). Sets both; see
    /// [`process_idle`](Self::process_idle) to give the process thread its own. (On a worker
    /// set the workers' own strategy applies; a tick stream's reader waits with this one.)
    pub fn idle(mut self, i: IdleStrategy) -> Self {
        self.idle = i;
        self
    }

    /// How the process worker (operator → batcher → sink) waits, when it should differ from
    /// the source worker's (e.g. a busy-spinning consumer on an isolated core behind a
    /// backing-off source). Applies to `Placement::Split`.
    pub fn process_idle(mut self, i: IdleStrategy) -> Self {
        self.process_idle = Some(i);
        self
    }

    /// What a pinning failure does (default: warn and run unpinned).
    pub fn on_pin_failure(mut self, p: PinFailure) -> Self {
        self.pin_failure = p;
        self
    }

    /// The clock (default: the monotonic clock).
    pub fn clock(mut self, c: SharedClock) -> Self {
        self.clock = Some(c);
        self
    }

    /// Consecutive retryable source errors tolerated before the pipeline fails (default 1000).
    pub fn max_consecutive_source_errors(mut self, n: u32) -> Self {
        self.max_consecutive_errors = n;
        self
    }

    /// Write the batcher's rows to the sink as soon as the process stage has caught up with
    /// its input (the end-of-batch signal), instead of waiting for `max_rows` or `max_age`.
    /// Default `true`: under load batches stay large; when quiet, nothing waits.
    pub fn flush_when_caught_up(mut self, on: bool) -> Self {
        self.flush_caught_up = on;
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: missing source, zero chunk size, a ring capacity of
    /// zero or above [`max_capacity`](crate::ring::max_capacity), a ring smaller than a chunk,
    /// a chunk larger than any ring (split, no capacity set).
    pub fn build(self) -> Result<StreamingPipeline, PipelineError> {
        let source = self
            .source
            .ok_or_else(|| ConfigError::new("source", "a pipeline needs a source"))?;
        if self.chunk == 0 {
            return Err(ConfigError::new("chunk_size", "must be greater than 0").into());
        }
        let split = matches!(self.placement, Placement::Split { .. });
        match self.ring_capacity {
            Some(n) => {
                crate::ring::check_capacity::<Tick>(n)?;
                if split && n < self.chunk {
                    return Err(ConfigError::new(
                        "ring_capacity",
                        format!("{n} is smaller than the chunk size {}", self.chunk),
                    )
                    .into());
                }
            }
            // The defaults are at least a chunk, up to the largest ring.
            None if split && self.chunk > crate::ring::max_capacity::<Tick>() => {
                return Err(ConfigError::new(
                    "chunk_size",
                    format!(
                        "{} ticks: larger than the largest ring ({} slots)",
                        self.chunk,
                        crate::ring::max_capacity::<Tick>()
                    ),
                )
                .into());
            }
            None => {}
        }
        if source.symbols().is_empty() {
            return Err(crate::error::SourceError::NoSymbols {
                source_name: source.name().to_string(),
            }
            .into());
        }
        let batcher = self.batcher.unwrap_or_default();
        Ok(StreamingPipeline {
            source,
            operator: self
                .operator
                .unwrap_or_else(|| Box::new(Passthrough::new())),
            batcher,
            sink: self.sink.unwrap_or_else(|| Box::new(CountingSink::new())),
            ctx: self.ctx,
            placement: self.placement,
            backpressure: self.backpressure,
            ring_capacity: self.ring_capacity,
            chunk: self.chunk,
            idle: self.idle,
            process_idle: self.process_idle.unwrap_or(self.idle),
            pin_failure: self.pin_failure,
            clock: self.clock.unwrap_or_else(MonotonicClock::shared),
            max_consecutive_errors: self.max_consecutive_errors,
            flush_caught_up: self.flush_caught_up,
        })
    }
}

/// A built pipeline, ready to start. See the module docs.
pub struct StreamingPipeline {
    pub(super) source: Box<dyn TickSource>,
    pub(super) operator: Box<dyn Operator>,
    pub(super) batcher: HybridBatcher,
    pub(super) sink: Box<dyn Sink>,
    pub(super) ctx: PipelineContext,
    pub(super) placement: Placement,
    pub(super) backpressure: Backpressure,
    /// `None`: the host's default ([`StageHost`](crate::pipeline::StageHost)).
    pub(super) ring_capacity: Option<usize>,
    pub(super) chunk: usize,
    pub(super) idle: IdleStrategy,
    pub(super) process_idle: IdleStrategy,
    pub(super) pin_failure: PinFailure,
    pub(super) clock: SharedClock,
    pub(super) max_consecutive_errors: u32,
    pub(super) flush_caught_up: bool,
}

impl std::fmt::Debug for StreamingPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingPipeline")
            .field("ctx", &self.ctx)
            .field("source", &self.source.name())
            .field("operator", &self.operator.name())
            .field("sink", &self.sink.name())
            .field("placement", &self.placement)
            .finish()
    }
}

impl StreamingPipeline {
    /// A builder.
    pub fn builder() -> StreamingPipelineBuilder {
        StreamingPipelineBuilder::default()
    }

    /// The context.
    pub fn ctx(&self) -> &PipelineContext {
        &self.ctx
    }

    /// Start and wait for the end of the stream (for finite sources).
    ///
    /// # Errors
    /// Start failures, and the first stage error.
    pub fn run(self) -> Result<PipelineReport, PipelineError> {
        self.start()?.join().into_result()
    }

    /// The original's `pipeline.run(duration_sec)`: start, run for `duration` of wall-clock
    /// time (less if the stream ends first), then stop gracefully — every stage drains, open
    /// bars are flushed — and report. For endless sources such as
    /// [`create_pipeline`](crate::pipeline::create_pipeline)'s, where [`run`](Self::run) never
    /// returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// use market_data_pipeline::create_pipeline;
    /// let pipeline = create_pipeline("my_tenant", "my_pipeline", "synthetic", &["AAPL"])?;
    /// let report = pipeline.run_for(Duration::from_millis(50))?;
    /// assert!(report.stats.is_conserved());
    /// # Ok::<(), market_data_pipeline::PipelineError>(())
    /// ```
    ///
    /// # Errors
    /// Start failures, and the first stage error.
    pub fn run_for(self, duration: Duration) -> Result<PipelineReport, PipelineError> {
        self.start()?.stop_after(duration).into_result()
    }
}
