//! State changes are `tracing` events, never per tick: a pipeline run of N ticks emits the
//! same handful of events whatever N is. One test: the counting subscriber is the process's
//! global one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineSpec};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod common;

/// Counts events, and keeps their messages' targets for the report.
struct Counting {
    events: AtomicU64,
    targets: Mutex<Vec<String>>,
}

static COUNTING: Counting = Counting {
    events: AtomicU64::new(0),
    targets: Mutex::new(Vec::new()),
};

struct Global;

impl Subscriber for Global {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        COUNTING.events.fetch_add(1, Ordering::Relaxed);
        COUNTING.targets.lock().unwrap().push(format!(
            "{} {}",
            e.metadata().target(),
            e.metadata().name()
        ));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Events emitted while one pipeline of `ticks` runs to its end and is stopped.
fn events_of_a_run(ticks: u64) -> u64 {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    let before = COUNTING.events.load(Ordering::Relaxed);
    let key = runtime
        .run_pipeline(
            PipelineSpec::new("t", "p")
                .symbols(&["AAPL", "MSFT"])
                .max_ticks(ticks),
        )
        .unwrap();
    assert!(common::wait_for(60_000, || runtime.list_pipelines()[0]
        .state
        == PipelineState::Stopped));
    let report = runtime.stop_pipeline(&key).unwrap();
    assert_eq!(report.stats.delivered, ticks);
    let n = COUNTING.events.load(Ordering::Relaxed) - before;
    drop(runtime);
    n
}

#[test]
fn a_pipeline_run_emits_the_same_few_events_for_ten_or_a_thousand_times_the_ticks() {
    tracing::subscriber::set_global_default(Global).unwrap();
    let small = events_of_a_run(1_000);
    let large = events_of_a_run(1_000_000);
    let targets = COUNTING.targets.lock().unwrap().clone();
    assert_eq!(small, large, "events do not grow with ticks: {targets:?}");
    // Started and stopped, at least.
    assert!(small >= 2, "{targets:?}");
    assert!(small <= 10, "{targets:?}");
}
