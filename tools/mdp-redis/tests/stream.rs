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

/// Entries pending in group `g` of stream `s`.
fn pending(server: &common::Server) -> u64 {
    let reply = server.cli(&["XPENDING", "s", "g"]).expect("XPENDING");
    reply
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("a count")
}

fn group_source(url: &str, consumer: &str) -> RedisStreamSource {
    RedisStreamSource::new("remote", url, "s", "0")
        .group("g", consumer)
        .read_count(4)
}

#[test]
fn a_restarted_group_consumer_rereads_its_pending_entries_first() {
    let Some(server) = common::Server::start("group_restart") else {
        return;
    };
    let mut sink = RedisStreamSink::open(&server.url(), "s", 1_000_000)
        .unwrap()
        .chunk_ticks(64);
    let all: Vec<Tick> = (0..640).map(tick).collect();
    sink.write_ticks(&all).unwrap();
    // Crash after handing out the first entry of a batch of four: nothing acknowledged.
    let mut first = group_source(&server.url(), "c");
    first.start(0).unwrap();
    let mut out = [Tick::default(); 64];
    assert!(matches!(first.poll(0, &mut out), Ok(SourcePoll::Ready(64))));
    assert_eq!(out[..], all[..64]);
    drop(first);
    assert_eq!(pending(&server), 4);
    // The same consumer restarted: its four pending entries first, then the new ones.
    let mut again = group_source(&server.url(), "c");
    again.start(0).unwrap();
    let mut got = Vec::new();
    drain(&mut again, &mut got, 1000);
    assert_eq!(
        got, all,
        "the pending entries again, then the rest, in order"
    );
    assert_eq!(again.reread(), 4);
    // Everything handed out is acknowledged by the next read (drain ended on one).
    assert_eq!(pending(&server), 0);
}

#[test]
fn a_group_consumer_cut_off_between_delivery_and_ack_delivers_exactly_once_in_order() {
    let Some(server) = common::Server::start("group_cut") else {
        return;
    };
    let mut sink = RedisStreamSink::open(&server.url(), "s", 1_000_000)
        .unwrap()
        .chunk_ticks(64);
    let all: Vec<Tick> = (0..20_000).map(tick).collect();
    let mut src = group_source(&server.url(), "c");
    src.start(0).unwrap();
    let mut got = Vec::new();
    let mut out = [Tick::default(); 100];
    for (k, part) in all.chunks(1000).enumerate() {
        sink.write_ticks(part).unwrap();
        // Hand out a few polls' worth, then cut: the batch being handed out (and the one
        // before, handed out but not acknowledged) is pending in Redis at the cut.
        for _ in 0..(k % 5 + 1) {
            if let Ok(SourcePoll::Ready(n)) = src.poll(0, &mut out) {
                got.extend_from_slice(&out[..n]);
            }
        }
        if k % 2 == 0 {
            server.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
        } else {
            src.disconnect();
        }
    }
    drain(&mut src, &mut got, 100_000);
    assert_eq!(got.len(), all.len());
    assert!(got == all, "exactly once and in order");
    assert!(src.health().reconnects >= 10, "{}", src.health().reconnects);
    assert_eq!(pending(&server), 0);
}

#[test]
fn a_fenced_sink_is_refused_once_the_lease_has_another_token_and_stays_stopped() {
    use market_data_pipeline::sink::Sink as _;
    let Some(server) = common::Server::start("fenced_sink") else {
        return;
    };
    server.cli(&["HSET", "lease", "member", "a", "token", "5"]);
    let mut sink = RedisStreamSink::open_fenced(&server.url(), "out", 1000, "lease", 5)
        .unwrap()
        .chunk_ticks(10);
    sink.write_ticks(&(0..100).map(tick).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(sink.entries(), 10);
    // Another owner took the lease.
    server.cli(&["HSET", "lease", "member", "b", "token", "6"]);
    let e = sink
        .write_ticks(&(100..120).map(tick).collect::<Vec<_>>())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fenced out") && e.contains("token 5 is not the lease token (6)"),
        "{e}"
    );
    assert!(sink.is_fenced_out());
    // Stopped for good, even were the token to come back.
    server.cli(&["HSET", "lease", "token", "5"]);
    assert!(sink.write_ticks(&[tick(120)]).is_err());
    assert_eq!(server.cli(&["XLEN", "out"]).as_deref(), Some("10"));
    // A lease that expired (no owner): refused too.
    server.cli(&["DEL", "lease"]);
    let mut other = RedisStreamSink::open_fenced(&server.url(), "out", 1000, "lease", 5).unwrap();
    let e = other.write_ticks(&[tick(100)]).unwrap_err().to_string();
    assert!(e.contains("no lease"), "{e}");
    // Every entry carries the token it was written under.
    assert_eq!(common::entry_tokens(&server.url(), "out"), vec![5; 10]);
}

#[test]
fn bad_redis_stream_options_are_named() {
    use market_data_pipeline::registry::{SourceContext, SourceSpec};
    let base = || {
        SourceSpec::named("remote", "redis_stream", &["X"])
            .param("url", "redis://127.0.0.1:1")
            .param("stream", "s")
    };
    let cases = [
        (
            base().param("group", "g"),
            "providers.remote.consumer: required with `group`",
        ),
        (
            base().param("consumer", "c"),
            "providers.remote.consumer: only for",
        ),
        (
            base().param("claim_idle_ms", 5),
            "providers.remote.claim_idle_ms: only for",
        ),
        (
            base().param("group", " ").param("consumer", "c"),
            "providers.remote.group: must not be empty",
        ),
        (
            base()
                .param("group", "g")
                .param("consumer", "c")
                .param("claim_idle_ms", -1),
            "providers.remote.claim_idle_ms",
        ),
        (base().param("start_id", "x"), "providers.remote.start_id"),
        (base().param("groups", "g"), "groups"),
    ];
    for (i, (spec, want)) in cases.iter().enumerate() {
        let e = mdp_redis::stream::build(spec, &SourceContext::default())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "case {i}: {e}");
    }
    let ok = base()
        .param("group", "g")
        .param("consumer", "c")
        .param("claim_idle_ms", 0);
    assert!(mdp_redis::stream::build(&ok, &SourceContext::default()).is_ok());
}
