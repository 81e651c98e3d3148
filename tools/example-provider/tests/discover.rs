//! A binary that links the provider crate finds its provider by discovery alone.

use example_provider as _;
use market_data_pipeline::registry::SourceRegistry;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};

#[test]
fn discover_entrypoints_finds_the_linked_constant_provider() {
    let registry = SourceRegistry::new();
    assert!(
        registry.load("constant").is_err(),
        "not known before discovery"
    );
    let found = registry.discover_entrypoints();
    assert_eq!(found, ["constant"]);
    assert_eq!(
        registry.list_sources(),
        ["constant", "replay", "synthetic", "tcp"]
    );
    let source = registry
        .load("constant")
        .unwrap()
        .create(&["AAPL"])
        .unwrap();
    assert_eq!(source.symbols(), ["AAPL"]);
}

#[test]
fn a_runtime_started_from_toml_runs_a_discovered_provider() {
    let settings = PipelineRuntimeSettings::from_toml_str(
        r#"
        [providers.fixed]
        kind = "constant"
        symbols = ["AAPL", "MSFT"]
        price = 187.5
        "#,
    )
    .unwrap();
    let runtime = PipelineRuntime::start(settings).unwrap();
    let key = runtime
        .run_pipeline(PipelineSpec::new("t", "fixed").max_ticks(1_000))
        .unwrap();
    let mut stopped = false;
    for _ in 0..10_000 {
        if runtime.list_pipelines()[0].state
            == market_data_pipeline::pipeline::PipelineState::Stopped
        {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(stopped);
    let report = runtime.stop_pipeline(&key).unwrap();
    assert_eq!(report.stats.delivered, 1_000);
    let quote = runtime.stream_quotes(&["AAPL"]).unwrap().next().unwrap();
    assert_eq!(quote.mid().to_f64(), 187.5);
}

#[test]
fn a_bad_parameter_of_a_discovered_provider_names_its_key() {
    let settings = PipelineRuntimeSettings::from_toml_str(
        "[providers.fixed]\nkind = \"constant\"\nsymbols = [\"AAPL\"]\nprice = \"high\"\n",
    )
    .unwrap();
    let e = PipelineRuntime::start(settings).unwrap_err();
    assert!(e.to_string().contains("providers.fixed.price"), "{e}");
}
