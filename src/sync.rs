//! Every atomic of the crate, swapped for loom's under `--cfg loom` so the loom models see the
//! flow-control state machines, the edges' counters and flags, and the pipeline lifecycle.
//!
//! Modules import atomics from here, never from `std::sync::atomic`. loom's atomics cannot be
//! built in a `const` or `static`, and they must be used inside a `loom::model`; under
//! `--cfg loom` only the models run. (`Arc` stays `std`'s: the crate shares values through it
//! but orders nothing by its reference counts, and loom's cannot coerce to `Arc<dyn Trait>`.)
#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

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
