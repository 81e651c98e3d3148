//! Starting a built pipeline: its stages become [`Task`]s, hosted either by dedicated
//! (optionally pinned) threads of their own ([`StreamingPipeline::start`]: the placement for
//! latency-critical pipelines, busy-spinning allowed) or by a shared [`WorkerSet`]
//! ([`StreamingPipeline::start_on`]: many pipelines on a fixed set of threads). The stage
//! logic is the same either way.
//!
//! Why `start_on(&WorkerSet)` and not a `Placement::Shared` variant: [`Placement`] is plain,
//! copyable configuration (which stages share a host, which cores), while a worker set is a
//! live resource the caller owns and shuts down. The builder's placement still decides the
//! shape on a worker set: `Fused` is one task, `Split` two tasks on different workers.

use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::Instant;

use crate::error::{ConfigError, PipelineError};
use crate::exec::{spawn_dedicated, Task, TaskPlacement, WorkerSet, WorkerSetError};
use crate::idle::IdleStrategy;
use crate::pin::{CoreChoice, PinFailure};
use crate::pipeline::builder::{Placement, StreamingPipeline};
use crate::pipeline::handle::PipelineHandle;
use crate::pipeline::process::Process;
use crate::pipeline::ring_size::StageHost;
use crate::pipeline::stages::{Downstream, LoopConfig, ProcessTask, SourceTask};
use crate::pipeline::stats::PipelineShared;
use crate::pipeline::tick_stream::TickStream;
use crate::pipeline::PipelineContext;
use crate::ring::edge;

/// A pipeline's stages as tasks.
enum Stages {
    /// One task: source, operator, batcher and sink.
    Fused(Box<SourceTask>),
    /// Two tasks joined by an edge.
    Split {
        source: Box<SourceTask>,
        process: Box<ProcessTask>,
    },
}

/// Everything a host needs to start a pipeline's stages.
struct Parts {
    ctx: PipelineContext,
    /// Slots of the edge between the stages (`None`: fused).
    ring: Option<usize>,
    shared: Arc<PipelineShared>,
    source_core: CoreChoice,
    process_core: CoreChoice,
    idle: IdleStrategy,
    process_idle: IdleStrategy,
    pin_failure: PinFailure,
}

fn spawn_error(worker: &str, reason: String) -> PipelineError {
    PipelineError::Worker {
        worker: worker.to_string(),
        reason,
    }
}

fn set_error(set: &WorkerSet, e: WorkerSetError) -> PipelineError {
    spawn_error(set.name(), e.to_string())
}

/// The handle of stages `names` hosted by dedicated `threads`.
fn dedicated_handle(
    ctx: PipelineContext,
    shared: Arc<PipelineShared>,
    names: Vec<String>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
) -> PipelineHandle {
    let wake = threads.iter().map(|t| t.thread().clone()).collect();
    PipelineHandle::new(ctx, shared, names, threads, wake, started)
}

impl Parts {
    /// Host `task` alone on a dedicated thread pinned per `core`, waiting with `idle`; the
    /// stage's name and its thread.
    fn spawn(
        &self,
        task: Box<dyn Task>,
        core: CoreChoice,
        idle: IdleStrategy,
    ) -> Result<(String, JoinHandle<()>), PipelineError> {
        let name = task.name().to_string();
        let warn = warn_to(&self.shared);
        match spawn_dedicated(name.clone(), core, self.pin_failure, idle, task, warn) {
            Ok(t) => Ok((name, t)),
            Err(reason) => Err(spawn_error(&name, reason)),
        }
    }
}

/// A dedicated thread's pin warnings go to the pipeline's stats.
fn warn_to(shared: &Arc<PipelineShared>) -> impl FnOnce(String) + Send + 'static {
    let shared = shared.clone();
    move |w| shared.warn(w)
}

impl StreamingPipeline {
    fn loop_config(&self) -> LoopConfig {
        LoopConfig {
            clock: self.clock.clone(),
            chunk: self.chunk,
            max_consecutive_errors: self.max_consecutive_errors,
        }
    }

    fn tag(&self) -> String {
        format!("mdp-{}", self.ctx.pipeline_id)
    }

    /// The stages as tasks for `host` (whose default ring capacity applies when none was set).
    fn into_parts(self, host: StageHost) -> Result<(Stages, Parts), PipelineError> {
        let cfg = self.loop_config();
        let capacity = host.ring_capacity(self.ring_capacity, self.chunk);
        let tag = self.tag();
        let (source_core, process_core) = match self.placement {
            Placement::Fused { core } => (core, core),
            Placement::Split {
                source_core,
                process_core,
            } => (source_core, process_core),
        };
        let (shared, stages) = match self.placement {
            Placement::Fused { .. } => {
                let shared = Arc::new(PipelineShared::new(None));
                let process = Process::new(
                    self.operator,
                    self.batcher,
                    self.sink,
                    self.clock.clone(),
                    shared.clone(),
                    self.chunk,
                    self.flush_caught_up,
                );
                let down = Downstream::Fused(Box::new(process));
                let task = SourceTask::new(tag, self.source, down, cfg, shared.clone());
                (shared, Stages::Fused(Box::new(task)))
            }
            Placement::Split { .. } => {
                let (tx, rx) = edge(capacity, self.backpressure)?;
                let shared = Arc::new(PipelineShared::new(Some(tx.counters())));
                let process = Process::new(
                    self.operator,
                    self.batcher,
                    self.sink,
                    self.clock.clone(),
                    shared.clone(),
                    self.chunk,
                    self.flush_caught_up,
                );
                let process = ProcessTask::new(
                    format!("{tag}-process"),
                    rx,
                    process,
                    cfg.clone(),
                    shared.clone(),
                );
                let down = Downstream::Edge(tx);
                let source = SourceTask::new(
                    format!("{tag}-source"),
                    self.source,
                    down,
                    cfg,
                    shared.clone(),
                );
                (
                    shared,
                    Stages::Split {
                        source: Box::new(source),
                        process: Box::new(process),
                    },
                )
            }
        };
        let ring = matches!(self.placement, Placement::Split { .. }).then_some(capacity);
        let parts = Parts {
            ctx: self.ctx,
            ring,
            shared,
            source_core,
            process_core,
            idle: self.idle,
            process_idle: self.process_idle,
            pin_failure: self.pin_failure,
        };
        Ok((stages, parts))
    }

    /// Start the stages, each on a dedicated thread of its own (pinned per the placement,
    /// waiting with the configured idle strategies).
    ///
    /// # Errors
    /// A thread could not be spawned or (with [`PinFailure::Error`]) pinned.
    pub fn start(self) -> Result<PipelineHandle, PipelineError> {
        let started = Instant::now();
        let (stages, p) = self.into_parts(StageHost::Dedicated)?;
        match stages {
            Stages::Fused(task) => {
                let (name, t) = p.spawn(task, p.source_core, p.idle)?;
                let h = dedicated_handle(p.ctx, p.shared, vec![name], vec![t], started);
                Ok(h.with_ring_capacity(p.ring))
            }
            Stages::Split { source, process } => {
                let (pname, pt) = p.spawn(process, p.process_core, p.process_idle)?;
                match p.spawn(source, p.source_core, p.idle) {
                    Ok((sname, st)) => {
                        let (names, threads) = (vec![sname, pname], vec![st, pt]);
                        let h = dedicated_handle(p.ctx, p.shared, names, threads, started);
                        Ok(h.with_ring_capacity(p.ring))
                    }
                    Err(e) => {
                        // The source task was dropped with its edge: the process stage
                        // finishes by itself.
                        let _ = pt.join();
                        Err(e)
                    }
                }
            }
        }
    }

    /// Start the stages on `set`'s workers, each on the least-loaded worker; split stages go
    /// on different workers when the set has two or more. No thread is spawned: the
    /// placement's cores and the builder's idle strategies are the set's business. The
    /// handle works as for [`start`](Self::start); `join` waits for the stages.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
    /// use market_data_pipeline::pipeline::StreamingPipeline;
    /// use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
    /// use market_data_pipeline::SymbolTable;
    /// let set = WorkerSet::new(WorkerSetConfig { workers: 2, pin: false, ..Default::default() })?;
    /// let symbols = Arc::new(SymbolTable::new());
    /// let mut handles = Vec::new();
    /// for i in 0..10 {
    ///     let source = SyntheticSource::new(
    ///         SyntheticConfig { max_ticks: Some(1_000), ..SyntheticConfig::new(&["AAPL"]) },
    ///         symbols.clone(),
    ///     )?;
    ///     let pipeline = StreamingPipeline::builder().source(source).ring_capacity(1024).build()?;
    ///     handles.push(pipeline.start_on(&set)?);
    /// }
    /// for h in handles {
    ///     let report = h.join();
    ///     assert_eq!(report.stats.delivered, 1_000);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The set is shutting down.
    pub fn start_on(self, set: &WorkerSet) -> Result<PipelineHandle, PipelineError> {
        self.start_on_workers(set, TaskPlacement::LeastLoaded, TaskPlacement::LeastLoaded)
    }

    /// [`start_on`](Self::start_on) with explicit workers: the source stage (or the fused
    /// stage) at `source`, the process stage at `process` (`LeastLoaded`: the least-loaded
    /// worker other than the source's, when there is another).
    ///
    /// # Errors
    /// A worker the set does not have, or the set is shutting down.
    pub fn start_on_workers(
        self,
        set: &WorkerSet,
        source: TaskPlacement,
        process: TaskPlacement,
    ) -> Result<PipelineHandle, PipelineError> {
        let started = Instant::now();
        let (stages, p) = self.into_parts(StageHost::WorkerSet)?;
        let wake = |i: usize| -> Vec<Thread> { set.thread(i).into_iter().collect() };
        match stages {
            Stages::Fused(task) => {
                let name = task.name().to_string();
                let i = set.spawn(task, source).map_err(|e| set_error(set, e))?;
                let h = PipelineHandle::new(p.ctx, p.shared, vec![name], vec![], wake(i), started);
                Ok(h.with_ring_capacity(p.ring))
            }
            Stages::Split {
                source: s,
                process: pr,
            } => {
                let (sname, pname) = (s.name().to_string(), pr.name().to_string());
                let si = set.spawn(s, source).map_err(|e| set_error(set, e))?;
                let at = match process {
                    TaskPlacement::LeastLoaded => TaskPlacement::Worker(set.least_loaded(Some(si))),
                    explicit => explicit,
                };
                // On failure the process task is dropped with its edge: the source stage
                // sees the consumer gone, counts what it could not deliver, and ends.
                let pi = set.spawn(pr, at).map_err(|e| set_error(set, e))?;
                let mut threads = wake(si);
                if pi != si {
                    threads.extend(wake(pi));
                }
                let names = vec![sname, pname];
                let h = PipelineHandle::new(p.ctx, p.shared, names, vec![], threads, started);
                Ok(h.with_ring_capacity(p.ring))
            }
        }
    }

    /// The source stage alone, sending into an edge read by a [`TickStream`].
    fn into_stream_parts(
        self,
        host: StageHost,
    ) -> Result<(Box<SourceTask>, Parts, TickStream), PipelineError> {
        if self.operator.name() != "passthrough" {
            return Err(ConfigError::new(
                "operator",
                "a tick stream delivers the source's ticks unchanged: use Passthrough",
            )
            .into());
        }
        let cfg = self.loop_config();
        let core = match self.placement {
            Placement::Fused { core } => core,
            Placement::Split { source_core, .. } => source_core,
        };
        let capacity = host
            .ring_capacity(self.ring_capacity, self.chunk)
            .max(self.chunk);
        let (tx, rx) = edge(capacity, self.backpressure)?;
        let shared = Arc::new(PipelineShared::new(Some(tx.counters())));
        let stream = TickStream::new(rx, shared.clone(), self.chunk, self.idle);
        let name = format!("{}-source", self.tag());
        let task = SourceTask::new(name, self.source, Downstream::Edge(tx), cfg, shared.clone());
        let parts = Parts {
            ctx: self.ctx,
            ring: Some(capacity),
            shared,
            source_core: core,
            process_core: core,
            idle: self.idle,
            process_idle: self.process_idle,
            pin_failure: self.pin_failure,
        };
        Ok((Box::new(task), parts, stream))
    }

    /// Start only the source stage and hand its ticks to the caller's thread: one rtrb hop of
    /// 64-byte ticks (with the configured backpressure, ring capacity, chunk size and pinning
    /// of the source core), no operator, batcher or sink.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use market_data_pipeline::pipeline::StreamingPipeline;
    /// use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
    /// use market_data_pipeline::SymbolTable;
    /// let source = SyntheticSource::new(
    ///     SyntheticConfig { max_ticks: Some(1_000), ..SyntheticConfig::new(&["AAPL"]) },
    ///     Arc::new(SymbolTable::new()),
    /// )?;
    /// let (handle, ticks) = StreamingPipeline::builder().source(source).build()?.start_tick_stream()?;
    /// assert_eq!(ticks.count(), 1_000);
    /// let report = handle.join();
    /// assert_eq!(report.stats.delivered, 1_000);
    /// assert!(report.stats.is_conserved());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// An operator other than [`Passthrough`](crate::operator::Passthrough) (the stream
    /// delivers the source's ticks unchanged), or a worker that cannot be spawned or pinned.
    pub fn start_tick_stream(self) -> Result<(PipelineHandle, TickStream), PipelineError> {
        let started = Instant::now();
        let (task, p, stream) = self.into_stream_parts(StageHost::Dedicated)?;
        let (name, t) = p.spawn(task, p.source_core, p.idle)?;
        let handle = dedicated_handle(p.ctx, p.shared, vec![name], vec![t], started)
            .with_ring_capacity(p.ring);
        Ok((handle, stream))
    }

    /// [`start_tick_stream`](Self::start_tick_stream) with the source stage on `set`'s
    /// least-loaded worker.
    ///
    /// # Errors
    /// As `start_tick_stream`, or the set is shutting down.
    pub fn start_tick_stream_on(
        self,
        set: &WorkerSet,
    ) -> Result<(PipelineHandle, TickStream), PipelineError> {
        let started = Instant::now();
        let (task, p, stream) = self.into_stream_parts(StageHost::WorkerSet)?;
        let name = task.name().to_string();
        let i = set
            .spawn(task, TaskPlacement::LeastLoaded)
            .map_err(|e| set_error(set, e))?;
        let wake = set.thread(i).into_iter().collect();
        let handle = PipelineHandle::new(p.ctx, p.shared, vec![name], vec![], wake, started)
            .with_ring_capacity(p.ring);
        Ok((handle, stream))
    }
}
