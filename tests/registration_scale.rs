//! Provider registration at scale: a runtime starts with many providers, and settings with
//! more than the coordinator's limit are a clear error. (How much of the name index is copied
//! is counted by the coordinator's unit tests, not timed.)
//!
//! `registration_time_table` (ignored) prints how long `PipelineRuntime::start` and bare
//! `RateCoordinator` registration take for 10^3, 10^4 and 10^5 providers; run it in release
//! mode: `cargo test --release --test registration_scale -- --ignored --nocapture`.

use std::time::Instant;

use market_data_pipeline::flow::{ProviderLimits, RateCoordinator, MAX_PROVIDERS};
use market_data_pipeline::registry::SourceSpec;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, ProviderSettings};

fn settings_with_providers(n: usize) -> PipelineRuntimeSettings {
    let providers = (0..n)
        .map(|i| {
            let name = format!("p{i:06}");
            let p = ProviderSettings::new(SourceSpec::named(&name, "synthetic", &["AAPL"]));
            (name, p)
        })
        .collect();
    PipelineRuntimeSettings {
        default_sources: vec!["p000000".to_string()],
        providers,
        ..Default::default()
    }
}

#[test]
fn a_runtime_starts_with_thousands_of_providers_all_registered() {
    let runtime = PipelineRuntime::start(settings_with_providers(3_000)).unwrap();
    let names = runtime.coordinator().providers();
    assert_eq!(names.len(), 3_000);
    assert_eq!(names[2_999], "p002999");
    assert!(runtime.coordinator().handle("p001234").is_ok());
}

#[test]
fn settings_with_more_providers_than_the_limit_are_refused_naming_it() {
    let e = settings_with_providers(MAX_PROVIDERS + 1)
        .validate()
        .unwrap_err();
    assert_eq!(e.field, "providers");
    assert!(
        e.reason.contains(&format!("at most {MAX_PROVIDERS}")),
        "{e}"
    );
}

#[test]
#[ignore = "timing table; run in release with --ignored --nocapture"]
fn registration_time_table() {
    let sizes: Vec<usize> = std::env::var("MDP_REG_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("MDP_REG_SIZES: comma-separated counts")
        })
        .collect();
    println!("| providers | runtime start | coordinator, one by one |");
    println!("|---:|---:|---:|");
    for n in sizes {
        let settings = settings_with_providers(n);
        let t = Instant::now();
        let runtime = PipelineRuntime::start(settings).expect("start");
        let start = t.elapsed();
        assert_eq!(runtime.coordinator().providers().len(), n);
        drop(runtime);
        let coordinator = RateCoordinator::new();
        let t = Instant::now();
        for i in 0..n {
            coordinator
                .register_provider_with(&format!("p{i:06}"), ProviderLimits::default())
                .expect("register");
        }
        let single = t.elapsed();
        println!("| {n} | {start:.2?} | {single:.2?} |");
    }
}
