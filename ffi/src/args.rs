//! Arguments from C: null pointers and strings that are not UTF-8 become failures that name
//! the argument, never undefined behaviour or a panic. Every raw-pointer read of the crate is
//! here, and the handle boxes are made and freed here.

use std::ffi::{c_char, CStr, CString};

use crate::status::{Failure, MdpStatus};

fn null(name: &str) -> Failure {
    Failure::new(
        MdpStatus::NullArgument,
        format!("argument `{name}` is null"),
    )
}

/// The string at `p`.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid and unchanged for `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: not null, and NUL-terminated and live for 'a by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|e| {
        Failure::new(
            MdpStatus::InvalidArgument,
            format!(
                "argument `{name}` is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// The `n` strings of the array at `p` (`p` may be null when `n` is 0).
///
/// # Safety
/// When `n > 0`, `p` is null or points to `n` pointers, each as for [`text`].
pub(crate) unsafe fn texts<'a>(
    p: *const *const c_char,
    n: usize,
    name: &str,
) -> Result<Vec<&'a str>, Failure> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(null(name));
    }
    (0..n)
        .map(|i| {
            // SAFETY: i < n, and p points to n readable pointers (caller's contract).
            let item = unsafe { *p.add(i) };
            // SAFETY: each item is null or a live NUL-terminated string (caller's contract).
            unsafe { text(item, &format!("{name}[{i}]")) }
        })
        .collect()
}

/// The object behind handle `p`.
///
/// # Safety
/// `p` is null or a handle made by [`into_handle`] and not yet freed, used as the header says
/// for its type (shared handles from any thread; exclusive ones from one thread at a time).
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: a live handle is a valid, aligned Box allocation (caller's contract).
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// The object behind exclusive handle `p`.
///
/// # Safety
/// As [`handle`], and no other call uses `p` at the same time.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: a live handle is a valid Box allocation used by this call only (caller's
    // contract).
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// A new handle owning `value`, to be freed by [`free_handle`].
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Free handle `p` (nothing for null).
///
/// # Safety
/// `p` is null or a handle made by [`into_handle`] for a `T`, not yet freed and in use by no
/// other call; it is invalid afterwards.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: p came from Box::into_raw and is freed once (caller's contract).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Check that out-pointer `p` is not null.
pub(crate) fn out<T>(p: *mut T, name: &str) -> Result<(), Failure> {
    if p.is_null() {
        Err(null(name))
    } else {
        Ok(())
    }
}

/// Store `value` at out-pointer `p` (checked by [`out`]; nothing for null).
///
/// # Safety
/// `p` is null or valid for a write of a `T`.
pub(crate) unsafe fn put<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: not null and writable (caller's contract); written without reading or
        // dropping what was there (C memory holds no Rust value).
        unsafe { p.write(value) };
    }
}

/// A string handed to C, freed by `mdp_string_free` (interior NULs replaced).
pub(crate) fn c_string(text: String) -> *mut c_char {
    let bytes: Vec<u8> = text
        .into_bytes()
        .into_iter()
        .map(|b| if b == 0 { b'?' } else { b })
        .collect();
    CString::new(bytes).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// Free a string returned by the library (`*_json`, pipeline keys). Null is ignored.
///
/// Ownership: the string must come from this library and is invalid afterwards; free each
/// once. Thread safety: any thread.
///
/// # Safety
/// `s` is null or a string returned by an `mdp_*` function and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn mdp_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: s came from CString::into_raw in c_string and is freed once (caller's
        // contract).
        drop(unsafe { CString::from_raw(s) });
    }
}
