//! One worker thread of a [`WorkerSet`](crate::exec::WorkerSet): its inbox and its loop.
//! Each round steps every hosted task once, in order, so a task that always has work cannot
//! starve the others; the worker waits only after a round without progress, and parks when it
//! hosts nothing.

use std::sync::Mutex;
use std::thread;

use crate::exec::host::Hosted;
use crate::exec::{Step, Task};
use crate::idle::{IdleStrategy, Idler};
use crate::sync::{lock, AtomicBool, AtomicUsize, Ordering};

/// Tasks handed to a worker, not yet picked up.
#[derive(Default)]
pub(super) struct Mail {
    pub(super) tasks: Vec<Box<dyn Task>>,
    /// The worker has exited: nothing more can be delivered.
    pub(super) closed: bool,
}

/// What a worker shares with the set.
pub(super) struct Worker {
    pub(super) name: String,
    pub(super) mail: Mutex<Mail>,
    /// There is mail (set and cleared under the `mail` lock; read without it once a round).
    pub(super) has_mail: AtomicBool,
    /// Tasks placed on this worker and not yet dropped.
    pub(super) load: AtomicUsize,
    /// The set is shutting down: stop every task, finish, exit.
    pub(super) stopping: AtomicBool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("load", &self.load.load(Ordering::Relaxed))
            .finish()
    }
}

/// One round: every task is stepped once, in order; done tasks are dropped (and `load`
/// lowered). True when any step made progress.
fn round(tasks: &mut Vec<Hosted>, load: &AtomicUsize) -> bool {
    let mut progress = false;
    let mut i = 0;
    while i < tasks.len() {
        match tasks[i].step() {
            Step::Progress => {
                progress = true;
                i += 1;
            }
            Step::Idle => i += 1,
            Step::Done => {
                // Order kept: the round stays round-robin. Dropping a task is control work.
                drop(tasks.remove(i));
                load.fetch_sub(1, Ordering::AcqRel);
                progress = true;
            }
        }
    }
    progress
}

/// A worker's loop: pick up mail, step every task once, wait only after a round without
/// progress; on shutdown, stop every task and exit once all are done.
pub(super) fn work(w: &Worker, idle: IdleStrategy) {
    let mut tasks: Vec<Hosted> = Vec::new();
    let mut idler = Idler::new(idle);
    let mut stopping = false;
    loop {
        // Acquire: pairs with the Release stores in spawn / ask_stop.
        if w.has_mail.load(Ordering::Acquire) {
            let mut mail = lock(&w.mail);
            w.has_mail.store(false, Ordering::Relaxed);
            tasks.extend(mail.tasks.drain(..).map(Hosted::new));
            // A task arriving while the set stops is asked to stop too.
            if stopping {
                tasks.iter_mut().for_each(Hosted::request_stop);
            }
        }
        if !stopping && w.stopping.load(Ordering::Acquire) {
            stopping = true;
            tasks.iter_mut().for_each(Hosted::request_stop);
        }
        let progress = round(&mut tasks, &w.load);
        if stopping && tasks.is_empty() {
            let mut mail = lock(&w.mail);
            if mail.tasks.is_empty() {
                mail.closed = true;
                return;
            }
            continue;
        }
        if progress {
            idler.reset();
        } else if tasks.is_empty() {
            // Nothing hosted: sleep until a task (or the shutdown) unparks this thread.
            thread::park();
        } else {
            idler.idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::AtomicU64;
    use std::sync::Arc;

    /// Counts its steps; always has work until it has taken `limit` steps.
    struct Busy {
        steps: Arc<AtomicU64>,
        limit: u64,
    }

    impl Task for Busy {
        fn name(&self) -> &str {
            "busy"
        }
        fn step(&mut self) -> Step {
            let n = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= self.limit {
                Step::Done
            } else {
                Step::Progress
            }
        }
        fn panicked(&mut self, _: String) -> Step {
            Step::Done
        }
    }

    #[test]
    fn a_round_steps_every_task_once_so_a_task_that_always_has_work_starves_none() {
        // (limit of each task): a hog with far more work than the others.
        let limits = [1_000_000, 10, 20, 30];
        let counts: Vec<Arc<AtomicU64>> =
            limits.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
        let mut tasks: Vec<Hosted> = limits
            .iter()
            .zip(&counts)
            .map(|(&limit, steps)| {
                Hosted::new(Box::new(Busy {
                    steps: steps.clone(),
                    limit,
                }))
            })
            .collect();
        let load = AtomicUsize::new(tasks.len());
        for r in 1..=40u64 {
            assert!(round(&mut tasks, &load));
            for (i, c) in counts.iter().enumerate() {
                let want = r.min(limits[i]);
                let got = c.load(Ordering::Relaxed);
                assert_eq!(got, want, "round {r}: task {i} stepped {got} times");
            }
        }
        // The three small tasks are done and dropped; the hog is still hosted.
        assert_eq!(tasks.len(), 1);
        assert_eq!(load.load(Ordering::Relaxed), 1);
    }
}
