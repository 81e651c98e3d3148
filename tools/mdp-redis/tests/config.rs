//! `[coordination]`: parsed from a runtime's settings file, validated with the field named.

use market_data_pipeline::runtime::PipelineRuntimeSettings;
use mdp_redis::CoordinationConfig;

#[test]
fn the_example_config_has_a_valid_coordination_section() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config/shared_budget.toml"
    );
    let settings = PipelineRuntimeSettings::from_file(path).unwrap();
    let c = CoordinationConfig::from_toml(settings.coordination.as_deref().unwrap()).unwrap();
    assert_eq!(c.key_prefix, "mdp-demo");
    assert_eq!(c.providers, vec!["rest_api".to_string()]);
    assert_eq!(c.breakers, vec!["rest_api".to_string()]);
    assert_eq!(c.probe_ttl_ms, 10_000);
}

#[test]
fn settings_without_the_section_have_none() {
    let s = PipelineRuntimeSettings::from_toml_str("workers = 1").unwrap();
    assert_eq!(s.coordination, None);
}

#[test]
fn bad_coordination_values_name_their_field() {
    let cases = [
        ("url = \"\"", "coordination.url"),
        ("url = \"nope://x\"", "coordination.url"),
        (
            "url = \"redis://h\"\nlease_ttl_ms = 0",
            "coordination.lease_ttl_ms",
        ),
        (
            "url = \"redis://h\"\nlocal_share = 1.5",
            "coordination.local_share",
        ),
        (
            "url = \"redis://h\"\nlease_min = 10\nlease_max = 2",
            "coordination.lease_max",
        ),
        (
            "url = \"redis://h\"\ntimeout_ms = 99999999999",
            "coordination.timeout_ms",
        ),
        (
            "url = \"redis://h\"\nsingleton_stream_max_len = 0",
            "coordination.singleton_stream_max_len",
        ),
        (
            "url = \"redis://h\"\nprobe_ttl_ms = 0",
            "coordination.probe_ttl_ms",
        ),
        ("url = \"redis://h\"\nbreakers = \"p\"", "breakers"),
        ("url = \"redis://h\"\nunknown = 1", "unknown field"),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let e = CoordinationConfig::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(field), "case {i}: {e}");
    }
}
