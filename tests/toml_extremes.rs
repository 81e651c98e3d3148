//! Settings files with windows at the edge of event time: `bar_window_ms = u64::MAX` once hung
//! the bar stage of the pipeline it started; now the file is refused, naming the key.

use market_data_pipeline::PipelineRuntimeSettings;

fn settings(window_ms: &str) -> String {
    format!(
        r#"
[providers.primary]
kind = "synthetic"
symbols = ["AAPL"]

[[pipelines]]
tenant_id = "desk"
pipeline_id = "bars"
operator = "bars"
bar_window_ms = {window_ms}
max_ticks = 10
"#
    )
}

#[test]
fn regression_failure_1_bar_window_of_u64_max_ms_is_refused_naming_the_key() {
    // (case, bar_window_ms, refused)
    let cases = [
        (1, u64::MAX.to_string(), true),
        (2, (u64::MAX / 1_000_000 + 1).to_string(), true), // just past u64::MAX ns
        (3, "0".to_string(), true),
        (4, (u64::MAX / 1_000_000).to_string(), false),
        (5, "1".to_string(), false),
    ];
    for (case, window, refused) in cases {
        let result = PipelineRuntimeSettings::from_toml_str(&settings(&window));
        match (result, refused) {
            (Ok(_), false) => {}
            (Err(e), true) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("pipelines[0].bar_window_ms"),
                    "case {case}: {msg}"
                );
                assert!(
                    msg.contains("line 10"),
                    "case {case}: names the line: {msg}"
                );
            }
            (Ok(_), true) => panic!("case {case}: {window} accepted"),
            (Err(e), false) => panic!("case {case}: {e}"),
        }
    }
}
