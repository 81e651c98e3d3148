//! A running pipeline.

use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::error::PipelineError;
use crate::exec::panic_message;
use crate::pipeline::stats::{lock, PipelineReport, PipelineShared, PipelineState, PipelineStats};
use crate::pipeline::PipelineContext;
use crate::sync::Ordering;

/// A stop with a deadline ran out: these stages had not exited. They were left running,
/// detached (a dedicated thread can no longer be joined; a stage on a worker set stays hosted
/// there; each exits on its own if its stage ever returns).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "pipeline {pipeline}: not stopped within {deadline:?}; still running (left detached): {}",
    stuck.join(", ")
)]
pub struct StopTimeout {
    /// `tenant/pipeline`.
    pub pipeline: String,
    /// The stages still running, each as `"<stage name> (<stage>)"`: `source stage`,
    /// `process stage (operator, batcher, sink)`, or both fused.
    pub stuck: Vec<String>,
    /// The deadline that passed.
    pub deadline: Duration,
    /// The counters when the deadline passed (boxed: keeps the error small).
    pub stats: Box<PipelineStats>,
}

/// What the stage called `name` runs (the builder names stages, and their dedicated threads,
/// `mdp-<id>`, `…-source`, `…-process`).
fn stage_of(name: &str) -> &'static str {
    if name.ends_with("-process") {
        "process stage (operator, batcher, sink)"
    } else if name.ends_with("-source") {
        "source stage"
    } else {
        "fused stage (source, operator, batcher, sink)"
    }
}

/// Control of a running pipeline. Dropping it stops the pipeline gracefully and waits.
#[derive(Debug)]
pub struct PipelineHandle {
    ctx: PipelineContext,
    pub(super) shared: Arc<PipelineShared>,
    /// The stages' names; each sends it on `shared.exits` once, as it exits.
    stages: Vec<String>,
    /// Exits already received from `shared.exits`.
    exits_seen: usize,
    /// Dedicated threads (joined after their stages exit).
    threads: Vec<JoinHandle<()>>,
    /// Threads to unpark on `stop`: the dedicated ones, or the workers hosting the stages.
    wake: Vec<Thread>,
    joined: bool,
    started: Instant,
    /// Slots of the ring between its stages (`None`: fused).
    ring_capacity: Option<usize>,
}

impl PipelineHandle {
    pub(crate) fn new(
        ctx: PipelineContext,
        shared: Arc<PipelineShared>,
        stages: Vec<String>,
        threads: Vec<JoinHandle<()>>,
        wake: Vec<Thread>,
        started: Instant,
    ) -> PipelineHandle {
        PipelineHandle {
            ctx,
            shared,
            stages,
            exits_seen: 0,
            threads,
            wake,
            joined: false,
            started,
            ring_capacity: None,
        }
    }

    /// Set the ring capacity it reports.
    pub(crate) fn with_ring_capacity(mut self, slots: Option<usize>) -> PipelineHandle {
        self.ring_capacity = slots;
        self
    }

    /// The context.
    pub fn ctx(&self) -> &PipelineContext {
        &self.ctx
    }

    /// Slots of the ring its stages were joined by (`None`: fused, no ring): the builder's
    /// `ring_capacity`, or when none was set the default of where the stages run
    /// ([`StageHost::default_ring_capacity`](crate::pipeline::StageHost::default_ring_capacity)).
    pub fn ring_capacity(&self) -> Option<usize> {
        self.ring_capacity
    }

    /// Ask the source to stop; every stage then drains (operator windows included). Returns at
    /// once; `join` waits.
    pub fn stop(&self) {
        // Relaxed: see run_source; the workers need no data published with the flag.
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in &self.wake {
            t.unpark();
        }
    }

    /// Live counters.
    pub fn stats(&self) -> PipelineStats {
        self.shared.snapshot()
    }

    /// The life-cycle state now (one load; `stats().state` without the counters).
    pub fn state(&self) -> PipelineState {
        self.shared.state()
    }

    /// True once every stage has exited (and its dedicated thread, if it had one).
    pub fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release in StageExit's drop.
        self.shared.exited.load(Ordering::Acquire) >= self.stages.len()
            && self.threads.iter().all(|t| t.is_finished())
    }

    /// Wait for every stage (and dedicated thread), then report.
    pub fn join(mut self) -> PipelineReport {
        self.join_inner()
    }

    /// Let it run for `duration` of wall-clock time (or until it finishes by itself, if
    /// sooner), then `stop` and `join`. Waits in steps of at most 10 ms.
    pub fn stop_after(self, duration: Duration) -> PipelineReport {
        let deadline = Instant::now() + duration;
        loop {
            if self.is_finished() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left.min(Duration::from_millis(10)));
        }
        self.stop_and_join()
    }

    /// `stop` then `join`. Waits as long as the stages take to drain: a sink that blocks for
    /// ever blocks this for ever (see [`stop_and_join_timeout`](Self::stop_and_join_timeout)).
    pub fn stop_and_join(self) -> PipelineReport {
        self.stop();
        self.join()
    }

    /// `stop`, then wait at most `deadline` for every stage to exit, and report.
    ///
    /// # Errors
    /// [`StopTimeout`] naming the stages still running at the deadline. Those are left
    /// running, **detached**: a dedicated thread cannot be joined any more, a stage on a
    /// worker set stays hosted there, and each exits on its own once its stage returns (e.g.
    /// when a blocked sink is released). The handle is consumed either way.
    pub fn stop_and_join_timeout(
        mut self,
        deadline: Duration,
    ) -> Result<PipelineReport, StopTimeout> {
        self.stop();
        let until = Instant::now().checked_add(deadline);
        let mut exited: Vec<String> = Vec::with_capacity(self.stages.len());
        while self.exits_seen < self.stages.len() {
            let next = match until {
                Some(t) => self.shared.exits.1.recv_deadline(t).ok(),
                None => self.shared.exits.1.recv().ok(),
            };
            match next {
                Some(name) => {
                    exited.push(name);
                    self.exits_seen += 1;
                }
                None => break,
            }
        }
        if self.exits_seen >= self.stages.len() {
            return Ok(self.join_inner());
        }
        for t in self.threads.drain(..) {
            let name = t.thread().name().unwrap_or("worker");
            if exited.iter().any(|e| e == name) {
                // Its stage has exited: joining returns at once.
                let _ = t.join();
            } else {
                drop(t); // detached
            }
        }
        let stuck = self
            .stages
            .iter()
            .filter(|s| !exited.contains(s))
            .map(|name| format!("{name} ({})", stage_of(name)))
            .collect();
        self.joined = true;
        Err(StopTimeout {
            pipeline: format!("{}/{}", self.ctx.tenant_id, self.ctx.pipeline_id),
            stuck,
            deadline,
            stats: Box::new(self.shared.snapshot()),
        })
    }

    fn join_inner(&mut self) -> PipelineReport {
        self.joined = true;
        while self.exits_seen < self.stages.len() {
            if self.shared.exits.1.recv().is_err() {
                break;
            }
            self.exits_seen += 1;
        }
        for t in self.threads.drain(..) {
            let name = t.thread().name().unwrap_or("worker").to_string();
            // The stages catch their own panics (reported with the message); this is a panic
            // outside them.
            if let Err(payload) = t.join() {
                self.shared.fail(PipelineError::Worker {
                    worker: name,
                    reason: format!("panicked: {}", panic_message(&*payload)),
                });
            }
        }
        let elapsed = self.started.elapsed();
        let stats = self.shared.snapshot();
        let error = lock(&self.shared.errors).first().cloned();
        if error.is_none() && stats.state != PipelineState::Failed {
            self.shared.set_state(PipelineState::Stopped);
        }
        PipelineReport {
            stats: self.shared.snapshot(),
            error,
            elapsed,
            latency_histogram: lock(&self.shared.latency).clone(),
            routing: None,
        }
    }
}

impl Drop for PipelineHandle {
    fn drop(&mut self) {
        if !self.joined {
            self.stop();
            let _ = self.join_inner();
        }
    }
}

/// A view of a running pipeline that can read its counters and ask it to stop, but does not
/// own it (the [`PipelineHandle`] still joins it).
#[derive(Clone, Debug)]
pub struct PipelineMonitor {
    pub(super) shared: Arc<PipelineShared>,
    wake: Vec<Thread>,
}

impl PipelineMonitor {
    /// Live counters.
    pub fn stats(&self) -> PipelineStats {
        self.shared.snapshot()
    }

    /// The life-cycle state now (one load).
    pub fn state(&self) -> PipelineState {
        self.shared.state()
    }

    /// Ask the pipeline to stop (as [`PipelineHandle::stop`]).
    pub fn stop(&self) {
        // Relaxed: as in PipelineHandle::stop.
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in &self.wake {
            t.unpark();
        }
    }
}

impl PipelineHandle {
    /// A monitor of this pipeline.
    pub fn monitor(&self) -> PipelineMonitor {
        PipelineMonitor {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
        }
    }
}
