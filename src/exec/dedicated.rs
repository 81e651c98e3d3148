//! A dedicated thread: a host with one task, its own (optionally pinned) core and idle
//! strategy. The placement for latency-critical stages (busy-spinning on an isolated core).

use std::thread;

use crate::exec::host::Hosted;
use crate::exec::{Step, Task};
use crate::idle::{IdleStrategy, Idler};
use crate::pin::{pin_current, CoreChoice, PinFailure};

/// Spawn a thread named `name` that pins itself per `core` and steps `task` until it is done,
/// waiting with `idle` whenever a step made no progress. A pinning failure under
/// [`PinFailure::Warn`] is passed to `warn` and the thread runs unpinned.
///
/// Returns once the thread has pinned itself (or given up).
///
/// # Errors
/// A message when the thread could not be spawned, or could not be pinned under
/// [`PinFailure::Error`] (the task is dropped unstepped).
pub fn spawn_dedicated(
    name: String,
    core: CoreChoice,
    pin_failure: PinFailure,
    idle: IdleStrategy,
    task: Box<dyn Task>,
    warn: impl FnOnce(String) + Send + 'static,
) -> Result<thread::JoinHandle<()>, String> {
    spawn_pinned(name, core, pin_failure, warn, move || {
        run(Hosted::new(task), idle);
    })
}

/// Spawn a thread named `name` that pins itself per `core`, then runs `body`. Returns once
/// the thread has pinned itself (or given up: under [`PinFailure::Error`] `body` is dropped
/// without running and the error returned).
pub(crate) fn spawn_pinned<F: FnOnce() + Send + 'static>(
    name: String,
    core: CoreChoice,
    pin_failure: PinFailure,
    warn: impl FnOnce(String) + Send + 'static,
    body: F,
) -> Result<thread::JoinHandle<()>, String> {
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<Result<(), String>>(1);
    let worker = name.clone();
    let handle = thread::Builder::new()
        .name(name)
        .spawn(move || {
            match (pin_current(core), pin_failure) {
                (Ok(()), _) => {}
                (Err(e), PinFailure::Warn) => warn(format!("worker {worker}: not pinned: {e}")),
                (Err(e), PinFailure::Error) => {
                    drop(body);
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            }
            let _ = ready_tx.send(Ok(()));
            body();
        })
        .map_err(|e| format!("could not spawn: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(reason)) => {
            let _ = handle.join();
            Err(reason)
        }
        Err(_) => {
            let _ = handle.join();
            Err("exited before starting".into())
        }
    }
}

/// Step one task to the end.
fn run(mut task: Hosted, idle: IdleStrategy) {
    let mut idler = Idler::new(idle);
    loop {
        match task.step() {
            Step::Progress => idler.reset(),
            Step::Idle => idler.idle(),
            Step::Done => return,
        }
    }
}
