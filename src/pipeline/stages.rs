//! The stages as [`Task`]s. A source task polls its source and hands chunks downstream
//! (fused: a direct call into the process stage; split: when a whole chunk fits in the edge,
//! the source writes straight into the ring's free slots ([`TickSource::poll_into`] over
//! [`EdgeTx::slots`]); otherwise it polls into the task's buffer and [`EdgeTx::offer`]s it,
//! keeping what must wait for the next step). A process task reads at most one chunk from its
//! edge per step and runs operator → batcher → sink. A dedicated thread hosts one of them (or
//! the fused source task); a [`WorkerSet`](crate::exec::WorkerSet) hosts many.
//!
//! The clock is read once per step; counters are published once per chunk; nothing here
//! allocates, locks or logs per tick.

use crate::sync::Ordering;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::{PipelineError, SourceError};
use crate::exec::{Step, Task};
use crate::pipeline::process::Process;
use crate::pipeline::stats::{PipelineShared, PipelineState};
use crate::ring::{EdgeRx, EdgeTx};
use crate::source::{SourcePoll, TickSource};
use crate::tick::Tick;

/// Where a source stage sends its chunks.
pub(crate) enum Downstream {
    /// To another task, through an edge.
    Edge(EdgeTx<Tick>),
    /// Fused into the same task.
    Fused(Box<Process>),
}

/// Settings of a stage task.
#[derive(Clone)]
pub(crate) struct LoopConfig {
    pub(crate) clock: SharedClock,
    pub(crate) chunk: usize,
    pub(crate) max_consecutive_errors: u32,
}

/// Says "this stage has exited" (its name on `PipelineShared::exits`) when dropped: after
/// `Done`, after a panic, or unstepped (a worker set that refused it). Declared last in each
/// task, so the stage's edge end is released before.
pub(crate) struct StageExit {
    shared: Arc<PipelineShared>,
    name: String,
}

impl StageExit {
    pub(crate) fn new(shared: Arc<PipelineShared>, name: String) -> StageExit {
        StageExit { shared, name }
    }
}

impl Drop for StageExit {
    fn drop(&mut self) {
        // Release: whoever sees the count sees what the stage published before it.
        self.shared.exited.fetch_add(1, Ordering::Release);
        let _ = self.shared.exits.0.send(std::mem::take(&mut self.name));
    }
}

/// A stage failed with a panic.
fn panicked(worker: &str, message: &str) -> PipelineError {
    PipelineError::Worker {
        worker: worker.to_string(),
        reason: format!("panicked: {message}"),
    }
}

fn give_up(e: SourceError, consecutive: u32) -> PipelineError {
    if e.is_retryable() {
        PipelineError::Worker {
            worker: "source".into(),
            reason: format!("{e} ({consecutive} consecutive errors; giving up)"),
        }
    } else {
        e.into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceState {
    Starting,
    Running,
    /// The source is closed; conflated quotes still waiting go in, or the fused process
    /// stage finishes.
    Draining,
    Done,
}

/// The source stage (fused: the whole pipeline) as a task.
pub(crate) struct SourceTask {
    source: Box<dyn TickSource>,
    /// `None` once released (the edge dropped: the process stage sees the end of stream).
    down: Option<Downstream>,
    buf: Vec<Tick>,
    /// Ticks of the chunk in hand (`buf[sent..held]` still to hand on; split only).
    held: usize,
    sent: usize,
    produced: u64,
    errors: u64,
    consecutive: u32,
    cfg: LoopConfig,
    shared: Arc<PipelineShared>,
    state: SourceState,
    exit: StageExit,
}

impl SourceTask {
    pub(crate) fn new(
        name: String,
        source: Box<dyn TickSource>,
        down: Downstream,
        cfg: LoopConfig,
        shared: Arc<PipelineShared>,
    ) -> SourceTask {
        SourceTask {
            source,
            down: Some(down),
            buf: vec![Tick::default(); cfg.chunk],
            held: 0,
            sent: 0,
            produced: 0,
            errors: 0,
            consecutive: 0,
            cfg,
            exit: StageExit::new(shared.clone(), name),
            shared,
            state: SourceState::Starting,
        }
    }

    fn begin_drain(&mut self) -> Step {
        self.shared.set_state(PipelineState::Draining);
        self.source.close();
        self.state = SourceState::Draining;
        Step::Progress
    }

    fn start(&mut self) -> Step {
        match self.source.start(self.cfg.clock.now_ns()) {
            Err(e) => {
                self.shared.fail(e.into());
                self.begin_drain()
            }
            Ok(()) => {
                self.shared.set_state(PipelineState::Running);
                self.state = SourceState::Running;
                Step::Progress
            }
        }
    }

    /// Offer the rest of the chunk in hand to the edge; what must wait stays in hand.
    #[inline]
    fn hand_on(&mut self) -> Step {
        let Some(Downstream::Edge(tx)) = &mut self.down else {
            return Step::Idle;
        };
        match tx.offer(&self.buf[self.sent..self.held]) {
            Ok(taken) => {
                self.sent += taken;
                if self.sent == self.held {
                    (self.held, self.sent) = (0, 0);
                }
                if taken > 0 {
                    Step::Progress
                } else {
                    Step::Idle
                }
            }
            // The consumer is gone; the rest was counted as dropped.
            Err(_) => {
                (self.held, self.sent) = (0, 0);
                self.begin_drain()
            }
        }
    }

    #[inline]
    fn run(&mut self) -> Step {
        if self.sent < self.held {
            return self.hand_on();
        }
        // Relaxed is enough for the stop flag: it only asks the stage to end; nothing else is
        // published through it.
        if self.shared.stop.load(Ordering::Relaxed) {
            return self.begin_drain();
        }
        let now = self.cfg.clock.now_ns();
        // Split, with a whole chunk of room in the edge: the source writes straight into the
        // ring's free slots (what it writes is pushed as it goes); otherwise into `buf`.
        let polled = match &mut self.down {
            Some(Downstream::Edge(tx)) => match tx
                .slots(self.buf.len())
                .map(|mut slots| self.source.poll_into(now, &mut self.buf, &mut slots))
            {
                Some(r) => {
                    // Claimed at once, whatever the outcome: what is in the ring was
                    // produced, whatever the source said.
                    self.produced += tx.claim_written();
                    // Release: pairs with the Acquire in PipelineShared::snapshot.
                    self.shared.produced.store(self.produced, Ordering::Release);
                    if let Ok(SourcePoll::Ready(_)) = r {
                        self.consecutive = 0;
                        return Step::Progress;
                    }
                    r
                }
                None => self.source.poll(now, &mut self.buf),
            },
            _ => self.source.poll(now, &mut self.buf),
        };
        match polled {
            Ok(SourcePoll::Ready(n)) => {
                self.consecutive = 0;
                let n = n.min(self.buf.len());
                self.produced += n as u64;
                // Release: pairs with the Acquire in PipelineShared::snapshot.
                self.shared.produced.store(self.produced, Ordering::Release);
                match &mut self.down {
                    Some(Downstream::Edge(_)) => {
                        (self.held, self.sent) = (n, 0);
                        self.hand_on();
                    }
                    Some(Downstream::Fused(p)) => {
                        p.on_ticks(&self.buf[..n]);
                        // A short poll means the source has nothing more right now.
                        if !(p.step(now) && (n == self.buf.len() || p.caught_up())) {
                            return self.begin_drain();
                        }
                    }
                    None => {}
                }
                Step::Progress
            }
            Ok(SourcePoll::Pending) => {
                let ok = match &mut self.down {
                    Some(Downstream::Edge(tx)) => {
                        tx.flush_pending();
                        !tx.is_disconnected()
                    }
                    Some(Downstream::Fused(p)) => p.step(now) && p.caught_up(),
                    None => false,
                };
                if ok {
                    Step::Idle
                } else {
                    self.begin_drain()
                }
            }
            Ok(SourcePoll::Ended) => self.begin_drain(),
            Err(e) => {
                self.errors += 1;
                self.shared
                    .source_errors
                    .store(self.errors, Ordering::Relaxed);
                self.consecutive += 1;
                if !e.is_retryable() || self.consecutive > self.cfg.max_consecutive_errors {
                    self.shared.fail(give_up(e, self.consecutive));
                    return self.begin_drain();
                }
                Step::Idle
            }
        }
    }

    fn drain(&mut self) -> Step {
        if let Some(Downstream::Edge(tx)) = &mut self.down {
            // Conflated quotes still waiting go in before the edge is closed.
            if !tx.flush_pending() && !tx.is_disconnected() {
                return Step::Idle;
            }
        }
        // Releases the edge (the process stage sees the end of stream), or finishes the fused
        // process stage.
        if let Some(Downstream::Fused(mut p)) = self.down.take() {
            if let Err(e) = p.finish(self.cfg.clock.now_ns()) {
                self.shared.fail(e.into());
            }
            self.shared.set_state(PipelineState::Stopped);
        }
        self.state = SourceState::Done;
        Step::Done
    }
}

impl Task for SourceTask {
    fn name(&self) -> &str {
        &self.exit.name
    }

    #[inline]
    fn step(&mut self) -> Step {
        match self.state {
            SourceState::Starting => self.start(),
            SourceState::Running => self.run(),
            SourceState::Draining => self.drain(),
            SourceState::Done => Step::Done,
        }
    }

    /// The source (or the fused process stage) panicked: report it, and count the chunk in
    /// hand as lost. Split: dropping the task drops the edge's producer; the process stage
    /// drains what is in the edge.
    fn panicked(&mut self, message: String) -> Step {
        self.shared.fail(panicked(&self.exit.name, &message));
        match &mut self.down {
            Some(Downstream::Fused(_)) => self.shared.lose_chunk_in_hand(),
            down => {
                if let Some(Downstream::Edge(tx)) = down {
                    // Written straight into the ring before the panic: produced, on its way.
                    self.produced += tx.claim_written();
                    // Release: pairs with the Acquire in PipelineShared::snapshot.
                    self.shared.produced.store(self.produced, Ordering::Release);
                }
                let in_hand = (self.held - self.sent) as u64;
                // Release: pairs with the Acquire in PipelineShared::snapshot.
                self.shared.lost.fetch_add(in_hand, Ordering::Release);
                (self.held, self.sent) = (0, 0);
            }
        }
        self.state = SourceState::Done;
        Step::Done
    }

    fn request_stop(&mut self) {
        // Relaxed: as in PipelineHandle::stop.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessState {
    Running,
    /// The stage failed: what is left in the edge, or arrives until the source has stopped,
    /// is taken out and counted as lost.
    Discarding,
    Done,
}

/// The process stage (operator → batcher → sink) reading an edge, as a task.
pub(crate) struct ProcessTask {
    rx: EdgeRx<Tick>,
    process: Process,
    cfg: LoopConfig,
    shared: Arc<PipelineShared>,
    now: u64,
    state: ProcessState,
    exit: StageExit,
}

impl ProcessTask {
    pub(crate) fn new(
        name: String,
        rx: EdgeRx<Tick>,
        process: Process,
        cfg: LoopConfig,
        shared: Arc<PipelineShared>,
    ) -> ProcessTask {
        ProcessTask {
            rx,
            process,
            now: cfg.clock.now_ns(),
            cfg,
            exit: StageExit::new(shared.clone(), name),
            shared,
            state: ProcessState::Running,
        }
    }

    /// The stage failed: stop the source; from now on, discard.
    fn begin_discard(&mut self) -> Step {
        // Relaxed: as in PipelineHandle::stop.
        self.shared.stop.store(true, Ordering::Relaxed);
        self.state = ProcessState::Discarding;
        Step::Progress
    }

    #[inline]
    fn run(&mut self) -> Step {
        let p = &mut self.process;
        let n = self.rx.read(self.cfg.chunk, |ticks| p.on_ticks(ticks));
        if n == 0 && self.rx.is_finished() {
            if let Err(e) = p.finish(self.now.max(self.cfg.clock.now_ns())) {
                self.shared.fail(e.into());
            }
            self.shared.set_state(PipelineState::Stopped);
            self.state = ProcessState::Done;
            return Step::Done;
        }
        let caught_up = n > 0 && self.rx.ready() == 0;
        self.now = self.cfg.clock.now_ns();
        if !p.step(self.now) || (caught_up && !p.caught_up()) {
            return self.begin_discard();
        }
        if n > 0 {
            Step::Progress
        } else {
            Step::Idle
        }
    }

    fn discard(&mut self) -> Step {
        let mut lost = 0u64;
        let n = self
            .rx
            .read(self.cfg.chunk, |ticks| lost += ticks.len() as u64);
        if n > 0 {
            // Release: pairs with the Acquire in PipelineShared::snapshot. An add: the source
            // stage may count a chunk in hand as lost too.
            self.shared.lost.fetch_add(lost, Ordering::Release);
            Step::Progress
        } else if self.rx.is_finished() {
            self.state = ProcessState::Done;
            Step::Done
        } else {
            Step::Idle
        }
    }
}

impl Task for ProcessTask {
    fn name(&self) -> &str {
        &self.exit.name
    }

    #[inline]
    fn step(&mut self) -> Step {
        match self.state {
            ProcessState::Running => self.run(),
            ProcessState::Discarding => self.discard(),
            ProcessState::Done => Step::Done,
        }
    }

    /// The operator, batcher or sink panicked: report it, then discard what is stranded in
    /// the edge (the chunk being read was not released: it is counted too).
    fn panicked(&mut self, message: String) -> Step {
        self.shared.fail(panicked(&self.exit.name, &message));
        self.begin_discard()
    }

    fn request_stop(&mut self) {
        // Relaxed: as in PipelineHandle::stop. The stage ends when its edge does.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}
