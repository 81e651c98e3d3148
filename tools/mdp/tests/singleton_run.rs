//! Singleton pipelines in `mdp run --config` with `[coordination]`, runtimes as processes on a
//! private `redis-server`: the owner is killed -9 (another runtime takes the pipeline over with
//! a larger fencing token and delivers), then the new owner is stopped (SIGSTOP) past its
//! lease (a third takes over; the old one, resumed, is fenced out and stops its pipeline).
//! Every owner appends `(token, delivered)` through a Lua-fenced write; the log must never
//! show a write of an older token after a newer one (no window where two owners deliver and
//! are both accepted).

#[path = "../../mdp-redis/tests/common/mod.rs"]
mod redis_common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_common::{entry_tokens, eventually, field, Server};

const PIPELINE: &str = "desk/solo";

/// The singleton lease (ms); `MDP_SINGLETON_TTL_MS` overrides it for the measurements.
fn ttl_ms() -> u64 {
    std::env::var("MDP_SINGLETON_TTL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

fn config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    config_with(dir, url, "")
}

/// The config with `extra` lines appended to its `[coordination]` section.
fn config_with(dir: &std::path::Path, url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("singleton.toml");
    std::fs::write(
        &path,
        format!(
            r#"
max_concurrent_pipelines = 4
default_sources = ["feed"]
workers = 1

[providers.feed]
kind = "synthetic"
symbols = ["SPY"]
rate = 20000

[[pipelines]]
tenant_id = "desk"
pipeline_id = "solo"
singleton = true

[coordination]
url = "{url}"
key_prefix = "t"
singleton_ttl_ms = {ttl}
{extra}
"#,
            ttl = ttl_ms()
        ),
    )
    .expect("write config");
    path
}

/// A runtime process; its stderr lines (split on `\n` and `\r`) arrive on the receiver.
fn spawn(config: &std::path::Path) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdp"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--duration", "90"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mdp");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while err.read(&mut byte).is_ok_and(|n| n == 1) {
            if byte[0] == b'\n' || byte[0] == b'\r' {
                let line = String::from_utf8_lossy(&buf).to_string();
                buf.clear();
                if line.starts_with("singleton") && tx.send(line).is_err() {
                    break;
                }
            } else {
                buf.push(byte[0]);
            }
        }
    });
    (child, rx)
}

/// The next `singleton <PIPELINE>: <what>` line (bounded: 30 s).
fn expect(rx: &Receiver<String>, what: &str) -> String {
    let want = format!("singleton {PIPELINE}: {what}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {want:?} line in 30 s"));
        if line.starts_with(&want) {
            return line;
        }
    }
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
}

fn unix_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos(),
    )
    .expect("ns")
}

/// The fenced log: (token, delivered) per accepted write, in order.
fn log(server: &Server) -> Vec<(u64, u64)> {
    let out = Command::new("redis-cli")
        .arg("-s")
        .arg(server.socket())
        .args(["XRANGE", &format!("t:singleton:{PIPELINE}:log"), "-", "+"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "token" && i + 5 < lines.len() && lines[i + 4] == "delivered" {
            let t = lines[i + 1].parse().expect("token");
            let d = lines[i + 5].parse().expect("delivered");
            entries.push((t, d));
            i += 6;
        } else {
            i += 1;
        }
    }
    entries
}

/// Delivered records written by `token` (its last accepted write).
fn delivered_by(server: &Server, token: u64) -> u64 {
    log(server)
        .iter()
        .filter(|(t, _)| *t == token)
        .map(|(_, d)| *d)
        .max()
        .unwrap_or(0)
}

#[test]
fn a_singleton_pipeline_moves_to_another_runtime_and_a_fenced_out_owner_stops() {
    let Some(server) = Server::start("singleton_run") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mdp-singleton-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = config(&dir, &server.url());

    let (mut a, ra) = spawn(&config);
    let ta = field(&expect(&ra, "acquired"), "token");
    eventually("the first owner delivers", || delivered_by(&server, ta) > 0);
    let (mut b, rb) = spawn(&config);
    let (mut c, rc) = spawn(&config);

    // kill -9 of the owner: another runtime takes over with a larger token and delivers.
    let killed = unix_ns();
    signal(&a, "-KILL");
    let _ = a.wait();
    let (second, rs, other, ro) = {
        // Whichever of B and C wins; the other must keep waiting.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(l) = rb.try_recv() {
                if l.contains("acquired") {
                    break ((&mut b, l), &rb, &mut c, &rc);
                }
            }
            if let Ok(l) = rc.try_recv() {
                if l.contains("acquired") {
                    break ((&mut c, l), &rc, &mut b, &rb);
                }
            }
            assert!(Instant::now() < deadline, "no takeover in 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let (second, line) = second;
    let tb = field(&line, "token");
    assert!(tb > ta, "the new owner's token {tb} must exceed {ta}");
    let takeover_ms = (field(&line, "unix_ns").saturating_sub(killed)) as f64 / 1e6;
    eprintln!(
        "takeover_ms={takeover_ms:.1} lease_ms={} (measured, not asserted)",
        ttl_ms()
    );
    eventually("the second owner delivers", || {
        delivered_by(&server, tb) > 0
    });

    // SIGSTOP the owner past its lease: the third takes over; the old one, resumed, is fenced
    // out and stops its pipeline.
    signal(second, "-STOP");
    let tc = field(&expect(ro, "acquired"), "token");
    assert!(tc > tb);
    eventually("the third owner delivers", || delivered_by(&server, tc) > 0);
    signal(second, "-CONT");
    let lost = expect(rs, "lost");
    assert_eq!(field(&lost, "token"), tb, "{lost}");
    let after = delivered_by(&server, tc);
    eventually("the third owner keeps delivering", || {
        delivered_by(&server, tc) > after
    });

    // The fenced log: tokens never go back (no accepted write of an older owner after a newer).
    let entries = log(&server);
    assert!(entries.len() >= 3, "{entries:?}");
    assert!(
        entries.windows(2).all(|w| w[0].0 <= w[1].0),
        "an older token wrote after a newer one: {entries:?}"
    );
    for child in [second, other] {
        signal(child, "-KILL");
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_singletons_fenced_stream_never_takes_an_entry_of_an_old_owner_after_the_new_ones() {
    let Some(server) = Server::start("singleton_stream") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mdp-singleton-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = config_with(&dir, &server.url(), "singleton_stream_max_len = 1000000");
    let stream = format!("t:singleton:{PIPELINE}:ticks");
    let url = server.url();

    let (mut a, ra) = spawn(&config);
    let ta = field(&expect(&ra, "acquired"), "token");
    eventually("the first owner appends", || {
        entry_tokens(&url, &stream).contains(&ta)
    });
    let (mut b, rb) = spawn(&config);
    // SIGSTOP the owner past its lease: B takes over and appends under its token.
    signal(&a, "-STOP");
    let tb = field(&expect(&rb, "acquired"), "token");
    assert!(tb > ta);
    eventually("the new owner appends", || {
        entry_tokens(&url, &stream).contains(&tb)
    });
    // Resumed, A's pipeline stops: either its sink's next append is refused by the fence in
    // Redis (the pipeline fails and stops itself) or its lease poll notices first. Whichever
    // comes first, nothing of A's lands after B's first entry.
    signal(&a, "-CONT");
    let lost = expect(&ra, "lost");
    assert_eq!(field(&lost, "token"), ta, "{lost}");
    let n = entry_tokens(&url, &stream).len();
    eventually("the new owner keeps appending", || {
        entry_tokens(&url, &stream).len() > n + 3
    });
    let tokens = entry_tokens(&url, &stream);
    let first_b = tokens.iter().position(|&t| t == tb).expect("B's entries");
    assert!(tokens[..first_b].iter().all(|&t| t == ta), "{tokens:?}");
    assert!(
        tokens[first_b..].iter().all(|&t| t == tb),
        "an entry of the old owner after the new owner's first"
    );
    eprintln!(
        "fenced singleton stream: {first_b} entries of token {ta}, then {} of token {tb}; {lost}",
        tokens.len() - first_b
    );
    for child in [&mut a, &mut b] {
        signal(child, "-KILL");
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
