//! Running `mdp` as a hostile user would, and checking that it left the disk alone: a work
//! directory with fixtures, a bounded run (a hang is killed and reported), and snapshots of
//! the work directory before and after.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Longest a case may run before it counts as a hang (generous: the machine is loaded).
pub const BOUND: Duration = Duration::from_secs(90);

/// Address space of a child, in KiB: an unbounded read then fails fast (allocation failure)
/// instead of eating the machine's memory.
pub const MEMORY_LIMIT_KIB: u64 = 4 << 20;

/// A work directory (fixtures and outputs) and a log directory beside it.
pub struct Env {
    root: PathBuf,
    pub dir: PathBuf,
    logs: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let root = std::env::temp_dir().join(format!("mdp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("work");
        let logs = root.join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&logs).unwrap();
        Env { root, dir, logs }
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
    pub fn run(&self, args: &[String]) -> Outcome {
        run_bounded(&self.logs, args, &[])
    }

    /// As [`run`](Self::run) with shell commands run before `exec` (e.g. `ulimit -f 64`).
    pub fn run_with(&self, args: &[String], prelude: &[&str]) -> Outcome {
        run_bounded(&self.logs, args, prelude)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code; `None` when killed by a signal (or killed as a hang).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Killed after [`BOUND`].
    pub hung: bool,
}

fn run_bounded(logs: &Path, args: &[String], prelude: &[&str]) -> Outcome {
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
    let (status, hung) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (Some(status), false);
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        hung,
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
