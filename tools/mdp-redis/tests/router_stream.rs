//! A router over a local feed first and a Redis stream (registry kind `redis_stream`) as the
//! fallback, as issue 10 puts it: the local feed dies, the router fails over to the stream, and
//! the ticks another host appended to the stream are delivered, each once and in order.

mod common;

use std::sync::Arc;

use market_data_pipeline::router::SwitchReason;
use market_data_pipeline::sink::Sink;
use market_data_pipeline::source::{Fault, FaultKind, SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    MonotonicClock, Price, SourceRouter, SymbolId, SymbolTable, Tick, TickSource,
};
use mdp_redis::stream::{RedisStreamSink, RedisStreamSource};

const LOCAL: u64 = 1_000;
const REMOTE: u64 = 5_000;

fn remote_tick(i: u64) -> Tick {
    Tick {
        seq: u32::try_from(i).expect("small"),
        ts_recv: i,
        source: 99,
        ..Tick::quote(SymbolId(7), i, Price(i as i64), Price(i as i64 + 1), 1, 1)
    }
}

#[test]
fn a_local_feed_fails_over_to_the_redis_stream_and_its_ticks_are_delivered() {
    let Some(server) = common::Server::start("router_stream") else {
        return;
    };
    // Another host's ticks, already in the stream.
    let mut sink = RedisStreamSink::open(&server.url(), "desk:ticks", 1_000_000)
        .expect("sink")
        .chunk_ticks(64);
    let remote: Vec<Tick> = (1..=REMOTE).map(remote_tick).collect();
    sink.write_ticks(&remote).expect("append");

    let table = Arc::new(SymbolTable::new());
    let mut cfg = SyntheticConfig::new(&["SPY"]);
    cfg.name = "local".into();
    cfg.faults = vec![Fault {
        at_tick: LOCAL,
        kind: FaultKind::Fail,
    }];
    let local: Box<dyn TickSource> = Box::new(SyntheticSource::new(cfg, table).expect("synthetic"));
    let stream: Box<dyn TickSource> = Box::new(RedisStreamSource::new(
        "stream",
        &server.url(),
        "desk:ticks",
        "0",
    ));
    let router = SourceRouter::new(vec![local, stream], "first").expect("router");
    let control = router.control();
    let got: Vec<Tick> = router
        .tick_stream(MonotonicClock::shared())
        .take((LOCAL + REMOTE) as usize)
        .map(|t| t.expect("tick"))
        .collect();

    let (of_local, of_stream) = got.split_at(LOCAL as usize);
    assert!(of_local.iter().all(|t| t.source != 99), "local first");
    let seqs: Vec<u32> = of_stream.iter().map(|t| t.seq).collect();
    assert!(
        seqs.iter().copied().eq(1..=REMOTE as u32),
        "then the stream's ticks, each once and in order"
    );
    assert!(of_stream
        .iter()
        .zip(&remote)
        .all(|(a, b)| (a.symbol, a.bid, a.ask) == (b.symbol, b.bid, b.ask)));
    let stats = control.stats();
    let first = &stats.switches[0];
    assert_eq!(
        (first.reason, first.from.as_deref(), first.to.as_deref()),
        (SwitchReason::Error, Some("local"), Some("stream")),
        "{stats:?}"
    );
    // The router publishes its final stats when it is dropped with the stream: the per-source
    // counts are exact (they lagged by up to `stats_interval`: 4,608 of 5,000 in one run).
    let counted = |name: &str| stats.source(name).expect("listed").delivered;
    assert_eq!((counted("local"), counted("stream")), (LOCAL, REMOTE));
    assert_eq!(stats.delivered, LOCAL + REMOTE);
}
