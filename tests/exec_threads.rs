//! A worker set's pipelines add no threads: 100 pipelines on 2 workers run on exactly the
//! workers plus the control thread (this one).
//!
//! Its own binary without libtest (`harness = false`), so no other test's threads (or the
//! harness's) are in the count: `/proc/self/task` lists exactly this process's threads.

use std::sync::Arc;

use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{ManualClock, PipelineContext, SymbolTable};

/// The names (`comm`) of this process's threads.
fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = entry.expect("task entry").path().join("comm");
        if let Ok(name) = std::fs::read_to_string(&path) {
            names.push(name.trim_end().to_string());
        }
    }
    names
}

fn main() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("test threads_are_the_workers_plus_control ... skipped (no /proc)");
        return;
    }
    threads_are_the_workers_plus_control();
    eprintln!("test threads_are_the_workers_plus_control ... ok");
    runtime_threads_are_its_workers_plus_control();
    eprintln!("test runtime_threads_are_its_workers_plus_control ... ok");
}

fn threads_are_the_workers_plus_control() {
    assert_eq!(thread_names().len(), 1, "{:?}", thread_names());
    let set = WorkerSet::new(WorkerSetConfig {
        workers: 2,
        name: "tw".to_string(),
        ..Default::default()
    })
    .unwrap();
    let table = Arc::new(SymbolTable::new());
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let source = SyntheticSource::new(
                SyntheticConfig {
                    seed: i,
                    ..SyntheticConfig::new(&["AAPL"])
                },
                table.clone(),
            )
            .unwrap();
            StreamingPipeline::builder()
                .source(source)
                .ring_capacity(1024)
                .clock(ManualClock::shared(1_000))
                .ctx(PipelineContext::new("t", format!("p{i}")))
                .build()
                .unwrap()
                .start_on(&set)
                .unwrap()
        })
        .collect();
    let names = thread_names();
    let workers = names.iter().filter(|n| n.starts_with("tw-")).count();
    assert_eq!(workers, 2, "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("mdp-")),
        "a per-pipeline thread: {names:?}"
    );
    assert_eq!(names.len(), 2 + 1, "workers + control: {names:?}");
    for h in handles {
        let r = h.stop_and_join();
        assert!(r.stats.is_conserved(), "{:?}", r.stats);
    }
    set.shutdown();
    assert_eq!(thread_names().len(), 1, "{:?}", thread_names());
}

fn runtime_threads_are_its_workers_plus_control() {
    let settings = PipelineRuntimeSettings {
        workers: 2,
        max_concurrent_pipelines: 100,
        ..Default::default()
    };
    let runtime = PipelineRuntime::start(settings).unwrap();
    let keys: Vec<_> = (0..100)
        .map(|i| {
            let spec = PipelineSpec::new("t", &format!("p{i}")).symbols(&["AAPL"]);
            runtime.run_pipeline(spec).unwrap()
        })
        .collect();
    let names = thread_names();
    let workers = names
        .iter()
        .filter(|n| n.starts_with("mdp-worker-"))
        .count();
    assert_eq!(workers, 2, "{names:?}");
    assert_eq!(names.len(), 2 + 1, "workers + control: {names:?}");
    let reports = runtime.shutdown();
    assert_eq!(reports.len(), keys.len());
    for (key, r) in reports {
        assert!(r.stats.is_conserved(), "{key}: {:?}", r.stats);
    }
    assert_eq!(thread_names().len(), 1, "{:?}", thread_names());
}
