//! PipelineRuntime under faults and odd settings: finished pipelines free their slot, a replay
//! provider without symbols replays its whole file, errors are printed once and name the
//! settings file and line. Waits are bounded loops on a condition.

mod common;

use std::error::Error;
use std::sync::Arc;

use common::held_sink::HeldSink;
use common::{sample_ticks, wait_for, TempDir};
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::registry::SourceSpec;
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings, RuntimeError,
};
use market_data_pipeline::{SymbolTable, TickFileWriter};

fn synthetic(name: &str) -> ProviderSettings {
    ProviderSettings::new(SourceSpec::named(name, "synthetic", &["AAPL"]))
}

fn settings_with(providers: Vec<ProviderSettings>, max: usize) -> PipelineRuntimeSettings {
    PipelineRuntimeSettings {
        max_concurrent_pipelines: max,
        default_sources: vec![providers[0].source.name.clone()],
        providers: providers
            .into_iter()
            .map(|p| (p.source.name.clone(), p))
            .collect(),
        ..Default::default()
    }
}

/// The message of `e` and of every error in its `source()` chain, joined as `{:#}` prints them.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
}

#[test]
fn regression_a_finished_pipeline_held_its_slot_until_stopped() {
    // Was: with the limit at 1, a second run_pipeline after the first had ended was refused
    // ("1 pipelines are running").
    let runtime = PipelineRuntime::start(settings_with(vec![synthetic("s")], 1)).unwrap();
    let first = runtime
        .run_pipeline(PipelineSpec::new("t", "first").max_ticks(1_000))
        .unwrap();
    assert!(wait_for(30_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    let second = runtime
        .run_pipeline(PipelineSpec::new("t", "second"))
        .expect("a finished pipeline does not count toward the limit");
    // The finished one stays listed until reaped.
    let keys: Vec<_> = runtime
        .list_pipelines()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, [first.clone(), second.clone()]);
    // A third is refused while the second runs, and the error counts only running ones.
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "third"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            RuntimeError::MaxPipelines {
                running: 1,
                max: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        runtime.stop_pipeline(&first).unwrap().stats.delivered,
        1_000
    );
    runtime.stop_pipeline(&second).unwrap();
}

#[test]
fn regression_a_replay_provider_without_symbols_failed_to_start() {
    // Was: `symbols: "CHECK" is not in the file` (documented: no symbols = all of the file).
    let dir = TempDir::new("runtime-replay-all");
    let path = dir.path("all.ticks");
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let mut w = TickFileWriter::create(&path, table).unwrap();
    w.write_all(&ticks).unwrap();
    w.finish().unwrap();
    let mut spec = SourceSpec::named::<&str>("file", "replay", &[]);
    spec.params = toml::from_str(&format!(
        "path = {:?}\nspeed = \"max\"",
        path.display().to_string()
    ))
    .unwrap();
    let runtime =
        PipelineRuntime::start(settings_with(vec![ProviderSettings::new(spec)], 2)).unwrap();
    // A pipeline naming no symbols replays every symbol of the file.
    let key = runtime.run_pipeline(PipelineSpec::new("t", "all")).unwrap();
    assert!(wait_for(30_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    let report = runtime.stop_pipeline(&key).unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.stats.delivered, ticks.len() as u64);
    let symbols = runtime.symbols();
    assert!(symbols.get("AAPL").is_some() && symbols.get("MSFT").is_some());
}

#[test]
fn a_synthetic_provider_without_symbols_still_needs_them_from_the_pipeline() {
    let p = ProviderSettings::new(SourceSpec::named::<&str>("s", "synthetic", &[]));
    let runtime = PipelineRuntime::start(settings_with(vec![p], 2)).unwrap();
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "none"))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the pipeline names no symbols and providers.s.symbols is empty"),
        "{e}"
    );
    let key = runtime
        .run_pipeline(
            PipelineSpec::new("t", "some")
                .symbols(&["AAPL"])
                .max_ticks(10),
        )
        .unwrap();
    assert!(wait_for(30_000, || runtime.list_pipelines()[0].state
        == PipelineState::Stopped));
    assert_eq!(runtime.stop_pipeline(&key).unwrap().stats.delivered, 10);
}

#[test]
fn regression_a_duplicate_source_error_was_printed_twice() {
    // Was: "settings: invalid configuration: sources[1].name: duplicate source name \"a\":
    // invalid configuration: sources[1].name: duplicate …" when printed with its chain.
    let runtime =
        PipelineRuntime::start(settings_with(vec![synthetic("a"), synthetic("b")], 2)).unwrap();
    let e = runtime
        .run_pipeline(PipelineSpec::new("t", "dup").sources(&["a", "a"]))
        .unwrap_err();
    let text = chain(&e);
    assert_eq!(text.matches("duplicate source name").count(), 1, "{text}");
    // Every settings error, printed with its chain, says its message once.
    let e = RuntimeError::from(market_data_pipeline::ConfigError::new("x.y", "is wrong"));
    let text = chain(&e);
    assert_eq!(text.matches("is wrong").count(), 1, "{text}");
}

#[test]
fn regression_errors_starting_the_runtime_from_a_file_lost_file_and_line() {
    let dir = TempDir::new("runtime-from-file");
    let config = dir.path("runtime.toml");
    let missing = dir.path("missing.ticks");
    std::fs::write(
        &config,
        format!(
            "max_concurrent_pipelines = 2\n\
             default_sources = [\"ok\"]\n\
             [providers.ok]\n\
             kind = \"synthetic\"\n\
             symbols = [\"AAPL\"]\n\
             \n\
             [providers.file]\n\
             kind = \"replay\"\n\
             path = {:?}\n",
            missing.display().to_string()
        ),
    )
    .unwrap();
    let e = PipelineRuntime::start_from_file(&config).unwrap_err();
    let text = e.to_string();
    let at = format!("{}:7:", config.display());
    assert!(
        text.starts_with(&at),
        "names the file and the provider's line: {text}"
    );
    assert!(text.contains("missing.ticks"), "{text}");
    assert!(
        matches!(e, RuntimeError::InFile { line: Some(7), .. }),
        "{e:?}"
    );

    // A bad parameter is located at its key's line.
    std::fs::write(
        &config,
        "[providers.s]\nkind = \"synthetic\"\nsymbols = [\"AAPL\"]\nrate = \"fast\"\n",
    )
    .unwrap();
    let e = PipelineRuntime::start_from_file(&config).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:", config.display())) && text.contains("providers.s.rate"),
        "{text}"
    );
}

#[test]
fn stopping_a_pipeline_with_a_deadline_names_the_stuck_stage_instead_of_waiting_for_ever() {
    let runtime = PipelineRuntime::start(settings_with(vec![synthetic("s")], 2)).unwrap();
    let (sink, held) = HeldSink::new();
    let key = runtime
        .run_pipeline_with_sink(PipelineSpec::new("t", "stuck"), Box::new(sink))
        .unwrap();
    // The sink blocks until released, whatever the deadline.
    let e = runtime
        .stop_pipeline_timeout(&key, std::time::Duration::from_millis(20))
        .unwrap_err();
    let RuntimeError::NotStopped(t) = &e else {
        panic!("expected NotStopped, got {e:?}");
    };
    assert_eq!(t.pipeline, "t/stuck");
    assert!(
        t.stuck.iter().any(|w| w.contains("process stage")),
        "{:?}",
        t.stuck
    );
    assert!(runtime.list_pipelines().is_empty(), "no longer listed");
    drop(held.release);
    let closed = held.closed.recv_timeout(std::time::Duration::from_secs(60));
    assert!(closed.is_ok(), "the released stage closed its sink");
}
