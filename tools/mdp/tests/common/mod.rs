//! Helpers for tests that run the `mdp` binary as a child process: spawn with captured output,
//! send signals, and wait with a bound (a child that outlives it is killed and reported as a
//! hang, never waited for without end); and for running it as a hostile user would, checking
//! that it left the disk alone: a work directory with fixtures, a bounded run under a memory
//! limit, snapshots of the work directory before and after, FIFOs fed while a case runs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// A bound for anything a test waits for, and the longest a run may take before it counts as
/// a hang; only a broken build gets near it (generous: the machine is loaded).
pub const BOUND: Duration = Duration::from_secs(90);

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

    /// Whether it outlived [`BOUND`] and was killed.
    pub fn hung(&self) -> bool {
        self.status.is_none()
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

/// Address space of a child, in KiB: an unbounded read then fails fast (allocation failure)
/// instead of eating the machine's memory.
pub const MEMORY_LIMIT_KIB: u64 = 4 << 20;

/// A work directory (fixtures and outputs) and a log directory beside it, in a
/// [`fresh_dir`] (removed when dropped).
pub struct Env {
    _root: Scratch,
    pub dir: PathBuf,
    logs: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let root = fresh_dir(name);
        let dir = root.join("work");
        let logs = root.join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&logs).unwrap();
        Env {
            _root: root,
            dir,
            logs,
        }
    }

    /// `name` in the work directory.
    pub fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Expand a case's argument: `@name` is `name` in the work directory; `{n}` is the case
    /// number.
    pub fn arg(&self, token: &str, n: u32) -> String {
        let token = token.replace("{n}", &n.to_string());
        match token.strip_prefix('@') {
            Some(name) => self.p(name).display().to_string(),
            None => token,
        }
    }

    /// Run `mdp` with a memory limit; kill it after [`BOUND`].
    pub fn run(&self, args: &[String]) -> Ended {
        run_bounded(&self.logs, args, &[])
    }

    /// As [`run`](Self::run) with shell commands run before `exec` (e.g. `ulimit -f 64`).
    pub fn run_with(&self, args: &[String], prelude: &[&str]) -> Ended {
        run_bounded(&self.logs, args, prelude)
    }
}

/// Run `mdp args` through `sh` (memory limit, then `prelude`), output to files in `logs`; a
/// run past [`BOUND`] is killed (`status: None`: a hang).
fn run_bounded(logs: &Path, args: &[String], prelude: &[&str]) -> Ended {
    let out_path = logs.join("stdout");
    let err_path = logs.join("stderr");
    let script = format!(
        "ulimit -v {MEMORY_LIMIT_KIB} 2>/dev/null; {} exec \"$0\" \"$@\"",
        prelude.iter().map(|p| format!("{p};")).collect::<String>()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_mdp"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        // Files, not pipes: a chatty child can never block on a full pipe.
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("sh runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ended {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// One entry of a snapshot: type, size, mtime and (regular files) a hash of the bytes. FIFOs
/// and sockets have no bytes; their mtime is left out (a writer feeding a FIFO changes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: &'static str,
    size: u64,
    mtime: Option<SystemTime>,
    hash: Option<u64>,
    link: Option<PathBuf>,
}

/// Regular files up to this size are compared byte for byte (by hash).
const HASH_LIMIT: u64 = 64 << 20;

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every entry under `dir` (links not followed), by path relative to `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let (kind, keep_mtime) = if ft.is_symlink() {
                ("link", true)
            } else if ft.is_dir() {
                todo.push(path.clone());
                ("dir", true)
            } else if ft.is_file() {
                ("file", true)
            } else if ft.is_fifo() {
                ("fifo", false)
            } else if ft.is_socket() {
                ("socket", false)
            } else {
                ("other", true)
            };
            let entry = Entry {
                kind,
                size: if keep_mtime { meta.len() } else { 0 },
                mtime: if keep_mtime {
                    meta.modified().ok()
                } else {
                    None
                },
                // Large (sparse) fixtures are compared by size and mtime only.
                hash: (ft.is_file() && meta.len() <= HASH_LIMIT)
                    .then(|| fnv(&std::fs::read(&path).unwrap())),
                link: ft.is_symlink().then(|| std::fs::read_link(&path).unwrap()),
            };
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), entry);
        }
    }
    out
}

/// Paths that differ between two snapshots (added, removed or changed).
pub fn changes(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) -> Vec<PathBuf> {
    let mut all: Vec<&PathBuf> = before.keys().chain(after.keys()).collect();
    all.sort();
    all.dedup();
    all.into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .cloned()
        .collect()
}

/// A shell feeding a FIFO from `source` (e.g. `/dev/urandom`) until it is killed; it blocks
/// in `open` until a reader comes, so a command that refuses the FIFO never meets it.
pub struct Feeder(Child);

impl Feeder {
    pub fn start(source: &str, fifo: &Path) -> Feeder {
        let child = Command::new("sh")
            .arg("-c")
            .arg("exec cat \"$0\" > \"$1\"")
            .arg(source)
            .arg(fifo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        Feeder(child)
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(ok.success());
}
