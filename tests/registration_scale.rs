//! Provider registration at scale: starting a runtime with many providers builds the
//! coordinator's map once, and a count past the limit is a clear error.
//!
//! `registration_time_table` (ignored) prints how long `PipelineRuntime::start` and bare
//! `RateCoordinator` registration take for 10^3, 10^4 and 10^5 providers; run it in release
//! mode: `cargo test --release --test registration_scale -- --ignored --nocapture`.

use std::time::Instant;

use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
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
