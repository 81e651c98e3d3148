//! Same-run baselines for the Python throughput script: the engine's own Rust consumer of the
//! same streams and the Rust `acquire`, timed with the GIL released.

use std::time::Instant;

use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
use market_data_pipeline::{PipelineRuntime, QuoteStream};
use pyo3::prelude::*;

use crate::errors;

/// Run `consume` on `stream_quotes(["AAPL"])` of a default runtime (GIL released); its
/// result and the seconds it took.
fn timed_default_stream<T: Send>(
    py: Python<'_>,
    consume: impl FnOnce(&mut QuoteStream) -> T + Send,
) -> PyResult<(T, f64)> {
    py.allow_threads(|| {
        let rt = PipelineRuntime::start(Default::default()).map_err(errors::runtime)?;
        let mut stream = rt.stream_quotes(&["AAPL"]).map_err(errors::runtime)?;
        let t = Instant::now();
        let out = consume(&mut stream);
        let secs = t.elapsed().as_secs_f64();
        drop(stream);
        rt.shutdown();
        Ok((out, secs))
    })
}

/// Seconds for a Rust consumer to read `n` quotes of `stream_quotes(["AAPL"])` from a default
/// runtime (the quote iterator: symbol name and price per tick).
#[pyfunction]
pub(crate) fn rust_stream_quotes(py: Python<'_>, n: usize) -> PyResult<f64> {
    let (sum, secs) = timed_default_stream(py, |stream| {
        stream
            .by_ref()
            .take(n)
            .fold(0i64, |sum, q| sum.wrapping_add(q.price.raw()))
    })?;
    std::hint::black_box(sum);
    Ok(secs)
}

/// Seconds for a Rust consumer to bulk-read `n` raw ticks (checksumming each) from
/// `stream_quotes(["AAPL"])` of a default runtime.
#[pyfunction]
pub(crate) fn rust_stream_ticks(py: Python<'_>, n: usize) -> PyResult<f64> {
    let (sum, secs) = timed_default_stream(py, |stream| {
        let (mut got, mut sum) = (0usize, 0u64);
        while got < n && stream.wait_ready(std::time::Duration::from_secs(10)) {
            if stream.is_finished() {
                break;
            }
            got += stream.read_chunks(n - got, |s| {
                for tick in s {
                    sum = sum.wrapping_add(tick.checksum());
                }
            });
        }
        sum
    })?;
    std::hint::black_box(sum);
    Ok(secs)
}

/// Seconds for `n` Rust `coordinator.acquire("ibkr")` calls on a budget that never refuses.
#[pyfunction]
pub(crate) fn rust_acquire(py: Python<'_>, n: u64) -> PyResult<f64> {
    py.allow_threads(|| {
        let c = RateCoordinator::new();
        c.register_provider_with(
            "ibkr",
            ProviderLimits::new()
                .capacity(n.max(1))
                .refill_rate(1_000_000_000),
        )
        .map_err(errors::coordinator)?;
        let t = Instant::now();
        for _ in 0..n {
            c.acquire("ibkr").map_err(errors::coordinator)?;
        }
        Ok(t.elapsed().as_secs_f64())
    })
}
