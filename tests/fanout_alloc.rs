//! No allocation per tick through a fan-out hub in steady state: the hub is stepped by hand
//! on the test thread (with its subscribers read there too), and the thread's allocations
//! are counted over thousands of chunks.

mod common;

use std::sync::Arc;

use market_data_pipeline::exec::Task;
use market_data_pipeline::fanout::{FanoutHub, HubConfig, Subscriber, SubscriberConfig};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{ManualClock, SourcePoll, SymbolTable, Tick, TickSource};

use common::counting_alloc::{thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn drain(sub: &mut Subscriber, buf: &mut [Tick]) -> u64 {
    let mut n = 0;
    // Bounded: a ring holds at most its capacity.
    for _ in 0..1_000 {
        match sub.poll(0, buf) {
            Ok(SourcePoll::Ready(k)) => n += k as u64,
            _ => break,
        }
    }
    n
}

#[test]
fn a_hub_with_every_kind_of_subscriber_allocates_nothing_per_tick() {
    let table = Arc::new(SymbolTable::new());
    let cfg = SyntheticConfig::new(&["AAPL", "MSFT", "GOOG"]);
    let upstream = SyntheticSource::new(cfg, table.clone()).unwrap();
    let mut hub = FanoutHub::new(
        Box::new(upstream),
        HubConfig::default(),
        ManualClock::shared(0),
    )
    .unwrap();
    let h = hub.handle();
    let (aapl, goog) = (table.get("AAPL").unwrap(), table.get("GOOG").unwrap());
    // Read every step: all symbols, a filtered pair, and a `Block` one.
    let mut readers = vec![
        h.subscribe(SubscriberConfig::all()).unwrap(),
        h.subscribe(SubscriberConfig::new(&[aapl, goog])).unwrap(),
        h.subscribe(SubscriberConfig::all().backpressure(Backpressure::Block))
            .unwrap(),
    ];
    // Never read: full rings, drops and conflation on every chunk.
    let _stalled = [
        h.subscribe(SubscriberConfig::all().capacity(64)).unwrap(),
        h.subscribe(
            SubscriberConfig::all()
                .capacity(64)
                .backpressure(Backpressure::ConflateLatest),
        )
        .unwrap(),
    ];
    let mut buf = vec![Tick::default(); 512];
    let mut step = |hub: &mut FanoutHub, readers: &mut Vec<Subscriber>| {
        hub.step();
        readers.iter_mut().map(|r| drain(r, &mut buf)).sum::<u64>()
    };
    // Warm up: the subscriptions are applied, the stalled rings fill, every symbol has been
    // stashed once.
    for _ in 0..100 {
        step(&mut hub, &mut readers);
    }
    let before = thread_allocations();
    let mut read = 0;
    for _ in 0..5_000 {
        read += step(&mut hub, &mut readers);
    }
    let allocated = thread_allocations() - before;
    // 5000 chunks of 256 ticks: each read in full by two readers, two thirds by the third.
    assert!(read >= 5_000 * 256 * 2, "{read}");
    assert_eq!(allocated, 0, "allocations while fanning out {read} ticks");
    let stalled = _stalled[1].counters().snapshot();
    assert!(stalled.conflated > 0);
}
