//! `mdp-singleton`: one host competing for a singleton pipeline (tests and demo).
//!
//! ```text
//! mdp-singleton --url URL --pipeline NAME [--prefix mdp] [--ttl-ms 1000] [--seconds 10]
//!               [--stream KEY [--fence-only 1]]
//! ```
//!
//! Prints `acquired token=T unix_ns=…` when it becomes the owner (and "runs" the pipeline: a
//! counter), `running token=T` every 100 ms while it owns it, and `lost token=T unix_ns=…`
//! when it is fenced out or cut off for a whole lease (it stops the pipeline then).
//!
//! With `--stream KEY` the pipeline's output is 16 ticks per loop turn (every ~5 ms) into a
//! fenced Redis stream sink on `KEY` (opened on acquisition with the lease's token); a refused
//! write prints `refused token=T error=…` and the sink stops. `--fence-only 1` keeps writing
//! after the lease says `lost`, so that only the fence stops it (tests: the stale owner's next
//! append is refused in Redis).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use market_data_pipeline::sink::Sink;
use market_data_pipeline::{Price, SymbolId, Tick};
use mdp_redis::owner::{OwnerEvent, Ownership};
use mdp_redis::stream::RedisStreamSink;

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn main() {
    let mut url = None;
    let (mut stream, mut fence_only) = (None::<String>, false);
    let (mut pipeline, mut prefix, mut ttl_ms, mut seconds) =
        ("p".to_string(), "mdp".to_string(), 1000u64, 10u64);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--url" => url = Some(v),
            "--pipeline" => pipeline = v,
            "--prefix" => prefix = v,
            "--ttl-ms" => ttl_ms = v.parse().unwrap_or(ttl_ms),
            "--seconds" => seconds = v.parse().unwrap_or(seconds),
            "--stream" => stream = Some(v),
            "--fence-only" => fence_only = v == "1",
            _ => {
                eprintln!("mdp-singleton: unexpected argument {k:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("mdp-singleton: --url is required");
        std::process::exit(2);
    };
    let member = format!("pid-{}", std::process::id());
    let mut own = match Ownership::new(
        &url,
        &prefix,
        &pipeline,
        &member,
        Duration::from_millis(ttl_ms),
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mdp-singleton: {e}");
            std::process::exit(2);
        }
    };
    println!("member {member}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next_report = Instant::now();
    let mut sink: Option<RedisStreamSink> = None;
    let (mut seq, mut ticks) = (0u64, Vec::with_capacity(16));
    while Instant::now() < end {
        // The pipeline's output first: a stale owner resumed writes before it polls its lease.
        if let Some(s) = sink.as_mut() {
            ticks.clear();
            ticks.extend((seq..seq + 16).map(|i| Tick {
                seq: i as u32,
                ..Tick::quote(SymbolId(1), i, Price(i as i64), Price(i as i64 + 1), 1, 1)
            }));
            match s.write_ticks(&ticks) {
                Ok(()) => seq += 16,
                Err(e) => {
                    println!("refused token={} error={e}", s.token().unwrap_or(0));
                    sink = None;
                }
            }
        }
        match own.poll() {
            OwnerEvent::Acquired(t) => {
                println!("acquired token={t} unix_ns={}", unix_ns());
                if let Some(key) = &stream {
                    match RedisStreamSink::open_fenced(&url, key, 1_000_000, own.lease_key(), t) {
                        Ok(s) => sink = Some(s.chunk_ticks(16)),
                        Err(e) => {
                            eprintln!("mdp-singleton: {e}");
                            std::process::exit(1);
                        }
                    }
                }
            }
            OwnerEvent::Lost(t) => {
                println!("lost token={t} unix_ns={}", unix_ns());
                if !fence_only {
                    sink = None;
                }
            }
            OwnerEvent::Unchanged => {}
        }
        if let Some(t) = own.token() {
            if Instant::now() >= next_report {
                next_report = Instant::now() + Duration::from_millis(100);
                println!("running token={t}");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    own.release();
    println!("done");
}
