//! `mdp-stream`: ticks through Redis Streams between processes, against a bare pipelined
//! XADD / XREAD loop carrying the same bytes (PERF.md).
//!
//! ```text
//! mdp-stream produce      --url URL --stream S --ticks N [--chunk 256] [--max-len 4096]
//! mdp-stream produce      … --fenced 1   (every entry through the fenced-XADD script)
//! mdp-stream consume      --url URL --stream S --ticks N [--cut-at K] [--cut-every K]
//!                         [--group G --consumer C [--claim-idle-ms MS] [--print 1]
//!                          [--stall-at-seq S]]
//! mdp-stream bare-produce --url URL --stream S --ticks N [--chunk 256] [--max-len 4096]
//! mdp-stream bare-consume --url URL --stream S --ticks N
//! ```
//!
//! Tick `i` carries `seq = i` and `ts_event = i`; `consume` checks every tick arrives once and
//! in order, forces a reconnection after `--cut-at` ticks, and every `--cut-every` ticks (the
//! server kills the clients' connections),
//! and prints `result ticks=… lost=… ordered=… elapsed_ms=… mticks_per_s=…`.
//!
//! `produce --fenced 1` takes the lease of the singleton pipeline `bench/<stream>` (prefix
//! `mdp-bench`, 60 s) and appends through [`RedisStreamSink::open_fenced`] (PERF.md §12: the
//! fence's cost per entry). `consume --group` reads as consumer `C` of group `G` (`--ticks 0`:
//! until killed); with `--print 1` it prints, after every poll, `d <ranges> claimed=K` (the
//! `ts_event`s just handed out, as `a-b` ranges, and the ticks delivered from claimed entries
//! so far), each line in one write; `--stall-at-seq S` stops polling (without acknowledging)
//! once a tick with `ts_event >= S` was handed out, printing `stalled` (tests: kill -9 it
//! then).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use market_data_pipeline::sink::Sink;
use market_data_pipeline::{Price, SourcePoll, SymbolId, Tick, TickSource};
use mdp_redis::stream::{RedisStreamSink, RedisStreamSource};
use redis::Value;

fn tick(i: u64) -> Tick {
    Tick {
        seq: i as u32,
        ..Tick::quote(SymbolId(1), i, Price(i as i64), Price(i as i64 + 1), 1, 1)
    }
}

/// `d a-b c-d … claimed=K` for the `ts_event`s of `ticks`, written in one call.
fn print_ranges(line: &mut String, ticks: &[Tick], claimed: u64) {
    line.clear();
    line.push('d');
    let mut i = 0;
    while i < ticks.len() {
        let a = ticks[i].ts_event;
        let mut b = a;
        while i + 1 < ticks.len() && ticks[i + 1].ts_event == b + 1 {
            b += 1;
            i += 1;
        }
        let _ = write!(line, " {a}-{b}");
        i += 1;
    }
    let _ = writeln!(line, " claimed={claimed}");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

#[path = "common/args.rs"]
mod args;

fn main() {
    if let Err(e) = run() {
        eprintln!("mdp-stream: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("a mode is required")?;
    let kv = args::parse(it, &[])?;
    let get = |k: &str| {
        kv.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    };
    let num = |k: &str, d: u64| args::num(&kv, k, d);
    let (url, stream, n) = (get("url")?, get("stream")?, num("ticks", 1_000_000)?);
    let chunk = num("chunk", 256)? as usize;
    let max_len = num("max-len", 4096)?;
    let t0 = Instant::now();
    let report = |ticks: u64, extra: String| {
        let s = t0.elapsed().as_secs_f64();
        println!(
            "result mode={mode} ticks={ticks} {extra} elapsed_ms={} mticks_per_s={:.3}",
            (s * 1e3) as u64,
            ticks as f64 / s / 1e6
        );
    };
    match mode.as_str() {
        "produce" => {
            // The lease is held by this process for the run (60 s, never renewed).
            let _lease;
            let sink = if num("fenced", 0)? == 1 {
                let mut own = mdp_redis::owner::Ownership::new(
                    &url,
                    "mdp-bench",
                    &format!("bench/{stream}"),
                    &format!("pid-{}", std::process::id()),
                    Duration::from_secs(60),
                )
                .map_err(|e| e.to_string())?;
                let mdp_redis::owner::OwnerEvent::Acquired(token) = own.poll() else {
                    return Err("the bench lease is held by another process".into());
                };
                let s =
                    RedisStreamSink::open_fenced(&url, &stream, max_len, own.lease_key(), token);
                _lease = own;
                s
            } else {
                RedisStreamSink::open(&url, &stream, max_len)
            };
            let mut sink = sink.map_err(|e| e.to_string())?.chunk_ticks(chunk);
            let mut buf: Vec<Tick> = Vec::with_capacity(chunk * 16);
            let mut i = 0;
            while i < n {
                buf.clear();
                let m = (n - i).min((chunk * 16) as u64);
                buf.extend((i..i + m).map(tick));
                sink.write_ticks(&buf).map_err(|e| e.to_string())?;
                i += m;
            }
            report(n, format!("reconnects={}", sink.reconnects));
        }
        "consume" => {
            let cut = num("cut-at", u64::MAX)?;
            let mut src = RedisStreamSource::new("remote", &url, &stream, "0");
            if n > 0 {
                src = src.max_ticks(n);
            }
            let print = num("print", 0)? == 1;
            let stall = num("stall-at-seq", u64::MAX)?;
            if let Some(g) = kv.get("group") {
                let c = get("consumer")?;
                src = src
                    .group(g, &c)
                    .claim_idle(Duration::from_millis(num("claim-idle-ms", 30_000)?));
            }
            src.start(0).map_err(|e| e.to_string())?;
            let mut out = vec![Tick::default(); if print { 256 } else { 4096 }];
            let (mut got, mut ordered) = (0u64, true);
            let cut_every = num("cut-every", u64::MAX)?;
            let mut next_cut = cut.min(cut_every);
            let mut started = None;
            let mut line = String::with_capacity(4096);
            loop {
                match src.poll(0, &mut out) {
                    Ok(SourcePoll::Ready(k)) => {
                        started.get_or_insert_with(Instant::now);
                        for t in &out[..k] {
                            ordered &= t.ts_event == got + src.lost();
                            got += 1;
                        }
                        if print && k > 0 {
                            print_ranges(&mut line, &out[..k], src.claimed());
                        }
                        if out[..k].iter().any(|t| t.ts_event >= stall) {
                            println!("stalled");
                            loop {
                                std::thread::sleep(Duration::from_secs(1));
                            }
                        }
                    }
                    Ok(SourcePoll::Pending) => std::thread::sleep(Duration::from_micros(50)),
                    Ok(SourcePoll::Ended) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
                if got >= next_cut {
                    next_cut = next_cut.saturating_add(cut_every);
                    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
                    let mut c = client.get_connection().map_err(|e| e.to_string())?;
                    let _: Value = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("TYPE")
                        .arg("normal")
                        .query(&mut c)
                        .map_err(|e| e.to_string())?;
                }
            }
            src.close(); // acknowledges the last batch of a group reader
            report(
                got,
                format!(
                    "lost={} gaps={} ordered={ordered} reconnects={} claimed={} reread={}",
                    src.lost(),
                    src.gaps(),
                    src.health().reconnects,
                    src.claimed(),
                    src.reread()
                ),
            );
        }
        "bare-produce" => {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let mut c = client.get_connection().map_err(|e| e.to_string())?;
            let mut bytes = Vec::with_capacity(chunk * 64);
            let mut i = 0u64;
            while i < n {
                let mut p = redis::pipe();
                for _ in 0..16 {
                    if i >= n {
                        break;
                    }
                    let m = (n - i).min(chunk as u64);
                    bytes.clear();
                    for j in i..i + m {
                        bytes.extend_from_slice(&tick(j).encode());
                    }
                    p.cmd("XADD")
                        .arg(&stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(max_len)
                        .arg("*")
                        .arg("i")
                        .arg(i)
                        .arg("t")
                        .arg(&bytes[..])
                        .ignore();
                    i += m;
                }
                p.query::<()>(&mut c).map_err(|e| e.to_string())?;
            }
            report(n, String::new());
        }
        "bare-consume" => {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let mut c = client.get_connection().map_err(|e| e.to_string())?;
            let (mut last, mut got) = ("0".to_string(), 0u64);
            while got < n {
                let v: Value = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(64)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(&last)
                    .query(&mut c)
                    .map_err(|e| e.to_string())?;
                let Value::Array(s) = v else {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                };
                let Some(Value::Array(kv)) = s.first() else {
                    continue;
                };
                let Value::Array(entries) = &kv[1] else {
                    continue;
                };
                for e in entries {
                    let Value::Array(pair) = e else { continue };
                    if let Value::BulkString(id) = &pair[0] {
                        last = String::from_utf8_lossy(id).into_owned();
                    }
                    if let Value::Array(f) = &pair[1] {
                        if let Some(Value::BulkString(t)) = f.get(3) {
                            got += (t.len() / 64) as u64;
                        }
                    }
                }
            }
            report(got, String::new());
        }
        other => return Err(format!("unknown mode {other:?}")),
    }
    Ok(())
}
