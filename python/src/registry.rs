//! `SourceRegistry`, source factories ("classes") and sources for Python. A factory is the
//! engine's (`synthetic`, a stand-in) or a Python class whose instances have the TickSource
//! methods; either way `registry.load(name)(symbols=[...])` makes a source that a
//! `SourceRouter` can route.

use std::sync::Arc;

use market_data_pipeline::registry::{builtin, standin, SourceContext, SourceFactory, SourceSpec};
use market_data_pipeline::{RegistryError, SourceRegistry, TickSource};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyEllipsis, PyList, PyTuple};

use crate::errors;
use crate::pysource::PyTickSource;
use crate::value::to_table;

/// A source class: call it with `symbols=[...]` and parameters to make a source.
#[pyclass(
    frozen,
    name = "SourceFactory",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PySourceFactory {
    inner: SourceFactory,
    name: String,
}

/// A factory calling Python class `cls` with `symbols=` and the parameters.
fn python_factory(cls: PyObject, name: String) -> SourceFactory {
    SourceFactory::new(move |spec: &SourceSpec, ctx: &SourceContext| {
        Python::with_gil(|py| -> Result<Box<dyn TickSource>, RegistryError> {
            let fail = |e: PyErr| {
                RegistryError::Config(market_data_pipeline::ConfigError::new(
                    spec.key("kind"),
                    format!("Python source class {name:?} failed: {}", e.value(py)),
                ))
            };
            let kwargs = PyDict::new(py);
            kwargs.set_item("symbols", &spec.symbols).map_err(fail)?;
            for (k, v) in &spec.params {
                let v = toml_to_py(py, v).map_err(fail)?;
                kwargs.set_item(k, v).map_err(fail)?;
            }
            let obj = cls.call(py, (), Some(&kwargs)).map_err(fail)?;
            let source_name = if spec.name.is_empty() {
                &spec.kind
            } else {
                &spec.name
            };
            Ok(Box::new(PyTickSource::new(
                obj,
                source_name,
                &spec.symbols,
                ctx.symbols.clone(),
                ctx.source_id,
            )))
        })
    })
}

fn toml_to_py(py: Python<'_>, v: &toml::Value) -> PyResult<PyObject> {
    Ok(match v {
        toml::Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any().unbind(),
        toml::Value::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        toml::Value::Boolean(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        toml::Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(toml_to_py(py, x)?)?;
            }
            l.into_any().unbind()
        }
        toml::Value::Table(t) => {
            let d = PyDict::new(py);
            for (k, x) in t {
                d.set_item(k, toml_to_py(py, x)?)?;
            }
            d.into_any().unbind()
        }
        toml::Value::Datetime(d) => d.to_string().into_pyobject(py)?.into_any().unbind(),
    })
}

/// The engine factory of source class `cls` registered as `name`: an engine factory as it
/// is, a Python class (any callable) through [`PyTickSource`].
pub(crate) fn factory_of(name: &str, cls: &Bound<'_, PyAny>) -> PyResult<SourceFactory> {
    match cls.downcast::<PySourceFactory>() {
        Ok(f) => Ok(f.get().inner.clone()),
        Err(_) if cls.is_callable() => Ok(python_factory(cls.clone().unbind(), name.to_string())),
        Err(_) => Err(PyTypeError::new_err(format!(
            "register({name:?}, ...): a source class (callable) is required"
        ))),
    }
}

/// Symbols and parameters of a factory call: positional `...` is the seed's placeholder
/// (ignored); a positional list is the symbols.
fn call_args(
    args: &Bound<'_, PyTuple>,
    symbols: Option<Vec<String>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<(Vec<String>, toml::Table)> {
    let mut symbols = symbols;
    for a in args.iter() {
        if a.is_instance_of::<PyEllipsis>() {
            continue;
        }
        if symbols.is_none() {
            symbols = Some(a.extract().map_err(|_| {
                PyTypeError::new_err("a source class takes symbols=[...] and keyword parameters")
            })?);
            continue;
        }
        return Err(PyTypeError::new_err(
            "a source class takes symbols=[...] and keyword parameters",
        ));
    }
    let params = match kwargs {
        Some(k) => to_table(k, "")?,
        None => toml::Table::new(),
    };
    Ok((symbols.unwrap_or_default(), params))
}

#[pymethods]
impl PySourceFactory {
    /// Make a source producing `symbols`, with keyword parameters (as in a
    /// `[providers.<name>]` section: `rate=`, `seed=`, `fail_at_tick=`…).
    #[pyo3(signature = (*args, symbols=None, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        symbols: Option<Vec<String>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PySource> {
        let (symbols, params) = call_args(args, symbols, kwargs)?;
        let inner = &self.inner;
        let source = py
            .allow_threads(|| inner.create_with(&symbols, params))
            .map_err(errors::registry)?;
        Ok(PySource::new(source))
    }

    /// The same class with default parameters: `IBKRStandIn.with_params(max_ticks=300)`
    /// (parameters given at the call still win).
    #[pyo3(signature = (**params))]
    fn with_params(&self, params: Option<&Bound<'_, PyDict>>) -> PyResult<PySourceFactory> {
        let defaults = match params {
            Some(p) => to_table(p, "")?,
            None => toml::Table::new(),
        };
        let base = self.inner.clone();
        let inner = SourceFactory::new(move |spec: &SourceSpec, ctx: &SourceContext| {
            let mut spec = spec.clone();
            for (k, v) in &defaults {
                spec.params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            base.build(&spec, ctx)
        });
        Ok(PySourceFactory {
            inner,
            name: self.name.clone(),
        })
    }

    fn __repr__(&self) -> String {
        format!("<source class {:?}>", self.name)
    }
}

/// A source made by a factory; a router takes it over (it can be routed once).
#[pyclass(name = "Source", module = "market_data_pipeline._native")]
pub(crate) struct PySource {
    inner: std::sync::Mutex<Option<Box<dyn TickSource>>>,
}

impl PySource {
    fn new(source: Box<dyn TickSource>) -> PySource {
        PySource {
            inner: std::sync::Mutex::new(Some(source)),
        }
    }

    fn get(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn TickSource>>> {
        // A poisoned lock only means a panic elsewhere; the source itself is intact.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the source out (routing it).
    pub(crate) fn take(&mut self) -> PyResult<Box<dyn TickSource>> {
        self.get().take().ok_or_else(|| {
            PyValueError::new_err("this source is already routed (a source can be routed once)")
        })
    }
}

#[pymethods]
impl PySource {
    /// The source's name.
    #[getter]
    fn name(&self) -> Option<String> {
        self.get().as_ref().map(|s| s.name().to_string())
    }

    /// The symbols it produces.
    #[getter]
    fn symbols(&self) -> Vec<String> {
        self.get()
            .as_ref()
            .map(|s| s.symbols().to_vec())
            .unwrap_or_default()
    }

    fn __repr__(&self) -> String {
        match &*self.get() {
            Some(s) => format!("<source {:?} {:?}>", s.name(), s.symbols()),
            None => "<source (routed)>".to_string(),
        }
    }
}

/// Wrap a Python object with the TickSource methods as a source (not from a registry),
/// interning into `table`, with source id `id`.
pub(crate) fn python_source(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    id: u16,
    table: Arc<market_data_pipeline::SymbolTable>,
) -> PyResult<PySource> {
    let name = match obj.getattr("name") {
        Ok(n) if !n.is_none() => n.extract::<String>()?,
        _ => obj.get_type().name()?.to_string(),
    };
    let symbols: Vec<String> = match obj.getattr("symbols") {
        Ok(s) if !s.is_none() => s.extract()?,
        _ => Vec::new(),
    };
    let _ = py;
    Ok(PySource::new(Box::new(PyTickSource::new(
        obj.clone().unbind(),
        &name,
        &symbols,
        table,
        id,
    ))))
}

/// Source classes by name (the original's `SourceRegistry`). Starts with the engine's
/// built-ins (`synthetic`, `replay`, `tcp`).
#[pyclass(
    frozen,
    subclass,
    name = "SourceRegistry",
    module = "market_data_pipeline._native"
)]
pub(crate) struct PySourceRegistry {
    pub(crate) inner: Arc<SourceRegistry>,
}

#[pymethods]
impl PySourceRegistry {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        PySourceRegistry {
            inner: Arc::new(SourceRegistry::new()),
        }
    }

    /// Register `cls` under `name`: an engine factory, or a Python class whose instances have
    /// the TickSource methods (`poll(max)`, or `stream()`; optional `start()`, `close()`).
    fn register(&self, name: &str, cls: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.register(name, factory_of(name, cls)?);
        Ok(())
    }

    /// The source class registered as `name` (its sources are named `name` and share this
    /// registry's symbols, so they can be routed together).
    fn load(&self, name: &str) -> PyResult<PySourceFactory> {
        let inner = self.inner.load(name).map_err(errors::registry)?;
        Ok(PySourceFactory {
            inner,
            name: name.to_string(),
        })
    }

    /// Register the providers linked into the engine; the Python wrapper adds entry points.
    fn _discover_linked(&self) -> Vec<String> {
        self.inner.discover_entrypoints()
    }

    /// The registered names, sorted.
    fn list_sources(&self) -> Vec<String> {
        self.inner.list_sources()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.contains(name)
    }
}

/// An engine built-in source class by kind (`synthetic`, `replay`, `tcp`).
#[pyfunction]
pub(crate) fn builtin_factory(kind: &str) -> PyResult<PySourceFactory> {
    let inner = match kind {
        "synthetic" => SourceFactory::new(builtin::synthetic),
        "replay" => SourceFactory::new(builtin::replay),
        "tcp" => SourceFactory::new(builtin::tcp),
        other => {
            return Err(errors::RegistryError::new_err(format!(
                "unknown built-in source kind {other:?} (known: replay, synthetic, tcp)"
            )))
        }
    };
    Ok(PySourceFactory {
        inner,
        name: kind.to_string(),
    })
}

/// The engine's deterministic stand-in for provider `name` (`ibkr` or `polygon`), for
/// examples and tests.
#[pyfunction]
pub(crate) fn standin_factory(name: &str) -> PyResult<PySourceFactory> {
    let inner = match name {
        "ibkr" => SourceFactory::new(standin::ibkr),
        "polygon" => SourceFactory::new(standin::polygon),
        other => {
            return Err(errors::RegistryError::new_err(format!(
                "no stand-in for {other:?} (stand-ins: ibkr, polygon)"
            )))
        }
    };
    Ok(PySourceFactory {
        inner,
        name: name.to_string(),
    })
}
