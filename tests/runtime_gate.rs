//! One admission gate per source on every runtime path: a routed source polls through its
//! provider's gate, so it has one breaker (the provider's) and follows the live
//! `enable_rate_coordination` switch like a single-provider pipeline. Waits are bounded loops of
//! 1 ms steps on a condition; the runtime's clock is a `ManualClock` that is never advanced.

mod common;

use common::wait_for;
use market_data_pipeline::flow::BreakerState;
use market_data_pipeline::registry::{SourceRegistry, SourceSpec};
use market_data_pipeline::router::BreakerOwner;
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings,
};
use market_data_pipeline::ManualClock;

const SEC: u64 = 1_000_000_000;

fn synthetic(name: &str, params: &str) -> ProviderSettings {
    let mut p = ProviderSettings::new(SourceSpec::named(name, "synthetic", &["AAPL"]));
    p.source.params = toml::from_str(params).unwrap();
    p
}

/// A runtime routing `primary` (request-based) and `backup` on a clock that stays at 1 s.
fn routed_runtime(primary: ProviderSettings) -> PipelineRuntime {
    let backup = synthetic("backup", "");
    let settings = PipelineRuntimeSettings {
        default_sources: vec!["primary".into(), "backup".into()],
        providers: [primary, backup]
            .into_iter()
            .map(|p| (p.source.name.clone(), p))
            .collect(),
        ..Default::default()
    };
    PipelineRuntime::start_with(settings, SourceRegistry::new(), ManualClock::shared(SEC)).unwrap()
}

#[test]
fn regression_a_request_based_routed_source_had_two_breakers() {
    // The router kept a breaker of its own per source and the coordinator checked the
    // provider's on every request: one error (provider threshold 1, router threshold 5)
    // opened one of them and not the other, and the snapshot showed both.
    let mut primary = synthetic("primary", r#"faults = [{ at_tick = 256, kind = "error" }]"#);
    primary.request_based = true;
    primary.breaker_threshold = Some(1);
    let runtime = routed_runtime(primary);
    runtime
        .run_pipeline(PipelineSpec::new("t", "p").max_ticks(100_000))
        .unwrap();
    // The primary's hub may poll it (and trip its breaker) before the router starts: the
    // router then starts on the backup instead of switching to it.
    let failed_over = || {
        runtime.list_pipelines()[0]
            .routing
            .as_ref()
            .is_some_and(|r| r.active.as_deref() == Some("backup"))
    };
    assert!(
        wait_for(10_000, failed_over),
        "the error fails primary over: {:?}",
        runtime.snapshot()
    );
    let snap = runtime.snapshot();
    let provider = snap.providers.iter().find(|p| p.name == "primary").unwrap();
    let routing = snap.pipelines[0].routing.as_ref().unwrap();
    let routed = routing.source("primary").unwrap();
    assert_eq!(provider.state.breaker.state, BreakerState::Open);
    assert_eq!(
        routed.breaker, provider.state.breaker.state,
        "one breaker, so one state: {routing:?}"
    );
    assert_eq!(routed.breaker_owner, BreakerOwner::Provider);
    // Each breaker once: the providers', and the router's own for sources without one.
    let own = routing
        .sources
        .iter()
        .filter(|s| s.breaker_owner == BreakerOwner::Router)
        .count();
    assert_eq!(
        snap.providers.len() + own,
        2,
        "two sources, two breakers: {snap:?}"
    );
}

/// A pipeline routing a request-based `primary` with a budget of `tokens` (refill 1/s, the
/// clock frozen): it runs until it has produced one 256-tick chunk per token and its next
/// chunk waits for a token.
fn run_on_tokens(tokens: u64) -> PipelineRuntime {
    let mut primary = synthetic("primary", "");
    primary.request_based = true;
    primary.capacity = Some(tokens);
    primary.refill_rate = Some(1);
    let runtime = routed_runtime(primary);
    runtime
        .run_pipeline(PipelineSpec::new("t", "p").max_ticks(10_000))
        .unwrap();
    let produced = || runtime.list_pipelines()[0].stats.produced;
    assert!(
        wait_for(10_000, || produced() == 256 * tokens),
        "one chunk per token: {} for {tokens}",
        produced()
    );
    let state = |r: &PipelineRuntime| r.coordinator().provider_state("primary").unwrap();
    assert!(
        wait_for(10_000, || state(&runtime).counters.rate_limited > 0),
        "the next chunk waits for a token"
    );
    assert_eq!(
        produced(),
        256 * tokens,
        "the clock stands still: no token, no chunk"
    );
    runtime
}

#[test]
fn regression_switching_rate_coordination_off_did_not_reach_running_routed_pipelines() {
    // The router decided at construction which sources asked the coordinator; a live switch
    // reached single-provider pipelines only.
    let runtime = run_on_tokens(1);
    let produced = || runtime.list_pipelines()[0].stats.produced;
    let mut off = (*runtime.settings()).clone();
    off.enable_rate_coordination = false;
    runtime.update_settings(off).unwrap();
    assert!(
        wait_for(10_000, || produced() == 10_000),
        "coordination off: the routed source is polled without tokens"
    );
    let routing = runtime.list_pipelines()[0].routing.clone().unwrap();
    assert_eq!(routing.switches_total, 0, "primary was never failed over");
}

#[test]
fn a_routed_source_fed_by_its_providers_hub_spends_one_token_per_upstream_poll() {
    // The hub polls the provider through its gate; the router reads the hub's ring without
    // gating it again (a second admission would spend a second token per chunk: 256 ticks
    // for two tokens).
    let runtime = run_on_tokens(2);
    let routing = runtime.list_pipelines()[0].routing.clone().unwrap();
    assert_eq!(routing.switches_total, 0, "a refusal is not a failure");
}
