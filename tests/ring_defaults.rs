//! The ring a pipeline gets when none was set depends on where its stages run: 16384 slots on
//! dedicated threads, 8 chunks on a worker set (where the rings of every pipeline share the
//! workers' caches). An explicit capacity applies anywhere; bad ones are refused naming the
//! field. No timing: finite sources, joined.

use std::sync::Arc;

use market_data_pipeline::exec::{WorkerSet, WorkerSetConfig};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{
    PipelineSettings, Placement, StageHost, StreamingPipeline, StreamingPipelineBuilder,
    DEDICATED_RING_CAPACITY, SHARED_RING_CHUNKS,
};
use market_data_pipeline::registry::SourceSpec;
use market_data_pipeline::ring::max_capacity;
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings, RuntimeError,
};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{ManualClock, SymbolTable, Tick};

const TICKS: u64 = 5_000;

fn builder(table: &Arc<SymbolTable>) -> StreamingPipelineBuilder {
    let source = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(TICKS),
            ..SyntheticConfig::new(&["AAPL", "MSFT"])
        },
        table.clone(),
    )
    .unwrap();
    StreamingPipeline::builder()
        .source(source)
        .clock(ManualClock::shared(1_000))
}

fn two_workers() -> WorkerSet {
    let config = WorkerSetConfig {
        workers: 2,
        pin: false,
        ..Default::default()
    };
    WorkerSet::new(config).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Host {
    Dedicated,
    Set,
}

#[test]
fn a_pipeline_gets_the_documented_ring_of_where_its_stages_run_unless_one_is_set() {
    assert_eq!(DEDICATED_RING_CAPACITY, 16_384);
    assert_eq!(SHARED_RING_CHUNKS, 8);
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let fused = Placement::Fused {
        core: CoreChoice::Unpinned,
    };
    // (case, host, placement, chunk, ring set, ring the pipeline gets)
    let cases = [
        (1, Host::Set, Placement::default(), 256, None, Some(2_048)),
        (2, Host::Set, Placement::default(), 64, None, Some(512)),
        (
            3,
            Host::Set,
            Placement::default(),
            256,
            Some(16_384),
            Some(16_384),
        ),
        (4, Host::Set, fused, 256, None, None),
        (
            5,
            Host::Dedicated,
            Placement::default(),
            256,
            None,
            Some(16_384),
        ),
        (
            6,
            Host::Dedicated,
            Placement::default(),
            64,
            None,
            Some(16_384),
        ),
        (
            7,
            Host::Dedicated,
            Placement::default(),
            256,
            Some(1_024),
            Some(1_024),
        ),
        (8, Host::Dedicated, fused, 256, None, None),
    ];
    for (n, host, placement, chunk, ring, want) in cases {
        let mut b = builder(&table).placement(placement).chunk_size(chunk);
        if let Some(slots) = ring {
            b = b.ring_capacity(slots);
        }
        let p = b.build().unwrap();
        let h = match host {
            Host::Set => p.start_on(&set).unwrap(),
            Host::Dedicated => p.start().unwrap(),
        };
        assert_eq!(h.ring_capacity(), want, "case {n}");
        let r = h.join();
        assert!(r.error.is_none(), "case {n}: {:?}", r.error);
        assert_eq!(r.stats.delivered, TICKS, "case {n}");
        assert!(r.stats.is_conserved(), "case {n}: {:?}", r.stats);
    }
    // The defaults are the documented function of host and chunk.
    assert_eq!(StageHost::WorkerSet.default_ring_capacity(256), 2_048);
    assert_eq!(
        StageHost::Dedicated.default_ring_capacity(256),
        DEDICATED_RING_CAPACITY
    );
}

/// 100 pipelines started on a worker set with no ring set each took the dedicated threads'
/// 1 MiB ring (100 MiB of ring on two cores): 0.57-0.68x one pipeline alone (PERF.md §7).
#[test]
fn regression_pipelines_on_a_worker_set_took_the_1_mib_ring_meant_for_dedicated_threads() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let handles: Vec<_> = (0..100)
        .map(|_| builder(&table).build().unwrap().start_on(&set).unwrap())
        .collect();
    for h in handles {
        assert_eq!(h.ring_capacity(), Some(2_048));
        let r = h.join();
        assert_eq!(r.stats.delivered, TICKS);
        assert!(r.stats.is_conserved(), "{:?}", r.stats);
    }
}

#[test]
fn bad_ring_capacities_are_refused_naming_the_field() {
    let table = Arc::new(SymbolTable::new());
    let too_big = max_capacity::<Tick>() + 1;
    // (case, builder, words of the error)
    let cases = [
        (
            1,
            builder(&table).ring_capacity(0),
            "ring_capacity: must be greater than 0",
        ),
        (
            2,
            builder(&table).ring_capacity(16).chunk_size(64),
            "ring_capacity: 16 is smaller than the chunk size 64",
        ),
        (
            3,
            builder(&table).ring_capacity(too_big),
            "at most 16777216",
        ),
        // No ring set: the defaults hold at least a chunk, up to the largest ring.
        (
            4,
            builder(&table).chunk_size(too_big),
            "chunk_size: 16777217 ticks: larger than the largest ring",
        ),
    ];
    for (n, b, words) in cases {
        let e = b.build().expect_err(&format!("case {n} must fail"));
        assert!(e.to_string().contains(words), "case {n}: {e}");
    }
}

fn runtime_settings(pipeline: PipelineSettings) -> PipelineRuntimeSettings {
    let provider = ProviderSettings::new(SourceSpec::named("syn", "synthetic", &["AAPL"]));
    PipelineRuntimeSettings {
        default_sources: vec!["syn".to_string()],
        providers: [("syn".to_string(), provider)].into_iter().collect(),
        workers: 2,
        pipeline,
        ..Default::default()
    }
}

#[test]
fn runtime_pipelines_get_the_ring_of_where_their_stages_run_unless_settings_set_one() {
    assert_eq!(PipelineSettings::default().ring_capacity, None);
    // (case, pipeline.ring_capacity, dedicated, ring the pipeline gets)
    let cases = [
        (1, None, false, 2_048),
        (2, None, true, 16_384),
        (3, Some(4_096), false, 4_096),
        (4, Some(4_096), true, 4_096),
    ];
    for (n, ring, dedicated, want) in cases {
        let runtime = PipelineRuntime::start(runtime_settings(PipelineSettings {
            ring_capacity: ring,
            ..Default::default()
        }))
        .unwrap();
        let spec = PipelineSpec::new("t", "p")
            .max_ticks(1_000)
            .dedicated(dedicated);
        let key = runtime.run_pipeline(spec).unwrap();
        let listed = runtime.list_pipelines();
        assert_eq!(listed[0].ring_capacity, Some(want), "case {n}");
        let report = runtime.stop_pipeline(&key).unwrap();
        assert!(report.stats.is_conserved(), "case {n}: {:?}", report.stats);
    }
}

#[test]
fn bad_runtime_ring_settings_are_refused_naming_the_field() {
    // (case, pipeline settings, words of the error)
    let cases = [
        (
            1,
            PipelineSettings {
                ring_capacity: Some(0),
                ..Default::default()
            },
            "pipeline.ring_capacity: must be greater than 0",
        ),
        (
            2,
            PipelineSettings {
                ring_capacity: Some(16),
                chunk_size: 64,
                ..Default::default()
            },
            "pipeline.ring_capacity: 16 is smaller than chunk_size 64",
        ),
        (
            3,
            PipelineSettings {
                chunk_size: max_capacity::<Tick>() + 1,
                ..Default::default()
            },
            "pipeline.chunk_size",
        ),
    ];
    for (n, pipeline, words) in cases {
        let e = match PipelineRuntime::start(runtime_settings(pipeline)) {
            Err(e) => e,
            Ok(_) => panic!("case {n} must fail"),
        };
        assert!(matches!(e, RuntimeError::Settings(_)), "case {n}: {e:?}");
        assert!(e.to_string().contains(words), "case {n}: {e}");
    }
    // Unset in a settings file: the host's default.
    let s = PipelineRuntimeSettings::from_toml_str("[pipeline]\nchunk_size = 128\n").unwrap();
    assert_eq!(s.pipeline.ring_capacity, None);
    let s = PipelineRuntimeSettings::from_toml_str("[pipeline]\nring_capacity = 4096\n").unwrap();
    assert_eq!(s.pipeline.ring_capacity, Some(4_096));
}
