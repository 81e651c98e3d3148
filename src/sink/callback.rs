//! `CallbackSink`: hand each batch to a user closure.

use super::Sink;
use crate::error::SinkError;
use crate::record::Record;

/// Calls a closure with every batch, on the sink's thread. The closure's error is the sink's
/// error (return [`SinkError::Closed`] when the consumer has gone away, so the pipeline stops).
///
/// ```
/// use market_data_pipeline::{CallbackSink, Price, Record, Sink, SymbolId, Tick};
/// let mut seen = 0usize;
/// {
///     let mut sink = CallbackSink::new(|batch: &[Record]| {
///         seen += batch.len();
///         Ok(())
///     });
///     let r = Record::Tick(Tick::trade(SymbolId(0), 1, Price::from_units(1), 1));
///     sink.write(&[r, r])?;
/// }
/// assert_eq!(seen, 2);
/// # Ok::<(), market_data_pipeline::SinkError>(())
/// ```
pub struct CallbackSink<F> {
    name: &'static str,
    f: F,
}

impl<F> CallbackSink<F>
where
    F: FnMut(&[Record]) -> Result<(), SinkError> + Send,
{
    /// A sink named `callback` calling `f`.
    pub fn new(f: F) -> CallbackSink<F> {
        CallbackSink::named("callback", f)
    }

    /// A sink with its own name (shown in stats and errors) calling `f`.
    pub fn named(name: &'static str, f: F) -> CallbackSink<F> {
        CallbackSink { name, f }
    }
}

impl<F> std::fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F> Sink for CallbackSink<F>
where
    F: FnMut(&[Record]) -> Result<(), SinkError> + Send,
{
    fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        (self.f)(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Price;
    use crate::symbol::SymbolId;
    use crate::tick::Tick;

    #[test]
    fn closure_sees_each_batch_and_its_error_is_the_sinks() {
        let mut sizes = Vec::new();
        let mut sink = CallbackSink::named("probe", |batch: &[Record]| {
            if batch.is_empty() {
                return Err(SinkError::Closed { sink: "probe" });
            }
            sizes.push(batch.len());
            Ok(())
        });
        let r = Record::Tick(Tick::trade(SymbolId(0), 1, Price::from_units(1), 1));
        assert_eq!(sink.name(), "probe");
        assert!(format!("{sink:?}").contains("probe"));
        sink.write(&[r]).unwrap();
        sink.write(&[r, r, r]).unwrap();
        assert_eq!(sink.write(&[]), Err(SinkError::Closed { sink: "probe" }));
        sink.close().unwrap();
        assert_eq!(sizes, vec![1, 3]);
    }
}
