//! Runtime pipelines over several providers: routed through a SourceRouter, whose strategy
//! and breaker settings `update_settings` swaps live, and whose stats the snapshot reports.

mod common;

use common::{two_providers, wait_for};
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::registry::SourceRegistry;
use market_data_pipeline::runtime::{PipelineKey, PipelineRuntime, PipelineSpec};
use market_data_pipeline::{ManualClock, RoutingStrategy, SwitchReason};

/// A runtime on a manual clock running one pipeline of at most `max_ticks` over `primary`
/// (an error at its 1,000th tick) and `backup`.
fn routed_pipeline(max_ticks: u64) -> (PipelineRuntime, PipelineKey) {
    let runtime = PipelineRuntime::start_with(
        two_providers(r#"faults = [{ at_tick = 1000, kind = "error" }]"#),
        SourceRegistry::new(),
        ManualClock::shared(1_000_000_000),
    )
    .unwrap();
    let key = runtime
        .run_pipeline(PipelineSpec::new("t", "routed").max_ticks(max_ticks))
        .unwrap();
    (runtime, key)
}

#[test]
fn a_pipeline_over_two_providers_fails_over_through_its_router() {
    let (runtime, key) = routed_pipeline(5_000);
    assert!(wait_for(10_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    let info = runtime.list_pipelines().remove(0);
    assert_eq!(info.sources, ["primary", "backup"]);
    let routing = info
        .routing
        .expect("a routed pipeline reports its router's stats");
    assert_eq!(routing.strategy, RoutingStrategy::First);
    assert_eq!(
        routing.switches[0].reason,
        SwitchReason::Error,
        "{routing:?}"
    );
    // Router stats are published on switches and on its (frozen, manual) clock's interval.
    assert_eq!(
        routing.source("primary").unwrap().delivered,
        1_000,
        "the primary up to its error"
    );
    assert_eq!(routing.source("backup").unwrap().selected, 1);
    let report = runtime.stop_pipeline(&key).unwrap();
    assert_eq!(
        report.stats.produced, 5_000,
        "the bound counts routed ticks"
    );
    assert_eq!(report.stats.delivered, 5_000, "nothing lost");
}

/// `mdp run` printed the per-source counts of the last snapshot beside the final `delivered`:
/// 1,992,639 + 992,811 of 2,989,366. The report of a routed pipeline stopped mid-run carries
/// its router's final counters, and they add up.
#[test]
fn regression_a_routed_pipeline_stopped_mid_run_reports_per_source_counts_that_add_up() {
    let (runtime, key) = routed_pipeline(1 << 40);
    assert!(
        wait_for(10_000, || runtime.list_pipelines()[0].stats.delivered
            >= 20_000),
        "the routed pipeline delivers"
    );
    let report = runtime.stop_pipeline(&key).unwrap();
    let routing = report
        .routing
        .as_ref()
        .expect("a routed pipeline's report carries its router's final counters");
    let per_source: u64 = routing.sources.iter().map(|s| s.delivered).sum();
    assert!(report.stats.delivered >= 20_000);
    assert_eq!(
        per_source, report.stats.delivered,
        "per-source delivered {routing:?} against the pipeline's {}",
        report.stats.delivered
    );
    assert_eq!(routing.source("primary").unwrap().delivered, 1_000);
    assert!(report.stats.is_conserved());

    // The same through shutdown.
    let (runtime, key) = routed_pipeline(1 << 40);
    assert!(wait_for(10_000, || runtime.list_pipelines()[0]
        .stats
        .delivered
        >= 5_000));
    let reports = runtime.shutdown();
    let report = &reports[&key];
    let routing = report
        .routing
        .as_ref()
        .expect("shutdown's report has it too");
    let per_source: u64 = routing.sources.iter().map(|s| s.delivered).sum();
    assert_eq!(per_source, report.stats.delivered);
}

#[test]
fn update_settings_swaps_the_routing_strategy_of_running_pipelines() {
    let runtime = PipelineRuntime::start(two_providers("")).unwrap();
    runtime
        .run_pipeline(PipelineSpec::new("t", "routed"))
        .unwrap();
    let selected = |name: &str| {
        let info = runtime.list_pipelines().remove(0);
        info.routing
            .and_then(|r| r.source(name).map(|s| s.delivered))
            .unwrap_or(0)
    };
    assert!(wait_for(10_000, || selected("primary") > 0));
    assert_eq!(selected("backup"), 0, "first: the primary only");
    let mut rr = (*runtime.settings()).clone();
    rr.routing_strategy = RoutingStrategy::RoundRobin;
    runtime.update_settings(rr).unwrap();
    assert!(
        wait_for(10_000, || selected("backup") > 0),
        "round robin reaches the backup in the same pipeline"
    );
    let routing = runtime.snapshot().pipelines[0].routing.clone().unwrap();
    assert_eq!(routing.strategy, RoutingStrategy::RoundRobin);
    assert_eq!(
        runtime.snapshot().routing_strategy,
        RoutingStrategy::RoundRobin
    );
}

#[test]
fn switching_to_arbitrate_over_unsequenced_feeds_is_refused_and_changes_nothing() {
    let runtime = PipelineRuntime::start(two_providers("")).unwrap();
    runtime
        .run_pipeline(PipelineSpec::new("t", "routed"))
        .unwrap();
    let mut arb = (*runtime.settings()).clone();
    arb.routing_strategy = RoutingStrategy::Arbitrate;
    let e = runtime.update_settings(arb).unwrap_err();
    assert!(e.to_string().contains("routing_strategy"), "{e}");
    assert!(e.to_string().contains("t/routed"), "{e}");
    assert_eq!(runtime.settings_version(), 0);
    assert_eq!(runtime.settings().routing_strategy, RoutingStrategy::First);
}

#[test]
fn without_orchestration_a_pipeline_reads_its_first_source_directly() {
    let mut s = two_providers("");
    s.orchestration_enabled = false;
    let runtime = PipelineRuntime::start(s).unwrap();
    let key = runtime
        .run_pipeline(PipelineSpec::new("t", "p").max_ticks(1_000))
        .unwrap();
    assert!(wait_for(10_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    assert!(runtime.list_pipelines()[0].routing.is_none());
    let report = runtime.stop_pipeline(&key).unwrap();
    assert_eq!(report.stats.delivered, 1_000);
    assert!(report.routing.is_none(), "no router, no routing counters");
}
