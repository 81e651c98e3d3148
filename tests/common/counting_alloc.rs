//! A global allocator that counts allocations (process-wide), for no-allocation tests.
//!
//! Install it in a test crate with
//! `#[global_allocator] static GLOBAL: Counting = Counting;` and read [`allocations`] (every
//! thread: for code that runs on worker threads) or [`thread_allocations`] (the calling thread
//! only: for code the test runs itself).
//!
//! The process-wide count also sees the test harness: right after it spawns a test's thread,
//! libtest's main thread books the test in (a few allocations). On a loaded machine the main
//! thread may be descheduled before that and do it while the test is measuring, so a test that
//! measures its own thread's work must use [`thread_allocations`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts `alloc` and `realloc` calls, then forwards to the system allocator.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, so the
    // allocator may touch it.
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    // try_with: a thread being torn down has no thread-locals left; its allocations count
    // process-wide only.
    let _ = THREAD_ALLOCS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations so far, in the whole process.
pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::SeqCst)
}

/// Allocations so far on the calling thread.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}
