//! PipelineRuntime specifications: streaming, running/listing/stopping pipelines, limits,
//! live settings swaps, and graceful shutdown. No sleeps decide anything: waits are bounded
//! loops of 1 ms steps on a condition, and time-dependent behaviour uses a `ManualClock`.

use std::sync::Arc;
mod common;

use std::time::Duration;

use common::wait_for;
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::registry::{SourceRegistry, SourceSpec};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::runtime::{
    PipelineKey, PipelineKind, PipelineRuntime, PipelineRuntimeSettings, PipelineSpec,
    ProviderSettings, RuntimeError,
};
use market_data_pipeline::ManualClock;

fn synthetic(name: &str, symbols: &[&str]) -> ProviderSettings {
    ProviderSettings::new(SourceSpec::named(name, "synthetic", symbols))
}

fn settings_with(providers: Vec<ProviderSettings>, max: usize) -> PipelineRuntimeSettings {
    let default_sources = vec![providers[0].source.name.clone()];
    PipelineRuntimeSettings {
        max_concurrent_pipelines: max,
        default_sources,
        providers: providers
            .into_iter()
            .map(|p| (p.source.name.clone(), p))
            .collect(),
        ..Default::default()
    }
}

#[test]
fn regression_stream_quotes_yielded_nothing_with_default_settings() {
    // The original never registered the synthetic provider with the coordinator, and every
    // quote was silently dropped.
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings::default()).unwrap();
    assert_eq!(runtime.coordinator().providers(), ["synthetic"]);
    let quotes: Vec<_> = runtime
        .stream_quotes(&["AAPL"])
        .unwrap()
        .take(100)
        .collect();
    assert_eq!(quotes.len(), 100);
    let aapl = runtime.symbols().get("AAPL").unwrap();
    assert!(quotes
        .iter()
        .all(|q| &*q.symbol == "AAPL" && q.tick.symbol == aapl));
    // The stream was dropped: its slot is free again.
    assert!(runtime.list_pipelines().is_empty());
}

#[test]
fn a_quote_stream_is_listed_and_counts_toward_the_limit() {
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings {
        max_concurrent_pipelines: 1,
        ..Default::default()
    })
    .unwrap();
    let mut stream = runtime.stream_quotes(&["AAPL", "MSFT"]).unwrap();
    assert!(stream.next().is_some());
    let listed = runtime.list_pipelines();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kind, PipelineKind::QuoteStream);
    assert_eq!(&listed[0].key, stream.key());
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "p"))
        .unwrap_err();
    assert!(
        matches!(e, RuntimeError::MaxPipelines { max: 1, .. }),
        "{e}"
    );
    let e = runtime.stop_pipeline(&stream.key().clone()).unwrap_err();
    assert!(matches!(e, RuntimeError::StreamPipeline { .. }), "{e}");
    let report = stream.stop();
    assert!(report.stats.is_conserved());
    assert!(runtime.list_pipelines().is_empty());
}

#[test]
fn eight_pipelines_run_at_once_and_each_delivers_exactly_its_ticks() {
    const TICKS: u64 = 20_000;
    let runtime = PipelineRuntime::start(settings_with(
        vec![synthetic("synthetic", &["AAPL", "MSFT"])],
        8,
    ))
    .unwrap();
    let keys: Vec<PipelineKey> = (0..8)
        .map(|i| {
            runtime
                .run_pipeline(PipelineSpec::new("tenant", &format!("p{i}")).max_ticks(TICKS))
                .unwrap()
        })
        .collect();
    let listed = runtime.list_pipelines();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|p| p.kind == PipelineKind::Pipeline));
    let all_done = wait_for(30_000, || {
        runtime
            .list_pipelines()
            .iter()
            .all(|p| p.state == PipelineState::Stopped)
    });
    assert!(
        all_done,
        "every bounded pipeline reaches the end of its stream"
    );
    for key in &keys {
        let r = runtime.stop_pipeline(key).unwrap();
        assert!(r.error.is_none(), "{key}: {:?}", r.error);
        assert_eq!(r.stats.produced, TICKS, "{key}");
        assert_eq!(r.stats.ticks_in, TICKS, "{key}");
        assert_eq!(r.stats.delivered, TICKS, "{key}");
    }
    assert!(runtime.list_pipelines().is_empty());
}

#[test]
fn stop_pipeline_drains_and_reports_exact_conservation_counts() {
    // Table: (case, backpressure, ring capacity)
    let cases = [
        (1, Backpressure::Block, 1 << 14),
        (2, Backpressure::DropNewest, 256),
        (3, Backpressure::ConflateLatest, 256),
    ];
    for (n, bp, ring) in cases {
        let mut s = settings_with(vec![synthetic("synthetic", &["AAPL", "MSFT", "GOOG"])], 4);
        s.pipeline.backpressure = bp;
        s.pipeline.ring_capacity = Some(ring);
        let runtime = PipelineRuntime::start(s).unwrap();
        let key = runtime.run_pipeline(PipelineSpec::new("t", "p")).unwrap();
        assert!(
            wait_for(10_000, || runtime.list_pipelines()[0].stats.produced
                > 50_000),
            "case {n}: the pipeline runs"
        );
        let r = runtime.stop_pipeline(&key).unwrap();
        let s = &r.stats;
        assert!(r.error.is_none(), "case {n}: {:?}", r.error);
        assert_eq!(s.in_flight(), 0, "case {n}: nothing left in flight");
        assert_eq!(s.produced, s.ticks_in + s.lost(), "case {n}: {s:?}");
        assert_eq!(
            s.delivered, s.ticks_in,
            "case {n}: passthrough delivers every tick in"
        );
        if bp == Backpressure::Block {
            assert_eq!(s.lost(), 0, "case {n}");
        }
    }
}

#[test]
fn max_concurrent_pipelines_is_enforced_with_a_clear_error() {
    let runtime =
        PipelineRuntime::start(settings_with(vec![synthetic("synthetic", &["AAPL"])], 2)).unwrap();
    let a = runtime.run_pipeline(PipelineSpec::new("t", "a")).unwrap();
    runtime.run_pipeline(PipelineSpec::new("t", "b")).unwrap();
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "c"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot start t/c: 2 pipelines are running and max_concurrent_pipelines = 2"
    );
    assert!(runtime.stream_quotes(&["AAPL"]).is_err());
    runtime.stop_pipeline(&a).unwrap();
    runtime.run_pipeline(PipelineSpec::new("t", "c")).unwrap();
}

#[test]
fn unknown_and_duplicate_keys_and_unknown_providers_are_errors() {
    let runtime =
        PipelineRuntime::start(settings_with(vec![synthetic("synthetic", &["AAPL"])], 4)).unwrap();
    let key = runtime.run_pipeline(PipelineSpec::new("t", "a")).unwrap();
    // 1. unknown key: the error lists what is running
    let e = runtime
        .stop_pipeline(&PipelineKey::from("t/nope"))
        .unwrap_err();
    assert_eq!(e.to_string(), "unknown pipeline t/nope (running: t/a)");
    // 2. the same key twice
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "a"))
        .unwrap_err();
    assert_eq!(e, RuntimeError::DuplicatePipeline { key: key.clone() });
    // 3. an unknown provider, named by position
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "b").sources(&["ibkr"]))
        .unwrap_err();
    assert!(e.to_string().contains("sources[0]"), "{e}");
    assert!(e.to_string().contains("unknown provider \"ibkr\""), "{e}");
    // 4. a stopped key is unknown afterwards
    runtime.stop_pipeline(&key).unwrap();
    assert!(matches!(
        runtime.stop_pipeline(&key),
        Err(RuntimeError::UnknownPipeline { .. })
    ));
}

#[test]
fn dropping_the_runtime_stops_every_pipeline_gracefully() {
    let runtime =
        PipelineRuntime::start(settings_with(vec![synthetic("synthetic", &["AAPL"])], 4)).unwrap();
    for i in 0..3 {
        runtime
            .run_pipeline(PipelineSpec::new("t", &format!("p{i}")))
            .unwrap();
    }
    let mut stream = runtime.stream_quotes(&["MSFT"]).unwrap();
    assert!(stream.next().is_some());
    drop(runtime);
    // The stream's pipeline was asked to stop: what is in flight is finite.
    assert!(stream.by_ref().count() < 1 << 20);
}

/// A request-based provider on a frozen manual clock: its budget alone decides how many
/// chunks pass.
fn request_based_runtime(capacity: u64, refill_rate: u64) -> (PipelineRuntime, Arc<ManualClock>) {
    let clock = ManualClock::shared(1_000_000_000);
    let mut p = synthetic("venue", &["AAPL"]);
    p.request_based = true;
    p.capacity = Some(capacity);
    p.refill_rate = Some(refill_rate);
    let runtime = PipelineRuntime::start_with(
        settings_with(vec![p], 4),
        SourceRegistry::new(),
        clock.clone(),
    )
    .unwrap();
    (runtime, clock)
}

fn produced(runtime: &PipelineRuntime) -> u64 {
    runtime.list_pipelines()[0].stats.produced
}

#[test]
fn a_request_based_source_takes_one_token_per_chunk() {
    let (runtime, clock) = request_based_runtime(2, 1);
    let key = runtime.run_pipeline(PipelineSpec::new("t", "p")).unwrap();
    assert!(
        wait_for(10_000, || produced(&runtime) == 2 * 256),
        "the burst: 2 chunks"
    );
    clock.advance(Duration::from_secs(1));
    assert!(
        wait_for(10_000, || produced(&runtime) == 3 * 256),
        "1 token/s: 1 more chunk"
    );
    let state = runtime.coordinator().provider_state("venue").unwrap();
    assert!(
        state.counters.rate_limited > 0,
        "refusals are counted: {state:?}"
    );
    assert_eq!(runtime.stop_pipeline(&key).unwrap().stats.produced, 3 * 256);
}

#[test]
fn a_rate_limit_swap_takes_effect_from_the_next_chunk_without_a_restart() {
    let (runtime, clock) = request_based_runtime(2, 1);
    let key = runtime.run_pipeline(PipelineSpec::new("t", "p")).unwrap();
    assert!(wait_for(10_000, || produced(&runtime) == 2 * 256));
    let mut faster = (*runtime.settings()).clone();
    let venue = faster.providers.get_mut("venue").unwrap();
    venue.capacity = Some(5);
    venue.refill_rate = Some(1_000);
    assert_eq!(runtime.update_settings(faster).unwrap(), 1);
    // One second at the old limits would admit 1 chunk; at the new ones the bucket refills
    // to its new capacity of 5.
    clock.advance(Duration::from_secs(1));
    assert!(
        wait_for(10_000, || produced(&runtime) == 7 * 256),
        "produced {}",
        produced(&runtime)
    );
    let r = runtime.stop_pipeline(&key).unwrap();
    assert_eq!(r.stats.produced, 7 * 256, "same pipeline, never restarted");
    assert_eq!(runtime.snapshot().settings_version, 1);
}

#[test]
fn switching_rate_coordination_off_live_lets_a_starved_source_run() {
    let (runtime, _clock) = request_based_runtime(1, 1);
    runtime.run_pipeline(PipelineSpec::new("t", "p")).unwrap();
    assert!(wait_for(10_000, || produced(&runtime) == 256));
    let mut off = (*runtime.settings()).clone();
    off.enable_rate_coordination = false;
    runtime.update_settings(off).unwrap();
    assert!(wait_for(10_000, || produced(&runtime) > 10 * 256));
}

#[test]
fn an_invalid_settings_swap_is_refused_and_changes_nothing() {
    let (runtime, _clock) = request_based_runtime(2, 1);
    let before = runtime.settings();
    // Table: (case, change, field named by the error)
    type Change = fn(&mut PipelineRuntimeSettings);
    let cases: [(u32, Change, &str); 4] = [
        (
            1,
            |s| s.max_concurrent_pipelines = 0,
            "max_concurrent_pipelines",
        ),
        (
            2,
            |s| s.providers.get_mut("venue").unwrap().refill_rate = Some(0),
            "providers.venue.refill_rate",
        ),
        (
            3,
            |s| s.default_sources = vec!["nope".into()],
            "default_sources[0]",
        ),
        (4, |s| s.routing_hold_down_ms = 0, "routing_hold_down_ms"),
    ];
    for (n, change, field) in cases {
        let mut s = (*before).clone();
        change(&mut s);
        let e = runtime.update_settings(s).unwrap_err();
        assert!(e.to_string().contains(field), "case {n}: {e}");
        assert!(
            Arc::ptr_eq(&runtime.settings(), &before),
            "case {n}: nothing swapped"
        );
        assert_eq!(runtime.settings_version(), 0, "case {n}");
    }
    let limits = runtime.coordinator().handle("venue").unwrap().limits();
    assert_eq!(
        (limits.capacity, limits.refill_rate),
        (2, 1),
        "budget untouched"
    );
}

#[test]
fn settings_readers_never_see_a_torn_settings_object_during_swaps_under_load() {
    let (runtime, _clock) = request_based_runtime(2, 1);
    // Load: an unpaced synthetic provider feeding two pipelines, and the request-based one.
    let mut loaded = (*runtime.settings()).clone();
    loaded
        .providers
        .insert("load".into(), synthetic("load", &["AAPL", "MSFT"]));
    runtime.update_settings(loaded).unwrap();
    for i in 0..2 {
        let spec = PipelineSpec::new("load", &format!("p{i}")).sources(&["load"]);
        runtime.run_pipeline(spec).unwrap();
    }
    runtime
        .run_pipeline(PipelineSpec::new("t", "venue"))
        .unwrap();
    assert!(wait_for(10_000, || runtime
        .list_pipelines()
        .iter()
        .all(|p| p.stats.produced > 0)));
    let a = (*runtime.settings()).clone();
    let mut b = a.clone();
    b.max_concurrent_pipelines = 7;
    let venue = b.providers.get_mut("venue").unwrap();
    venue.capacity = Some(50);
    venue.refill_rate = Some(40);
    let shape = |s: &PipelineRuntimeSettings| {
        let v = &s.providers["venue"];
        (s.max_concurrent_pipelines, v.capacity, v.refill_rate)
    };
    let (sa, sb) = (shape(&a), shape(&b));
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen_b = 0;
            for _ in 0..20_000 {
                let s = runtime.settings();
                let got = shape(&s);
                assert!(got == sa || got == sb, "torn settings: {got:?}");
                assert!(s.validate().is_ok());
                seen_b += u32::from(got == sb);
            }
            seen_b
        });
        for i in 0..200 {
            let next = if i % 2 == 0 { b.clone() } else { a.clone() };
            runtime.update_settings(next).unwrap();
        }
        reader.join().unwrap();
    });
    assert_eq!(runtime.settings_version(), 201);
    assert!(runtime
        .list_pipelines()
        .iter()
        .all(|p| p.state == PipelineState::Running));
    let limits = runtime.coordinator().handle("venue").unwrap().limits();
    assert_eq!(
        (limits.capacity, limits.refill_rate),
        (2, 1),
        "the last swap (a) is in force"
    );
}

#[test]
fn snapshot_reports_providers_breakers_and_pipeline_counters() {
    let mut p = synthetic("flaky", &["AAPL"]);
    p.breaker_threshold = Some(1);
    p.breaker_timeout = Some(0.0);
    p.source.params = toml::from_str(r#"faults = [{ at_tick = 512, kind = "error" }]"#).unwrap();
    let runtime = PipelineRuntime::start(settings_with(vec![p], 4)).unwrap();
    let key = runtime
        .run_pipeline(PipelineSpec::new("t", "p").max_ticks(4_096))
        .unwrap();
    assert!(wait_for(10_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    let snap = runtime.snapshot();
    assert_eq!(snap.providers.len(), 1);
    let flaky = &snap.providers[0];
    assert_eq!(
        (flaky.name.as_str(), flaky.kind.as_str()),
        ("flaky", "synthetic")
    );
    assert_eq!(
        flaky.state.breaker.opened, 1,
        "the injected error tripped the breaker: {flaky:?}"
    );
    assert_eq!(snap.pipelines[0].key, key);
    assert_eq!(snap.pipelines[0].stats.produced, 4_096);
    assert_eq!(snap.pipelines[0].stats.source_errors, 1);
}

#[test]
fn a_breaker_swap_applies_to_a_running_pipeline_from_its_next_chunk() {
    let (runtime, clock) = request_based_runtime(1, 1);
    // The same provider, with an error injected right after the first chunk.
    let mut s = (*runtime.settings()).clone();
    s.providers.get_mut("venue").unwrap().source.params =
        toml::from_str(r#"faults = [{ at_tick = 256, kind = "error" }]"#).unwrap();
    drop(runtime);
    let runtime = PipelineRuntime::start_with(s, SourceRegistry::new(), clock.clone()).unwrap();
    runtime.run_pipeline(PipelineSpec::new("t", "p")).unwrap();
    assert!(
        wait_for(10_000, || produced(&runtime) == 256),
        "one token, one chunk"
    );
    // While the source waits for a token, the threshold drops from 5 to 1.
    let mut strict = (*runtime.settings()).clone();
    strict.circuit_breaker_threshold = 1;
    runtime.update_settings(strict).unwrap();
    let venue = runtime.coordinator().handle("venue").unwrap();
    assert_eq!(venue.breaker().limits().0, 1);
    clock.advance(Duration::from_secs(1));
    // The next chunk meets the injected error: one failure now opens the breaker.
    assert!(wait_for(10_000, || venue.breaker().stats().opened == 1));
    // The provider's hub met the error; the pipeline reads it from its subscription next.
    assert!(wait_for(10_000, || runtime.snapshot().pipelines[0]
        .stats
        .source_errors
        == 1));
    let snap = runtime.snapshot();
    assert_eq!(snap.providers[0].state.breaker.opened, 1);
    assert_eq!(snap.pipelines[0].stats.source_errors, 1);
}

#[test]
fn a_pipeline_without_symbols_anywhere_is_a_clear_error() {
    // The default synthetic provider has no symbols of its own: the pipeline must name some.
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings::default()).unwrap();
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "p"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "settings: invalid configuration: symbols: the pipeline names no symbols and \
         providers.synthetic.symbols is empty"
    );
    assert!(runtime.list_pipelines().is_empty());
    runtime
        .run_pipeline(PipelineSpec::new("t", "p").symbols(&["AAPL"]))
        .unwrap();
}

#[test]
fn read_ticks_copies_every_tick_of_a_bounded_stream_into_a_caller_buffer() {
    let mut feed = synthetic("feed", &["AAPL", "MSFT"]);
    feed.source = feed.source.param("max_ticks", 1000);
    let runtime = PipelineRuntime::start(settings_with(vec![feed], 2)).unwrap();
    let mut stream = runtime.stream_quotes(&["AAPL", "MSFT"]).unwrap();
    // An empty buffer reads nothing and never waits.
    assert_eq!(stream.read_ticks(&mut []), 0);
    assert_eq!(
        stream.read_ticks_timeout(&mut [], Duration::from_secs(3600)),
        0
    );
    // An odd-sized buffer, so reads end mid-chunk and mid-ring.
    let mut buf = [market_data_pipeline::Tick::default(); 7];
    let mut seen = Vec::new();
    // Bounded: every non-final read returns at least one tick.
    for _ in 0..=1000 {
        let n = stream.read_ticks_timeout(&mut buf, Duration::from_secs(60));
        seen.extend_from_slice(&buf[..n]);
        if n == 0 && stream.is_finished() {
            break;
        }
    }
    assert!(stream.is_finished());
    assert_eq!(seen.len(), 1000);
    // The source's sequence, in order: nothing lost, duplicated or reordered.
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq), "out of order");
    // The zero-copy and poll forms at the end read nothing.
    assert_eq!(stream.read_chunks(64, |_| panic!("no tick is left")), 0);
    assert_eq!(stream.read_ticks(&mut buf), 0);
    let report = stream.stop();
    assert!(report.stats.is_conserved());
    assert_eq!(report.stats.delivered, 1000);
}

#[derive(Debug)]
struct Owner(&'static str);

impl market_data_pipeline::runtime::PipelineOwner for Owner {
    fn owner(&self) -> String {
        self.0.to_string()
    }
}

#[test]
fn a_singleton_started_by_its_owner_lists_the_owner_and_the_toml_flag_is_read() {
    let settings = PipelineRuntimeSettings::from_toml_str(
        r#"
default_sources = ["feed"]
[providers.feed]
kind = "synthetic"
symbols = ["SPY"]
[[pipelines]]
tenant_id = "desk"
pipeline_id = "solo"
singleton = true
max_ticks = 10
"#,
    )
    .expect("settings");
    let spec = settings.pipelines[0].clone();
    assert!(spec.singleton);
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings {
        pipelines: Vec::new(),
        ..settings
    })
    .expect("runtime");
    let key = runtime
        .run_owned_pipeline(
            spec,
            Box::new(market_data_pipeline::CountingSink::new()),
            Arc::new(Owner("host-a token 7")),
        )
        .expect("run");
    let plain = runtime
        .run_pipeline(PipelineSpec::new("desk", "plain").max_ticks(10))
        .expect("run");
    let listed = runtime.list_pipelines();
    let owner = |k: &PipelineKey| listed.iter().find(|p| &p.key == k).unwrap().owner.clone();
    assert_eq!(owner(&key).as_deref(), Some("host-a token 7"));
    assert_eq!(owner(&plain), None);
    runtime.stop_pipeline(&key).expect("stop");
    runtime.stop_pipeline(&plain).expect("stop");
}
