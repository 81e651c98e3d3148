//! `WorkerSet`: a fixed set of pinned worker threads that host many tasks, stepped
//! round-robin.

use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::error::ConfigError;
use crate::exec::dedicated::spawn_pinned;
use crate::exec::worker::{work, Mail, Worker};
use crate::exec::Task;
use crate::idle::IdleStrategy;
use crate::pin::{available_cores, CoreChoice, PinFailure};
use crate::sync::{lock, AtomicBool, AtomicUsize, Ordering};

/// The most workers a set may have: more is a configuration mistake, not a request.
pub const MAX_WORKERS: usize = 1024;

/// How a [`WorkerSet`] is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSetConfig {
    /// Worker threads (default: one per available core; 1 to [`MAX_WORKERS`]).
    pub workers: usize,
    /// How a worker waits when a whole round made no progress (default: spin → yield → park).
    pub idle: IdleStrategy,
    /// Pin worker `i` to core `i mod cores` (default `true`).
    pub pin: bool,
    /// What a pinning failure does (default: warn and run unpinned).
    pub pin_failure: PinFailure,
    /// Thread names are `<name>-<i>` (default `mdp-worker`).
    pub name: String,
}

impl Default for WorkerSetConfig {
    fn default() -> Self {
        WorkerSetConfig {
            workers: available_cores(),
            idle: IdleStrategy::default(),
            pin: true,
            pin_failure: PinFailure::Warn,
            name: "mdp-worker".to_string(),
        }
    }
}

impl WorkerSetConfig {
    /// Check the worker count.
    ///
    /// # Errors
    /// A [`ConfigError`] on `workers` for 0 or more than [`MAX_WORKERS`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_workers("workers", self.workers)
    }
}

/// Check a worker count (1 to [`MAX_WORKERS`]), naming `field` in the error.
///
/// # Errors
/// A [`ConfigError`] on `field`.
pub(crate) fn check_workers(field: &str, n: usize) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(field, "must be greater than 0"));
    }
    if n > MAX_WORKERS {
        return Err(ConfigError::new(
            field,
            format!("{n} worker threads: at most {MAX_WORKERS}"),
        ));
    }
    Ok(())
}

/// Where a task goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskPlacement {
    /// The worker hosting the fewest tasks (the lowest index on a tie).
    #[default]
    LeastLoaded,
    /// This worker (an index below [`WorkerSet::workers`]).
    Worker(usize),
}

/// A worker set could not be made, or could not take a task.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerSetError {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A worker thread could not be spawned or (under [`PinFailure::Error`]) pinned.
    #[error("worker {worker}: {reason}")]
    Spawn {
        /// Thread name.
        worker: String,
        /// What went wrong.
        reason: String,
    },
    /// [`TaskPlacement::Worker`] named a worker the set does not have.
    #[error("no worker {worker} (the set has {workers})")]
    NoSuchWorker {
        /// Requested index.
        worker: usize,
        /// Workers in the set.
        workers: usize,
    },
    /// The set is shutting down and takes no new tasks.
    #[error("the worker set is shutting down")]
    ShutDown,
}

/// A shutdown with a deadline ran out: these workers still hosted tasks. They were left
/// running, detached; each exits on its own once its tasks are done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("worker set not shut down within {deadline:?}; still running (left detached): {}", stuck.join(", "))]
pub struct WorkerSetTimeout {
    /// Each worker still running, as `"<thread name> (<n> tasks)"`.
    pub stuck: Vec<String>,
    /// The deadline that passed.
    pub deadline: Duration,
}

/// A fixed set of worker threads hosting [`Task`]s.
///
/// Each worker steps its tasks round-robin, one bounded step each per round, so a task that
/// always has work cannot starve the others; it waits (with its [`IdleStrategy`]) only when a
/// whole round made no progress, and parks when it hosts nothing. Tasks arrive through a
/// per-worker inbox that the worker checks once per round (a control path: it locks and may
/// allocate; the steps themselves do neither), and the worker is unparked when one arrives.
///
/// Cooperative means a step that blocks (a sink that waits on I/O or on a lock) stalls every
/// task of its worker until it returns: such stages, and latency-critical ones, belong on
/// dedicated threads ([`spawn_dedicated`](crate::exec::spawn_dedicated),
/// [`StreamingPipeline::start`](crate::pipeline::StreamingPipeline::start)).
///
/// ```
/// use market_data_pipeline::exec::{Step, Task, TaskPlacement, WorkerSet, WorkerSetConfig};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// struct Count(Arc<AtomicU64>, u64);
/// impl Task for Count {
///     fn name(&self) -> &str { "count" }
///     fn step(&mut self) -> Step {
///         if self.1 == 0 { return Step::Done; }
///         self.1 -= 1;
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Step::Progress
///     }
///     fn panicked(&mut self, _: String) -> Step { Step::Done }
/// }
///
/// let set = WorkerSet::new(WorkerSetConfig { workers: 2, pin: false, ..Default::default() })?;
/// let n = Arc::new(AtomicU64::new(0));
/// for _ in 0..10 {
///     set.spawn(Box::new(Count(n.clone(), 100)), TaskPlacement::LeastLoaded)?;
/// }
/// set.shutdown(); // lets every task run to Done, then joins the workers
/// assert_eq!(n.load(Ordering::Relaxed), 1_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping it shuts it down as [`shutdown`](Self::shutdown) does.
#[derive(Debug)]
pub struct WorkerSet {
    workers: Vec<Arc<Worker>>,
    threads: Vec<Option<JoinHandle<()>>>,
    /// Each worker's thread, to unpark it.
    wake: Vec<Thread>,
    warnings: Arc<Mutex<Vec<String>>>,
    exits: crossbeam::channel::Receiver<usize>,
    prefix: String,
    /// Dropping the set asks its workers to stop but does not wait for them.
    detach: AtomicBool,
}

impl WorkerSet {
    /// Spawn the workers, each pinned (when configured) before it takes tasks.
    ///
    /// # Errors
    /// An invalid worker count (a [`ConfigError`] on `workers`), or a worker that could not
    /// be spawned or pinned (the workers already started are stopped and joined).
    pub fn new(config: WorkerSetConfig) -> Result<WorkerSet, WorkerSetError> {
        config.validate()?;
        let cores = available_cores();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let (exit_tx, exits) = crossbeam::channel::unbounded();
        let mut set = WorkerSet {
            workers: Vec::with_capacity(config.workers),
            threads: Vec::with_capacity(config.workers),
            wake: Vec::with_capacity(config.workers),
            warnings: warnings.clone(),
            exits,
            prefix: config.name.clone(),
            detach: AtomicBool::new(false),
        };
        for i in 0..config.workers {
            let name = format!("{}-{i}", config.name);
            let worker = Arc::new(Worker {
                name: name.clone(),
                mail: Mutex::new(Mail::default()),
                has_mail: AtomicBool::new(false),
                load: AtomicUsize::new(0),
                stopping: AtomicBool::new(false),
            });
            let core = if config.pin {
                CoreChoice::Core(i % cores)
            } else {
                CoreChoice::Unpinned
            };
            let (w, idle, exit_tx, warnings) = (
                worker.clone(),
                config.idle,
                exit_tx.clone(),
                warnings.clone(),
            );
            let spawned = spawn_pinned(
                name.clone(),
                core,
                config.pin_failure,
                move |warning| lock(&warnings).push(warning),
                move || {
                    work(&w, idle);
                    let _ = exit_tx.send(i);
                },
            );
            match spawned {
                Ok(t) => {
                    set.wake.push(t.thread().clone());
                    set.threads.push(Some(t));
                    set.workers.push(worker);
                }
                Err(reason) => {
                    set.stop_and_join();
                    return Err(WorkerSetError::Spawn {
                        worker: name,
                        reason,
                    });
                }
            }
        }
        Ok(set)
    }

    /// Worker threads in the set.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The prefix of the workers' thread names (`<prefix>-<i>`).
    pub fn name(&self) -> &str {
        &self.prefix
    }

    /// Tasks placed on each worker and not yet finished.
    pub fn loads(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.load.load(Ordering::Acquire))
            .collect()
    }

    /// Warnings from starting the workers (a worker that could not be pinned).
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    /// The worker hosting the fewest tasks, other than `except` when there is another.
    pub fn least_loaded(&self, except: Option<usize>) -> usize {
        let mut best: Option<(usize, usize)> = None;
        for (i, w) in self.workers.iter().enumerate() {
            if Some(i) == except && self.workers.len() > 1 {
                continue;
            }
            let load = w.load.load(Ordering::Acquire);
            if best.is_none_or(|(_, b)| load < b) {
                best = Some((i, load));
            }
        }
        best.map_or(0, |(i, _)| i)
    }

    /// Hand `task` to a worker; returns the worker's index. The worker picks it up at its
    /// next round (it is unparked if it was waiting).
    ///
    /// # Errors
    /// [`WorkerSetError::NoSuchWorker`], or [`WorkerSetError::ShutDown`] once the set (or
    /// that worker) is shutting down. The task is dropped unstepped.
    pub fn spawn(&self, task: Box<dyn Task>, at: TaskPlacement) -> Result<usize, WorkerSetError> {
        let i = match at {
            TaskPlacement::LeastLoaded => self.least_loaded(None),
            TaskPlacement::Worker(i) if i < self.workers.len() => i,
            TaskPlacement::Worker(i) => {
                return Err(WorkerSetError::NoSuchWorker {
                    worker: i,
                    workers: self.workers.len(),
                })
            }
        };
        let w = &self.workers[i];
        {
            let mut mail = lock(&w.mail);
            // Relaxed: read under the mail lock, which orders it with the worker's exit.
            if mail.closed || w.stopping.load(Ordering::Relaxed) {
                return Err(WorkerSetError::ShutDown);
            }
            mail.tasks.push(task);
            w.load.fetch_add(1, Ordering::AcqRel);
            // Release (and under the lock): the worker that sees it takes the lock anyway.
            w.has_mail.store(true, Ordering::Release);
        }
        self.wake[i].unpark();
        Ok(i)
    }

    /// From now on, dropping the set asks every task to stop but does not wait: the workers
    /// are left to exit on their own. For an owner that already gave up on a stuck task (a
    /// stop with a deadline ran out) and must not wait for it for ever.
    pub fn detach_on_drop(&self) {
        self.detach.store(true, Ordering::Relaxed);
    }

    /// Worker `i`'s thread (to unpark it when something it hosts should look again).
    pub(crate) fn thread(&self, i: usize) -> Option<Thread> {
        self.wake.get(i).cloned()
    }

    /// Ask every task to stop ([`Task::request_stop`]), let each run to [`Step::Done`](crate::exec::Step::Done), and
    /// join the workers. Waits as long as the tasks take; see
    /// [`shutdown_timeout`](Self::shutdown_timeout).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// [`shutdown`](Self::shutdown), waiting at most `deadline`.
    ///
    /// # Errors
    /// [`WorkerSetTimeout`] naming the workers still hosting tasks at the deadline; they are
    /// left running, detached, and exit once their tasks are done.
    pub fn shutdown_timeout(mut self, deadline: Duration) -> Result<(), WorkerSetTimeout> {
        self.ask_stop();
        let until = Instant::now().checked_add(deadline);
        let mut live = self.threads.iter().filter(|t| t.is_some()).count();
        while live > 0 {
            let next = match until {
                Some(t) => self.exits.recv_deadline(t).ok(),
                None => self.exits.recv().ok(),
            };
            let Some(i) = next else { break };
            if let Some(t) = self.threads.get_mut(i).and_then(Option::take) {
                let _ = t.join();
                live -= 1;
            }
        }
        let stuck: Vec<String> = self
            .threads
            .iter_mut()
            .enumerate()
            .filter_map(|(i, t)| {
                t.take().map(|_detached| {
                    let w = &self.workers[i];
                    format!("{} ({} tasks)", w.name, w.load.load(Ordering::Acquire))
                })
            })
            .collect();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(WorkerSetTimeout { stuck, deadline })
        }
    }

    fn ask_stop(&self) {
        for (w, t) in self.workers.iter().zip(&self.wake) {
            // Release: the worker's Acquire load sees it with everything before it.
            w.stopping.store(true, Ordering::Release);
            t.unpark();
        }
    }

    fn stop_and_join(&mut self) {
        self.ask_stop();
        for t in self.threads.iter_mut().filter_map(Option::take) {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerSet {
    /// As [`shutdown`](WorkerSet::shutdown), unless [`detach_on_drop`](WorkerSet::detach_on_drop)
    /// was called: then the workers are asked to stop and left to exit on their own.
    fn drop(&mut self) {
        if self.detach.load(Ordering::Relaxed) {
            self.ask_stop();
            self.threads.clear();
        } else {
            self.stop_and_join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Step;

    #[test]
    fn a_worker_count_of_zero_or_above_the_bound_is_a_config_error_naming_workers() {
        for n in [0, MAX_WORKERS + 1, usize::MAX] {
            let e = WorkerSet::new(WorkerSetConfig {
                workers: n,
                ..Default::default()
            })
            .unwrap_err();
            match e {
                WorkerSetError::Config(c) => assert_eq!(c.field, "workers", "{n}"),
                other => panic!("{n}: {other:?}"),
            }
        }
    }

    #[test]
    fn placing_on_a_missing_worker_is_an_error() {
        let set = WorkerSet::new(WorkerSetConfig {
            workers: 1,
            pin: false,
            ..Default::default()
        })
        .unwrap();
        struct Nop;
        impl Task for Nop {
            fn name(&self) -> &str {
                "nop"
            }
            fn step(&mut self) -> Step {
                Step::Done
            }
            fn panicked(&mut self, _: String) -> Step {
                Step::Done
            }
        }
        let e = set
            .spawn(Box::new(Nop), TaskPlacement::Worker(3))
            .unwrap_err();
        assert_eq!(
            e,
            WorkerSetError::NoSuchWorker {
                worker: 3,
                workers: 1
            }
        );
        assert_eq!(set.spawn(Box::new(Nop), TaskPlacement::Worker(0)), Ok(0));
        set.shutdown();
    }
}
