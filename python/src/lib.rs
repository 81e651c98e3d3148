//! `market_data_pipeline._native`: the engine's types for Python. The pure-Python package
//! around it (`market_data_pipeline`, `market_data_pipeline.orchestration`) gives them the
//! original's import paths, keywords and asyncio forms.
//!
//! Waiting (for a quote, a token, a pipeline to drain) happens with the GIL released, on the
//! calling thread or on an executor thread that asyncio hands it to; ready quotes are read in
//! batches on the caller's thread, with no thread hop per quote.

mod awaitable;
mod bench;
mod errors;
mod flow;
mod pipeline;
mod pysource;
mod quote;
mod ready_quote;
mod registry;
mod router;
mod runtime;
mod stages;
mod stream;
mod value;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::add(m)?;
    m.add_class::<awaitable::Ready>()?;
    m.add_class::<quote::PyQuote>()?;
    m.add_class::<stream::PyQuoteStream>()?;
    m.add("ReadyQuote", ready_quote::type_object(m.py())?)?;
    m.add_class::<flow::PyRateCoordinator>()?;
    m.add_class::<flow::PyCircuitBreaker>()?;
    m.add_class::<registry::PySourceFactory>()?;
    m.add_class::<registry::PySource>()?;
    m.add_class::<registry::PySourceRegistry>()?;
    m.add_class::<router::PySourceRouter>()?;
    m.add_class::<runtime::PyRuntime>()?;
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_function(wrap_pyfunction!(pipeline::create_pipeline, m)?)?;
    m.add_class::<stages::PyBarOperator>()?;
    m.add_class::<stages::PyHybridBatcher>()?;
    m.add_class::<stages::PyCountingSink>()?;
    m.add_class::<stages::PyPipelineContext>()?;
    m.add_function(wrap_pyfunction!(stages::streaming_pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(registry::builtin_factory, m)?)?;
    m.add_function(wrap_pyfunction!(registry::standin_factory, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_stream_quotes, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_stream_ticks, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_acquire, m)?)?;
    m.add("TICK_BYTES", market_data_pipeline::tick::TICK_BYTES)?;
    m.add("PRICE_SCALE", market_data_pipeline::price::PRICE_SCALE)?;
    Ok(())
}
