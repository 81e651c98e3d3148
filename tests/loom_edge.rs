//! loom models of an edge's end of stream and abandonment.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_edge`
//!
//! What is modelled: the edge's own protocol around its ring — the counters `EdgeTx` and
//! `EdgeRx` publish, `EdgeTx::send`'s wait under `Block` and its handling of a gone consumer,
//! `EdgeRx::is_finished`. Under `--cfg loom` the ring itself is a small loom-visible stand-in
//! with `rtrb`'s API and abandonment protocol (`src/ring/loom_ring.rs`): `rtrb`'s indices are
//! `std` atomics that loom cannot see, so these models do not check `rtrb`'s lock-free code.
//!
//! Counter snapshots are compared only once both sides are done (joined or dropped): a snapshot
//! taken while a producer is publishing may mix two of its publications.
#![cfg(loom)]

use loom::thread;

use market_data_pipeline::idle::{IdleStrategy, Idler};
use market_data_pipeline::ring::{edge, Backpressure, EdgeStats, EdgeTx};
use market_data_pipeline::Tick;

/// Preemptions explored per execution unless `LOOM_MAX_PREEMPTIONS` says otherwise. These
/// models are small: they take as long at 8 as at 20 (about a second in all, in release).
const PREEMPTIONS: usize = 8;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    builder.check(f);
}

fn ticks(seqs: std::ops::Range<u32>) -> Vec<Tick> {
    seqs.map(|seq| Tick {
        seq,
        ..Tick::default()
    })
    .collect()
}

fn conserved(s: &EdgeStats) -> bool {
    s.offered == s.popped + s.dropped + s.conflated + s.in_flight()
}

fn send_all(mut tx: EdgeTx<Tick>, chunks: &[std::ops::Range<u32>]) -> EdgeStats {
    let mut idler = Idler::new(IdleStrategy::BusySpin);
    for c in chunks {
        tx.send(&ticks(c.clone()), &mut idler).unwrap();
    }
    let counters = tx.counters();
    drop(tx); // end of stream
    counters.snapshot()
}

/// Producer sends three ticks through a two-slot ring (so it must wait for the reader once),
/// then drops its end; the consumer reads until `is_finished`. The consumer sees
/// `is_finished` only after it has read everything, in order; nothing is lost or duplicated,
/// and the counters are conserved.
#[test]
fn a_dropped_producer_is_finished_only_after_everything_it_sent_was_read() {
    model(|| {
        let (tx, mut rx) = edge::<Tick>(2, Backpressure::Block).unwrap();
        let producer = thread::spawn(move || send_all(tx, &[0..2, 2..3]));
        let mut seen = Vec::new();
        // Bounded by the model: every pass either reads or yields to the producer, which
        // finishes after three ticks.
        while !rx.is_finished() {
            if rx.read(usize::MAX, |s| seen.extend(s.iter().map(|t| t.seq))) == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(seen, [0, 1, 2], "is_finished before everything was read");
        let sent = producer.join().unwrap();
        let s = rx.counters().snapshot();
        assert_eq!((sent.offered, sent.pushed, sent.dropped), (3, 3, 0));
        assert_eq!(
            (s.offered, s.popped, s.dropped, s.in_flight()),
            (3, 3, 0, 0)
        );
        assert!(conserved(&s), "{s:?}");
    });
}

/// The consumer reads at most one tick and drops its end while the producer sends four ticks
/// under `Block` through a one-slot ring. The producer cannot finish (at most two fit: one
/// read, one left in the ring): it gets `Disconnected` naming exactly what it did not push,
/// which is counted as dropped, and the counters are conserved.
#[test]
fn a_consumer_abandoning_a_blocked_producer_disconnects_it_with_the_unsent_counted() {
    model(|| {
        let (mut tx, mut rx) = edge::<Tick>(1, Backpressure::Block).unwrap();
        let counters = tx.counters();
        let consumer = thread::spawn(move || {
            let read = rx.read(1, |_| {});
            drop(rx);
            read as u64
        });
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        let e = tx
            .send(&ticks(0..4), &mut idler)
            .expect_err("four ticks cannot fit while the consumer reads at most one");
        assert!(tx.is_disconnected());
        let popped = consumer.join().unwrap();
        let s = counters.snapshot();
        assert_eq!(s.offered, 4);
        assert_eq!(s.popped, popped);
        assert_eq!(
            e.unsent as u64,
            4 - s.pushed,
            "unsent is what did not go in"
        );
        assert_eq!(
            s.dropped, e.unsent as u64,
            "the unsent are counted as dropped"
        );
        assert!(
            s.pushed <= popped + 1,
            "more went in than read plus one slot: {s:?}"
        );
        assert!(conserved(&s), "{s:?}");
    });
}

/// A producer that finds its consumer gone when it next has to wait is disconnected at once,
/// whatever it sent before; nothing it sent is counted twice.
#[test]
fn a_consumer_gone_before_the_producer_waits_disconnects_it_with_exact_counts() {
    model(|| {
        let (mut tx, rx) = edge::<Tick>(1, Backpressure::Block).unwrap();
        let counters = tx.counters();
        let consumer = thread::spawn(move || drop(rx));
        let mut idler = Idler::new(IdleStrategy::BusySpin);
        let first = tx.send(&ticks(0..1), &mut idler);
        let second = tx.send(&ticks(1..3), &mut idler);
        consumer.join().unwrap();
        assert!(first.is_ok(), "one tick fits in the empty ring");
        let e = second.expect_err("two more ticks cannot fit: the ring is full and never read");
        assert_eq!(e.unsent, 2);
        let s = counters.snapshot();
        assert_eq!((s.offered, s.pushed, s.dropped, s.popped), (3, 1, 2, 0));
        assert!(conserved(&s), "{s:?}");
    });
}

/// A producer that writes straight into the ring's free slots (`EdgeTx::slots`, as a split
/// pipeline's source stage does) moves three ticks through a two-slot ring, taking slots only
/// when its chunk of one or two fits and yielding otherwise, then drops its end; the consumer
/// reads until `is_finished`. Everything arrives once, in order; what was written is counted
/// as offered and pushed; the counters are conserved.
#[test]
fn ticks_written_into_free_slots_arrive_in_order_and_are_counted_once() {
    model(|| {
        let (mut tx, mut rx) = edge::<Tick>(2, Backpressure::Block).unwrap();
        let producer = thread::spawn(move || {
            let (mut next, mut claimed) = (0u32, 0u64);
            // Bounded by the model: each pass writes or yields to the consumer.
            while next < 3 {
                let want = if next == 0 { 2 } else { 1 };
                match tx.slots(want) {
                    Some(mut slots) => {
                        let n = slots.fill(ticks(next..next + want as u32));
                        next += n as u32;
                    }
                    None => thread::yield_now(),
                }
                claimed += tx.claim_written();
            }
            let counters = tx.counters();
            drop(tx);
            (claimed, counters.snapshot())
        });
        let mut seen = Vec::new();
        while !rx.is_finished() {
            if rx.read(usize::MAX, |s| seen.extend(s.iter().map(|t| t.seq))) == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(seen, [0, 1, 2], "is_finished before everything was read");
        let (claimed, sent) = producer.join().unwrap();
        assert_eq!(claimed, 3, "every written tick claimed once");
        assert_eq!((sent.offered, sent.pushed, sent.dropped), (3, 3, 0));
        let s = rx.counters().snapshot();
        assert_eq!((s.offered, s.popped, s.in_flight()), (3, 3, 0));
        assert!(conserved(&s), "{s:?}");
    });
}
