//! The hub stepped by hand over a scripted upstream: which subscriber gets which ticks, what
//! is counted, what the upstream is asked.

use std::sync::{Arc, Mutex};

use super::*;
use crate::clock::ManualClock;
use crate::exec::{Step, Task};
use crate::ring::EdgeStats;
use crate::source::{Capabilities, SourceHealth, SourcePoll, TickSource};
use crate::symbol::SymbolTable;

/// What the scripted upstream was asked.
#[derive(Debug, Default)]
struct Log {
    subscribed: Vec<Vec<u32>>,
    unsubscribed: Vec<Vec<u32>>,
    polls: u64,
    closes: u64,
}

/// Ticks round-robin over its current symbols, `seq` counting from 1; ends after `end_at`
/// ticks; returns `errors[i].1` when it has produced `errors[i].0` ticks.
#[derive(Debug)]
struct Scripted {
    table: Arc<SymbolTable>,
    names: Vec<String>,
    current: Vec<SymbolId>,
    per_poll: usize,
    produced: u64,
    next: usize,
    end_at: Option<u64>,
    errors: Vec<(u64, SourceError)>,
    log: Arc<Mutex<Log>>,
    status: SourceStatus,
}

const SYMS: [&str; 3] = ["X", "Y", "Z"];

fn scripted(per_poll: usize) -> (Scripted, Arc<Mutex<Log>>) {
    let table = Arc::new(SymbolTable::with_symbols(&SYMS).unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let s = Scripted {
        table,
        names: SYMS.iter().map(|s| s.to_string()).collect(),
        current: (0..3).map(SymbolId).collect(),
        per_poll,
        produced: 0,
        next: 0,
        end_at: None,
        errors: Vec::new(),
        log: log.clone(),
        status: SourceStatus::Idle,
    };
    (s, log)
}

fn failed(reason: &str) -> SourceError {
    SourceError::Failed {
        source_name: "prov".into(),
        reason: reason.into(),
    }
}

impl TickSource for Scripted {
    fn name(&self) -> &str {
        "prov"
    }
    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.status = SourceStatus::Running;
        Ok(())
    }
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        self.log.lock().unwrap().polls += 1;
        if let Some(i) = self.errors.iter().position(|e| e.0 == self.produced) {
            return Err(self.errors.remove(i).1);
        }
        let mut n = out.len().min(self.per_poll);
        if let Some(end) = self.end_at {
            if self.produced == end {
                self.status = SourceStatus::Ended;
                return Ok(SourcePoll::Ended);
            }
            n = n.min((end - self.produced) as usize);
        }
        if let Some(at) = self.errors.iter().map(|e| e.0).min() {
            n = n.min((at - self.produced) as usize);
        }
        if self.current.is_empty() || n == 0 {
            return Ok(SourcePoll::Pending);
        }
        for t in &mut out[..n] {
            self.produced += 1;
            self.next = (self.next + 1) % self.current.len();
            *t = Tick {
                symbol: self.current[self.next],
                seq: self.produced as u32,
                ts_recv: now_ns,
                ..Tick::default()
            };
        }
        Ok(SourcePoll::Ready(n))
    }
    fn close(&mut self) {
        self.log.lock().unwrap().closes += 1;
        self.status = SourceStatus::Closed;
    }
    fn status(&self) -> SourceStatus {
        self.status
    }
    fn health(&self) -> SourceHealth {
        SourceHealth {
            produced: self.produced,
            ..SourceHealth::default()
        }
    }
    fn symbols(&self) -> &[String] {
        &self.names
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        Some(&self.table)
    }
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.change(symbols, true);
        Ok(())
    }
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.change(symbols, false);
        Ok(())
    }
}

impl Scripted {
    /// Log a subscription change and apply it.
    fn change(&mut self, symbols: &[SymbolId], add: bool) {
        let ids = symbols.iter().map(|s| s.0).collect();
        let mut log = self.log.lock().unwrap();
        if add {
            log.subscribed.push(ids);
            for &s in symbols {
                if !self.current.contains(&s) {
                    self.current.push(s);
                }
            }
        } else {
            log.unsubscribed.push(ids);
            self.current.retain(|s| !symbols.contains(s));
            self.next = 0;
        }
        self.names = self
            .current
            .iter()
            .map(|s| SYMS[s.0 as usize].into())
            .collect();
    }
}

/// All symbols, a ring of `capacity`, `Block`.
fn blocking(capacity: usize) -> SubscriberConfig {
    SubscriberConfig::all()
        .capacity(capacity)
        .backpressure(Backpressure::Block)
}

/// Step `hub` until it is done (at most `max` steps).
fn run_to_done(hub: &mut FanoutHub, max: usize) {
    for _ in 0..max {
        if hub.step() == Step::Done {
            return;
        }
    }
    panic!("the hub was not done after {max} steps");
}

fn hub_over(s: Scripted) -> FanoutHub {
    FanoutHub::new(Box::new(s), HubConfig::default(), ManualClock::shared(0)).unwrap()
}

/// Everything ready in `sub` (bounded: the ring holds finitely many).
fn read_all(sub: &mut Subscriber) -> Vec<Tick> {
    let mut got = Vec::new();
    let mut buf = [Tick::default(); 100];
    for _ in 0..10_000 {
        match sub.poll(0, &mut buf) {
            Ok(SourcePoll::Ready(n)) => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    got
}

fn seqs(ticks: &[Tick]) -> Vec<u32> {
    ticks.iter().map(|t| t.seq).collect()
}

fn conserved(s: &EdgeStats) -> bool {
    s.offered == s.popped + s.dropped + s.conflated + s.after_close + s.in_flight()
}

#[test]
fn a_stalled_subscriber_never_stalls_one_that_reads_everything() {
    for policy in [Backpressure::DropNewest, Backpressure::ConflateLatest] {
        let (up, log) = scripted(64);
        let mut hub = hub_over(up);
        let h = hub.handle();
        let mut reader = h.subscribe(SubscriberConfig::all().capacity(64)).unwrap();
        let stalled = h
            .subscribe(SubscriberConfig::all().capacity(16).backpressure(policy))
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            assert_eq!(hub.step(), Step::Progress, "{policy:?}");
            assert!(!hub.is_holding(), "{policy:?}");
            got.extend(read_all(&mut reader));
        }
        assert_eq!(log.lock().unwrap().polls, 100, "{policy:?}");
        assert_eq!(seqs(&got), (1..=6400).collect::<Vec<u32>>(), "{policy:?}");
        let r = reader.counters().snapshot();
        assert_eq!((r.offered, r.popped, r.dropped), (6400, 6400, 0));
        let s = stalled.counters().snapshot();
        assert_eq!(s.offered, 6400, "{policy:?}");
        assert_eq!(s.pushed, 16, "{policy:?}");
        assert!(conserved(&s), "{policy:?}: {s:?}");
        assert!(
            s.dropped + s.conflated >= 6400 - 16 - 3,
            "{policy:?}: {s:?}"
        );
    }
}

#[test]
fn a_full_block_subscriber_paces_the_hub_for_everyone_and_loses_nothing() {
    let (up, log) = scripted(64);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut slow = h.subscribe(blocking(8)).unwrap();
    let mut fast = h.subscribe(SubscriberConfig::all().capacity(1024)).unwrap();
    for _ in 0..10 {
        hub.step();
    }
    // One poll: the chunk waits for `slow`; `fast` got that chunk and nothing more.
    assert_eq!(log.lock().unwrap().polls, 1);
    assert!(hub.is_holding());
    assert_eq!(read_all(&mut fast).len(), 64);
    // Reading `slow` releases the hub; bounded: 640 ticks through an 8-slot ring.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..1_000 {
        if a.len() >= 640 {
            break;
        }
        hub.step();
        a.extend(read_all(&mut slow));
        b.extend(read_all(&mut fast));
    }
    assert!(a.len() >= 640);
    let n = a.len() as u32;
    assert_eq!(seqs(&a), (1..=n).collect::<Vec<u32>>());
    assert_eq!(
        seqs(&b[..]),
        (65..=64 + b.len() as u32).collect::<Vec<u32>>()
    );
    let s = slow.counters().snapshot();
    assert_eq!((s.dropped, s.conflated), (0, 0));
    assert!(conserved(&s));
}

#[test]
fn subscribe_and_unsubscribe_mid_stream_change_exactly_the_symbols_and_the_upstream() {
    let (up, log) = scripted(30);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let (x, y, z) = (SymbolId(0), SymbolId(1), SymbolId(2));
    let mut a = h.subscribe(SubscriberConfig::new(&[x])).unwrap();
    assert_eq!(a.symbols(), ["X"]);
    hub.step();
    // The union is {X}: the upstream dropped Y and Z before its first poll.
    assert_eq!(log.lock().unwrap().unsubscribed, vec![vec![1, 2]]);
    let got = read_all(&mut a);
    assert_eq!(got.len(), 30);
    assert!(got.iter().all(|t| t.symbol == x));

    let mut all = h.subscribe(SubscriberConfig::all()).unwrap();
    a.subscribe(&[y]).unwrap();
    assert_eq!(a.symbols(), ["X", "Y"]);
    hub.step();
    // A subscriber taking all symbols brings back the provider's own (Y and Z).
    assert_eq!(log.lock().unwrap().subscribed, vec![vec![1, 2]]);
    let everything = read_all(&mut all);
    let mine = read_all(&mut a);
    assert_eq!(everything.len(), 30);
    // Exactly the ticks of its symbols, in order, none missing.
    let want: Vec<Tick> = everything
        .iter()
        .copied()
        .filter(|t| t.symbol == x || t.symbol == y)
        .collect();
    assert_eq!(mine, want);
    assert!(mine.iter().any(|t| t.symbol == y));

    a.unsubscribe(&[x]).unwrap();
    drop(all);
    hub.step();
    // The union is {Y} again: X and Z are dropped (no subscriber takes all any more).
    assert_eq!(
        log.lock().unwrap().unsubscribed,
        vec![vec![1, 2], vec![0, 2]]
    );
    let mine = read_all(&mut a);
    assert!(!mine.is_empty() && mine.iter().all(|t| t.symbol == y));
    assert!(!mine.iter().any(|t| t.symbol == z));
    assert!(conserved(&a.counters().snapshot()));
}

#[test]
fn upstream_end_reaches_every_subscriber_after_what_it_was_sent() {
    let (mut up, log) = scripted(50);
    up.end_at = Some(120);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut subs: Vec<Subscriber> = (0..3)
        .map(|i| {
            let policy = [
                Backpressure::Block,
                Backpressure::DropNewest,
                Backpressure::ConflateLatest,
            ][i];
            h.subscribe(SubscriberConfig::all().backpressure(policy))
                .unwrap()
        })
        .collect();
    run_to_done(&mut hub, 100);
    assert_eq!(log.lock().unwrap().closes, 1);
    let mut buf = [Tick::default(); 256];
    for s in &mut subs {
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(120));
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
        assert_eq!(s.status(), SourceStatus::Ended);
        assert_eq!(s.health().produced, 120);
    }
    assert!(h.is_closed());
}

#[test]
fn upstream_errors_reach_each_subscriber_once_in_order_and_a_final_one_ends_it() {
    let (mut up, _log) = scripted(10);
    up.errors = vec![
        (10, failed("blip")),
        (
            20,
            SourceError::NoSymbols {
                source_name: "prov".into(),
            },
        ),
    ];
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut subs: Vec<Subscriber> = (0..2)
        .map(|_| h.subscribe(SubscriberConfig::all()).unwrap())
        .collect();
    run_to_done(&mut hub, 100);
    let mut buf = [Tick::default(); 64];
    for s in &mut subs {
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
        let e = s.poll(0, &mut buf).unwrap_err();
        assert!(e.is_retryable() && e.to_string().contains("prov"), "{e}");
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
        let e = s.poll(0, &mut buf).unwrap_err();
        assert!(matches!(e, SourceError::NoSymbols { .. }), "{e}");
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
        assert_eq!(s.status(), SourceStatus::Failed);
    }
}

#[test]
fn a_leaving_subscriber_does_not_disturb_the_others_and_the_last_closes_the_upstream() {
    let (up, log) = scripted(20);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut a = h.subscribe(SubscriberConfig::all()).unwrap();
    let b = h
        .subscribe(
            SubscriberConfig::all()
                .backpressure(Backpressure::Block)
                .capacity(4),
        )
        .unwrap();
    hub.step();
    assert!(hub.is_holding());
    drop(b); // the Block subscriber leaves: the hub lets go of the chunk
    hub.step();
    hub.step();
    assert!(!hub.is_holding());
    assert_eq!(seqs(&read_all(&mut a)), (1..=60).collect::<Vec<u32>>());
    assert_eq!(hub.subscribers(), 1);
    a.close();
    assert_eq!(a.status(), SourceStatus::Closed);
    assert_eq!(hub.step(), Step::Done);
    assert_eq!(log.lock().unwrap().closes, 1);
    let e = h.subscribe(SubscriberConfig::all()).unwrap_err();
    assert!(
        matches!(e, SourceError::NotRunning { state: "ended", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("prov"), "{e}");
}

#[test]
fn keep_open_keeps_polling_with_no_subscriber() {
    let (up, log) = scripted(20);
    let config = HubConfig {
        keep_open: true,
        ..HubConfig::default()
    };
    let mut hub = FanoutHub::new(Box::new(up), config, ManualClock::shared(0)).unwrap();
    drop(hub.handle().subscribe(SubscriberConfig::all()).unwrap());
    for _ in 0..3 {
        assert_ne!(hub.step(), Step::Done);
    }
    assert_eq!(log.lock().unwrap().closes, 0);
    let mut late = hub.handle().subscribe(SubscriberConfig::all()).unwrap();
    hub.step();
    assert_eq!(read_all(&mut late).len(), 20);
}

#[test]
fn bad_subscriptions_are_clear_errors_naming_the_provider() {
    let (up, _log) = scripted(20);
    let hub = hub_over(up);
    let h = hub.handle();
    // 1. zero capacity, 2. above the bound, 3. unknown symbol id.
    let cases: [(SubscriberConfig, &str); 3] = [
        (SubscriberConfig::all().capacity(0), "ring_capacity"),
        (
            SubscriberConfig::all().capacity(usize::MAX),
            "ring_capacity",
        ),
        (
            SubscriberConfig::new(&[SymbolId(3)]),
            "unknown symbol id #3",
        ),
    ];
    for (i, (config, what)) in cases.into_iter().enumerate() {
        let e = h.subscribe(config).unwrap_err();
        assert!(matches!(e, SourceError::Config { .. }), "case {i}: {e}");
        let text = e.to_string();
        assert!(
            text.contains("prov") && text.contains(what),
            "case {i}: {text}"
        );
    }
    let mut a = h.subscribe(SubscriberConfig::new(&[SymbolId(0)])).unwrap();
    let e = a.subscribe(&[SymbolId(1), SymbolId(99)]).unwrap_err();
    assert!(e.to_string().contains("#99"), "{e}");
    assert_eq!(a.symbols(), ["X"]);
    let e = FanoutHub::new(
        Box::new(scripted(1).0),
        HubConfig {
            chunk_size: 0,
            ..HubConfig::default()
        },
        ManualClock::shared(0),
    )
    .unwrap_err();
    assert!(e.to_string().contains("fanout.chunk_size"), "{e}");
}

#[test]
fn a_subscriber_queued_when_the_upstream_ends_sees_the_end_not_a_hang() {
    let (mut up, _log) = scripted(10);
    up.end_at = Some(10);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let _first = h.subscribe(SubscriberConfig::all()).unwrap();
    hub.step(); // 10 ticks
    let mut late = h.subscribe(SubscriberConfig::all()).unwrap();
    run_to_done(&mut hub, 10);
    let mut buf = [Tick::default(); 16];
    assert_eq!(late.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
    assert!(h.subscribe(SubscriberConfig::all()).is_err());
}

#[test]
fn stop_ends_every_subscriber_at_once_counting_what_was_owed_as_dropped() {
    let (up, _log) = scripted(64);
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut block = h.subscribe(blocking(8)).unwrap();
    hub.step();
    assert!(hub.is_holding());
    h.stop();
    assert_eq!(hub.step(), Step::Done);
    let got = read_all(&mut block);
    let s = block.counters().snapshot();
    assert_eq!((got.len(), s.offered, s.dropped), (8, 64, 56));
    assert!(conserved(&s));
    let mut buf = [Tick::default(); 8];
    assert_eq!(block.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
}

/// The outcome of one poll, with the ticks it gave (errors by their text).
fn outcome(r: Result<SourcePoll, SourceError>, ticks: Vec<u32>) -> (String, Vec<u32>) {
    match r {
        Ok(p) => (format!("{p:?}"), ticks),
        Err(e) => (e.to_string(), ticks),
    }
}

#[test]
fn poll_visit_hands_over_what_poll_copies_and_has_waiting_says_whether_a_poll_would_pend() {
    let (mut up, _log) = scripted(7);
    up.end_at = Some(40);
    up.errors = vec![(14, failed("blip"))];
    let mut hub = hub_over(up);
    let h = hub.handle();
    let mut copied = h.subscribe(SubscriberConfig::all()).unwrap();
    let mut visited = h.subscribe(SubscriberConfig::all()).unwrap();
    let mut buf = [Tick::default(); 5];
    let mut scratch = [Tick::default(); 5];
    let (mut ticks_seen, mut pending_seen, mut ended) = (0, 0, false);
    for _ in 0..200 {
        hub.step();
        // Read both until each pends or ends (bounded), checking `has_waiting` before each poll.
        for _ in 0..50 {
            let waiting = [copied.has_waiting(), visited.has_waiting()];
            assert_eq!(waiting[0], waiting[1]);
            let a = copied.poll(0, &mut buf);
            let got_a = match a {
                Ok(SourcePoll::Ready(n)) => seqs(&buf[..n]),
                _ => Vec::new(),
            };
            let mut got_b = Vec::new();
            let b = visited.poll_visit(0, &mut scratch, &mut |s| got_b.extend(seqs(s)));
            let (a, b) = (outcome(a, got_a), outcome(b, got_b));
            assert_eq!(a, b, "poll and poll_visit differ");
            let pending = a.0 == "Pending";
            assert_eq!(waiting[0], Some(!pending), "has_waiting before {a:?}");
            ticks_seen += a.1.len();
            if pending {
                pending_seen += 1;
                break;
            }
            if a.0 == "Ended" {
                ended = true;
                break;
            }
        }
        if ended {
            break;
        }
    }
    assert!(ended, "the subscribers saw the end");
    assert_eq!(ticks_seen, 40);
    assert!(pending_seen > 0, "some look found nothing waiting");
}

#[test]
fn regression_a_subscriber_that_leaves_has_nothing_counted_as_dropped_or_left_in_flight() {
    // Was: what the hub offered a subscriber between its last read and its leaving stayed
    // `in_flight` for ever (pushed, never read) or, when the hub found its consumer gone
    // with a chunk in hand, was counted as `dropped`, as if backpressure had lost it.
    for close in [true, false] {
        let (up, _log) = scripted(64);
        let mut hub = hub_over(up);
        let h = hub.handle();
        let mut keeper = h.subscribe(SubscriberConfig::all().capacity(1024)).unwrap();
        let mut bounded = h.subscribe(blocking(16)).unwrap();
        let counters = bounded.counters();
        hub.step();
        assert!(hub.is_holding(), "close {close}");
        // It reads its bound (10 ticks), then leaves.
        let mut buf = [Tick::default(); 10];
        assert_eq!(bounded.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
        if close {
            bounded.close();
        }
        drop(bounded);
        for _ in 0..3 {
            hub.step();
            read_all(&mut keeper);
        }
        assert!(!hub.is_holding(), "close {close}");
        let s = counters.snapshot();
        assert_eq!((s.popped, s.dropped, s.in_flight()), (10, 0, 0), "{s:?}");
        // The 6 it left unread in its ring.
        assert_eq!((s.offered, s.after_close), (16, 6), "{s:?}");
        assert!(conserved(&s), "{s:?}");
    }
}
