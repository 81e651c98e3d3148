//! `Ready`: the awaitable of a call that already completed. Calls that never wait (breaker
//! records, an admitted `acquire`) run at once and return it, so both `breaker.reset()` and
//! `await breaker.reset()` work, and awaiting costs no event-loop round trip.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;

/// An awaitable that is already done (its result is `None`).
#[pyclass(frozen, module = "market_data_pipeline._native")]
pub(crate) struct Ready;

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self) -> PyResult<()> {
        Err(PyStopIteration::new_err(()))
    }

    fn __repr__(&self) -> &'static str {
        "<done>"
    }
}

static READY: GILOnceCell<Py<Ready>> = GILOnceCell::new();

/// The shared done awaitable.
pub(crate) fn ready(py: Python<'_>) -> PyResult<Py<Ready>> {
    Ok(READY
        .get_or_try_init(py, || Py::new(py, Ready))?
        .clone_ref(py))
}

static RUNNING_LOOP: GILOnceCell<PyObject> = GILOnceCell::new();

/// True when an asyncio event loop runs on this thread (the caller is a coroutine, which must
/// not be blocked).
pub(crate) fn in_event_loop(py: Python<'_>) -> PyResult<bool> {
    let f = RUNNING_LOOP.get_or_try_init(py, || -> PyResult<PyObject> {
        Ok(py.import("asyncio")?.getattr("_get_running_loop")?.unbind())
    })?;
    Ok(!f.call0(py)?.is_none(py))
}
