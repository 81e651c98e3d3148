//! Helpers for tests that run the `mdp` binary as a child process: spawn with captured output,
//! send signals, and wait with a bound (a child that outlives it is killed and reported as a
//! hang, never waited for without end).

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A bound for anything a test waits for; only a broken build gets near it.
pub const BOUND: Duration = Duration::from_secs(60);

/// A running `mdp` with its stdout and stderr collected by reader threads.
pub struct Mdp {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a child ended.
#[derive(Debug)]
pub struct Ended {
    /// `None`: it outlived [`BOUND`] and was killed (a hang).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Ended {
    /// The exit code (`None` when killed by a signal or hung).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The signal that killed it.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.and_then(|s| s.signal())
    }

    /// Whether the output shows a panic.
    pub fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.stdout.contains("panicked")
    }
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Mdp {
    /// Start `mdp args` in `dir`.
    pub fn spawn(args: &[&str], dir: &Path) -> Mdp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mdp"))
            .args(args)
            .current_dir(dir)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mdp starts");
        let (out, err) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&out)),
            collect(child.stderr.take().unwrap(), Arc::clone(&err)),
        ];
        Mdp {
            child,
            out,
            err,
            readers,
        }
    }

    /// Send `sig` (the child is not reaped before `wait`, so its pid cannot be reused).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with the pid of our own unreaped child; no memory is involved.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(r, 0, "kill {} {sig}", self.child.id());
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Whether the child has closed its output (it has exited); the child is not reaped.
    pub fn exited(&self) -> bool {
        self.readers.iter().all(|r| r.is_finished())
    }

    /// Wait until `cond` holds or the child exits (bounded by [`BOUND`]); true if `cond` held.
    pub fn wait_until(&mut self, mut cond: impl FnMut(&Mdp) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < BOUND {
            if cond(self) {
                return true;
            }
            if self.exited() {
                return cond(self);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Wait for the end (bounded by [`BOUND`]; past it the child is killed: a hang).
    pub fn wait(mut self) -> Ended {
        let start = Instant::now();
        let mut status = None;
        while start.elapsed() < BOUND {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Ended {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Mdp {
    /// A child left behind by a failed assertion is killed, never orphaned. (After `wait` the
    /// child is reaped: std then sends nothing.)
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `mdp args` in `dir` to the end (bounded).
pub fn run(args: &[&str], dir: &Path) -> Ended {
    Mdp::spawn(args, dir).wait()
}

/// A fresh, empty directory, never shared with another call (tests run in parallel); removed
/// when dropped.
pub fn fresh_dir(name: &str) -> Scratch {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mdp-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A test's directory (see [`fresh_dir`]).
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names of the entries of `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
