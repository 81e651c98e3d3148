//! A router fed by rings: each source runs as a task on a worker set (`fanout::spawn_feed`)
//! and the router reads the rings. Loops are bounded by the streams' ends; nothing is timed.

use std::sync::Arc;

use market_data_pipeline::exec::{TaskPlacement, WorkerSet, WorkerSetConfig};
use market_data_pipeline::fanout::{spawn_feed, HubConfig, Subscriber, SubscriberConfig};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::router::SwitchReason;
use market_data_pipeline::source::{Fault, FaultKind, SyntheticConfig, SyntheticSource};
use market_data_pipeline::{MonotonicClock, SourceError, SourceRouter, SymbolTable};

const N: u64 = 20_000;

fn two_workers() -> WorkerSet {
    WorkerSet::new(WorkerSetConfig {
        workers: 2,
        pin: false,
        ..WorkerSetConfig::default()
    })
    .unwrap()
}

/// A copy of one sequenced stream of `N` ticks, named `name`, produced on `worker`.
fn feed(
    workers: &WorkerSet,
    table: &Arc<SymbolTable>,
    name: &str,
    faults: Vec<Fault>,
    worker: usize,
) -> Result<Subscriber, SourceError> {
    endless_or_not(workers, table, name, faults, worker, Some(N))
}

/// As [`feed`], of `max_ticks` ticks (`None`: endless).
fn endless_or_not(
    workers: &WorkerSet,
    table: &Arc<SymbolTable>,
    name: &str,
    faults: Vec<Fault>,
    worker: usize,
    max_ticks: Option<u64>,
) -> Result<Subscriber, SourceError> {
    let config = SyntheticConfig {
        name: name.into(),
        max_ticks,
        shared_sequence: true,
        faults,
        ..SyntheticConfig::new(&["AAPL", "MSFT"])
    };
    let source = SyntheticSource::new(config, table.clone()).unwrap();
    spawn_feed(
        Box::new(source),
        // `Block`: a feed waits for the router rather than dropping (both copies would drop
        // the same seqs while the router is behind).
        SubscriberConfig::all().backpressure(Backpressure::Block),
        HubConfig::default(),
        MonotonicClock::shared(),
        workers,
        TaskPlacement::Worker(worker),
    )
}

#[test]
fn arbitrate_over_two_feeds_on_two_workers_delivers_each_seq_once() {
    let workers = two_workers();
    let table = Arc::new(SymbolTable::new());
    let a = feed(&workers, &table, "a", vec![], 0).unwrap();
    let b = feed(&workers, &table, "b", vec![], 1).unwrap();
    let router = SourceRouter::new(vec![a, b], "arbitrate").unwrap();
    let control = router.control();
    let mut seqs: Vec<u32> = router
        .tick_stream(MonotonicClock::shared())
        .map(|t| t.unwrap().seq)
        .collect();
    seqs.sort_unstable();
    let first = seqs[0];
    let whole: Vec<u32> = (first..first + N as u32).collect();
    assert_eq!(seqs, whole, "every seq of the stream once");
    let stats = control.stats();
    // The other copy of each seq is discarded: a duplicate within the window, late past it.
    assert_eq!(
        (stats.delivered, stats.gaps, stats.duplicates + stats.late),
        (N, 0, N),
        "{stats:?}"
    );
    workers.shutdown();
}

#[test]
fn an_error_of_a_feed_reaches_the_router_after_its_ticks_and_fails_it_over() {
    let workers = two_workers();
    let table = Arc::new(SymbolTable::new());
    let dies = vec![Fault {
        at_tick: 1_000,
        kind: FaultKind::Fail,
    }];
    let a = feed(&workers, &table, "a", dies, 0).unwrap();
    let b = endless_or_not(&workers, &table, "b", vec![], 1, None).unwrap();
    let router = SourceRouter::new(vec![a, b], "first").unwrap();
    let control = router.control();
    // `a` keeps failing (retryably) and `b` is endless, so the stream does not end: take
    // a's ticks and N of b's. What b produced while a was delivered was drained (a queued
    // standby), so b is delivered from where it was at the failover: a contiguous run of its
    // seqs.
    let seqs: Vec<u32> = router
        .tick_stream(MonotonicClock::shared())
        .take((1_000 + N) as usize)
        .map(|t| t.unwrap().seq)
        .collect();
    let stats = control.stats();
    assert_eq!(stats.source("a").unwrap().delivered, 1_000, "{stats:?}");
    let (of_a, of_b) = seqs.split_at(1_000);
    assert!(
        of_a.iter().copied().eq(1..=1_000),
        "a's ticks before its failure"
    );
    let from = of_b[0];
    assert!(
        of_b.iter().copied().eq(from..from + N as u32),
        "then b's, from where it was at the failover ({from}), without a gap"
    );
    let first = &stats.switches[0];
    assert_eq!(
        (first.reason, first.from.as_deref()),
        (SwitchReason::Error, Some("a"))
    );
    workers.shutdown();
}

#[test]
fn spawn_feed_refuses_a_bad_placement_or_ring_with_an_error_naming_it() {
    let workers = two_workers();
    let table = Arc::new(SymbolTable::new());
    let e = feed(&workers, &table, "a", vec![], 7).unwrap_err();
    assert!(
        matches!(&e, SourceError::Config { error, .. } if error.field == "placement"),
        "{e}"
    );
    assert!(e.to_string().contains("no worker 7"), "{e}");
    let source = SyntheticSource::new(SyntheticConfig::new(&["AAPL"]), table.clone()).unwrap();
    let e = spawn_feed(
        Box::new(source),
        SubscriberConfig::all().capacity(0),
        HubConfig::default(),
        MonotonicClock::shared(),
        &workers,
        TaskPlacement::LeastLoaded,
    )
    .unwrap_err();
    assert!(matches!(e, SourceError::Config { .. }), "{e}");
    assert_eq!(workers.loads(), [0, 0], "nothing was placed");
    workers.shutdown();
}
