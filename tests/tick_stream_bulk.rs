//! The bulk read of a tick stream (`read_with` + `wait_ready`), the path bindings use: every
//! tick arrives once, in order, and the stream reports its end.

use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{StreamingPipeline, SymbolTable};

#[test]
fn bulk_reads_deliver_every_tick_once_in_order_then_end() {
    let source = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(10_000),
            ..SyntheticConfig::new(&["AAPL"])
        },
        Arc::new(SymbolTable::new()),
    )
    .unwrap();
    let (handle, mut ticks) = StreamingPipeline::builder()
        .source(source)
        .build()
        .unwrap()
        .start_tick_stream()
        .unwrap();
    let mut seqs = Vec::new();
    // Bounded: each round either reads a tick or sees the end (a 60 s wait is only a guard).
    for _ in 0..20_000 {
        assert!(
            ticks.wait_ready(Duration::from_secs(60)),
            "no tick and no end"
        );
        let n = ticks.read_with(333, |s| seqs.extend(s.iter().map(|t| t.seq)));
        assert!(n <= 333);
        if n == 0 && ticks.is_finished() {
            break;
        }
    }
    assert!(ticks.is_finished());
    assert_eq!(seqs.len(), 10_000);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order");
    // An ended stream is ready at once (a read returns nothing and the end is final).
    assert!(ticks.wait_ready(Duration::ZERO));
    assert_eq!(ticks.read_with(10, |_| panic!("read after the end")), 0);
    let report = handle.join();
    assert_eq!(report.stats.delivered, 10_000);
    assert!(report.stats.is_conserved());
}
