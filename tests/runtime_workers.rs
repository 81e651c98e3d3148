//! The runtime's worker set: `workers` is validated in code and in TOML (errors name the key
//! and the line); pipelines run on the workers, a dedicated spec on threads of its own; 100
//! runtime pipelines on 2 workers all complete, conserved.

mod common;

use std::time::{Duration, Instant};

use common::held_sink::HeldSink;

use market_data_pipeline::exec::MAX_WORKERS;
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, RuntimeError, SettingsError,
};

fn with_workers(workers: usize) -> PipelineRuntimeSettings {
    PipelineRuntimeSettings {
        workers,
        max_concurrent_pipelines: 100,
        ..Default::default()
    }
}

#[test]
fn a_worker_count_of_zero_or_absurd_is_an_error_naming_workers_in_code_and_toml() {
    // (case, workers)
    for (case, n) in [(1, 0), (2, MAX_WORKERS + 1), (3, usize::MAX)] {
        let e = with_workers(n).validate().unwrap_err();
        assert_eq!(e.field, "workers", "case {case}");
        match PipelineRuntime::start(with_workers(n)).unwrap_err() {
            RuntimeError::Settings(SettingsError::Invalid { error, .. }) => {
                assert_eq!(error.field, "workers", "case {case}")
            }
            other => panic!("case {case}: {other:?}"),
        }
    }
    // (case, file, line of the error)
    let files = [
        (1, "max_concurrent_pipelines = 4\nworkers = 0\n", 2),
        (2, "workers = 100000\n", 1),
        (3, "workers = -1\n", 1),
        (4, "workers = \"two\"\n", 1),
    ];
    for (case, text, want_line) in files {
        let e = PipelineRuntimeSettings::from_toml_str(text).unwrap_err();
        match &e {
            SettingsError::Invalid { error, line } => {
                assert_eq!(error.field, "workers", "case {case}");
                assert_eq!(*line, Some(want_line), "case {case}");
            }
            SettingsError::Parse { line, message, .. } => {
                assert_eq!(*line, want_line, "case {case}: {message}");
            }
            other => panic!("case {case}: {other:?}"),
        }
        assert!(
            e.to_string().contains(&format!("line {want_line}")),
            "case {case}: {e}"
        );
    }
    let s = PipelineRuntimeSettings::from_toml_str(
        "workers = 3\n[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"p\"\ndedicated = true\n",
    )
    .unwrap();
    assert_eq!(s.workers, 3);
    assert!(s.pipelines[0].dedicated);
}

#[test]
fn the_worker_count_cannot_change_while_the_runtime_runs() {
    let runtime = PipelineRuntime::start(with_workers(2)).unwrap();
    let e = runtime.update_settings(with_workers(3)).unwrap_err();
    assert!(e.to_string().contains("workers"), "{e}");
    assert_eq!(runtime.settings().workers, 2);
    assert_eq!(runtime.update_settings(with_workers(2)).unwrap(), 1);
}

/// Whether a thread named `name` runs in this process (`None` without `/proc`).
fn thread_named(name: &str) -> Option<bool> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    Some(dir.filter_map(Result::ok).any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
    }))
}

#[test]
fn a_dedicated_spec_runs_on_threads_of_its_own_and_the_others_on_the_workers() {
    let runtime = PipelineRuntime::start(with_workers(2)).unwrap();
    let shared = runtime
        .run_pipeline(PipelineSpec::new("t", "shr").symbols(&["AAPL"]))
        .unwrap();
    let own = runtime
        .run_pipeline(
            PipelineSpec::new("t", "ded")
                .symbols(&["AAPL"])
                .dedicated(true),
        )
        .unwrap();
    if let Some(found) = thread_named("mdp-ded-source") {
        assert!(found, "the dedicated pipeline's source thread");
        assert_eq!(thread_named("mdp-ded-process"), Some(true));
        assert_eq!(thread_named("mdp-shr-source"), Some(false));
        assert_eq!(thread_named("mdp-shr-process"), Some(false));
    }
    for key in [shared, own] {
        let r = runtime.stop_pipeline(&key).unwrap();
        assert!(r.error.is_none(), "{key}: {:?}", r.error);
        assert!(r.stats.is_conserved(), "{key}: {:?}", r.stats);
        assert_eq!(r.stats.in_flight(), 0);
    }
}

#[test]
fn a_hundred_runtime_pipelines_on_two_workers_all_complete_conserved() {
    let runtime = PipelineRuntime::start(with_workers(2)).unwrap();
    let n = 20_000;
    let keys: Vec<_> = (0..100)
        .map(|i| {
            let spec = PipelineSpec::new("t", &format!("p{i}"))
                .symbols(&["AAPL", "MSFT"])
                .max_ticks(n);
            runtime.run_pipeline(spec).unwrap()
        })
        .collect();
    // Bounded wait for the finite streams to end (only a starved pipeline could reach it).
    let bound = Instant::now() + Duration::from_secs(120);
    loop {
        let running = runtime
            .list_pipelines()
            .iter()
            .filter(|p| p.state != PipelineState::Stopped)
            .count();
        if running == 0 || Instant::now() >= bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for key in keys {
        let r = runtime.stop_pipeline(&key).unwrap();
        let s = &r.stats;
        assert!(r.error.is_none(), "{key}: {:?}", r.error);
        assert_eq!((s.produced, s.delivered), (n, n), "{key}: {s:?}");
        assert!(s.is_conserved(), "{key}: {s:?}");
    }
}

#[test]
fn quote_streams_run_on_the_workers_and_stop_cleanly() {
    let runtime = PipelineRuntime::start(with_workers(1)).unwrap();
    let mut streams: Vec<_> = (0..5)
        .map(|_| runtime.stream_quotes(&["AAPL"]).unwrap())
        .collect();
    for s in &mut streams {
        assert_eq!(s.ticks().take(1_000).count(), 1_000);
    }
    for s in streams {
        let r = s.stop();
        assert!(r.stats.is_conserved(), "{:?}", r.stats);
        assert_eq!(r.stats.in_flight(), 0);
    }
    assert!(runtime.list_pipelines().is_empty());
}

#[test]
fn dropping_the_runtime_after_a_stop_gave_up_on_a_stuck_stage_does_not_wait_for_it() {
    let runtime = PipelineRuntime::start(with_workers(1)).unwrap();
    let (sink, held) = HeldSink::new();
    let key = runtime
        .run_pipeline_with_sink(
            PipelineSpec::new("t", "stuck").symbols(&["AAPL"]),
            Box::new(sink),
        )
        .unwrap();
    let e = runtime
        .stop_pipeline_timeout(&key, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(e, RuntimeError::NotStopped(_)), "{e:?}");
    // Was (before the set could be detached): the drop waited for the held sink for ever.
    drop(runtime);
    drop(held.release);
    let closed = held.closed.recv_timeout(Duration::from_secs(60));
    assert!(closed.is_ok(), "the released stage closed its sink");
}
