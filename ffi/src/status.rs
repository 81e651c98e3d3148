//! Status codes, the thread-local last error, and the guard every entry point runs its body
//! in: a panic is caught there and reported, never unwound into C.

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every `mdp_*` call returns. `MDP_STATUS_OK` is 0; on any other value
/// `mdp_last_error()` holds a message naming what went wrong (and which argument).
///
/// "Not now" (`RETRY_LATER`, `CIRCUIT_OPEN`, `TIMEOUT`) is separate from "never" (the rest):
/// the same call may succeed later only for the former.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdpStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was null (the message names it).
    NullArgument = 1,
    /// An argument is not valid: a string that is not UTF-8, a value out of range (the
    /// message names it).
    InvalidArgument = 2,
    /// Settings (TOML text or file) that cannot be read or do not validate; the message has
    /// the key path and line.
    Settings = 3,
    /// The runtime refused: `max_concurrent_pipelines` reached, a duplicate key, a source or
    /// pipeline that cannot be built.
    Runtime = 4,
    /// No pipeline or provider of that name (the message lists the known ones).
    NotFound = 5,
    /// Rate limited, cooling down or suspended: retry later (`retry_after_ns` says when, if
    /// known).
    RetryLater = 6,
    /// A circuit breaker is open: retry later.
    CircuitOpen = 7,
    /// A blocking read waited its whole timeout and nothing arrived.
    Timeout = 8,
    /// The stream has ended and every tick was read.
    EndOfStream = 9,
    /// A caller buffer is too small for the result (the needed size is reported).
    BufferTooSmall = 10,
    /// A request that can never pass (more tokens than a budget holds, too many scopes).
    Refused = 11,
    /// A bug: the library panicked; the call had no effect that can be relied on. The
    /// message has the panic's.
    Panic = 12,
}

/// Why a call failed: the status and the message `mdp_last_error` will show.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: MdpStatus,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: MdpStatus, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// The result of an entry point's body.
pub(crate) type Outcome = Result<MdpStatus, Failure>;

thread_local! {
    /// The message of the last failed call on this thread, NUL-terminated.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

/// Keep `message` (interior NULs replaced) as this thread's last error.
fn set_last_error(message: &str) {
    LAST_ERROR.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        buf.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
        buf.push(0);
    });
}

/// Run an entry point's body: its status on success; on failure the failure's status, with
/// its message kept as the thread's last error; on a panic `MdpStatus::Panic` with the
/// panic's message. Nothing is allocated on success.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> MdpStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            set_last_error(&format!("internal panic: {what}"));
            MdpStatus::Panic
        }
    }
}

/// The message of the last call on this thread that did not return `MDP_STATUS_OK` (an
/// empty string if none failed yet). Never null.
///
/// Ownership: the library's. The pointer stays valid until the next `mdp_*` call on this
/// thread; copy the text to keep it. Thread safety: each thread has its own.
#[no_mangle]
pub extern "C" fn mdp_last_error() -> *const c_char {
    LAST_ERROR.with(|cell| cell.borrow().as_ptr().cast())
}

/// A static, NUL-terminated name of a status code (`"ok"`, `"null_argument"`, ...; `"unknown"`
/// for a value that is not a status). Never null; never freed.
#[no_mangle]
pub extern "C" fn mdp_status_name(status: i32) -> *const c_char {
    let name: &'static [u8] = match status {
        0 => b"ok\0",
        1 => b"null_argument\0",
        2 => b"invalid_argument\0",
        3 => b"settings\0",
        4 => b"runtime\0",
        5 => b"not_found\0",
        6 => b"retry_later\0",
        7 => b"circuit_open\0",
        8 => b"timeout\0",
        9 => b"end_of_stream\0",
        10 => b"buffer_too_small\0",
        11 => b"refused\0",
        12 => b"panic\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: mdp_last_error returns this thread's NUL-terminated buffer, unchanged
        // until the next call on this thread.
        unsafe { CStr::from_ptr(mdp_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_in_a_body_is_caught_and_reported_with_its_message() {
        let status = guard(|| panic!("boom {}", 42));
        assert_eq!(status, MdpStatus::Panic);
        assert_eq!(last(), "internal panic: boom 42");
        let status = guard(|| std::panic::panic_any(7_u8));
        assert_eq!(status, MdpStatus::Panic);
        assert_eq!(last(), "internal panic: (no message)");
    }

    #[test]
    fn a_failure_sets_the_last_error_and_a_success_leaves_it() {
        let status = guard(|| Err(Failure::new(MdpStatus::NotFound, "no a\0b")));
        assert_eq!(status, MdpStatus::NotFound);
        assert_eq!(last(), "no a?b");
        assert_eq!(guard(|| Ok(MdpStatus::Ok)), MdpStatus::Ok);
        assert_eq!(last(), "no a?b");
    }

    #[test]
    fn every_status_has_a_name() {
        for code in 0..=12 {
            // SAFETY: mdp_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(mdp_status_name(code)) };
            assert_ne!(name.to_bytes(), b"unknown", "status {code}");
        }
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(mdp_status_name(-1)) };
        assert_eq!(name.to_bytes(), b"unknown");
    }
}
