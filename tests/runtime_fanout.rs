//! Providers run once and fan out: every pipeline and quote stream of a runtime that reads a
//! provider subscribes to its one running source. Constructions are counted through a
//! registered factory; waits are bounded loops on a condition, never timing assertions.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use common::wait_for;
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::registry::{builtin, SourceFactory, SourceRegistry, SourceSpec};
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings,
};
use market_data_pipeline::{
    Capabilities, MonotonicClock, PipelineKey, SourceError, SourceHealth, SourcePoll, SourceStatus,
    SwitchReason, SymbolId, SymbolTable, Tick, TickSource,
};

/// What the test controls of the provider's source: how many ticks it may produce so far,
/// whether it ends (or fails) once it has, and how often it was built and closed.
#[derive(Debug, Default)]
struct Valve {
    allowed: AtomicU64,
    end: AtomicBool,
    fail: AtomicBool,
    built: AtomicUsize,
    closed: AtomicUsize,
}

/// A synthetic source that produces only what its valve allows.
struct Valved {
    inner: Box<dyn TickSource>,
    valve: Arc<Valve>,
    produced: u64,
}

impl TickSource for Valved {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        self.inner.start(now_ns)
    }
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let left = self.valve.allowed.load(Ordering::SeqCst) - self.produced;
        if left == 0 {
            if self.valve.fail.load(Ordering::SeqCst) {
                return Err(SourceError::Failed {
                    source_name: self.name().to_string(),
                    reason: "the valve failed it".into(),
                });
            }
            return Ok(if self.valve.end.load(Ordering::SeqCst) {
                SourcePoll::Ended
            } else {
                SourcePoll::Pending
            });
        }
        let room = out.len().min(left as usize);
        let r = self.inner.poll(now_ns, &mut out[..room]);
        if let Ok(SourcePoll::Ready(n)) = r {
            self.produced += n as u64;
        }
        r
    }
    fn close(&mut self) {
        self.valve.closed.fetch_add(1, Ordering::SeqCst);
        self.inner.close()
    }
    fn status(&self) -> SourceStatus {
        self.inner.status()
    }
    fn health(&self) -> SourceHealth {
        self.inner.health()
    }
    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        self.inner.symbol_table()
    }
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.inner.subscribe(symbols)
    }
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.inner.unsubscribe(symbols)
    }
}

/// A runtime whose provider `venue` is a [`Valved`] synthetic source (AAPL and MSFT unless
/// a pipeline names its own) built by a registered factory.
fn valved_runtime() -> (PipelineRuntime, Arc<Valve>) {
    let (runtime, mut valves) = valved_providers(&["venue"]);
    (runtime, valves.remove(0))
}

/// A runtime whose providers `names` (its default sources, in that order) are each a
/// [`Valved`] synthetic source over AAPL and MSFT with a valve of its own (`valves[i]` is
/// provider `names[i]`'s), built by one registered factory.
fn valved_providers(names: &[&str]) -> (PipelineRuntime, Vec<Arc<Valve>>) {
    let valves: Vec<Arc<Valve>> = names.iter().map(|_| Arc::default()).collect();
    let registry = SourceRegistry::new();
    let by_name: Vec<(String, Arc<Valve>)> = names
        .iter()
        .map(|n| n.to_string())
        .zip(valves.iter().cloned())
        .collect();
    registry.register(
        "valved",
        SourceFactory::new(move |spec, ctx| {
            let v = &by_name.iter().find(|(n, _)| *n == spec.name).unwrap().1;
            v.built.fetch_add(1, Ordering::SeqCst);
            let mut spec = spec.clone();
            spec.kind = "synthetic".into();
            Ok(Box::new(Valved {
                inner: builtin::synthetic(&spec, ctx)?,
                valve: v.clone(),
                produced: 0,
            }))
        }),
    );
    let providers = names
        .iter()
        .map(|n| {
            let spec = SourceSpec::named(n, "valved", &["AAPL", "MSFT"]);
            (n.to_string(), ProviderSettings::new(spec))
        })
        .collect();
    let settings = PipelineRuntimeSettings {
        default_sources: names.iter().map(|n| n.to_string()).collect(),
        providers,
        ..Default::default()
    };
    let runtime =
        PipelineRuntime::start_with(settings, registry, MonotonicClock::shared()).unwrap();
    (runtime, valves)
}

fn state(runtime: &PipelineRuntime, key: &PipelineKey) -> Option<PipelineState> {
    runtime
        .list_pipelines()
        .into_iter()
        .find(|p| &p.key == key)
        .map(|p| p.state)
}

#[test]
fn two_pipelines_and_a_quote_stream_on_one_provider_open_one_upstream_source() {
    let (runtime, valve) = valved_runtime();
    valve.allowed.store(u64::MAX / 2, Ordering::SeqCst);
    // Starting the runtime builds each provider once to check its parameters.
    let built = || valve.built.load(Ordering::SeqCst);
    let at_start = built();
    let p1 = runtime
        .run_pipeline(
            PipelineSpec::new("t", "p1")
                .symbols(&["AAPL"])
                .max_ticks(20_000),
        )
        .unwrap();
    let p2 = runtime
        .run_pipeline(
            PipelineSpec::new("t", "p2")
                .symbols(&["MSFT", "AAPL"])
                .max_ticks(30_000),
        )
        .unwrap();
    let mut stream = runtime.stream_quotes(&["MSFT"]).unwrap();
    let quotes: Vec<_> = stream.by_ref().take(100).collect();
    assert_eq!(
        built() - at_start,
        1,
        "one upstream source for two pipelines and a quote stream"
    );
    assert_eq!(quotes.len(), 100);
    assert!(quotes.iter().all(|q| &*q.symbol == "MSFT"));
    // The stream leaves (under `Block` it would pace the provider for everyone).
    drop(stream);
    for key in [&p1, &p2] {
        assert!(
            wait_for(20_000, || state(&runtime, key)
                == Some(PipelineState::Stopped)),
            "{key}"
        );
    }
    // The last subscriber left: the hub closes the upstream (and so has seen each
    // subscription leave: their counters are final); the next pipeline opens the provider
    // anew.
    assert!(wait_for(20_000, || valve.closed.load(Ordering::SeqCst) == 1));
    for (key, n) in [(&p1, 20_000), (&p2, 30_000)] {
        // Its subscription's counters: it read exactly its bound; nothing was lost to
        // backpressure (`Block`); what the hub offered between its last read and its leaving
        // (left unread in its ring, or offered once it was gone — how much depends on
        // scheduling) is `after_close`, not `dropped`, and nothing stays in flight.
        let info = runtime.list_pipelines().into_iter().find(|p| &p.key == key);
        let sub = info.and_then(|p| p.subscription).unwrap();
        assert_eq!(
            (sub.popped, sub.dropped, sub.conflated, sub.in_flight()),
            (n, 0, 0, 0),
            "{key}: {sub:?}"
        );
        assert_eq!(sub.offered, sub.popped + sub.after_close, "{key}: {sub:?}");
        let report = runtime.stop_pipeline(key).unwrap();
        assert!(report.stats.is_conserved(), "{key}: {:?}", report.stats);
        assert_eq!(report.stats.produced, n, "{key}");
        assert!(report.error.is_none(), "{key}: {:?}", report.error);
    }
    let p3 = runtime
        .run_pipeline(
            PipelineSpec::new("t", "p3")
                .symbols(&["AAPL"])
                .max_ticks(1_000),
        )
        .unwrap();
    assert_eq!(built() - at_start, 2);
    assert!(wait_for(20_000, || state(&runtime, &p3)
        == Some(PipelineState::Stopped)));
    assert_eq!(runtime.stop_pipeline(&p3).unwrap().stats.produced, 1_000);
}

#[test]
fn the_provider_ending_reaches_every_pipeline_after_all_it_produced() {
    let (runtime, valve) = valved_runtime();
    let at_start = valve.built.load(Ordering::SeqCst);
    let keys: Vec<PipelineKey> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            runtime
                .run_pipeline(PipelineSpec::new("t", id).symbols(&["AAPL"]))
                .unwrap()
        })
        .collect();
    assert_eq!(valve.built.load(Ordering::SeqCst) - at_start, 1);
    // Nothing is produced until all three are subscribed; then 6000 ticks and the end.
    valve.allowed.store(6_000, Ordering::SeqCst);
    valve.end.store(true, Ordering::SeqCst);
    for key in &keys {
        assert!(
            wait_for(20_000, || state(&runtime, key)
                == Some(PipelineState::Stopped)),
            "{key}"
        );
        let report = runtime.stop_pipeline(key).unwrap();
        assert!(report.stats.is_conserved(), "{key}");
        // Under `Block` (the default) nothing is lost: every AAPL tick the provider made
        // (the union is {AAPL}, so all 6000 are AAPL).
        assert_eq!(report.stats.produced, 6_000, "{key}");
    }
}

#[test]
fn a_routed_pipeline_subscribes_to_each_providers_hub_and_fails_over_on_its_error() {
    let (runtime, valves) = valved_providers(&["primary", "backup"]);
    let (primary, backup) = (&valves[0], &valves[1]);
    let built = |v: &Valve| v.built.load(Ordering::SeqCst);
    let at_start = [built(primary), built(backup)];
    // Routed over both (the default sources), and a plain pipeline on the backup alone.
    let routed = runtime
        .run_pipeline(PipelineSpec::new("t", "routed").max_ticks(5_000))
        .unwrap();
    let plain = runtime
        .run_pipeline(
            PipelineSpec::new("t", "plain")
                .sources(&["backup"])
                .max_ticks(3_000),
        )
        .unwrap();
    assert_eq!(
        [built(primary) - at_start[0], built(backup) - at_start[1]],
        [1, 1],
        "one upstream source per provider, the backup's shared by both pipelines"
    );
    // Both subscribed, and the router started on the primary, before anything is produced
    // (a primary failing before the router starts would not be switched from, but skipped).
    let started = || {
        runtime.list_pipelines().iter().any(|p| {
            p.key == routed
                && p.routing
                    .as_ref()
                    .is_some_and(|r| r.active.as_deref() == Some("primary"))
        })
    };
    assert!(
        wait_for(20_000, started),
        "the router starts on the primary"
    );
    // The primary makes 1000 ticks and fails.
    backup.allowed.store(u64::MAX / 2, Ordering::SeqCst);
    primary.allowed.store(1_000, Ordering::SeqCst);
    primary.fail.store(true, Ordering::SeqCst);
    for key in [&routed, &plain] {
        assert!(
            wait_for(20_000, || state(&runtime, key)
                == Some(PipelineState::Stopped)),
            "{key}"
        );
    }
    let info = runtime.list_pipelines();
    let info = info.iter().find(|p| p.key == routed).unwrap();
    let routing = info.routing.as_ref().expect("the router's stats");
    // The backup's ring may be empty at the instant of the error (its hub runs on its own
    // task): the router then switches to none and takes the backup at its next probe.
    let first = &routing.switches[0];
    assert_eq!(
        (first.reason, first.from.as_deref()),
        (SwitchReason::Error, Some("primary")),
        "{routing:?}"
    );
    assert_eq!(routing.active.as_deref(), Some("backup"), "{routing:?}");
    assert_eq!(routing.source("primary").unwrap().delivered, 1_000);
    // The router published its final stats when the pipeline closed it: the per-source
    // counts sum to what it delivered.
    let per_source: u64 = routing.sources.iter().map(|s| s.delivered).sum();
    assert_eq!(
        (per_source, routing.delivered),
        (5_000, 5_000),
        "{routing:?}"
    );
    let report = runtime.stop_pipeline(&routed).unwrap();
    assert!(report.stats.is_conserved(), "{:?}", report.stats);
    assert_eq!(
        (report.stats.produced, report.stats.delivered),
        (5_000, 5_000)
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    let report = runtime.stop_pipeline(&plain).unwrap();
    assert!(report.stats.is_conserved(), "{:?}", report.stats);
    assert_eq!(report.stats.produced, 3_000);
    // Still one construction each: the failover read the backup's hub, built nothing.
    assert_eq!(
        [built(primary) - at_start[0], built(backup) - at_start[1]],
        [1, 1]
    );
}
