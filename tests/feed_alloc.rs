//! The feed's poll path allocates nothing per tick.
//!
//! A counting global allocator counts the allocations of the polling thread (the test's own:
//! the source reads its socket there; the sender thread is not measured). Two loopback runs
//! that differ only in length (N and 10·N ticks) must allocate the same up to a handful; a
//! per-tick allocation would add tens of thousands. Loops are bounded, sleeps are 1 ms at most.
//!
//! The process-wide count made this test load-sensitive, as `tests/router_alloc.rs` was:
//! libtest's main thread (and the sender) may allocate while the test measures.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use market_data_pipeline::source::feed::{TcpFeedConfig, TcpFeedPublisher, TcpFeedSource};
use market_data_pipeline::{Price, SourcePoll, SymbolTable, Tick, TickSource};

use common::counting_alloc::{thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of this (the polling) thread while `n` ticks are received (from the first
/// delivered tick on).
fn allocations_receiving(n: u32) -> u64 {
    let table = Arc::new(SymbolTable::new());
    let mut publisher = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
    let addr = publisher.local_addr().unwrap();
    let mut src = TcpFeedSource::new(TcpFeedConfig::new(addr, &["AAPL"]), table.clone()).unwrap();
    src.start(1).unwrap();
    let sym = table.get("AAPL").unwrap();
    let sender = thread::spawn(move || {
        let ticks: Vec<Tick> = (1..=n)
            .map(|seq| Tick {
                seq,
                ..Tick::trade(sym, 0, Price::from_units(1), 1)
            })
            .collect();
        publisher.accept(Duration::from_secs(20)).unwrap();
        for chunk in ticks.chunks(1000) {
            publisher.send(chunk).unwrap();
        }
        publisher
    });
    let mut buf = vec![Tick::default(); 512];
    let (mut received, mut before) = (0u32, None);
    for now in 2..60_000u64 {
        match src.poll(now, &mut buf).unwrap() {
            SourcePoll::Ready(k) => {
                before.get_or_insert_with(thread_allocations);
                for t in &buf[..k] {
                    received += 1;
                    assert_eq!(t.seq, received);
                }
            }
            _ => thread::sleep(Duration::from_millis(1)),
        }
        if received == n {
            break;
        }
    }
    let after = thread_allocations();
    assert_eq!(received, n);
    drop(sender.join().unwrap());
    after - before.unwrap_or(after)
}

#[test]
fn receiving_allocates_nothing_per_tick() {
    let short = allocations_receiving(10_000);
    let long = allocations_receiving(100_000);
    assert!(
        long <= short + 16,
        "10k ticks: {short} allocations, 100k: {long}"
    );
    assert!(long < 100, "100k ticks: {long} allocations");
}
