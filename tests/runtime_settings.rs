//! PipelineRuntimeSettings from TOML: what parses, and the errors that name the line or key.

use market_data_pipeline::runtime::{
    OperatorSpec, PipelineRuntime, PipelineRuntimeSettings, SettingsError,
};

const FULL: &str = r#"
orchestration_enabled = true
max_concurrent_pipelines = 4
enable_rate_coordination = true
circuit_breaker_threshold = 3
circuit_breaker_timeout_sec = 0.5
routing_strategy = "first"
default_sources = ["primary", "backup"]

[pipeline]
ring_capacity = 4096
chunk_size = 128
backpressure = "drop-newest"
batch_rows = 100
batch_age_ms = 50

[providers.primary]
kind = "synthetic"
symbols = ["AAPL", "MSFT"]
rate = 1000000
seed = 7
faults = [{ at_tick = 100000, kind = "error" }]

[providers.backup]
kind = "synthetic"
symbols = ["AAPL", "MSFT"]
request_based = true
capacity = 100
refill_rate = 1000
breaker_threshold = 2

[[pipelines]]
tenant_id = "desk"
pipeline_id = "bars"
operator = "bars"
bar_window_ms = 500
max_ticks = 1000
"#;

#[test]
fn a_full_file_parses_into_every_field() {
    let s = PipelineRuntimeSettings::from_toml_str(FULL).unwrap();
    assert_eq!(s.max_concurrent_pipelines, 4);
    assert_eq!(s.circuit_breaker_threshold, 3);
    assert_eq!(s.default_sources, ["primary", "backup"]);
    assert_eq!(s.pipeline.chunk_size, 128);
    let primary = &s.providers["primary"];
    assert_eq!(primary.source.kind, "synthetic");
    assert_eq!(primary.source.symbols, ["AAPL", "MSFT"]);
    assert_eq!(primary.source.params["seed"].as_integer(), Some(7));
    assert!(!primary.request_based);
    let backup = s.provider_limits("backup").unwrap();
    assert_eq!((backup.capacity, backup.refill_rate), (100, 1000));
    assert_eq!(backup.breaker_threshold, 2, "the provider's own threshold");
    let primary = s.provider_limits("primary").unwrap();
    assert_eq!(
        primary.breaker_threshold, 3,
        "the runtime's default threshold"
    );
    assert_eq!(primary.breaker_timeout, 0.5);
    assert_eq!(s.pipelines.len(), 1);
    assert!(matches!(s.pipelines[0].operator, OperatorSpec::Bars { .. }));
}

#[test]
fn an_empty_file_is_the_default_settings() {
    let s = PipelineRuntimeSettings::from_toml_str("").unwrap();
    assert_eq!(s, PipelineRuntimeSettings::default());
}

/// Malformed or invalid files: (case, text, line, words the message must contain).
#[test]
fn bad_files_name_the_line_and_key() {
    let cases: &[(u32, &str, usize, &str)] = &[
        (1, "max_concurrent_pipelines = \n", 1, "string values must be quoted"),
        (2, "\nmax_concurent_pipelines = 3\n", 2, "unknown field `max_concurent_pipelines`"),
        (3, "\n\nmax_concurrent_pipelines = \"ten\"\n", 3, "invalid type"),
        (4, "max_concurrent_pipelines = 0\n", 1, "max_concurrent_pipelines: must be greater than 0"),
        (5, "[providers.p]\nkind = \"synthetic\"\nrefill_rate = 0\n", 3, "providers.p.refill_rate"),
        (6, "[providers.p]\nsymbols = [\"AAPL\"]\n", 1, "providers.p.kind: missing"),
        (7, "[providers.p]\nkind = \"synthetic\"\nsymbols = [1]\n", 3, "providers.p.symbols[0]"),
        (8, "[providers.a]\nkind = \"synthetic\"\n[providers.b]\nkind = \"synthetic\"\n", 0, "default_sources: missing"),
        (9, "default_sources = [\"x\"]\n[providers.p]\nkind = \"synthetic\"\n", 1, "default_sources[0]: unknown provider \"x\""),
        (10, "routing_strategy = \"random\"\n", 1, "routing_strategy: unknown strategy \"random\""),
        (11, "[pipeline]\nbackpressure = \"sometimes\"\n", 2, "pipeline.backpressure"),
        (12, "[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"a\"\n[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"a\"\n", 6, "pipelines[1].pipeline_id"),
        (13, "[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"a\"\noperator = \"vwap\"\n", 4, "pipelines[0].operator"),
        (14, "circuit_breaker_timeout_sec = -1.0\n", 1, "circuit_breaker_timeout_sec"),
        (15, "[pipeline]\nring_capacity = 16\nchunk_size = 64\n", 2, "pipeline.ring_capacity"),
        // Issue 7, failure 8: rings the machine cannot allocate are refused, not aborted on.
        (16, "[pipeline]\nring_capacity = 8589934592\n", 2, "pipeline.ring_capacity: 8589934592 slots: at most 16777216"),
        (17, "[pipeline]\nstream_capacity = 9223372036854775807\n", 2, "pipeline.stream_capacity"),
    ];
    for &(n, text, line, words) in cases {
        let e = PipelineRuntimeSettings::from_toml_str(text).unwrap_err();
        let got_line = match &e {
            SettingsError::Parse { line, .. } => *line,
            SettingsError::Invalid { line, .. } => line.unwrap_or(0),
            other => panic!("case {n}: {other}"),
        };
        assert_eq!(got_line, line, "case {n}: {e}");
        assert!(e.to_string().contains(words), "case {n}: {e}");
        if line > 0 {
            assert!(
                e.to_string().starts_with(&format!("line {line}")),
                "case {n}: {e}"
            );
        }
    }
}

#[test]
fn bad_source_parameters_are_refused_at_start_naming_the_key() {
    // Table: (case, provider section, key named)
    let cases = [
        (
            1,
            "kind = \"ibkr\"\nsymbols = [\"AAPL\"]",
            "providers.p.kind",
        ),
        (
            2,
            "kind = \"synthetic\"\nsymbols = [\"AAPL\"]\nrate = \"fast\"",
            "providers.p.rate",
        ),
        (
            3,
            "kind = \"synthetic\"\nsymbols = [\"AAPL\"]\nrat = 5",
            "providers.p.rat",
        ),
        (
            4,
            "kind = \"replay\"\nsymbols = [\"AAPL\"]",
            "providers.p.path",
        ),
    ];
    for (n, section, key) in cases {
        let s =
            PipelineRuntimeSettings::from_toml_str(&format!("[providers.p]\n{section}\n")).unwrap();
        let e = PipelineRuntime::start(s).unwrap_err();
        assert!(e.to_string().contains(key), "case {n}: {e}");
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = PipelineRuntimeSettings::from_file("/nonexistent/mdp.toml").unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/mdp.toml: "), "{e}");
}

#[test]
fn every_example_config_loads_and_starts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = PipelineRuntimeSettings::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let runtime =
                PipelineRuntime::start(s).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            drop(runtime);
            n += 1;
        }
    }
    assert!(n >= 2, "examples/config holds the example configs");
}
