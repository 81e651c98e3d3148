//! A running pipeline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::PipelineError;
use crate::pipeline::stats::{lock, PipelineReport, PipelineState, PipelineStats, Shared};
use crate::pipeline::PipelineContext;

/// Control of a running pipeline. Dropping it stops the pipeline gracefully and waits.
#[derive(Debug)]
pub struct PipelineHandle {
    ctx: PipelineContext,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl PipelineHandle {
    pub(crate) fn new(
        ctx: PipelineContext,
        shared: Arc<Shared>,
        threads: Vec<JoinHandle<()>>,
        started: Instant,
    ) -> PipelineHandle {
        PipelineHandle {
            ctx,
            shared,
            threads,
            started,
        }
    }

    /// The context.
    pub fn ctx(&self) -> &PipelineContext {
        &self.ctx
    }

    /// Ask the source to stop; every stage then drains (operator windows included). Returns at
    /// once; `join` waits.
    pub fn stop(&self) {
        // Relaxed: see run_source; the workers need no data published with the flag.
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in &self.threads {
            t.thread().unpark();
        }
    }

    /// Live counters.
    pub fn stats(&self) -> PipelineStats {
        self.shared.snapshot()
    }

    /// True once every worker has exited.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Wait for every worker, then report.
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

    /// `stop` then `join`.
    pub fn stop_and_join(self) -> PipelineReport {
        self.stop();
        self.join()
    }

    fn join_inner(&mut self) -> PipelineReport {
        for t in self.threads.drain(..) {
            let name = t.thread().name().unwrap_or("worker").to_string();
            if t.join().is_err() {
                self.shared.fail(PipelineError::Worker {
                    worker: name,
                    reason: "panicked".into(),
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
        }
    }
}

impl Drop for PipelineHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
            let _ = self.join_inner();
        }
    }
}

/// A view of a running pipeline that can read its counters and ask it to stop, but does not
/// own it (the [`PipelineHandle`] still joins it).
#[derive(Clone, Debug)]
pub struct PipelineMonitor {
    shared: Arc<Shared>,
    threads: Vec<std::thread::Thread>,
}

impl PipelineMonitor {
    /// Live counters.
    pub fn stats(&self) -> PipelineStats {
        self.shared.snapshot()
    }

    /// Ask the pipeline to stop (as [`PipelineHandle::stop`]).
    pub fn stop(&self) {
        // Relaxed: as in PipelineHandle::stop.
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in &self.threads {
            t.unpark();
        }
    }
}

impl PipelineHandle {
    /// A monitor of this pipeline.
    pub fn monitor(&self) -> PipelineMonitor {
        PipelineMonitor {
            shared: self.shared.clone(),
            threads: self.threads.iter().map(|t| t.thread().clone()).collect(),
        }
    }
}
