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
    /// Its `panicked` said it is done (after a panic outside `step`).
    done: bool,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted")
            .field("task", &self.task.name())
            .field("panicked", &self.panicked)
            .field("done", &self.done)
            .finish()
    }
}

impl Hosted {
    pub(crate) fn new(task: Box<dyn Task>) -> Hosted {
        Hosted {
            task,
            panicked: false,
            done: false,
        }
    }

    pub(crate) fn request_stop(&mut self) {
        // A panic here is a panic of the task, handled as in `step`.
        let task = &mut self.task;
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task.request_stop())) {
            self.done = self.after_panic(&*payload) == Step::Done;
        }
    }

    /// One step, with a panic handed to the task's `panicked`.
    #[inline]
    pub(crate) fn step(&mut self) -> Step {
        if self.done {
            return Step::Done;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Panics at every step; `panicked` records the message and keeps the task or not.
    struct Boom {
        told: Arc<Mutex<Vec<String>>>,
        keep: bool,
    }

    impl Task for Boom {
        fn name(&self) -> &str {
            "boom"
        }
        fn step(&mut self) -> Step {
            panic!("boom at step");
        }
        fn panicked(&mut self, message: String) -> Step {
            self.told.lock().unwrap().push(message);
            if self.keep {
                Step::Progress
            } else {
                Step::Done
            }
        }
    }

    #[test]
    fn a_panicking_step_is_reported_once_with_its_message_and_a_second_panic_drops_the_task() {
        for keep in [false, true] {
            let told = Arc::new(Mutex::new(Vec::new()));
            let mut h = Hosted::new(Box::new(Boom {
                told: told.clone(),
                keep,
            }));
            let first = h.step();
            assert_eq!(first, if keep { Step::Progress } else { Step::Done });
            if keep {
                // Stepped again in the state `panicked` left; a second panic ends it.
                assert_eq!(h.step(), Step::Done);
            }
            assert_eq!(*told.lock().unwrap(), ["boom at step"], "keep {keep}");
        }
    }

    #[test]
    fn panic_messages_of_every_payload_kind_are_reported() {
        let s = std::panic::catch_unwind(|| panic!("a {}", "string")).unwrap_err();
        assert_eq!(panic_message(&*s), "a string");
        let s = std::panic::catch_unwind(|| panic!("a str")).unwrap_err();
        assert_eq!(panic_message(&*s), "a str");
        let s = std::panic::catch_unwind(|| std::panic::panic_any(7u32)).unwrap_err();
        assert_eq!(panic_message(&*s), "(a panic payload that is not a string)");
    }
}
