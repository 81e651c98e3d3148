//! `PipelineRuntime`: the registry, coordinator, settings and running pipelines in one place.
//!
//! The seed's "Simple Quote Streaming", line for line (the default settings stream synthetic
//! quotes at once):
//!
//! ```
//! use market_data_pipeline::runtime::PipelineRuntime;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = PipelineRuntime::start(Default::default())?;
//! let mut count = 0;
//! for quote in runtime.stream_quotes(&["AAPL"])? {
//!     println!("{}: ${}", quote.symbol, quote.price);
//!     count += 1;
//!     if count >= 100 {
//!         break;
//!     }
//! }
//! assert_eq!(count, 100);
//! # Ok(()) }
//! ```
//!
//! Settings, and running, listing and stopping pipelines:
//!
//! ```
//! use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Configure runtime
//! let settings = PipelineRuntimeSettings {
//!     orchestration_enabled: true,
//!     max_concurrent_pipelines: 10,
//!     enable_rate_coordination: true,
//!     circuit_breaker_threshold: 5,
//!     circuit_breaker_timeout_sec: 60.0,
//!     ..Default::default()
//! };
//! // Dropping the runtime stops every pipeline gracefully (the seed's `async with`)
//! let runtime = PipelineRuntime::start(settings)?;
//!
//! // Stream quotes
//! for quote in runtime.stream_quotes(&["AAPL", "MSFT"])?.take(10) {
//!     let _ = (quote.symbol, quote.price);
//! }
//!
//! // Or run pipelines
//! let spec = PipelineSpec::new("my_tenant", "my_pipeline").symbols(&["AAPL"]).max_ticks(10_000);
//! let key = runtime.run_pipeline(spec)?;
//!
//! // List running pipelines
//! let pipelines = runtime.list_pipelines();
//! assert_eq!(pipelines[0].key, key);
//!
//! // Stop a pipeline: it drains and reports exact counts
//! let report = runtime.stop_pipeline(&key)?;
//! assert!(report.stats.is_conserved());
//! # Ok(()) }
//! ```

#[cfg(test)]
mod admission_paths;
mod admit;
mod build;
mod error;
mod hubs;
mod owner;
mod settings;
mod snapshot;
mod spec;
mod stream;
mod toml_file;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

pub use crate::pipeline::PipelineSettings;
pub use error::{RuntimeError, SettingsError};
pub use owner::PipelineOwner;
pub use settings::{PipelineDefaults, PipelineRuntimeSettings, ProviderSettings};
pub use snapshot::{PipelineInfo, PipelineKind, ProviderHealth, RuntimeSnapshot};
pub use spec::{OperatorSpec, PipelineKey, PipelineSpec};
pub use stream::{QuoteStream, RawTicks};
pub use toml_file::MAX_SETTINGS_BYTES;

use crate::admission::CoordinationSwitch;
use crate::clock::{MonotonicClock, SharedClock};
use crate::exec::{WorkerSet, WorkerSetConfig, WorkerSetError};
use crate::flow::RateCoordinator;
use crate::pipeline::{PipelineHandle, PipelineMonitor, PipelineReport, PipelineState, StageHost};
use crate::registry::{SourceContext, SourceRegistry};
use crate::router::RouterControl;
use crate::sink::{CountingSink, Sink};
use crate::symbol::SymbolTable;
use crate::sync::{AtomicU64, Ordering};
use build::{Parts, Routed};

/// Settings with the version `update_settings` gave them.
#[derive(Debug)]
struct Versioned {
    version: u64,
    settings: Arc<PipelineRuntimeSettings>,
}

/// A running pipeline in the table.
#[derive(Debug)]
enum RunningPipeline {
    Owned(PipelineHandle),
    Stream(PipelineMonitor),
}

#[derive(Debug)]
struct Entry {
    running: RunningPipeline,
    sources: Vec<String>,
    routed: Routed,
    owner: Option<Arc<dyn PipelineOwner>>,
}

impl Entry {
    /// Still running: not yet `Stopped` or `Failed` (a finished pipeline stays listed until
    /// `stop_pipeline` reaps it, but no longer counts toward `max_concurrent_pipelines`).
    fn is_running(&self) -> bool {
        let state = match &self.running {
            RunningPipeline::Owned(h) => h.state(),
            RunningPipeline::Stream(m) => m.state(),
        };
        !matches!(state, PipelineState::Stopped | PipelineState::Failed)
    }

    fn info(&self, key: &PipelineKey) -> PipelineInfo {
        let (kind, stats, ring_capacity) = match &self.running {
            RunningPipeline::Owned(h) => (PipelineKind::Pipeline, h.stats(), h.ring_capacity()),
            RunningPipeline::Stream(m) => (PipelineKind::QuoteStream, m.stats(), None),
        };
        PipelineInfo {
            key: key.clone(),
            kind,
            sources: self.sources.clone(),
            state: stats.state,
            stats,
            routing: self.routed.router.as_ref().map(RouterControl::stats),
            subscription: self.routed.subscription.as_ref().map(|c| c.snapshot()),
            ring_capacity,
            owner: self.owner.as_ref().map(|o| o.owner()),
        }
    }

    fn latency_buckets(&self, bounds_ns: &[u64]) -> crate::pipeline::LatencyBuckets {
        match &self.running {
            RunningPipeline::Owned(h) => h.latency_buckets(bounds_ns),
            RunningPipeline::Stream(m) => m.latency_buckets(bounds_ns),
        }
    }
}

/// State shared by the runtime and its quote streams.
#[derive(Debug)]
pub(crate) struct RuntimeShared {
    settings: ArcSwap<Versioned>,
    registry: SourceRegistry,
    coordinator: Arc<RateCoordinator>,
    symbols: Arc<SymbolTable>,
    /// `enable_rate_coordination`, read by every gate of every pipeline at each admission.
    switch: Arc<CoordinationSwitch>,
    clock: SharedClock,
    table: Mutex<BTreeMap<PipelineKey, Entry>>,
    streams: AtomicU64,
    /// The running providers, one fan-out hub each.
    hubs: hubs::Hubs,
    /// The workers hosting every pipeline's stages (but dedicated ones). Shut down (every
    /// task stopped and drained) when the last user of this state goes: the runtime, or a
    /// quote stream outliving it.
    workers: WorkerSet,
}

impl RuntimeShared {
    fn table(&self) -> MutexGuard<'_, BTreeMap<PipelineKey, Entry>> {
        crate::sync::lock(&self.table)
    }

    /// A quote stream has finished: free its slot.
    pub(crate) fn forget(&self, key: &PipelineKey) {
        self.table().remove(key);
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            registry: &self.registry,
            coordinator: &self.coordinator,
            symbols: &self.symbols,
            switch: &self.switch,
            clock: &self.clock,
            hubs: &self.hubs,
            workers: &self.workers,
        }
    }
}

/// The runtime. See the [module docs](self).
#[derive(Debug)]
pub struct PipelineRuntime {
    inner: Arc<RuntimeShared>,
    /// The `/metrics` responder, when `metrics_addr` is set; stopped first at shutdown.
    metrics: Mutex<Option<crate::metrics::MetricsServer>>,
}

/// Build each provider's source once, to check its parameters before anything runs.
///
/// A provider without symbols is built as it is first: kinds for which that means "all" (a
/// replay file's symbols) build. Kinds that need symbols get them from each pipeline, so they
/// are checked with a placeholder.
fn check_sources(
    registry: &SourceRegistry,
    settings: &PipelineRuntimeSettings,
) -> Result<(), RuntimeError> {
    for name in settings.providers.keys() {
        let Some(spec) = settings.provider_spec(name) else {
            continue;
        };
        match registry.build(&spec, &SourceContext::default()) {
            Ok(_) => {}
            Err(e) if spec.symbols.is_empty() && build::wants_symbols(&spec, &e) => {
                let mut with = spec.clone();
                with.symbols = vec!["CHECK".to_string()];
                registry.build(&with, &SourceContext::default())?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl PipelineRuntime {
    /// Start with `settings`, the built-in and discovered sources, and the real clock. The
    /// pipelines the settings list are started.
    ///
    /// # Errors
    /// Invalid settings (field path), a provider whose source cannot be built, or a listed
    /// pipeline that cannot start (then none is left running).
    pub fn start(settings: PipelineRuntimeSettings) -> Result<PipelineRuntime, RuntimeError> {
        let registry = SourceRegistry::new();
        registry.discover_entrypoints();
        PipelineRuntime::start_with(settings, registry, MonotonicClock::shared())
    }

    /// Read settings from the TOML file at `path` (see
    /// [`PipelineRuntimeSettings::from_file`]) and [`start`](Self::start) with them. An error
    /// raised while starting (a provider whose source cannot be built, a pipeline that cannot
    /// start) names the file and the line of the key it is about.
    ///
    /// # Errors
    /// As `from_file` (file and line already named), or [`RuntimeError::InFile`] wrapping an
    /// error of [`start`](Self::start).
    pub fn start_from_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<PipelineRuntime, RuntimeError> {
        let path = path.as_ref();
        // The text is kept to locate a key: read again, a FIFO would wait for a new writer
        // and a file could have changed.
        let (settings, text) = PipelineRuntimeSettings::from_file_text(path)?;
        PipelineRuntime::start(settings).map_err(|e| {
            let line = e.key().and_then(|key| toml_file::locate(&text, &key));
            RuntimeError::InFile {
                path: path.display().to_string(),
                line,
                error: Box::new(e),
            }
        })
    }

    /// Start with an explicit registry and clock (tests use a `ManualClock`).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with(
        settings: PipelineRuntimeSettings,
        registry: SourceRegistry,
        clock: SharedClock,
    ) -> Result<PipelineRuntime, RuntimeError> {
        settings.validate()?;
        check_sources(&registry, &settings)?;
        let coordinator = RateCoordinator::with_clock(clock.clone());
        // Every provider is registered, the built-in synthetic one included: the original's
        // runtime dropped every quote because it was not. All at once: the name map is built
        // once, not copied per provider.
        coordinator.register_providers(settings.providers.keys().filter_map(|name| {
            settings
                .provider_limits(name)
                .map(|limits| (name.as_str(), limits))
        }))?;
        // One table for the runtime's pipelines and the sources its registry creates.
        let symbols = registry.symbols().clone();
        let workers = WorkerSet::new(WorkerSetConfig {
            workers: settings.workers,
            ..WorkerSetConfig::default()
        })
        .map_err(|e| match e {
            WorkerSetError::Config(c) => RuntimeError::from(c),
            other => RuntimeError::from(crate::error::PipelineError::Worker {
                worker: "workers".to_string(),
                reason: other.to_string(),
            }),
        })?;
        let inner = Arc::new(RuntimeShared {
            switch: Arc::new(CoordinationSwitch::new(settings.enable_rate_coordination)),
            settings: ArcSwap::from_pointee(Versioned {
                version: 0,
                settings: Arc::new(settings.clone()),
            }),
            registry,
            coordinator: Arc::new(coordinator),
            symbols,
            clock,
            table: Mutex::new(BTreeMap::new()),
            streams: AtomicU64::new(0),
            hubs: hubs::Hubs::default(),
            workers,
        });
        let metrics = match &settings.metrics_addr {
            None => None,
            Some(addr) => Some(serve_metrics(&inner, addr)?),
        };
        let runtime = PipelineRuntime {
            inner,
            metrics: Mutex::new(metrics),
        };
        for spec in &settings.pipelines {
            runtime.run_pipeline(spec.clone())?;
        }
        Ok(runtime)
    }

    /// The address the `/metrics` responder listens on (with the port the OS chose for a
    /// `metrics_addr` of port 0), or `None` when `metrics_addr` is not set or it has stopped.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        crate::sync::lock(&self.metrics)
            .as_ref()
            .map(|m| m.local_addr())
    }

    /// What one scrape of the metrics reads (see [`metrics::render`](crate::metrics::render)).
    pub(crate) fn scrape(&self) -> crate::metrics::Scrape {
        self.inner.scrape(true)
    }

    /// The settings in force (an immutable snapshot; a concurrent `update_settings` never
    /// changes it under the caller).
    pub fn settings(&self) -> Arc<PipelineRuntimeSettings> {
        self.inner.settings.load().settings.clone()
    }

    /// The source registry.
    pub fn registry(&self) -> &SourceRegistry {
        &self.inner.registry
    }

    /// The rate coordinator every pipeline's providers are registered with.
    pub fn coordinator(&self) -> &Arc<RateCoordinator> {
        &self.inner.coordinator
    }

    /// The symbol table every pipeline interns into (the registry's: sources created from
    /// [`registry`](Self::registry) share it).
    pub fn symbols(&self) -> &Arc<SymbolTable> {
        &self.inner.symbols
    }

    /// Reserve a table slot for `key` and start what `start` builds, under the table lock so
    /// that the limit holds under concurrent calls.
    fn admit(
        &self,
        key: PipelineKey,
        sources: Vec<String>,
        owner: Option<Arc<dyn PipelineOwner>>,
        start: impl FnOnce() -> Result<(RunningPipeline, Routed), RuntimeError>,
    ) -> Result<PipelineKey, RuntimeError> {
        let max = self.settings().max_concurrent_pipelines;
        let mut table = self.inner.table();
        if table.contains_key(&key) {
            return Err(RuntimeError::DuplicatePipeline { key });
        }
        let running = table.values().filter(|e| e.is_running()).count();
        if running >= max {
            return Err(RuntimeError::MaxPipelines { key, running, max });
        }
        let (pipeline, routed) = start()?;
        tracing::info!(
            target: "market_data_pipeline::runtime",
            pipeline = %key,
            sources = ?sources,
            "pipeline started"
        );
        table.insert(
            key.clone(),
            Entry {
                running: pipeline,
                sources,
                routed,
                owner,
            },
        );
        Ok(key)
    }

    /// Start a pipeline; its output goes to a counting sink. Its stages are placed on the
    /// runtime's workers (no thread is spawned), or on dedicated threads of their own when
    /// the spec asks for them ([`PipelineSpec::dedicated`]). Its rings (the edge between its
    /// stages and its subscription to the provider's fan-out) have
    /// `settings.pipeline.ring_capacity` slots, or when that is unset the default of where
    /// its stages run (8 chunks on the workers, 16384 slots on dedicated threads; see
    /// [`StageHost`]).
    ///
    /// # Errors
    /// [`RuntimeError::MaxPipelines`], [`RuntimeError::DuplicatePipeline`], an unknown
    /// provider (named `sources[i]`), or a source/pipeline that cannot be built.
    pub fn run_pipeline(&self, spec: PipelineSpec) -> Result<PipelineKey, RuntimeError> {
        self.run_pipeline_with_sink(spec, Box::new(CountingSink::new()))
    }

    /// [`run_pipeline`](Self::run_pipeline) writing to `sink`.
    ///
    /// # Errors
    /// As [`run_pipeline`](Self::run_pipeline).
    pub fn run_pipeline_with_sink(
        &self,
        spec: PipelineSpec,
        sink: Box<dyn Sink>,
    ) -> Result<PipelineKey, RuntimeError> {
        self.run_with(spec, sink, None)
    }

    /// Start a [singleton](PipelineSpec::singleton) pipeline this host owns, writing to `sink`:
    /// `owner` is what [`list_pipelines`](Self::list_pipelines) shows as its owner. The caller
    /// (the coordination layer that holds the lease) stops it with
    /// [`stop_pipeline`](Self::stop_pipeline) when the ownership is lost.
    ///
    /// # Errors
    /// As [`run_pipeline`](Self::run_pipeline).
    pub fn run_owned_pipeline(
        &self,
        spec: PipelineSpec,
        sink: Box<dyn Sink>,
        owner: Arc<dyn PipelineOwner>,
    ) -> Result<PipelineKey, RuntimeError> {
        self.run_with(spec, sink, Some(owner))
    }

    fn run_with(
        &self,
        spec: PipelineSpec,
        sink: Box<dyn Sink>,
        owner: Option<Arc<dyn PipelineOwner>>,
    ) -> Result<PipelineKey, RuntimeError> {
        let settings = self.settings();
        let names = build::source_names(&settings, &spec)?;
        // Its edge and its subscription get the ring capacity of where its stages run.
        let host = if spec.dedicated {
            StageHost::Dedicated
        } else {
            StageHost::WorkerSet
        };
        let d = &settings.pipeline;
        let ring = host.ring_capacity(d.ring_capacity, d.chunk_size);
        self.admit(spec.key(), names.clone(), owner, || {
            let (p, routed) = build::pipeline(
                &self.inner.parts(),
                &settings,
                &spec,
                &names,
                Some(sink),
                ring,
            )?;
            let handle = if spec.dedicated {
                p.start()?
            } else {
                p.start_on(&self.inner.workers)?
            };
            Ok((RunningPipeline::Owned(handle), routed))
        })
    }

    /// Stream the default sources' quotes for `symbols` to this thread: an iterator of
    /// [`Quote`](crate::Quote)s (symbol name, price = last trade else mid, bid/ask, sizes,
    /// timestamps), or of the raw ticks through [`QuoteStream::ticks`].
    ///
    /// Only the source stage runs, on one of the runtime's workers; its 64-byte ticks cross one ring
    /// (`pipeline.stream_capacity` slots) to the caller's thread, which makes the quotes. It
    /// counts toward `max_concurrent_pipelines` and is listed as `quotes/stream-<n>` until the
    /// stream is dropped.
    ///
    /// # Errors
    /// As [`run_pipeline`](Self::run_pipeline).
    pub fn stream_quotes<S: AsRef<str>>(&self, symbols: &[S]) -> Result<QuoteStream, RuntimeError> {
        let settings = self.settings();
        let n = self.inner.streams.fetch_add(1, Ordering::Relaxed);
        let spec = PipelineSpec::new("quotes", &format!("stream-{n}")).symbols(symbols);
        let names = build::source_names(&settings, &spec)?;
        let mut stream = None;
        let key = self.admit(spec.key(), names.clone(), None, || {
            let (p, routed) = build::pipeline(
                &self.inner.parts(),
                &settings,
                &spec,
                &names,
                None,
                settings.pipeline.stream_capacity,
            )?;
            let (handle, ticks) = p.start_tick_stream_on(&self.inner.workers)?;
            let monitor = handle.monitor();
            stream = Some((ticks, handle));
            Ok((RunningPipeline::Stream(monitor), routed))
        })?;
        let (ticks, handle) = stream.ok_or_else(|| {
            RuntimeError::from(crate::error::ConfigError::new("stream", "not started"))
        })?;
        Ok(QuoteStream::new(
            ticks,
            handle,
            key,
            self.inner.clone(),
            self.inner.symbols.clone(),
        ))
    }

    /// Every running pipeline with its state and counters, by key.
    pub fn list_pipelines(&self) -> Vec<PipelineInfo> {
        self.inner.table().iter().map(|(k, e)| e.info(k)).collect()
    }

    fn log_report(key: &PipelineKey, report: &PipelineReport) {
        match &report.error {
            None => tracing::info!(
                target: "market_data_pipeline::runtime",
                pipeline = %key,
                produced = report.stats.produced,
                delivered = report.stats.delivered,
                elapsed_s = report.elapsed.as_secs_f64(),
                "pipeline stopped"
            ),
            Some(e) => tracing::error!(
                target: "market_data_pipeline::runtime",
                pipeline = %key,
                produced = report.stats.produced,
                delivered = report.stats.delivered,
                error = %e,
                "pipeline failed"
            ),
        }
    }

    /// Stop pipeline `key`: its source stops, every stage drains, and the final counts are
    /// reported (`produced == ticks_in + dropped`, exactly). Waits as long as the stages take
    /// (see [`stop_pipeline_timeout`](Self::stop_pipeline_timeout)).
    ///
    /// # Errors
    /// [`RuntimeError::UnknownPipeline`] listing the running keys;
    /// [`RuntimeError::StreamPipeline`] for a quote stream (stop it through its stream).
    pub fn stop_pipeline(&self, key: &PipelineKey) -> Result<PipelineReport, RuntimeError> {
        let (handle, router) = self.take_owned(key)?;
        let report = Self::with_routing(handle.stop_and_join(), router.as_ref());
        Self::log_report(key, &report);
        Ok(report)
    }

    /// [`stop_pipeline`](Self::stop_pipeline), waiting at most `deadline` for its stages.
    ///
    /// # Errors
    /// As [`stop_pipeline`](Self::stop_pipeline), or [`RuntimeError::NotStopped`] naming the
    /// stages still running at the deadline; the pipeline is then no longer listed and its
    /// stuck stages are left running, detached (see
    /// [`PipelineHandle::stop_and_join_timeout`]). A stage stuck on one of the runtime's
    /// workers stalls that worker's other tasks until it returns, and dropping the runtime
    /// then no longer waits for the workers.
    pub fn stop_pipeline_timeout(
        &self,
        key: &PipelineKey,
        deadline: std::time::Duration,
    ) -> Result<PipelineReport, RuntimeError> {
        let (handle, router) = self.take_owned(key)?;
        handle
            .stop_and_join_timeout(deadline)
            .map(|report| Self::with_routing(report, router.as_ref()))
            .inspect(|report| Self::log_report(key, report))
            .map_err(|e| {
                // A stage left stuck on a worker must not make dropping the runtime wait for
                // ever.
                self.inner.workers.detach_on_drop();
                RuntimeError::NotStopped(Box::new(e))
            })
    }

    /// A joined pipeline's report with its router's final counters (the router published
    /// them when it closed, which joining waited for).
    fn with_routing(mut report: PipelineReport, router: Option<&RouterControl>) -> PipelineReport {
        report.routing = router.map(RouterControl::stats);
        report
    }

    /// Remove pipeline `key` from the table and hand back its handle and its router's control.
    fn take_owned(
        &self,
        key: &PipelineKey,
    ) -> Result<(PipelineHandle, Option<RouterControl>), RuntimeError> {
        let mut table = self.inner.table();
        match table.get(key).map(|e| &e.running) {
            None => Err(RuntimeError::UnknownPipeline {
                key: key.clone(),
                running: table.keys().map(|k| k.to_string()).collect(),
            }),
            Some(RunningPipeline::Stream(_)) => {
                Err(RuntimeError::StreamPipeline { key: key.clone() })
            }
            Some(RunningPipeline::Owned(_)) => match table.remove(key) {
                Some(Entry {
                    running: RunningPipeline::Owned(h),
                    routed,
                    ..
                }) => Ok((h, routed.router)),
                _ => Err(RuntimeError::UnknownPipeline {
                    key: key.clone(),
                    running: Vec::new(),
                }),
            },
        }
    }
}

impl PipelineRuntime {
    /// Stop every pipeline gracefully and report each one's final counts, by key (the end of
    /// the seed's `async with PipelineRuntime() as runtime:` block). All are asked to stop
    /// first, then each is drained and joined. Quote streams are stopped too; their reports
    /// belong to their readers ([`QuoteStream::stop`]), so they are not in the map.
    ///
    /// ```
    /// use market_data_pipeline::runtime::{PipelineRuntime, PipelineSpec};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runtime = PipelineRuntime::start(Default::default())?;
    /// let key = runtime.run_pipeline(PipelineSpec::new("my_tenant", "p").symbols(&["AAPL"]))?;
    /// let reports = runtime.shutdown();
    /// assert!(reports[&key].stats.is_conserved());
    /// # Ok(()) }
    /// ```
    pub fn shutdown(self) -> BTreeMap<PipelineKey, PipelineReport> {
        self.stop_all()
    }

    fn stop_all(&self) -> BTreeMap<PipelineKey, PipelineReport> {
        // No scrape is answered once the pipelines start going.
        drop(crate::sync::lock(&self.metrics).take());
        let entries = std::mem::take(&mut *self.inner.table());
        for e in entries.values() {
            match &e.running {
                RunningPipeline::Owned(h) => h.stop(),
                RunningPipeline::Stream(m) => m.stop(),
            }
        }
        let reports = entries
            .into_iter()
            .filter_map(|(key, e)| match e.running {
                RunningPipeline::Owned(h) => {
                    let report = Self::with_routing(h.join(), e.routed.router.as_ref());
                    Self::log_report(&key, &report);
                    Some((key, report))
                }
                RunningPipeline::Stream(_) => None,
            })
            .collect();
        // The pipelines have left their providers; quote streams still being read see the
        // end of their streams.
        self.inner.hubs.shutdown();
        reports
    }
}

impl Drop for PipelineRuntime {
    /// Stop every pipeline gracefully, as [`shutdown`](PipelineRuntime::shutdown) does. Quote
    /// streams end once their readers have read what was in flight.
    fn drop(&mut self) {
        self.stop_all();
    }
}

mod live;

/// Start the `/metrics` responder of `shared` on `addr` (the `metrics_addr` setting). It holds
/// the shared state weakly: it never keeps a stopped runtime's state alive.
fn serve_metrics(
    shared: &Arc<RuntimeShared>,
    addr: &str,
) -> Result<crate::metrics::MetricsServer, RuntimeError> {
    let addr = crate::metrics::parse_addr("metrics_addr", addr)?;
    let weak = Arc::downgrade(shared);
    crate::metrics::MetricsServer::start(addr, move || match weak.upgrade() {
        Some(shared) => crate::metrics::render_scrape(shared.scrape(true)),
        None => "# EOF\n".to_string(),
    })
    .map_err(|e| crate::error::ConfigError::new("metrics_addr", e.to_string()).into())
}
