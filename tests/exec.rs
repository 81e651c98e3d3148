//! Many pipelines on a fixed worker set: every one completes, conserved; no stage is starved
//! by a task that always has work; a panicking stage fails only its own pipeline.
//!
//! No timing is asserted: loops end when the work does (or, for endless sources, at a
//! generous bound that only a starved pipeline could reach).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use market_data_pipeline::exec::{Step, Task, TaskPlacement, WorkerSet, WorkerSetConfig};
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{PipelineState, Placement, StreamingPipeline};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    CallbackSink, CountingSink, ManualClock, PipelineError, PipelineHandle, Record, Sink,
    SymbolTable,
};

fn two_workers() -> WorkerSet {
    WorkerSet::new(WorkerSetConfig {
        workers: 2,
        ..Default::default()
    })
    .unwrap()
}

fn synthetic(table: &Arc<SymbolTable>, max_ticks: Option<u64>, seed: u64) -> SyntheticSource {
    SyntheticSource::new(
        SyntheticConfig {
            max_ticks,
            seed,
            ..SyntheticConfig::new(&["AAPL", "MSFT"])
        },
        table.clone(),
    )
    .unwrap()
}

fn fused() -> Placement {
    Placement::Fused {
        core: CoreChoice::Unpinned,
    }
}

/// Pipeline `i` on `set`: fused when `i` is a multiple of 3, split otherwise.
fn start(
    set: &WorkerSet,
    table: &Arc<SymbolTable>,
    i: u64,
    max_ticks: Option<u64>,
    sink: Box<dyn Sink>,
) -> PipelineHandle {
    let mut b = StreamingPipeline::builder()
        .source(synthetic(table, max_ticks, i))
        .boxed_sink(sink)
        .ring_capacity(1024)
        .clock(ManualClock::shared(1_000))
        .ctx(market_data_pipeline::PipelineContext::new(
            "t",
            format!("p{i}"),
        ));
    if i % 3 == 0 {
        b = b.placement(fused());
    }
    b.build().unwrap().start_on(set).unwrap()
}

#[test]
fn a_hundred_finite_pipelines_on_two_workers_all_complete_conserved() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let n = 20_000;
    let handles: Vec<_> = (0..100)
        .map(|i| start(&set, &table, i, Some(n), Box::new(CountingSink::new())))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join();
        let s = &r.stats;
        assert!(r.error.is_none(), "p{i}: {:?}", r.error);
        assert_eq!(s.state, PipelineState::Stopped, "p{i}");
        assert_eq!((s.produced, s.delivered), (n, n), "p{i}: {s:?}");
        assert!(s.is_conserved(), "p{i}: {s:?}");
        assert_eq!(s.in_flight(), 0, "p{i}");
    }
    // Every task was dropped once done.
    assert_eq!(set.loads(), vec![0, 0]);
    set.shutdown();
}

#[test]
fn a_hundred_endless_pipelines_on_two_workers_all_progress_then_stop_conserved() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let handles: Vec<_> = (0..100)
        .map(|i| start(&set, &table, i, None, Box::new(CountingSink::new())))
        .collect();
    // Bounded wait: a fair set gets every pipeline going within milliseconds; only a starved
    // one could reach the bound.
    let bound = Instant::now() + Duration::from_secs(60);
    let mut idle: Vec<usize> = (0..handles.len()).collect();
    while !idle.is_empty() && Instant::now() < bound {
        idle.retain(|&i| handles[i].stats().delivered == 0);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        idle.is_empty(),
        "pipelines that delivered nothing: {idle:?}"
    );
    for h in &handles {
        h.stop();
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join();
        let s = &r.stats;
        assert!(r.error.is_none(), "p{i}: {:?}", r.error);
        assert!(s.delivered > 0, "p{i}");
        assert!(s.is_conserved(), "p{i}: {s:?}");
        assert_eq!(s.delivered, s.ticks_in, "p{i}: {s:?}");
        assert_eq!(s.in_flight(), 0, "p{i}");
    }
    set.shutdown();
}

/// A task with work at every step, until it is asked to stop.
struct Hog {
    steps: Arc<AtomicU64>,
    stop: bool,
}

impl Task for Hog {
    fn name(&self) -> &str {
        "hog"
    }
    fn step(&mut self) -> Step {
        if self.stop {
            return Step::Done;
        }
        self.steps.fetch_add(1, Ordering::Relaxed);
        Step::Progress
    }
    fn panicked(&mut self, _: String) -> Step {
        Step::Done
    }
    fn request_stop(&mut self) {
        self.stop = true;
    }
}

/// Takes `left` steps, noting the hog's step count at its first and last step.
struct Counter {
    left: u64,
    hog: Arc<AtomicU64>,
    first: Option<u64>,
    span: Arc<AtomicU64>,
}

impl Task for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn step(&mut self) -> Step {
        let hog = self.hog.load(Ordering::Relaxed);
        let first = *self.first.get_or_insert(hog);
        self.left -= 1;
        if self.left == 0 {
            self.span.store(hog - first, Ordering::Relaxed);
            return Step::Done;
        }
        Step::Progress
    }
    fn panicked(&mut self, _: String) -> Step {
        Step::Done
    }
}

#[test]
fn a_task_that_always_has_work_does_not_starve_the_others() {
    let set = WorkerSet::new(WorkerSetConfig {
        workers: 1,
        ..Default::default()
    })
    .unwrap();
    let hog = Arc::new(AtomicU64::new(0));
    set.spawn(
        Box::new(Hog {
            steps: hog.clone(),
            stop: false,
        }),
        TaskPlacement::Worker(0),
    )
    .unwrap();
    let steps = 1_000;
    let spans: Vec<Arc<AtomicU64>> = (0..10).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for span in &spans {
        let c = Counter {
            left: steps,
            hog: hog.clone(),
            first: None,
            span: span.clone(),
        };
        set.spawn(Box::new(c), TaskPlacement::Worker(0)).unwrap();
    }
    // A pipeline beside the hog on the same worker completes too.
    let table = Arc::new(SymbolTable::new());
    let r = StreamingPipeline::builder()
        .source(synthetic(&table, Some(50_000), 7))
        .placement(fused())
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start_on(&set)
        .unwrap()
        .join();
    assert_eq!(r.stats.delivered, 50_000);
    set.shutdown();
    // Round-robin: between a counter's first and last step the hog was stepped once per
    // round, so at most `steps` times (one round of slack for where the hog stood).
    for (i, span) in spans.iter().enumerate() {
        let span = span.load(Ordering::Relaxed);
        assert!(
            span <= steps,
            "counter {i}: the hog took {span} steps in its {steps}"
        );
    }
    assert!(hog.load(Ordering::Relaxed) > 0);
}

fn panicking_sink(at_batch: u32) -> Box<dyn Sink> {
    let mut calls = 0;
    Box::new(CallbackSink::new(move |_b: &[Record]| {
        calls += 1;
        if calls == at_batch {
            panic!("sink exploded at batch {at_batch}");
        }
        Ok(())
    }))
}

#[test]
fn a_panicking_stage_fails_only_its_pipeline_and_the_worker_keeps_hosting_the_others() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let n = 50_000;
    // p0 (fused) and p1 (split) panic in their sinks; the others are healthy.
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let sink = if i < 2 {
                panicking_sink(5)
            } else {
                Box::new(CountingSink::new())
            };
            start(&set, &table, i, Some(n), sink)
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join();
        let s = &r.stats;
        assert!(s.is_conserved(), "p{i}: {s:?}");
        assert_eq!(s.in_flight(), 0, "p{i}: {s:?}");
        if i < 2 {
            match r.error {
                Some(PipelineError::Worker { ref reason, .. }) => {
                    assert_eq!(reason, "panicked: sink exploded at batch 5", "p{i}")
                }
                ref other => panic!("p{i}: expected the panic, got {other:?}"),
            }
            assert_eq!(s.state, PipelineState::Failed, "p{i}");
            assert!(s.lost > 0, "p{i}: {s:?}");
        } else {
            assert!(r.error.is_none(), "p{i}: {:?}", r.error);
            assert_eq!(s.delivered, n, "p{i}");
        }
    }
    // The workers still host new pipelines.
    let r = start(&set, &table, 100, Some(n), Box::new(CountingSink::new())).join();
    assert_eq!(r.stats.delivered, n);
    set.shutdown();
}

#[test]
fn shutting_the_set_down_stops_and_drains_its_pipelines() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let handles: Vec<_> = (0..10)
        .map(|i| start(&set, &table, i, None, Box::new(CountingSink::new())))
        .collect();
    set.shutdown();
    for (i, h) in handles.into_iter().enumerate() {
        assert!(h.is_finished(), "p{i}");
        let r = h.join();
        assert!(r.error.is_none(), "p{i}: {:?}", r.error);
        assert!(r.stats.is_conserved(), "p{i}: {:?}", r.stats);
        assert_eq!(r.stats.in_flight(), 0, "p{i}");
        assert_eq!(r.stats.delivered, r.stats.produced, "p{i}");
    }
}

#[test]
fn pipeline_stages_are_placed_on_different_workers_and_explicit_workers_are_honoured() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    let h = StreamingPipeline::builder()
        .source(synthetic(&table, None, 1))
        .ring_capacity(1024)
        .build()
        .unwrap()
        .start_on(&set)
        .unwrap();
    assert_eq!(set.loads(), vec![1, 1]);
    let h2 = StreamingPipeline::builder()
        .source(synthetic(&table, None, 2))
        .ring_capacity(1024)
        .build()
        .unwrap()
        .start_on_workers(&set, TaskPlacement::Worker(1), TaskPlacement::Worker(1))
        .unwrap();
    assert_eq!(set.loads(), vec![1, 3]);
    let e = StreamingPipeline::builder()
        .source(synthetic(&table, None, 3))
        .build()
        .unwrap()
        .start_on_workers(&set, TaskPlacement::Worker(5), TaskPlacement::LeastLoaded)
        .unwrap_err();
    assert!(e.to_string().contains("no worker 5"), "{e}");
    for h in [h, h2] {
        let r = h.stop_and_join();
        assert!(r.stats.is_conserved());
    }
    set.shutdown();
}

#[test]
fn a_handle_on_a_worker_set_finishes_by_its_stages_for_stop_after_and_monitor() {
    let set = two_workers();
    let table = Arc::new(SymbolTable::new());
    // Finite: stop_after returns once both stages have exited (is_finished), long before the
    // duration.
    let h = start(&set, &table, 1, Some(30_000), Box::new(CountingSink::new()));
    let r = h.stop_after(Duration::from_secs(3600));
    assert_eq!(r.stats.delivered, 30_000);
    assert_eq!(r.stats.state, PipelineState::Stopped);
    // Endless: the monitor's stop ends it; join waits for its stages, not threads.
    let h = start(&set, &table, 2, None, Box::new(CountingSink::new()));
    let monitor = h.monitor();
    monitor.stop();
    let r = h.join();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.stats.is_conserved(), "{:?}", r.stats);
    assert_eq!(monitor.state(), PipelineState::Stopped);
    set.shutdown();
}
