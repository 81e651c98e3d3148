//! Cooperative execution: stages as [`Task`]s that a worker thread steps in turn.
//!
//! A task does a bounded amount of work per [`Task::step`] (at most one chunk) and never
//! blocks: where a dedicated thread would wait (a full ring under `Block`, a pending source),
//! a task returns [`Step::Idle`] and keeps what it holds for the next step. That is what lets
//! a fixed set of pinned workers host the stages of many pipelines, fan-outs and routers.

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
/// - After `step` returns [`Step::Done`] it is not called again.
/// - If `step` panics, the worker calls [`Task::panicked`] once with the panic's message and
///   then drops the task: the task reports the failure (and counts what it held as lost)
///   there.
pub trait Task: Send {
    /// A short name for errors and thread listings (`"p1/source"`).
    fn name(&self) -> &str;

    /// Do at most one chunk of work.
    fn step(&mut self) -> Step;

    /// `step` panicked with `message`; report it. The task is dropped afterwards.
    fn panicked(&mut self, message: String);
}
