//! Faults in the middle of work: a stage that panics or fails keeps the counts conserved (what
//! it loses is counted as lost, not left "in flight") and its panic message; a stop with a
//! deadline names the stage that does not stop. Waits are bounded loops on a condition; the
//! one real deadline is asserted only through a stage that stays stuck until the test
//! releases it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel;
use market_data_pipeline::pin::CoreChoice;
use market_data_pipeline::pipeline::{PipelineState, Placement, StreamingPipeline};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource, TickSlots};
use market_data_pipeline::{
    CallbackSink, CountingSink, ManualClock, PipelineError, PipelineHandle, Price, Record, Sink,
    SourceError, SourcePoll, SymbolId, SymbolTable, Tick, TickSource,
};

use common::held_sink::HeldSink;
use common::wait_for;

fn synthetic(n: Option<u64>) -> SyntheticSource {
    SyntheticSource::new(
        SyntheticConfig {
            max_ticks: n,
            ..SyntheticConfig::new(&["A"])
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap()
}

fn fused() -> Placement {
    Placement::Fused {
        core: CoreChoice::Unpinned,
    }
}

fn split() -> Placement {
    Placement::Split {
        source_core: CoreChoice::Unpinned,
        process_core: CoreChoice::Unpinned,
    }
}

/// An endless synthetic source into `sink`, started.
fn start_endless(sink: impl Sink + 'static, placement: Placement) -> PipelineHandle {
    StreamingPipeline::builder()
        .source(synthetic(None))
        .sink(sink)
        .placement(placement)
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start()
        .unwrap()
}

fn worker_reason(e: &PipelineError) -> &str {
    match e {
        PipelineError::Worker { reason, .. } => reason,
        other => panic!("expected a worker error, got {other:?}"),
    }
}

#[test]
fn regression_a_fused_sink_panic_lost_the_chunk_in_hand_and_the_message() {
    // Was: `produced 10752, ticks_in 10496, conserved=false`, error "…: panicked".
    let mut calls = 0;
    let report = StreamingPipeline::builder()
        .source(synthetic(Some(1_000_000)))
        .sink(CallbackSink::new(move |_b: &[Record]| {
            calls += 1;
            if calls == 5 {
                panic!("sink exploded at batch 5"); // a &str payload
            }
            Ok(())
        }))
        .placement(fused())
        .chunk_size(256)
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start()
        .unwrap()
        .join();
    let s = &report.stats;
    let e = report.error.as_ref().expect("the panic is reported");
    assert_eq!(
        worker_reason(e),
        "panicked: sink exploded at batch 5",
        "{e}"
    );
    assert_eq!(s.state, PipelineState::Failed);
    assert!(s.is_conserved(), "{s:?}");
    assert_eq!(s.produced, s.ticks_in + s.lost, "{s:?}");
    assert!(
        s.lost > 0 && s.lost <= 256,
        "the chunk in hand is lost: {s:?}"
    );
}

#[test]
fn regression_ticks_stranded_by_a_failed_process_stage_were_reported_in_flight() {
    // Split: the source fills the edge while the sink is held, then the sink panics. What is
    // left in the edge will never be processed: it is lost, not in flight.
    let n = 10_000;
    let (release, gate) = channel::bounded::<()>(1);
    let mut calls = 0;
    let handle = StreamingPipeline::builder()
        .source(synthetic(Some(n)))
        .sink(CallbackSink::new(move |_b: &[Record]| {
            calls += 1;
            if calls == 1 {
                let _ = gate.recv();
                // A String payload (the other test panics with a formatted &str message).
                std::panic::panic_any(String::from("sink exploded after the gate"));
            }
            Ok(())
        }))
        .placement(split())
        .ring_capacity(16_384)
        .chunk_size(256)
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start()
        .unwrap();
    // The whole stream fits in the edge: wait (bounded) until the source has produced it.
    assert!(wait_for(60_000, || handle.stats().produced == n));
    release.send(()).unwrap();
    let report = handle.join();
    let s = &report.stats;
    let e = report.error.as_ref().expect("the panic is reported");
    assert_eq!(
        worker_reason(e),
        "panicked: sink exploded after the gate",
        "{e}"
    );
    assert_eq!(
        s.in_flight(),
        0,
        "nothing is in flight in a finished pipeline: {s:?}"
    );
    assert!(s.lost > 0, "the ticks left in the edge are lost: {s:?}");
    assert_eq!(s.produced, s.ticks_in + s.lost, "{s:?}");
    assert!(s.is_conserved(), "{s:?}");
}

/// What the last poll of a [`WritesThenPanics`] does after writing its ticks.
#[derive(Clone, Copy, Debug)]
enum LastPoll {
    Panics,
    /// Returns `Ended` (against `poll_into`'s contract, which says nothing is written then).
    SaysEnded,
}

/// Writes `per_poll` ticks straight into the ring's slots at each poll; on poll `last_at`,
/// after writing its ticks, does what `last` says.
struct WritesThenPanics {
    polls: u32,
    per_poll: u32,
    last_at: u32,
    last: LastPoll,
    seq: u32,
    symbols: Vec<String>,
}

impl WritesThenPanics {
    fn new(last: LastPoll) -> WritesThenPanics {
        WritesThenPanics {
            polls: 0,
            per_poll: 100,
            last_at: 3,
            last,
            seq: 0,
            symbols: vec!["A".into()],
        }
    }

    fn next_tick(&mut self) -> Tick {
        self.seq += 1;
        let mut t = Tick::trade(SymbolId(0), u64::from(self.seq), Price::from_units(1), 1);
        t.seq = self.seq;
        t
    }
}

impl TickSource for WritesThenPanics {
    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        Ok(())
    }
    fn poll(&mut self, _now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        // Only when the edge has no room for a chunk: never in this test.
        let n = out.len().min(self.per_poll as usize);
        for t in &mut out[..n] {
            *t = self.next_tick();
        }
        Ok(SourcePoll::Ready(n))
    }
    fn poll_into(
        &mut self,
        _now_ns: u64,
        _scratch: &mut [Tick],
        slots: &mut TickSlots<'_>,
    ) -> Result<SourcePoll, SourceError> {
        if self.polls == self.last_at {
            return Ok(SourcePoll::Ended);
        }
        self.polls += 1;
        let n = slots.fill((0..self.per_poll).map(|_| self.next_tick()));
        match (self.polls == self.last_at, self.last) {
            (true, LastPoll::Panics) => panic!("source exploded after writing into the ring"),
            (true, LastPoll::SaysEnded) => Ok(SourcePoll::Ended),
            _ => Ok(SourcePoll::Ready(n)),
        }
    }
    fn close(&mut self) {}
    fn name(&self) -> &str {
        "writes-then-panics"
    }
    fn symbols(&self) -> &[String] {
        &self.symbols
    }
}

/// `source` into a counting sink on a split pipeline (4,096-slot edge, chunks of 256), run to
/// its end.
fn run_split(source: WritesThenPanics) -> market_data_pipeline::PipelineReport {
    StreamingPipeline::builder()
        .source(source)
        .sink(CountingSink::new())
        .placement(split())
        .ring_capacity(4_096)
        .chunk_size(256)
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start()
        .unwrap()
        .join()
}

#[test]
fn regression_a_source_panicking_after_writing_into_the_ring_leaves_the_counts_conserved() {
    // A source that writes straight into the edge's slots (`poll_into`) pushes as it writes:
    // what it wrote before panicking is delivered, and counted as produced.
    let report = run_split(WritesThenPanics::new(LastPoll::Panics));
    let s = &report.stats;
    let e = report.error.as_ref().expect("the panic is reported");
    assert_eq!(
        worker_reason(e),
        "panicked: source exploded after writing into the ring",
        "{e}"
    );
    assert_eq!(
        s.produced, 300,
        "three polls of 100, the last one's too: {s:?}"
    );
    assert_eq!(
        s.ticks_in, 300,
        "all of it reached the process stage: {s:?}"
    );
    assert_eq!(s.lost, 0, "{s:?}");
    assert!(s.is_conserved(), "{s:?}");
}

#[test]
fn regression_ticks_written_into_the_ring_by_a_poll_that_said_ended_were_not_counted_produced() {
    // A source that writes into the slots and then reports `Ended` (or an error) breaks
    // `poll_into`'s contract; what it wrote is delivered all the same, so it is counted as
    // produced whatever the poll returned. Was: produced 200, ticks_in 300.
    let report = run_split(WritesThenPanics::new(LastPoll::SaysEnded));
    let s = &report.stats;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(s.produced, 300, "{s:?}");
    assert_eq!(s.ticks_in, 300, "{s:?}");
    assert!(s.is_conserved(), "{s:?}");
}

#[test]
fn a_stop_with_a_deadline_names_the_stuck_stage_and_leaves_it_detached() {
    // (case, placement, the stage that must be named)
    let cases = [
        (1, fused(), "fused stage"),
        (2, split(), "process stage (operator, batcher, sink)"),
    ];
    for (case, placement, stage) in cases {
        let (sink, held) = HeldSink::new();
        let handle = start_endless(sink, placement);
        // The sink blocks until released, whatever the deadline: the stage is stuck.
        let e = handle
            .stop_and_join_timeout(Duration::from_millis(20))
            .expect_err("a stage blocked for ever cannot stop");
        assert!(
            e.stuck.iter().any(|w| w.contains(stage)),
            "case {case}: {:?}",
            e.stuck
        );
        assert!(e.to_string().contains("left detached"), "case {case}: {e}");
        // Released, the detached stage finishes on its own (bounded wait).
        drop(held.release);
        assert!(
            held.closed.recv_timeout(Duration::from_secs(60)).is_ok(),
            "case {case}: the released stage closed its sink"
        );
    }
}

#[test]
fn a_stop_with_a_deadline_reports_like_stop_and_join_when_the_stages_stop() {
    let handle = start_endless(CountingSink::new(), split());
    // A deadline far beyond any drain: the assertion does not depend on timing.
    let report = handle
        .stop_and_join_timeout(Duration::from_secs(600))
        .expect("stops");
    assert_eq!(report.stats.state, PipelineState::Stopped);
    assert!(report.error.is_none());
    assert!(report.stats.is_conserved(), "{:?}", report.stats);
}
