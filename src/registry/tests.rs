//! Registry specifications.

use super::*;
use crate::error::ConfigError;
use crate::source::SourcePoll;
use crate::tick::Tick;

fn build(spec: &SourceSpec) -> Result<Box<dyn TickSource>, RegistryError> {
    SourceRegistry::new().build(spec, &SourceContext::default())
}

fn field_of(e: RegistryError) -> String {
    match e {
        RegistryError::Config(ConfigError { field, .. }) => field,
        other => panic!("expected a config error, got {other}"),
    }
}

#[test]
fn builtins_are_listed_and_load_by_name() {
    let r = SourceRegistry::new();
    assert_eq!(r.list_sources(), ["replay", "synthetic", "tcp"]);
    assert!(r.load("tcp").is_ok());
    assert!(r.load("synthetic").is_ok());
    assert!(r.load("replay").is_ok());
}

#[test]
fn unknown_name_lists_the_known_ones() {
    let r = SourceRegistry::new();
    let e = r.load("polygon").unwrap_err();
    assert_eq!(
        e,
        RegistryError::UnknownSource {
            name: "polygon".into(),
            known: vec!["replay".into(), "synthetic".into(), "tcp".into()],
        }
    );
    assert!(e.to_string().contains("known: replay, synthetic, tcp"));
}

#[test]
fn unknown_kind_in_a_spec_names_the_toml_key() {
    let e = build(&SourceSpec::named("primary", "ibkr", &["AAPL"]))
        .err()
        .unwrap();
    assert!(e.to_string().contains("providers.primary.kind"), "{e}");
    assert!(
        e.to_string().contains("known: replay, synthetic, tcp"),
        "{e}"
    );
}

#[test]
fn register_replaces_and_returns_the_previous_factory() {
    let r = SourceRegistry::new();
    assert!(r
        .register("synthetic", SourceFactory::new(builtin::synthetic))
        .is_some());
    assert!(r
        .register("other", SourceFactory::new(builtin::synthetic))
        .is_none());
    assert!(r.contains("other"));
}

#[test]
fn synthetic_spec_builds_a_source_with_its_parameters() {
    let spec = SourceSpec::named("primary", "synthetic", &["AAPL", "MSFT"])
        .param("seed", 7)
        .param("max_ticks", 10)
        .param("source_id", 3);
    let mut s = build(&spec).unwrap();
    assert_eq!(s.name(), "primary");
    assert_eq!(s.symbols(), ["AAPL", "MSFT"]);
    s.start(0).unwrap();
    let mut buf = [Tick::default(); 32];
    assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
    assert!(buf[..10].iter().all(|t| t.source == 3));
    assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
}

#[test]
fn synthetic_faults_parse_from_toml() {
    let table: toml::Table = toml::from_str(
        r#"faults = [{ at_tick = 5, kind = "error" }, { at_tick = 9, kind = "stall", duration_ms = 10 }]"#,
    )
    .unwrap();
    let mut spec = SourceSpec::named("primary", "synthetic", &["AAPL"]);
    spec.params = table;
    let mut s = build(&spec).unwrap();
    s.start(0).unwrap();
    let mut buf = [Tick::default(); 32];
    assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(5));
    assert!(
        s.poll(0, &mut buf).is_err(),
        "the injected error fires at tick 5"
    );
}

/// Bad specs, each with the TOML key its error must name.
#[test]
fn bad_specs_name_the_key() {
    let base = || SourceSpec::named("primary", "synthetic", &["AAPL"]);
    let fault = |s: &str| {
        let mut spec = base();
        spec.params = toml::from_str(s).unwrap();
        spec
    };
    let cases: Vec<(u32, SourceSpec, &str)> = vec![
        (1, base().param("rate", "fast"), "providers.primary.rate"),
        (2, base().param("rate", 0), "providers.primary.rate"),
        (3, base().param("seed", -1), "providers.primary.seed"),
        (4, base().param("rat", 5), "providers.primary.rat"),
        (
            5,
            base().with_symbols::<&str>(&[]),
            "providers.primary.symbols",
        ),
        (
            6,
            base().param("trade_per_mille", 2000),
            "providers.primary.trade_per_mille",
        ),
        (
            7,
            base().param("source_id", 70_000),
            "providers.primary.source_id",
        ),
        (
            8,
            fault(r#"faults = [{ kind = "error" }]"#),
            "providers.primary.faults[0].at_tick",
        ),
        (
            9,
            fault(r#"faults = [{ at_tick = 1, kind = "boom" }]"#),
            "providers.primary.faults[0].kind",
        ),
        (
            10,
            fault(r#"faults = [{ at_tick = 1, kind = "stall" }]"#),
            "providers.primary.faults[0].duration_ms",
        ),
        (11, fault(r#"faults = [1]"#), "providers.primary.faults[0]"),
        (
            12,
            SourceSpec::named("tape", "replay", &["AAPL"]),
            "providers.tape.path",
        ),
        (
            13,
            SourceSpec::named("tape", "replay", &["AAPL"])
                .param("path", "x")
                .param("speed", -1.0),
            "providers.tape.speed",
        ),
        (
            14,
            SourceSpec::named("tape", "replay", &["AAPL"])
                .param("path", "x")
                .param("repeat", "twice"),
            "providers.tape.repeat",
        ),
        (
            15,
            SourceSpec::named("wire", "tcp", &["AAPL"]),
            "providers.wire.addr",
        ),
        (
            16,
            SourceSpec::named("wire", "tcp", &["AAPL"]).param("addr", "localhost"),
            "providers.wire.addr",
        ),
        (
            17,
            SourceSpec::named("wire", "tcp", &["AAPL"])
                .param("addr", "127.0.0.1:9")
                .param("reconnect_ms", "soon"),
            "providers.wire.reconnect_ms",
        ),
        (
            18,
            SourceSpec::named("wire", "tcp", &["AAPL"])
                .param("addr", "127.0.0.1:9")
                .param("connect_timeout_ms", 0),
            "providers.wire.connect_timeout_ms",
        ),
        (
            19,
            SourceSpec::named("wire", "tcp", &["AAPL"])
                .param("addr", "127.0.0.1:9")
                .param("read_buffer", 8),
            "providers.wire.read_buffer",
        ),
        (
            22,
            SourceSpec::named("wire", "tcp", &["AAPL"])
                .param("addr", "127.0.0.1:9")
                .param("read_buffer", i64::MAX),
            "providers.wire.read_buffer",
        ),
        (
            20,
            SourceSpec::named("wire", "tcp", &["AAPL"])
                .param("addr", "127.0.0.1:9")
                .param("port", 9),
            "providers.wire.port",
        ),
        (
            21,
            SourceSpec::named("wire", "tcp", &[] as &[&str]).param("addr", "127.0.0.1:9"),
            "providers.wire.symbols",
        ),
    ];
    for (n, spec, key) in cases {
        let e = build(&spec)
            .err()
            .unwrap_or_else(|| panic!("case {n}: no error"));
        assert_eq!(field_of(e), key, "case {n}");
    }
}

#[test]
fn replay_of_a_missing_file_is_an_error_naming_the_file() {
    let spec = SourceSpec::named("tape", "replay", &["AAPL"]).param("path", "/nonexistent/x.ticks");
    let e = build(&spec).err().unwrap();
    assert!(matches!(e, RegistryError::Source(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/x.ticks"), "{e}");
}

#[test]
fn tcp_spec_from_toml_builds_a_feed_source_with_its_parameters() {
    let mut spec = SourceSpec::named("wire", "tcp", &["AAPL", "MSFT"]);
    spec.params = toml::from_str(
        r#"
        addr = "127.0.0.1:9"
        reconnect_ms = 250
        staleness_ms = 500
        "#,
    )
    .unwrap();
    let ctx = SourceContext::default();
    let src = SourceRegistry::new().build(&spec, &ctx).unwrap();
    assert_eq!(src.name(), "wire");
    assert_eq!(src.symbols(), ["AAPL", "MSFT"]);
    assert_eq!(
        src.capabilities().staleness_bound,
        Some(std::time::Duration::from_millis(500))
    );
    assert_eq!(src.status(), crate::source::SourceStatus::Idle);
    assert_eq!(ctx.symbols.get("MSFT").map(|id| id.0), Some(1));
}
