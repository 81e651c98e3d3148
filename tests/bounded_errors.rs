//! Errors that carry user-provided text (symbol names, keys, source and provider names,
//! paths) show it bounded: a 50 MB name becomes its first 64 characters and its size, in
//! every error family, never the whole name.

use std::sync::Arc;

use market_data_pipeline::error::{bounded, bounded_list, SHOWN_PREFIX, SHOWN_WHOLE};
use market_data_pipeline::sink::CsvSink;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::symbol::SymbolNames;
use market_data_pipeline::{
    ConfigError, RateCoordinator, SinkError, SourceError, SourceRegistry, SymbolTable, TickFile,
};

const HUGE: usize = 50 * 1024 * 1024;

fn huge_name() -> String {
    "N".repeat(HUGE)
}

/// The message is short, shows the start of the text and how long it was.
fn assert_bounded(case: &str, message: &str) {
    assert!(
        message.len() < 1_000,
        "{case}: a {} byte message",
        message.len()
    );
    assert!(
        message.contains(&"N".repeat(SHOWN_PREFIX / 2)),
        "{case}: {message}"
    );
    // The size of the text shown: the name, or the key or path that holds it.
    assert!(
        message.contains(&format!("… ({}", HUGE / 1000)) && message.contains(" bytes)"),
        "{case}: {message}"
    );
}

#[test]
fn regression_errors_echoed_a_50_mb_symbol_name_whole() {
    let name = huge_name();
    let table = Arc::new(SymbolTable::new());
    let e = table.intern(&name).unwrap_err();
    assert_bounded("symbol table", &e.to_string());

    let e =
        SyntheticSource::new(SyntheticConfig::new(&[name.as_str()]), table.clone()).unwrap_err();
    assert_bounded("synthetic symbol", &e.to_string());
}

#[test]
fn every_error_family_bounds_the_names_it_carries() {
    let name = huge_name();
    let table = Arc::new(SymbolTable::new());
    // (case, message)
    let cases: Vec<(&str, String)> = vec![
        (
            "source name",
            SyntheticSource::new(
                SyntheticConfig {
                    name: name.clone(),
                    ..SyntheticConfig::default()
                },
                table.clone(),
            )
            .unwrap_err()
            .to_string(),
        ),
        (
            "source error",
            SourceError::Failed {
                source_name: name.clone(),
                reason: "x".into(),
            }
            .to_string(),
        ),
        (
            "config field",
            ConfigError::new(format!("providers.{name}.capacity"), "must be > 0").to_string(),
        ),
        (
            "registry",
            match SourceRegistry::new().load(&name) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("loaded an unknown source"),
            },
        ),
        (
            "coordinator",
            RateCoordinator::new()
                .try_acquire(&name)
                .unwrap_err()
                .to_string(),
        ),
        (
            "sink path",
            CsvSink::create(
                format!("/nonexistent-dir/{name}"),
                SymbolNames::new(table.clone()),
            )
            .unwrap_err()
            .to_string(),
        ),
        (
            "tick file path",
            TickFile::open(format!("/nonexistent-dir/{name}"))
                .unwrap_err()
                .to_string(),
        ),
    ];
    for (case, message) in cases {
        assert_bounded(case, &message);
    }
}

#[test]
fn sink_errors_name_a_short_path_whole() {
    let e = SinkError::Io {
        sink: "csv",
        path: "/data/recordings/2026-12-02/session-a.csv".into(),
        message: "disk full".into(),
    };
    assert_eq!(
        e.to_string(),
        "sink csv: /data/recordings/2026-12-02/session-a.csv: disk full"
    );
}

#[test]
fn bounded_text_table() {
    let at_limit = "a".repeat(SHOWN_WHOLE);
    let over = "b".repeat(SHOWN_WHOLE + 1);
    // Multi-byte characters are cut at a character boundary, counted in characters.
    let wide = "é".repeat(100);
    // (case, text, Display, Debug)
    let cases: Vec<(u32, &str, String, String)> = vec![
        (1, "", String::new(), "\"\"".into()),
        (2, "AAPL", "AAPL".into(), "\"AAPL\"".into()),
        (3, &at_limit, at_limit.clone(), format!("{at_limit:?}")),
        (
            4,
            &over,
            format!("{}… ({} bytes)", "b".repeat(64), SHOWN_WHOLE + 1),
            format!("\"{}\"… ({} bytes)", "b".repeat(64), SHOWN_WHOLE + 1),
        ),
        (
            5,
            &wide,
            format!("{}… (200 bytes)", "é".repeat(64)),
            format!("\"{}\"… (200 bytes)", "é".repeat(64)),
        ),
        (6, "a\"b\n", "a\"b\n".into(), "\"a\\\"b\\n\"".into()),
    ];
    for (case, text, display, debug) in cases {
        assert_eq!(bounded(text).to_string(), display, "case {case}");
        assert_eq!(format!("{:?}", bounded(text)), debug, "case {case}");
    }
}

#[test]
fn bounded_list_table() {
    let many: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let huge = vec![huge_name()];
    // (case, items, shown)
    let cases: Vec<(u32, &[String], String)> = vec![
        (1, &[], String::new()),
        (2, &many[..1], "s0".into()),
        (3, &many[..8], "s0, s1, s2, s3, s4, s5, s6, s7".into()),
        (
            4,
            &many,
            "s0, s1, s2, s3, s4, s5, s6, s7, … (10 in all)".into(),
        ),
        (5, &huge, format!("{}… ({HUGE} bytes)", "N".repeat(64))),
    ];
    for (case, items, shown) in cases {
        assert_eq!(bounded_list(items).to_string(), shown, "case {case}");
    }
}
