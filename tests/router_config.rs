//! Bad router configuration is a `ConfigError` naming the field, never a panic.

mod router_support;

use std::time::Duration;

use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter};
use market_data_pipeline::{ConfigError, ManualClock, TickSource};
use router_support::*;

fn build(
    sources: Vec<Box<dyn TickSource>>,
    cfg: RouterConfig,
) -> Result<SourceRouter, ConfigError> {
    SourceRouter::with_config(sources, cfg, ManualClock::shared(0))
}

fn two() -> Vec<Box<dyn TickSource>> {
    vec![synth("a", 1, vec![]), synth("b", 2, vec![])]
}

fn feeds() -> Vec<Box<dyn TickSource>> {
    vec![
        Box::new(SeqFeed::new("a", 1, vec![1], 1)),
        Box::new(SeqFeed::new("b", 2, vec![1], 1)),
    ]
}

/// (case number, sources, config, the field the error names)
type Case = (u32, Vec<Box<dyn TickSource>>, RouterConfig, &'static str);

#[test]
fn config_errors_name_the_field() {
    let d = RouterConfig::default;
    let zero = Duration::ZERO;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (1, vec![], d(), "sources"),
        (2, vec![synth("a", 1, vec![]), synth("a", 2, vec![])], d(), "sources[1].name"),
        (3, two(), RouterConfig { hold_down: zero, ..d() }, "router.hold_down"),
        (4, two(), RouterConfig { hold_down: zero, ..RouterConfig::new(RoutingStrategy::Fastest) }, "router.hold_down"),
        (5, two(), RouterConfig::new(RoutingStrategy::Arbitrate), "sources[0]"),
        (6, two(), RouterConfig { breaker_threshold: 0, ..d() }, "router.breaker_threshold"),
        (7, two(), RouterConfig { breaker_timeout: zero, ..d() }, "router.breaker_timeout"),
        (8, two(), RouterConfig { default_staleness: zero, ..d() }, "router.default_staleness"),
        (9, two(), RouterConfig { round_robin_chunks: 0, ..d() }, "router.round_robin_chunks"),
        (10, two(), RouterConfig { fastest_hysteresis: 1.0, ..d() }, "router.fastest_hysteresis"),
        (11, two(), RouterConfig { fastest_hysteresis: f64::NAN, ..d() }, "router.fastest_hysteresis"),
        (12, two(), RouterConfig { probe_interval: zero, ..d() }, "router.probe_interval"),
        (13, two(), RouterConfig { arbitrate_window: 0, ..d() }, "router.arbitrate_window"),
        (14, two(), RouterConfig { arbitrate_window: 65_537, ..d() }, "router.arbitrate_window"),
        (15, two(), RouterConfig { scratch_ticks: 0, ..d() }, "router.scratch_ticks"),
        (16, two(), RouterConfig { switch_history: 0, ..d() }, "router.switch_history"),
    ];
    for (n, sources, cfg, field) in cases {
        let e = build(sources, cfg).expect_err(&format!("case {n} accepted"));
        assert_eq!(e.field, field, "case {n}: {e}");
    }
}

#[test]
fn valid_configs_build() {
    // A zero hold-down is fine where it means nothing to flap: round robin and arbitrate.
    let zero = Duration::ZERO;
    assert!(build(
        two(),
        RouterConfig {
            hold_down: zero,
            ..RouterConfig::new(RoutingStrategy::RoundRobin)
        }
    )
    .is_ok());
    assert!(build(
        feeds(),
        RouterConfig {
            hold_down: zero,
            ..RouterConfig::new(RoutingStrategy::Arbitrate)
        }
    )
    .is_ok());
    for s in RoutingStrategy::ALL {
        let sources = if s == RoutingStrategy::Arbitrate {
            feeds()
        } else {
            two()
        };
        assert!(build(sources, RouterConfig::new(s)).is_ok(), "{s}");
    }
}

#[test]
fn strategy_strings_parse_and_unknown_ones_name_the_field() {
    for (n, (text, want)) in [
        ("first", Some(RoutingStrategy::First)),
        ("round_robin", Some(RoutingStrategy::RoundRobin)),
        ("fastest", Some(RoutingStrategy::Fastest)),
        ("arbitrate", Some(RoutingStrategy::Arbitrate)),
        ("First", None),
        ("", None),
        ("latency", None),
    ]
    .into_iter()
    .enumerate()
    {
        match (text.parse::<RoutingStrategy>(), want) {
            (Ok(s), Some(w)) => {
                assert_eq!(s, w, "case {n}");
                assert_eq!(s.to_string(), text, "case {n}: round trip");
            }
            (Err(e), None) => assert_eq!(e.field, "router.strategy", "case {n}"),
            (got, want) => panic!("case {n}: {text:?} gave {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn live_config_changes_are_validated_before_the_swap() {
    let r = build(two(), RouterConfig::default()).unwrap();
    let c = r.control();
    let e = c
        .set_config(RouterConfig {
            probe_interval: Duration::ZERO,
            ..RouterConfig::default()
        })
        .unwrap_err();
    assert_eq!(e.field, "router.probe_interval");
    assert_eq!(
        c.config(),
        RouterConfig::default(),
        "a refused config changed something"
    );
    // Round robin with a zero hold-down, then back to first: refused (first needs one).
    c.set_config(RouterConfig {
        hold_down: Duration::ZERO,
        ..RouterConfig::new(RoutingStrategy::RoundRobin)
    })
    .unwrap();
    assert_eq!(
        c.set_strategy(RoutingStrategy::First).unwrap_err().field,
        "router.hold_down"
    );
    assert_eq!(c.config().strategy, RoutingStrategy::RoundRobin);
}

#[test]
fn live_adds_with_a_duplicate_name_and_removes_of_unknown_names_are_refused() {
    use market_data_pipeline::router::ControlError;
    let r = build(two(), RouterConfig::default()).unwrap();
    let c = r.control();
    match c.add_source(synth("a", 9, vec![])) {
        Err(ControlError::Config(e)) => assert_eq!(e.field, "sources.name"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.remove_source("zz"),
        Err(ControlError::UnknownSource("zz".into()))
    );
    drop(r);
    assert_eq!(
        c.add_source(synth("c", 3, vec![])),
        Err(ControlError::RouterDropped)
    );
}
