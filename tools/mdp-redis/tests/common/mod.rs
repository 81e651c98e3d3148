//! A private `redis-server` per test (unix socket under the temp directory, no persistence),
//! or none: then each test prints a loud SKIPPED line and passes (fails when the environment
//! variable `MDP_REQUIRE_REDIS` is set, as `.ci/run` does).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A private server that can be stopped, restarted and have its clients cut.
pub struct Server {
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Start one, or `None` (with the SKIPPED line) when `redis-server` is not installed.
    pub fn start(test: &str) -> Option<Server> {
        let ok = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // .ci/run sets this after installing the server: there, a missing server is a
            // failure, not a skip.
            assert!(
                std::env::var_os("MDP_REQUIRE_REDIS").is_none(),
                "{test}: MDP_REQUIRE_REDIS is set but `redis-server` cannot be run"
            );
            eprintln!(
                "\n*** SKIPPED {test}: `redis-server` is not installed (Debian: apt-get install \
                 redis-server; .ci/run installs it). The Redis tests did NOT run. ***\n"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("mdp-redis-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut s = Server { dir, child: None };
        s.restart();
        Some(s)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Start (again) on the same socket; waits (bounded) until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9 the server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Run a command; the reply's first line.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait (bounded: 30 s, then panic naming `what`) until `f` holds.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `key=value` from a `result …` line.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// A stream entry as `XRANGE` returns it: ID, then field–value pairs.
type Entry = (String, Vec<(String, Vec<u8>)>);

/// The `token` field of every entry of `stream`, in stream order (0 where there is none).
pub fn entry_tokens(url: &str, stream: &str) -> Vec<u64> {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect");
    let entries: Vec<Entry> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut con)
        .expect("XRANGE");
    entries
        .iter()
        .map(|(_, fields)| {
            fields
                .iter()
                .find(|(k, _)| k == "token")
                .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// The lines `child` prints on its (piped) stdout, as they come.
pub fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
