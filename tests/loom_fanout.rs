//! loom models of a fan-out hub's control path racing its data path: subscribers joining,
//! changing their symbols and leaving while the hub steps, polls and ends.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_fanout`
#![cfg(loom)]

use loom::thread;

use market_data_pipeline::exec::{Step, Task};
use market_data_pipeline::fanout::{FanoutHub, HubConfig, SubscriberConfig};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::source::VecSource;
use market_data_pipeline::{ManualClock, SourceError, SourcePoll, SymbolId, Tick, TickSource};

/// A hub over `n` ticks (symbols 0, 1, 0, 1, …; `seq` from 0), `chunk` per poll.
fn hub(n: u32, chunk: usize) -> FanoutHub {
    let ticks = (0..n)
        .map(|i| Tick {
            symbol: SymbolId(i % 2),
            seq: i,
            ..Tick::default()
        })
        .collect();
    let source = VecSource::new("venue", ticks, &["A", "B"]);
    let config = HubConfig {
        chunk_size: chunk,
        keep_open: false,
    };
    FanoutHub::new(Box::new(source), config, ManualClock::shared(0)).unwrap()
}

/// Step `hub` until it is done (at most `max` steps); true if it finished.
fn run(mut hub: FanoutHub, max: usize) -> bool {
    (0..max).any(|_| hub.step() == Step::Done)
}

/// Poll `s` at most `max` times; the ticks it gave and whether it ended.
fn read(s: &mut impl TickSource, max: usize) -> (Vec<Tick>, bool) {
    let mut got = Vec::new();
    let mut buf = [Tick::default(); 8];
    for _ in 0..max {
        match s.poll(0, &mut buf) {
            Ok(SourcePoll::Ready(n)) => got.extend_from_slice(&buf[..n]),
            Ok(SourcePoll::Ended) => return (got, true),
            Ok(SourcePoll::Pending) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    (got, false)
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

#[test]
fn a_subscriber_racing_the_hub_ending_is_refused_or_sees_the_whole_end() {
    model(|| {
        let hub = hub(4, 8);
        let h = hub.handle();
        let mut first = h.subscribe(SubscriberConfig::all()).unwrap();
        let t = thread::spawn(move || run(hub, 8));
        let late = h.subscribe(SubscriberConfig::all());
        assert!(t.join().unwrap(), "the hub finished");
        let (got, ended) = read(&mut first, 4);
        assert_eq!((got.len(), ended), (4, true));
        match late {
            // Queued before the hub closed: it sees the end (after what it was sent), never
            // a stream that stays pending for ever.
            Ok(mut s) => {
                let (got, ended) = read(&mut s, 4);
                assert!(ended, "a late subscriber was stranded");
                assert!(got.len() == 4 || got.is_empty(), "{}", got.len());
            }
            Err(e) => assert!(
                matches!(e, SourceError::NotRunning { state: "ended", .. }),
                "{e}"
            ),
        }
    });
}

#[test]
fn subscribe_and_leave_racing_delivery_lose_and_duplicate_nothing() {
    model(|| {
        let hub = hub(6, 2);
        let h = hub.handle();
        let mut a = h.subscribe(SubscriberConfig::new(&[SymbolId(0)])).unwrap();
        let b = h
            .subscribe(
                SubscriberConfig::all()
                    .capacity(1)
                    .backpressure(Backpressure::DropNewest),
            )
            .unwrap();
        let b_counters = b.counters();
        let t = thread::spawn(move || run(hub, 16));
        a.subscribe(&[SymbolId(1)]).unwrap();
        drop(b);
        assert!(t.join().unwrap(), "the hub finished");
        let (got, ended) = read(&mut a, 8);
        assert!(ended);
        // Every tick of symbol 0, in order; symbol 1 from some chunk on (the one after the
        // change was applied), none missing after that.
        let from = got
            .iter()
            .find(|t| t.symbol == SymbolId(1))
            .map_or(6, |t| t.seq - t.seq % 2);
        let want: Vec<u32> = (0..6).filter(|&i| i % 2 == 0 || i >= from).collect();
        assert_eq!(got.iter().map(|t| t.seq).collect::<Vec<_>>(), want);
        let s = a.counters().snapshot();
        assert_eq!(
            (s.offered, s.popped, s.dropped),
            (want.len() as u64, want.len() as u64, 0)
        );
        // The subscriber that left: whatever it was offered is accounted for (what the hub
        // offered it after it left, and what it left in its ring, as `after_close`).
        let s = b_counters.snapshot();
        assert_eq!(
            s.offered,
            s.pushed + s.dropped + s.conflated + s.after_close + s.pending
        );
    });
}
