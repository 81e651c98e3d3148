//! How runs stop: SIGINT and SIGTERM.
//!
//! The first signal only sets a flag (the handlers do nothing else); each command's main loop
//! polls [`requested`], stops its pipeline or runtime, drains, prints its summary, and ends with
//! [`Interrupted`], which `main` turns into exit status [`EXIT_INTERRUPTED`]. A second signal
//! ends the process at once with the same status, from the handler (`_exit`, which is
//! async-signal-safe): nothing is drained or finished then.
//!
//! The rule for recordings (`gen`, `replay --out/--csv`): **an interrupted run never finishes
//! its recording.** A recording is finished (renamed from `<path>.partial` to `<path>`) only
//! when its run succeeded; an interrupted one stays at `<path>.partial`, whose header says
//! "unfinished" (every reader refuses it), and the message names it. A signal that arrives
//! after the recording was finished does not undo it: the command then succeeds.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Exit status of a run that was interrupted (graceful stop, or a second signal).
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

struct Flags {
    /// Set by the first signal; a signal that finds it set exits the process.
    stop: Arc<AtomicBool>,
    /// The number of the last signal.
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Install the handlers (once, before any work starts).
///
/// # Errors
/// The OS refused to install a handler.
pub(crate) fn install() -> Result<()> {
    let flags = FLAGS.get_or_init(|| Flags {
        stop: Arc::new(AtomicBool::new(false)),
        which: Arc::new(AtomicUsize::new(0)),
    });
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the exit check is registered first, so the first signal finds the
        // flag clear (and only sets it), the second finds it set and exits.
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, flags.stop.clone())
            .and_then(|_| signal_hook::flag::register_usize(sig, flags.which.clone(), sig as usize))
            .and_then(|_| signal_hook::flag::register(sig, flags.stop.clone()))
            .with_context(|| format!("installing the handler of {}", name(sig as usize)))?;
    }
    Ok(())
}

/// The signal that asked the run to stop, if one did.
pub(crate) fn requested() -> Option<&'static str> {
    let flags = FLAGS.get()?;
    // Relaxed: the flag carries no data; the main loop only needs to see it eventually.
    if flags.stop.load(Ordering::Relaxed) {
        Some(name(flags.which.load(Ordering::Relaxed)))
    } else {
        None
    }
}

fn name(sig: usize) -> &'static str {
    match sig as i32 {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Tell the user the run is stopping (once per run, from the main loop, not the handler).
pub(crate) fn announce(signal: &str, what: &str) {
    eprintln!("\nmdp: {signal}: stopping ({what}); send it again to quit at once");
}

/// The error that ends an interrupted run: `main` prints it and exits with
/// [`EXIT_INTERRUPTED`].
#[derive(Debug)]
pub(crate) struct Interrupted {
    /// The signal.
    pub signal: &'static str,
    /// What was done and what was left (e.g. where an unfinished recording is).
    pub detail: String,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}: {}", self.signal, self.detail)
    }
}

impl std::error::Error for Interrupted {}

/// The error ending a run that `signal` interrupted.
pub(crate) fn interrupted(signal: &'static str, detail: String) -> anyhow::Error {
    Interrupted { signal, detail }.into()
}

/// `Err(Interrupted)` when a signal asked to stop.
///
/// # Errors
/// [`Interrupted`] with `detail`.
pub(crate) fn check(detail: impl FnOnce() -> String) -> Result<()> {
    match requested() {
        Some(signal) => Err(interrupted(signal, detail())),
        None => Ok(()),
    }
}
