//! Cooperative execution: stages as [`Task`]s that a worker thread steps in turn.
//!
//! A task does a bounded amount of work per [`Task::step`] (at most one chunk) and never
//! blocks: where a dedicated thread would wait (a full ring under `Block`, a pending source),
//! a task returns [`Step::Idle`] and keeps what it holds for the next step. That is what lets
//! a fixed set of pinned workers ([`WorkerSet`]) host the stages of many pipelines, fan-outs
//! and routers; a dedicated thread ([`spawn_dedicated`]) is the same host with one task.

mod dedicated;
mod host;
mod worker;
mod worker_set;

pub use dedicated::spawn_dedicated;
pub use host::panic_message;
pub(crate) use worker_set::check_workers;
pub use worker_set::{
    TaskPlacement, WorkerSet, WorkerSetConfig, WorkerSetError, WorkerSetTimeout, MAX_WORKERS,
};

/// What one step of a task did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// It moved data or changed state: step it again soon.
    Progress,
    /// Nothing to do right now (no input, no room downstream, waiting on a deadline).
    Idle,
    /// It finished for good (drained and closed, or failed and reported); the worker drops it.
    Done,
}

/// A unit of cooperative work hosted by a worker thread.
///
/// Contract:
/// - `step` does bounded work and returns; it never waits, sleeps or spins.
/// - After `step` returns [`Step::Done`] it is not called again, and the task is dropped.
/// - If `step` panics, the host calls [`Task::panicked`] once with the panic's message: the
///   task reports the failure (and counts what it held as lost) there, and says whether it
///   is done. A task that is not done yet (e.g. a stage that must still discard what keeps
///   arriving until its upstream has stopped) is stepped again in the state `panicked` left
///   it in; if it panics a second time it is dropped.
/// - [`Task::request_stop`] asks the task to wind down (a worker set shutting down calls it
///   on every task it hosts); the task keeps being stepped until it returns `Done`.
pub trait Task: Send {
    /// A short name for errors and thread listings (`"mdp-p1-source"`).
    fn name(&self) -> &str;

    /// Do at most one chunk of work.
    fn step(&mut self) -> Step;

    /// `step` panicked with `message`; report it. Returns [`Step::Done`] when the task has
    /// nothing left to do (it is dropped), otherwise it is stepped again.
    fn panicked(&mut self, message: String) -> Step;

    /// Wind down: stop taking new work, drain, and reach [`Step::Done`]. The default does
    /// nothing (a task that ends by itself).
    fn request_stop(&mut self) {}
}
