//! Redis Streams: sink → Redis → source, exactly once and in order across forced
//! reconnections; trimmed entries reported as a gap; a malformed entry named.

mod common;

use market_data_pipeline::sink::Sink;
use market_data_pipeline::{Price, SourcePoll, SymbolId, Tick, TickSource};
use mdp_redis::stream::{RedisStreamSink, RedisStreamSource};

fn tick(i: u64) -> Tick {
    Tick {
        seq: i as u32,
        ts_recv: i,
        ..Tick::quote(SymbolId(7), i, Price(i as i64), Price(i as i64 + 1), 1, 1)
    }
}

/// Drain `src` into a vector until `Pending` (bounded: `limit` polls).
fn drain(src: &mut RedisStreamSource, into: &mut Vec<Tick>, limit: usize) {
    let mut out = [Tick::default(); 100];
    for _ in 0..limit {
        match src.poll(0, &mut out) {
            Ok(SourcePoll::Ready(n)) => into.extend_from_slice(&out[..n]),
            Ok(SourcePoll::Pending | SourcePoll::Ended) => return,
            Err(_) => {} // disconnected: the next poll reconnects
        }
    }
}

#[test]
fn ticks_cross_exactly_once_and_in_order_across_reconnections() {
    let Some(server) = common::Server::start("stream") else {
        return;
    };
    let mut sink = RedisStreamSink::open(&server.url(), "s", 1_000_000)
        .unwrap()
        .chunk_ticks(64);
    let mut src = RedisStreamSource::new("remote", &server.url(), "s", "0");
    src.start(0).unwrap();
    let mut got = Vec::new();
    let all: Vec<Tick> = (0..10_000).map(tick).collect();
    for (k, part) in all.chunks(1000).enumerate() {
        sink.write_ticks(part).unwrap();
        if k % 3 == 1 {
            sink.disconnect();
            server.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
        }
        drain(&mut src, &mut got, 1000);
        if k % 4 == 2 {
            src.disconnect();
        }
    }
    drain(&mut src, &mut got, 10_000);
    assert_eq!(got.len(), all.len());
    assert!(
        got.iter().zip(&all).all(|(a, b)| a == b),
        "out of order or altered"
    );
    assert_eq!(src.lost(), 0);
    assert!(src.health().reconnects >= 3);
}

#[test]
fn a_sink_reopened_continues_after_the_last_entry() {
    let Some(server) = common::Server::start("reopen") else {
        return;
    };
    let mut sink = RedisStreamSink::open(&server.url(), "s", 1000).unwrap();
    sink.write_ticks(&(0..300).map(tick).collect::<Vec<_>>())
        .unwrap();
    drop(sink);
    let mut sink = RedisStreamSink::open(&server.url(), "s", 1000).unwrap();
    assert_eq!(sink.ticks(), 300);
    sink.write_ticks(&(300..400).map(tick).collect::<Vec<_>>())
        .unwrap();
    let mut src = RedisStreamSource::new("r", &server.url(), "s", "0");
    src.start(0).unwrap();
    let mut got = Vec::new();
    drain(&mut src, &mut got, 1000);
    assert_eq!(got.len(), 400);
    assert!(got.iter().enumerate().all(|(i, t)| t.seq == i as u32));
}

#[test]
fn trimmed_entries_are_reported_as_a_gap() {
    let Some(server) = common::Server::start("trim") else {
        return;
    };
    // Exact trimming to 2 entries of 10 ticks, written before the reader starts.
    let mut sink = RedisStreamSink::open(&server.url(), "s", 2)
        .unwrap()
        .chunk_ticks(10);
    sink.write_ticks(&(0..10).map(tick).collect::<Vec<_>>())
        .unwrap();
    let mut src = RedisStreamSource::new("r", &server.url(), "s", "0");
    src.start(0).unwrap();
    let mut got = Vec::new();
    drain(&mut src, &mut got, 10);
    assert_eq!(got.len(), 10);
    sink.write_ticks(&(10..5000).map(tick).collect::<Vec<_>>())
        .unwrap();
    server.cli(&["XTRIM", "s", "MAXLEN", "2"]);
    drain(&mut src, &mut got, 100);
    assert_eq!(src.gaps(), 1);
    assert_eq!(got.len() as u64 + src.lost(), 5000);
    assert_eq!(got.last().unwrap().seq, 4999);
}

#[test]
fn a_malformed_entry_is_a_data_error_naming_stream_and_id() {
    let Some(server) = common::Server::start("bad") else {
        return;
    };
    server.cli(&["XADD", "s", "5-1", "i", "0", "t", "short"]);
    let mut src = RedisStreamSource::new("r", &server.url(), "s", "0");
    src.start(0).unwrap();
    let e = src
        .poll(0, &mut [Tick::default(); 4])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stream s entry 5-1") && e.contains("64-byte"),
        "{e}"
    );
}
