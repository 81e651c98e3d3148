//! Stepping one hosted task: panics are caught per step and handed to the task.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::exec::{Step, Task};

/// What a panic carried, for the report: the message of `panic!("…")` (a `&str` or a
/// `String`), or a note that it was something else.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// A task on a host, with what the host must remember about it.
pub(crate) struct Hosted {
    task: Box<dyn Task>,
    /// It panicked once already: a second panic drops it.
    panicked: bool,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted")
            .field("task", &self.task.name())
            .field("panicked", &self.panicked)
            .finish()
    }
}

impl Hosted {
    pub(crate) fn new(task: Box<dyn Task>) -> Hosted {
        Hosted {
            task,
            panicked: false,
        }
    }

    pub(crate) fn request_stop(&mut self) {
        // A panic here is a panic of the task: as in `step`.
        let task = &mut self.task;
        if panic::catch_unwind(AssertUnwindSafe(|| task.request_stop())).is_err() {
            self.panicked = true;
        }
    }

    /// One step, with a panic handed to the task's `panicked`.
    #[inline]
    pub(crate) fn step(&mut self) -> Step {
        // AssertUnwindSafe: after a panic the task is only told (`panicked`), which puts it in
        // a state that no longer uses what the panic may have left half-changed.
        let task = &mut self.task;
        match panic::catch_unwind(AssertUnwindSafe(|| task.step())) {
            Ok(s) => s,
            Err(payload) => self.after_panic(&*payload),
        }
    }

    #[cold]
    fn after_panic(&mut self, payload: &(dyn Any + Send)) -> Step {
        if self.panicked {
            return Step::Done;
        }
        self.panicked = true;
        let message = panic_message(payload);
        let task = &mut self.task;
        panic::catch_unwind(AssertUnwindSafe(|| task.panicked(message))).unwrap_or(Step::Done)
    }
}
