//! Making a `Quote` from a tick allocates nothing (issue 8, gap 2: the quote a user receives
//! costs no allocation per tick; the raw-tick path does not make quotes at all).
//!
//! The quotes are made on the test's thread, so only its allocations are counted: the
//! process-wide count also saw libtest's main thread when it was descheduled and booked the
//! test in late (the load-sensitivity `tests/router_alloc.rs` had).

mod common;

use std::sync::Arc;

use common::counting_alloc::{thread_allocations, Counting};
use market_data_pipeline::quote::QuoteMaker;
use market_data_pipeline::{Price, SymbolId, SymbolTable, Tick};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of this thread while turning `n` ticks (trades and quotes of three symbols) into quotes.
fn allocations_for(n: usize) -> u64 {
    let table = Arc::new(SymbolTable::with_symbols(&["AAPL", "MSFT", "GOOG"]).unwrap());
    let ticks: Vec<Tick> = (0..n)
        .map(|i| {
            let sym = SymbolId((i % 3) as u32);
            let p = Price::from_units(100 + (i % 7) as i64);
            if i % 4 == 0 {
                Tick::trade(sym, i as u64, p, 1)
            } else {
                Tick::quote(
                    sym,
                    i as u64,
                    p,
                    Price::from_units(101 + (i % 7) as i64),
                    5,
                    6,
                )
            }
        })
        .collect();
    let mut maker = QuoteMaker::new(table);
    maker.quote(&ticks[0]); // the first trade sizes the last-trade table
    let before = thread_allocations();
    let mut sum = 0i64;
    for t in &ticks {
        sum = sum.wrapping_add(maker.quote(t).price.raw());
    }
    let after = thread_allocations();
    assert_ne!(sum, 0);
    after - before
}

#[test]
fn quotes_allocate_nothing_per_tick() {
    let small = allocations_for(10_000);
    let large = allocations_for(100_000);
    assert_eq!((small, large), (0, 0), "allocations for 1e4 / 1e5 ticks");
}
