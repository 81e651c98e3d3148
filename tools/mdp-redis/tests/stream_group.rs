//! A consumer group over a Redis stream, consumers as processes (`mdp-stream consume
//! --group`): two consumers share the stream with no tick delivered twice; kill -9 of one
//! mid-batch → the other claims its pending entries, and the only ticks delivered twice are the
//! ones it had handed out from those entries; a consumer whose connection is cut again and
//! again delivers every tick exactly once and in order.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use market_data_pipeline::sink::Sink;
use market_data_pipeline::{Price, SymbolId, Tick};
use mdp_redis::stream::RedisStreamSink;

/// Ticks per entry: entry `k` (ID `k-1`) holds ticks `(k-1)·64 .. k·64`.
const CHUNK: u64 = 64;

fn tick(i: u64) -> Tick {
    Tick {
        seq: i as u32,
        ..Tick::quote(SymbolId(1), i, Price(i as i64), Price(i as i64 + 1), 1, 1)
    }
}

/// A sink on stream `s` (room for every test's entries), 64 ticks per entry.
fn sink(url: &str) -> RedisStreamSink {
    RedisStreamSink::open(url, "s", 10_000_000)
        .expect("sink")
        .chunk_ticks(CHUNK as usize)
}

fn append(sink: &mut RedisStreamSink, from: u64, to: u64) {
    let ticks: Vec<Tick> = (from..to).map(tick).collect();
    sink.write_ticks(&ticks).expect("append");
}

/// A consumer process of group `g` on stream `s`; its stdout lines on the receiver.
fn consumer(url: &str, name: &str, extra: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdp-stream"))
        .args(["consume", "--url", url, "--stream", "s", "--ticks", "0"])
        .args(["--group", "g", "--consumer", name, "--print", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mdp-stream");
    let rx = common::stdout_lines(&mut child);
    (child, rx)
}

/// What one consumer printed: every tick it handed out (in order, with repeats), the largest
/// `claimed=` count, and whether it said `stalled`.
#[derive(Default)]
struct Seen {
    ticks: Vec<u64>,
    claimed: u64,
    stalled: bool,
}

impl Seen {
    fn take(&mut self, rx: &Receiver<String>) {
        while let Ok(line) = rx.try_recv() {
            if line == "stalled" {
                self.stalled = true;
                continue;
            }
            let Some(rest) = line.strip_prefix("d ") else {
                continue;
            };
            for part in rest.split_whitespace() {
                if let Some(c) = part.strip_prefix("claimed=") {
                    self.claimed = self.claimed.max(c.parse().expect("claimed count"));
                } else {
                    let (a, b) = part.split_once('-').expect("a range");
                    let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
                    self.ticks.extend(a..=b);
                }
            }
        }
    }
}

/// How often each of `0..n` was delivered by all of `seen`.
fn counts(n: u64, seen: &[&Seen]) -> Vec<u32> {
    let mut c = vec![0u32; n as usize];
    for s in seen {
        for &t in &s.ticks {
            c[t as usize] += 1;
        }
    }
    c
}

/// Collect from both until every tick of `0..n` was delivered (bounded: 60 s).
fn until_all(n: u64, a: (&mut Seen, &Receiver<String>), b: (&mut Seen, &Receiver<String>)) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        a.0.take(a.1);
        b.0.take(b.1);
        if counts(n, &[a.0, b.0]).iter().all(|&c| c > 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every tick delivered in 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pending_total(url: &str) -> u64 {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect");
    let (n, ..): (u64, Option<String>, Option<String>, redis::Value) = redis::cmd("XPENDING")
        .arg("s")
        .arg("g")
        .query(&mut con)
        .expect("XPENDING");
    n
}

/// The entries pending for `consumer`, as entry numbers.
fn pending_of(url: &str, consumer: &str) -> Vec<u64> {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect");
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg("s")
        .arg("g")
        .arg("-")
        .arg("+")
        .arg(100_000)
        .arg(consumer)
        .query(&mut con)
        .expect("XPENDING detail");
    rows.iter()
        .map(|(id, ..)| id.split('-').next().unwrap().parse().unwrap())
        .collect()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn two_consumers_share_a_group_and_no_tick_is_delivered_twice() {
    let Some(server) = common::Server::start("group_share") else {
        return;
    };
    let url = server.url();
    let (a, ra) = consumer(&url, "a", &["--claim-idle-ms", "60000"]);
    let (b, rb) = consumer(&url, "b", &["--claim-idle-ms", "60000"]);
    let mut writer = sink(&url);
    const N: u64 = 200 * 640;
    for k in 0..200 {
        append(&mut writer, k * 640, (k + 1) * 640);
    }
    let (mut sa, mut sb) = (Seen::default(), Seen::default());
    until_all(N, (&mut sa, &ra), (&mut sb, &rb));
    let c = counts(N, &[&sa, &sb]);
    let twice: Vec<usize> = (0..c.len()).filter(|&i| c[i] > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered twice: {:?}",
        &twice[..twice.len().min(10)]
    );
    eprintln!(
        "shared: consumer a {} ticks, consumer b {} ticks",
        sa.ticks.len(),
        sb.ticks.len()
    );
    // Every entry is acknowledged once handed out (the consumers' next reads carry it).
    common::eventually("every entry acknowledged", || pending_total(&url) == 0);
    stop(a);
    stop(b);
}

#[test]
fn a_killed_consumers_pending_entries_are_claimed_and_only_they_are_delivered_twice() {
    let Some(server) = common::Server::start("group_kill") else {
        return;
    };
    let url = server.url();
    let mut writer = sink(&url);
    const N1: u64 = 500 * CHUNK;
    const N2: u64 = 500 * CHUNK;
    // Consumer a stops handing out (without acknowledging) in the middle of a batch of the
    // second half; b claims what is pending for longer than 3 s (long enough that a consumer
    // merely descheduled on a loaded machine keeps its batch in the first half).
    let stall = N1 + 100 * CHUNK + 10;
    let (a, ra) = consumer(&url, "a", &["--stall-at-seq", &stall.to_string()]);
    let (b, rb) = consumer(&url, "b", &["--claim-idle-ms", "3000"]);
    append(&mut writer, 0, N1);
    let (mut sa, mut sb) = (Seen::default(), Seen::default());
    until_all(N1, (&mut sa, &ra), (&mut sb, &rb));
    assert!(
        counts(N1, &[&sa, &sb]).iter().all(|&c| c == 1),
        "normal operation: each tick once"
    );
    // b paused: a alone takes the second half, stalls mid-batch, and is killed -9.
    signal(&b, "-STOP");
    append(&mut writer, N1, N1 + N2);
    common::eventually("consumer a stalled", || {
        sa.take(&ra);
        sa.stalled
    });
    let mut a = a;
    a.kill().unwrap();
    a.wait().unwrap();
    sa.take(&ra);
    let at_kill = pending_of(&url, "a");
    assert!(!at_kill.is_empty(), "a was killed with entries pending");
    let pending_ticks: BTreeSet<u64> = at_kill
        .iter()
        .flat_map(|&k| (k - 1) * CHUNK..k * CHUNK)
        .collect();
    // b resumes, claims a's pending entries and reads the rest.
    signal(&b, "-CONT");
    until_all(N1 + N2, (&mut sa, &ra), (&mut sb, &rb));
    let c = counts(N1 + N2, &[&sa, &sb]);
    assert!(c.iter().all(|&n| n == 1 || n == 2), "at most twice");
    let twice: BTreeSet<u64> = (0..N1 + N2).filter(|&i| c[i as usize] == 2).collect();
    let expected: BTreeSet<u64> = sa
        .ticks
        .iter()
        .copied()
        .filter(|t| pending_ticks.contains(t))
        .collect();
    assert!(
        !expected.is_empty(),
        "a had handed out part of its pending batch"
    );
    assert_eq!(
        twice, expected,
        "the duplicates are exactly the ticks a handed out from the entries pending at its kill"
    );
    assert_eq!(
        sb.claimed,
        pending_ticks.len() as u64,
        "b claimed exactly a's pending entries"
    );
    eprintln!(
        "kill -9: {} entries ({} ticks) pending for a, {} ticks delivered twice, b claimed {}",
        at_kill.len(),
        pending_ticks.len(),
        twice.len(),
        sb.claimed
    );
    common::eventually("every entry acknowledged", || pending_total(&url) == 0);
    stop(b);
}

#[test]
fn a_group_consumer_cut_off_again_and_again_delivers_exactly_once_in_order() {
    let Some(server) = common::Server::start("group_cuts") else {
        return;
    };
    let url = server.url();
    let mut writer = sink(&url);
    const N: u64 = 300_000;
    append(&mut writer, 0, N);
    let out = Command::new(env!("CARGO_BIN_EXE_mdp-stream"))
        .args(["consume", "--url", &url, "--stream", "s"])
        .args(["--ticks", &N.to_string(), "--group", "g", "--consumer", "c"])
        .args(["--cut-every", "10000"])
        .output()
        .expect("run mdp-stream");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("result"))
        .unwrap_or_else(|| panic!("no result line: {text} {:?}", out.status));
    eprintln!("{line}");
    assert!(line.contains("ordered=true"), "{line}");
    assert_eq!(common::field(line, "ticks"), N);
    assert!(common::field(line, "reconnects") >= 5, "{line}");
    assert_eq!(
        pending_total(&url),
        0,
        "the last batch acknowledged at close"
    );
}
