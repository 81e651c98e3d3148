//! `ReadyQuote`: the awaitable a stream's `__anext__` returns when a quote is ready. Awaiting
//! it finishes at once with the quote: through `am_send` (CPython ≥ 3.10: the value is
//! returned as is, no exception at all), else through `StopIteration(quote)` from its first
//! `__next__`. A plain extension type built from slots (PyO3 classes cannot fill `am_send`);
//! the stream reuses one per stream once the caller has dropped it.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyType;

/// The object: a header and the quote awaiting pickup (null once taken).
#[repr(C)]
struct Raw {
    ob_base: ffi::PyObject,
    value: *mut ffi::PyObject,
}

/// `am_send`'s slot id (`Py_am_send`, in the stable ABI since 3.10).
const PY_AM_SEND: c_int = 81;
/// `PYGEN_RETURN` of `PySendResult`.
const PYGEN_RETURN: c_int = 0;

/// Take the quote out (null when already taken).
///
/// # Safety
/// `slf` is a live `ReadyQuote`; the GIL is held.
unsafe fn take(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the caller's contract.
    unsafe { std::mem::replace(&mut (*slf.cast::<Raw>()).value, ptr::null_mut()) }
}

// The slots below are called by CPython with a live `ReadyQuote` and the GIL held.

unsafe extern "C" fn self_ref(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe { ffi::Py_INCREF(slf) };
    slf
}

unsafe extern "C" fn iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: see above.
    let value = unsafe { take(slf) };
    if !value.is_null() {
        // SAFETY: `value` is an owned reference.
        unsafe {
            // The quote itself as the argument (a `Quote` is never a tuple or an exception, so
            // this is `StopIteration(quote)`; CPython < 3.12 then skips creating the instance).
            ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value);
            ffi::Py_DECREF(value);
        }
    }
    // Null without an exception: done, with `None`.
    ptr::null_mut()
}

unsafe extern "C" fn send(
    slf: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> c_int {
    // SAFETY: see above; `result` is CPython's out-pointer.
    unsafe {
        let mut value = take(slf);
        if value.is_null() {
            value = ffi::Py_None();
            ffi::Py_INCREF(value);
        }
        *result = value;
    }
    PYGEN_RETURN
}

unsafe extern "C" fn dealloc(slf: *mut ffi::PyObject) {
    // SAFETY: see above; the object is freed by its type's `tp_free`, and instances of heap
    // types own a reference to their type.
    unsafe {
        let value = take(slf);
        if !value.is_null() {
            ffi::Py_DECREF(value);
        }
        let tp = ffi::Py_TYPE(slf);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute(free);
            free(slf.cast::<c_void>());
        }
        ffi::Py_DECREF(tp.cast::<ffi::PyObject>());
    }
}

static TYPE: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// The `ReadyQuote` type (created on first use).
pub(crate) fn type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || {
        let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
        let mut slots = vec![
            slot(ffi::Py_am_await, self_ref as *mut c_void),
            slot(ffi::Py_tp_iter, self_ref as *mut c_void),
            slot(ffi::Py_tp_iternext, iternext as *mut c_void),
            slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        ];
        if py.version_info() >= (3, 10) {
            slots.push(slot(PY_AM_SEND, send as *mut c_void));
        }
        slots.push(slot(0, ptr::null_mut()));
        let mut spec = ffi::PyType_Spec {
            name: c"market_data_pipeline._native.ReadyQuote".as_ptr(),
            basicsize: std::mem::size_of::<Raw>() as c_int,
            itemsize: 0,
            flags: ffi::Py_TPFLAGS_DEFAULT as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec and slots are valid for the call; the name is static (a heap type
        // made from a spec keeps pointing at it).
        let tp = unsafe { ffi::PyType_FromSpec(&mut spec) };
        // SAFETY: a new reference to a type object, or null with an exception set.
        let tp = unsafe { Bound::from_owned_ptr_or_err(py, tp)? };
        Ok(tp.downcast_into::<PyType>()?.unbind())
    })
    .map(|t| t.bind(py))
}

/// A new `ReadyQuote` holding `quote`.
pub(crate) fn new(py: Python<'_>, quote: PyObject) -> PyResult<PyObject> {
    let tp = type_object(py)?;
    // SAFETY: allocating an instance of our own type (zeroed: `value` is null).
    let obj = unsafe { ffi::PyType_GenericAlloc(tp.as_ptr().cast::<ffi::PyTypeObject>(), 0) };
    // SAFETY: a new reference or null with an exception set.
    let obj = unsafe { Bound::from_owned_ptr_or_err(py, obj)? };
    put(&obj, quote);
    Ok(obj.unbind())
}

/// Put `quote` into `obj` (a `ReadyQuote` made by [`new`]), releasing any quote still there.
pub(crate) fn put(obj: &Bound<'_, PyAny>, quote: PyObject) {
    // SAFETY: `obj` is a live `ReadyQuote` (the stream only passes its own); the GIL is held.
    unsafe {
        let old = take(obj.as_ptr());
        if !old.is_null() {
            ffi::Py_DECREF(old);
        }
        (*obj.as_ptr().cast::<Raw>()).value = quote.into_ptr();
    }
}
