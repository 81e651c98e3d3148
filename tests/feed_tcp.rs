//! The TCP feed source against a real publisher on loopback (ports chosen by the OS).
//!
//! Time is a counter advanced 1 ms per loop round (the source measures back-off with it); every
//! loop is bounded and sleeps at most 1 ms a round. No timing assertions.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use market_data_pipeline::router::{RouterConfig, RoutingStrategy, SourceRouter};
use market_data_pipeline::source::feed::{TcpFeedConfig, TcpFeedPublisher, TcpFeedSource};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use std::sync::atomic::{AtomicU64, Ordering};

use market_data_pipeline::{
    CallbackSink, Clock, DataErrorKind, DataLocation, HybridBatcher, ManualClock, Price, Record,
    SourceError, SourcePoll, SourceStatus, StreamingPipeline, SymbolTable, Tick, TickSource,
};

const MS: u64 = 1_000_000;
const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "IBM"];

fn source(addr: SocketAddr, table: &Arc<SymbolTable>) -> TcpFeedSource {
    let cfg = TcpFeedConfig {
        reconnect_backoff: Duration::from_millis(5),
        ..TcpFeedConfig::new(addr, &SYMBOLS)
    };
    TcpFeedSource::new(cfg, table.clone()).unwrap()
}

/// Tick number `seq` (from 1) of the test stream.
fn tick(table: &SymbolTable, seq: u32) -> Tick {
    let sym = table.get(SYMBOLS[seq as usize % 3]).unwrap();
    Tick {
        seq,
        ..Tick::trade(sym, u64::from(seq), Price::from_units(100), seq)
    }
}

/// A publisher thread: accept one subscriber, send ticks `from..=to` in chunks, then either
/// drop the connection (`hang_up`) or hand the publisher back (connection still open).
fn publish(
    mut p: TcpFeedPublisher,
    table: Arc<SymbolTable>,
    from: u32,
    to: u32,
    hang_up: bool,
) -> JoinHandle<Option<TcpFeedPublisher>> {
    thread::spawn(move || {
        p.accept(Duration::from_secs(20)).unwrap();
        let mut chunk = Vec::with_capacity(1000);
        let mut seq = from;
        while seq <= to {
            chunk.clear();
            while seq <= to && chunk.len() < 1000 {
                chunk.push(tick(&table, seq));
                seq += 1;
            }
            p.send(&chunk).unwrap();
        }
        if hang_up {
            p.disconnect();
            None
        } else {
            Some(p)
        }
    })
}

/// A started source and a publisher thread that accepts it and then runs `script`.
fn scripted<T: Send + 'static>(
    table: &Arc<SymbolTable>,
    script: impl FnOnce(&mut TcpFeedPublisher, &SymbolTable) -> T + Send + 'static,
) -> (TcpFeedSource, JoinHandle<(TcpFeedPublisher, T)>) {
    let mut publisher = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
    let mut src = source(publisher.local_addr().unwrap(), table);
    src.start(0).unwrap();
    let t = table.clone();
    let sender = thread::spawn(move || {
        publisher.accept(Duration::from_secs(20)).unwrap();
        let out = script(&mut publisher, &t);
        (publisher, out)
    });
    (src, sender)
}

enum Stop {
    Count(usize),
    Error,
}

/// Poll until `stop`, at most `rounds` rounds of at most 1 ms sleep. Returns ticks and the error.
fn drive(
    src: &mut TcpFeedSource,
    now: &mut u64,
    stop: Stop,
    rounds: usize,
    got: &mut Vec<Tick>,
) -> Option<SourceError> {
    let mut buf = vec![Tick::default(); 512];
    for _ in 0..rounds {
        *now += MS;
        match src.poll(*now, &mut buf) {
            Ok(SourcePoll::Ready(n)) => {
                assert!(buf[..n].iter().all(|t| t.ts_recv == *now));
                got.extend_from_slice(&buf[..n]);
            }
            Ok(SourcePoll::Pending) => thread::sleep(Duration::from_millis(1)),
            Ok(SourcePoll::Ended) => panic!("a feed does not end by itself"),
            Err(e) => {
                if matches!(stop, Stop::Error) || !e.is_retryable() {
                    return Some(e);
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        if let Stop::Count(n) = stop {
            if got.len() >= n {
                return None;
            }
        }
    }
    None
}

fn seqs(ticks: &[Tick]) -> Vec<u32> {
    ticks.iter().map(|t| t.seq).collect()
}

#[test]
fn scenario_1_hundred_thousand_ticks_arrive_exactly_and_in_order() {
    let table = Arc::new(SymbolTable::new());
    let publisher = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
    let mut src = source(publisher.local_addr().unwrap(), &table);
    src.start(0).unwrap();
    let sender = publish(publisher, table.clone(), 1, 100_000, false);

    let (mut now, mut got) = (0, Vec::with_capacity(100_000));
    let err = drive(&mut src, &mut now, Stop::Count(100_000), 60_000, &mut got);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 100_000);
    for (i, t) in got.iter().enumerate() {
        let want = tick(&table, i as u32 + 1);
        assert_eq!(
            Tick {
                ts_recv: want.ts_recv,
                ..*t
            },
            want,
            "tick {i}"
        );
    }
    assert_eq!(src.status(), SourceStatus::Running);
    assert_eq!(src.health().produced, 100_000);
    assert_eq!(src.health().reconnects, 0);
    drop(sender.join().unwrap());
}

#[test]
fn scenario_2_publisher_hangs_up_then_a_new_one_on_the_same_port_continues_the_stream() {
    let table = Arc::new(SymbolTable::new());
    let first = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap();
    let mut src = source(addr, &table);
    src.start(0).unwrap();
    let sender = publish(first, table.clone(), 1, 5_000, true);

    let (mut now, mut got) = (0, Vec::new());
    let err = drive(&mut src, &mut now, Stop::Error, 30_000, &mut got).expect("a disconnect");
    assert!(
        matches!(err, SourceError::Disconnected { .. }) && err.is_retryable(),
        "{err}"
    );
    assert_eq!(src.status(), SourceStatus::Disconnected);
    assert_eq!(seqs(&got), (1..=5_000).collect::<Vec<_>>());
    // A hang-up between frames is a clean end, at the end of the last frame.
    let end = src.last_end().expect("the end is known");
    assert!(!end.is_truncated(), "{end:?}");
    assert_eq!(end.offset, 8 + 5_000 * 64);
    assert!(sender.join().unwrap().is_none()); // listener dropped: the port is free

    // Within the back-off the source does not even try.
    let mut buf = [Tick::default(); 4];
    assert_eq!(src.poll(now + 1, &mut buf).unwrap(), SourcePoll::Pending);

    let second = TcpFeedPublisher::bind(addr).unwrap();
    let sender = publish(second, table.clone(), 5_001, 10_000, false);
    let err = drive(&mut src, &mut now, Stop::Count(10_000), 30_000, &mut got);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(seqs(&got), (1..=10_000).collect::<Vec<_>>());
    assert_eq!(src.status(), SourceStatus::Running);
    assert_eq!(src.health().reconnects, 1);
    drop(sender.join().unwrap());
}

#[test]
fn scenario_3_connect_to_a_port_nobody_listens_on_is_a_disconnect_not_a_hang() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // listener dropped: nobody listens there now
    let table = Arc::new(SymbolTable::new());
    let mut src = source(addr, &table);
    src.start(0).unwrap();
    let (mut now, mut got) = (0, Vec::new());
    let err = drive(&mut src, &mut now, Stop::Error, 5_000, &mut got).expect("an error");
    assert!(
        matches!(err, SourceError::Disconnected { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(got.is_empty());
    assert_eq!(src.status(), SourceStatus::Disconnected);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn scenario_4_a_bad_kind_byte_on_the_wire_names_its_stream_offset() {
    let table = Arc::new(SymbolTable::new());
    let (mut src, sender) = scripted(&table, |p, t| {
        let good: Vec<Tick> = (1..=3).map(|s| tick(t, s)).collect();
        p.send(&good).unwrap();
        let bad_at = p.bytes_sent();
        let mut bad = tick(t, 4).encode();
        bad[62] = 9;
        p.send_bytes(&bad).unwrap();
        bad_at
    });
    let (mut now, mut got) = (0, Vec::new());
    let err = drive(&mut src, &mut now, Stop::Error, 20_000, &mut got).expect("bad data");
    let (_publisher, bad_at) = sender.join().unwrap(); // connection open until here
    assert_eq!(bad_at, 8 + 3 * 64);
    match &err {
        SourceError::Data { error, .. } => {
            assert_eq!(error.at, DataLocation::Offset(bad_at));
            assert!(matches!(error.kind, DataErrorKind::BadRecord(_)), "{err}");
        }
        other => panic!("expected bad data, got {other}"),
    }
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("byte offset 200"), "{err}");
    assert_eq!(seqs(&got), vec![1, 2, 3]);
    assert_eq!(src.status(), SourceStatus::Failed);
    assert!(src.poll(now + MS, &mut [Tick::default()]).is_err());
}

#[test]
fn scenario_5_config_and_capabilities() {
    let table = Arc::new(SymbolTable::new());
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let cfg = TcpFeedConfig {
        staleness_bound: Some(Duration::from_millis(250)),
        ..TcpFeedConfig::new(addr, &SYMBOLS)
    };
    let src = TcpFeedSource::new(cfg, table.clone()).unwrap();
    assert_eq!(src.symbols(), &SYMBOLS.map(String::from));
    assert_eq!(
        src.capabilities().staleness_bound,
        Some(Duration::from_millis(250))
    );
    assert_eq!(src.status(), SourceStatus::Idle);
    // Interned in order.
    for (i, s) in SYMBOLS.iter().enumerate() {
        assert_eq!(table.get(s).unwrap().0 as usize, i);
    }
    let none: [&str; 0] = [];
    assert!(matches!(
        TcpFeedSource::new(TcpFeedConfig::new(addr, &none), table.clone()),
        Err(SourceError::NoSymbols { .. })
    ));
    let tiny = TcpFeedConfig {
        read_buffer: 10,
        ..TcpFeedConfig::new(addr, &SYMBOLS)
    };
    match TcpFeedSource::new(tiny, table) {
        Err(SourceError::Config { error, .. }) => assert_eq!(error.field, "tcp.read_buffer"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scenario_6_inside_a_streaming_pipeline_every_tick_reaches_the_sink_once_in_order() {
    const N: u32 = 100_000;
    let table = Arc::new(SymbolTable::new());
    let publisher = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
    let src = source(publisher.local_addr().unwrap(), &table);
    let sender = publish(publisher, table.clone(), 1, N, false);

    // (ticks seen, ticks out of order)
    let seen = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let s = seen.clone();
    let mut expect = 1u32;
    let sink = CallbackSink::new(move |batch: &[Record]| {
        for r in batch {
            if let Record::Tick(t) = r {
                if t.seq != expect {
                    s.1.fetch_add(1, Ordering::Relaxed);
                }
                expect = t.seq.wrapping_add(1);
                s.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    let handle = StreamingPipeline::builder()
        .source(src)
        .batcher(HybridBatcher::new(512, Duration::from_secs(3600)).unwrap())
        .sink(sink)
        .clock(ManualClock::shared(1_000))
        .build()
        .unwrap()
        .start()
        .unwrap();
    // Bounded wait for the source to have produced everything; the stop then drains.
    for _ in 0..60_000 {
        if handle.stats().produced >= u64::from(N) {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let report = handle.stop_and_join();
    assert_eq!(report.stats.produced, u64::from(N));
    assert_eq!(report.stats.delivered, u64::from(N));
    assert_eq!(report.stats.source_errors, 0);
    assert_eq!(seen.0.load(Ordering::Relaxed), u64::from(N));
    assert_eq!(seen.1.load(Ordering::Relaxed), 0, "ticks out of order");
    drop(sender.join().unwrap());
}

#[test]
fn scenario_7_a_hang_up_mid_frame_is_a_disconnect_naming_the_offset() {
    let table = Arc::new(SymbolTable::new());
    let (mut src, sender) = scripted(&table, |p, t| {
        p.send(&[tick(t, 1)]).unwrap();
        p.send_bytes(&tick(t, 2).encode()[..30]).unwrap();
        p.disconnect();
    });
    let (mut now, mut got) = (0, Vec::new());
    let err = drive(&mut src, &mut now, Stop::Error, 20_000, &mut got).expect("a disconnect");
    sender.join().unwrap();
    assert!(matches!(err, SourceError::Disconnected { .. }), "{err}");
    assert!(
        err.to_string().contains("mid-frame at byte offset 102"),
        "{err}"
    );
    assert_eq!(seqs(&got), vec![1]);
    // Issue 7, failure 12: a stream cut inside a frame is truncated, and says where.
    let end = src.last_end().expect("the end is known");
    assert!(end.is_truncated(), "{end:?}");
    assert_eq!((end.frame_offset(), end.partial, end.offset), (72, 30, 102));
    assert!(end.header && end.failure.is_none(), "{end:?}");
}

#[test]
fn scenario_8_a_router_fails_over_from_a_feed_that_hangs_up_to_its_backup() {
    let table = Arc::new(SymbolTable::new());
    let (feed, sender) = scripted(&table, |p, t| {
        let ticks: Vec<Tick> = (1..=1_000).map(|s| tick(t, s)).collect();
        p.send(&ticks).unwrap();
        p.disconnect();
    });
    let backup = SyntheticSource::new(
        SyntheticConfig {
            name: "backup".into(),
            ..SyntheticConfig::new(&SYMBOLS)
        },
        table.clone(),
    )
    .unwrap();
    let clock = ManualClock::shared(1_000);
    let mut router = SourceRouter::with_config(
        vec![Box::new(feed), Box::new(backup)],
        RouterConfig::new(RoutingStrategy::First),
        clock.clone(),
    )
    .unwrap();
    router.start(clock.now_ns()).unwrap();
    assert_eq!(router.active_name(), Some("tcp"));

    let mut buf = vec![Tick::default(); 256];
    let (mut from_feed, mut after_switch) = (Vec::new(), 0usize);
    for _ in 0..20_000 {
        clock.advance(Duration::from_millis(1));
        match router.poll(clock.now_ns(), &mut buf) {
            Ok(SourcePoll::Ready(n)) => {
                if router.active_name() == Some("backup") {
                    after_switch += n;
                } else {
                    from_feed.extend_from_slice(&buf[..n]);
                }
            }
            Ok(_) => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("the router should absorb a feed disconnect: {e}"),
        }
        if after_switch > 1_000 {
            break;
        }
    }
    sender.join().unwrap();
    assert_eq!(seqs(&from_feed), (1..=1_000).collect::<Vec<_>>());
    assert_eq!(router.active_name(), Some("backup"));
    assert!(after_switch > 1_000);
}
