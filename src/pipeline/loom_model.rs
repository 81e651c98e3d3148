//! loom model of the pipeline life cycle: a stop request against a running split pipeline.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_model`
//!
//! The two real stage tasks (`SourceTask`, `ProcessTask`), each stepped to `Done` on a loom
//! thread as a dedicated thread steps it, run over a real edge
//! (whose ring is the loom-visible stand-in, see `ring/loom_ring.rs`); the main thread asks
//! for a stop the way `PipelineHandle::stop` does, at every point loom chooses. The stop flag,
//! the state word, the pipeline counters, the edge counters and the manual clock are all
//! `crate::sync` atomics, so loom sees every one of them.

use std::sync::Arc;

use loom::thread;

use crate::batcher::HybridBatcher;
use crate::clock::ManualClock;
use crate::exec::{Step, Task};
use crate::idle::{IdleStrategy, Idler};
use crate::operator::Passthrough;
use crate::pipeline::process::Process;
use crate::pipeline::stages::{Downstream, LoopConfig, ProcessTask, SourceTask};
use crate::pipeline::stats::{PipelineShared, PipelineState};
use crate::ring::{edge, Backpressure};
use crate::sink::CountingSink;
use crate::source::VecSource;
use crate::sync::Ordering;
use crate::tick::Tick;

/// Step `task` to `Done` as a dedicated thread does (an idle round is a model yield).
fn run(mut task: impl Task) {
    let mut idler = Idler::new(IdleStrategy::BusySpin);
    loop {
        match task.step() {
            Step::Progress => idler.reset(),
            Step::Idle => idler.idle(),
            Step::Done => return,
        }
    }
}

/// Preemptions explored per execution unless `LOOM_MAX_PREEMPTIONS` says otherwise: a few
/// seconds in release (each step up costs about twice as much).
const PREEMPTIONS: usize = 5;

/// A source of three ticks polled two at a time, through a two-slot edge under `Block`, into a
/// passthrough → batcher → counting sink; the stop request comes at any point (before the
/// source starts, between its polls, while it waits for room, after it ended). Whenever it
/// comes, the source stage stops producing and drains: everything produced is delivered,
/// nothing is left in flight or lost, the sink saw exactly the produced ticks, and the
/// pipeline ends `Stopped` (the process stage's state is the last word).
#[test]
fn loom_model_a_stop_request_drains_everything_the_source_produced() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    builder.check(|| {
        let (tx, rx) = edge::<Tick>(2, Backpressure::Block).unwrap();
        let shared = Arc::new(PipelineShared::new(Some(tx.counters())));
        let clock = ManualClock::shared(0);
        let cfg = LoopConfig {
            clock: clock.clone(),
            chunk: 2,
            max_consecutive_errors: 0,
        };
        let sink = CountingSink::new();
        let counts = sink.counts();
        let process = Process::new(
            Box::new(Passthrough::new()),
            HybridBatcher::new(2, std::time::Duration::from_secs(1)).unwrap(),
            Box::new(sink),
            clock,
            shared.clone(),
            cfg.chunk,
            false,
        );
        let source = Box::new(VecSource::new("v", vec![Tick::default(); 3], &["A"]));
        let source_stage = {
            let down = Downstream::Edge(tx);
            let task = SourceTask::new("s".into(), source, down, cfg.clone(), shared.clone());
            thread::spawn(move || run(task))
        };
        let process_stage = {
            let task = ProcessTask::new("p".into(), rx, process, cfg, shared.clone());
            thread::spawn(move || run(task))
        };
        // As PipelineHandle::stop.
        shared.stop.store(true, Ordering::Relaxed);
        source_stage.join().unwrap();
        process_stage.join().unwrap();

        let s = shared.snapshot();
        assert!(s.produced <= 3, "{s:?}");
        assert_eq!(s.delivered, s.produced, "a stop lost ticks: {s:?}");
        assert_eq!((s.edge.in_flight(), s.lost), (0, 0), "{s:?}");
        assert_eq!(s.edge.offered, s.edge.popped, "{s:?}");
        assert_eq!(
            counts.ticks(),
            s.produced,
            "the sink saw other ticks: {s:?}"
        );
        assert_eq!(s.state, PipelineState::Stopped, "{s:?}");
        assert!(s.is_conserved(), "{s:?}");
    });
}
