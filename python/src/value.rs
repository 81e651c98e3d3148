//! Python values as TOML values: source parameters and runtime settings reach the engine
//! through the same validated path as a settings file, with the same key-path errors.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// `v` as TOML (`bool`, `int`, `float`, `str`, lists/tuples and dicts of them); `what` names
/// it in the error.
pub(crate) fn to_toml(v: &Bound<'_, PyAny>, what: &str) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in v.try_iter()?.enumerate() {
            out.push(to_toml(&item?, &format!("{what}[{i}]"))?);
        }
        return Ok(toml::Value::Array(out));
    }
    if let Ok(d) = v.downcast::<PyDict>() {
        return Ok(toml::Value::Table(to_table(d, what)?));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: {} is not a bool, int, float, str, list or dict",
        v.get_type().name()?
    )))
}

/// A dict of parameters as a TOML table.
pub(crate) fn to_table(d: &Bound<'_, PyDict>, what: &str) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in d.iter() {
        let k: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{what}: keys must be str")))?;
        let path = if what.is_empty() {
            k.clone()
        } else {
            format!("{what}.{k}")
        };
        if v.is_none() {
            continue;
        }
        t.insert(k, to_toml(&v, &path)?);
    }
    Ok(t)
}
