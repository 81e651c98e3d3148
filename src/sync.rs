//! Every atomic of the crate, swapped for loom's under `--cfg loom` so the loom models see the
//! flow-control state machines, the edges' counters and flags, and the pipeline lifecycle.
//!
//! Modules import atomics from here, never from `std::sync::atomic`. loom's atomics cannot be
//! built in a `const` or `static`, and they must be used inside a `loom::model`; under
//! `--cfg loom` only the models run. (`Arc` stays `std`'s: the crate shares values through it
//! but orders nothing by its reference counts, and loom's cannot coerce to `Arc<dyn Trait>`.)
#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

/// One round of a wait loop's backoff under loom: a yield, so that the model schedules the
/// thread that the loop is waiting for (a loop that only spins never lets a model finish).
#[cfg(loom)]
pub(crate) fn model_yield() {
    loom::thread::yield_now();
}

/// Lock `m`, carrying on with its data when a panic elsewhere poisoned it: the control-plane
/// state behind the crate's mutexes is plain data whose every critical section leaves it
/// consistent, so poisoning carries no information here. (Never used on the data path.)
pub(crate) fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`lock`] for the read side of an `RwLock`.
pub(crate) fn read_lock<T: ?Sized>(l: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`lock`] for the write side of an `RwLock`.
pub(crate) fn write_lock<T: ?Sized>(
    l: &std::sync::RwLock<T>,
) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A mutex that loom models under `--cfg loom` (std's otherwise), for control-plane state a
/// loom model races against a data path (the fan-out's command queue and error slots).
#[cfg(loom)]
pub(crate) type ModelMutex<T> = loom::sync::Mutex<T>;
/// A mutex that loom models under `--cfg loom` (std's otherwise), for control-plane state a
/// loom model races against a data path (the fan-out's command queue and error slots).
#[cfg(not(loom))]
pub(crate) type ModelMutex<T> = std::sync::Mutex<T>;

/// Lock a [`ModelMutex`], carrying on past poisoning as [`lock`] does.
pub(crate) fn model_lock<T>(m: &ModelMutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::path::{Path, PathBuf};

    /// The `.rs` files under `dir`, recursively.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }

    /// An atomic imported from `std` (or `core`) anywhere in the library but here is invisible
    /// to the loom models: every module takes its atomics from `crate::sync`.
    #[test]
    fn no_module_but_sync_takes_atomics_from_std() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(
            files.len() > 50,
            "found only {} files under src/",
            files.len()
        );
        let mut offenders = Vec::new();
        for file in files.iter().filter(|f| !f.ends_with("sync.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let std_atomic = ["std::sync::atomic", "std::sync::{atomic"]
                    .iter()
                    .chain(&["core::sync::atomic", "core::sync::{atomic"])
                    .any(|p| code.contains(p));
                if std_atomic {
                    offenders.push(format!("{}:{}: {line}", file.display(), i + 1));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "atomics that bypass crate::sync:\n{}",
            offenders.join("\n")
        );
    }
}
