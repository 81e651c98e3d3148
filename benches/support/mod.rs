//! Helpers shared by the benches.

use std::time::Duration;

use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::{CountingSink, HybridBatcher, IdleStrategy, Passthrough, TickSource};

/// Run `source` (which must end after `n` ticks) → passthrough → batcher (`chunk` rows, 1 ms)
/// → counting sink to the end, busy-spinning, and check that all `n` ticks arrived.
pub fn run_counting_pipeline(source: Box<dyn TickSource>, n: u64, chunk: usize) {
    let r = StreamingPipeline::builder()
        .boxed_source(source)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(chunk, Duration::from_millis(1)).unwrap())
        .sink(CountingSink::new())
        .idle(IdleStrategy::BusySpin)
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(r.stats.delivered, n);
}
