//! Issue 7, the class "faults in the middle of work": SIGINT and kill -9 at seeded random
//! points of `gen`, `replay --out` and `run --config`, then every file on disk is checked.
//!
//! The invariant, wherever the signal lands (so nothing here depends on timing):
//! - no hang (each child is bounded), no panic;
//! - exit status: 0 (the work was done before the signal mattered), 130 for SIGINT (graceful),
//!   killed by signal 9 for kill -9; never anything else;
//! - every file is either a finished, fully valid recording of a complete run (opens, every
//!   record valid, the full tick count, `mdp replay` exits 0 with that count), or an
//!   unfinished `.partial` that every reader refuses (`mdp replay` exits 2 with an error);
//! - exit 0 leaves the finished file and no `.partial`; exit 130 leaves no finished file;
//! - inputs are unchanged, and no other file appears.
//!
//! Each child is signalled only once it has started work (its `.partial` exists, or for
//! `run --config` its live line was printed); then the seeded RNG picks the point: a byte count
//! of the recording to wait for, or a delay. `MDP_FAULT_POINTS` (default 50) sets the points per
//! command and signal (so 6 × that many runs); `MDP_FAULT_SEED` sets the seed.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fresh_dir, listing, run, Ended, Mdp, Scratch, BOUND};
use market_data_pipeline::TickFile;

const GEN_TICKS: u64 = 20_000;
const INPUT_TICKS: u64 = 20_000;
const RUN_MS: u64 = 300;

/// The seeded choices: choice `i` is std's SipHash (fixed keys) of `(seed, i)`, so a seed
/// replays the same points.
struct Rng {
    seed: u64,
    i: u64,
}

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        (self.seed, self.i).hash(&mut h);
        self.i += 1;
        h.finish() % n.max(1)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default, Debug)]
struct Tally {
    points: u64,
    files_checked: u64,
    finished: u64,
    unfinished: u64,
    exit_ok: u64,
    exit_interrupted: u64,
    killed: u64,
    hangs: u64,
    panics: u64,
    valid_looking_partials: u64,
    failures: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gen,
    Replay,
    RunConfig,
}

struct Fixture {
    _shared: Scratch,
    input: PathBuf,
    input_bytes: Vec<u8>,
    config: PathBuf,
    config_bytes: Vec<u8>,
}

fn fixture() -> Fixture {
    let shared = fresh_dir("faults-shared");
    let e = run(
        &[
            "gen",
            "in.mdt",
            "--ticks",
            &INPUT_TICKS.to_string(),
            "--quiet",
        ],
        &shared,
    );
    assert_eq!(e.code(), Some(0), "{}", e.stderr);
    let input = shared.join("in.mdt");
    let config = shared.join("replay.toml");
    std::fs::write(
        &config,
        format!(
            "default_sources = [\"tape\"]\n\n[providers.tape]\nkind = \"replay\"\npath = {:?}\n\
             symbols = [\"AAPL\", \"MSFT\", \"GOOG\", \"AMZN\", \"NVDA\"]\n\n[[pipelines]]\n\
             tenant_id = \"t\"\npipeline_id = \"p\"\n",
            input.to_str().unwrap()
        ),
    )
    .unwrap();
    Fixture {
        input_bytes: std::fs::read(&input).unwrap(),
        config_bytes: std::fs::read(&config).unwrap(),
        _shared: shared,
        input,
        config,
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// One point: start the command, wait until it has started work, then until the seeded point,
/// signal it, and check everything.
fn point(fx: &Fixture, kind: Kind, sig: i32, rng: &mut Rng, n: u64, t: &mut Tally) {
    let dir = fresh_dir(&format!("faults-{kind:?}-{sig}-{n}"));
    let (out_name, expected) = match kind {
        Kind::Gen => ("out.mdt", GEN_TICKS),
        Kind::Replay => ("rec.mdt", INPUT_TICKS),
        Kind::RunConfig => ("", 0),
    };
    let ticks = GEN_TICKS.to_string();
    let duration = format!("{}", RUN_MS as f64 / 1000.0);
    let args: Vec<&str> = match kind {
        Kind::Gen => vec!["gen", out_name, "--ticks", &ticks, "--quiet"],
        Kind::Replay => vec![
            "replay",
            fx.input.to_str().unwrap(),
            "--out",
            out_name,
            "--quiet",
        ],
        Kind::RunConfig => vec![
            "run",
            "--config",
            fx.config.to_str().unwrap(),
            "--duration",
            &duration,
        ],
    };
    let partial = dir.join(format!("{out_name}.partial"));
    let full_bytes = 64 * (expected + 2);
    let mut child = Mdp::spawn(&args, &dir);
    let started = match kind {
        Kind::RunConfig => child.wait_until(|c| !c.stderr().is_empty()),
        _ => child.wait_until(|_| partial.exists() || dir.join(out_name).exists()),
    };
    if started {
        match kind {
            Kind::RunConfig => {
                let delay = Duration::from_millis(rng.below(RUN_MS * 12 / 10));
                let until = Instant::now() + delay;
                child.wait_until(|_| Instant::now() >= until);
            }
            _ => {
                // A byte count of the recording; past its end the run finishes first.
                let k = rng.below(full_bytes * 11 / 10);
                child.wait_until(|_| !partial.exists() || size(&partial) >= k);
            }
        }
    }
    if !child.exited() {
        child.signal(sig);
    }
    let e = child.wait();
    t.points += 1;
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{kind:?} sig {sig} #{n}: {what}"));
    check_exit(&e, sig, &mut fail);
    if e.status.is_none() {
        t.hangs += 1;
    }
    if e.panicked() {
        t.panics += 1;
    }
    match e.code() {
        Some(0) => t.exit_ok += 1,
        Some(130) => t.exit_interrupted += 1,
        _ if e.signal() == Some(libc::SIGKILL) => t.killed += 1,
        _ => {}
    }
    // The files.
    let mut valid_looking = 0;
    let names = listing(&dir);
    for name in &names {
        t.files_checked += 1;
        let path = dir.join(name);
        if name == out_name {
            t.finished += 1;
            check_finished(&path, expected, &mut fail);
            if e.code() == Some(130) {
                fail(format!("exit 130 but {name} is finished"));
            }
        } else if kind != Kind::RunConfig && *name == format!("{out_name}.partial") {
            t.unfinished += 1;
            if check_refused(&path, &mut fail) {
                valid_looking += 1;
            }
            if e.code() == Some(0) {
                fail(format!("exit 0 left {name}"));
            }
        } else {
            fail(format!("unexpected file {name}"));
        }
    }
    if e.code() == Some(0) && kind != Kind::RunConfig && !names.iter().any(|n| n == out_name) {
        fail(format!("exit 0 without {out_name}"));
    }
    if kind == Kind::RunConfig && e.code().is_some() && !e.stdout.contains("pipelines:") {
        fail(format!("no summary: {}", e.stdout));
    }
    // Inputs unchanged.
    if std::fs::read(&fx.input).ok().as_deref() != Some(&fx.input_bytes[..]) {
        fail("the input tick file changed".into());
    }
    if std::fs::read(&fx.config).ok().as_deref() != Some(&fx.config_bytes[..]) {
        fail("the config changed".into());
    }
    t.valid_looking_partials += valid_looking;
    t.failures.append(&mut failures);
}

fn check_exit(e: &Ended, sig: i32, fail: &mut impl FnMut(String)) {
    if e.status.is_none() {
        fail("hung".into());
        return;
    }
    if e.panicked() {
        fail(format!("panicked: {}", e.stderr));
    }
    let ok = match (e.code(), e.signal()) {
        (Some(0), _) => true,
        (Some(130), _) => sig == libc::SIGINT && e.stderr.contains("interrupted by SIGINT"),
        (None, Some(s)) => sig == libc::SIGKILL && s == libc::SIGKILL,
        _ => false,
    };
    if !ok {
        fail(format!("status {:?}: {}", e.status, e.stderr));
    }
}

/// A finished recording: opens, every record valid, the full count, and `mdp replay` agrees.
fn check_finished(path: &Path, expected: u64, fail: &mut impl FnMut(String)) {
    match TickFile::open(path) {
        Ok(f) => {
            if f.len() != expected {
                fail(format!(
                    "{} holds {} of {expected} ticks",
                    path.display(),
                    f.len()
                ));
            }
            if let Err(e) = f.validate_records() {
                fail(format!("{}: {e}", path.display()));
            }
        }
        Err(e) => fail(format!(
            "{} is finished but unreadable: {e}",
            path.display()
        )),
    }
    let dir = path.parent().unwrap();
    let e = run(&["replay", path.to_str().unwrap(), "--quiet"], dir);
    if e.code() != Some(0) || !e.stdout.contains(&format!("replayed {expected} ticks")) {
        fail(format!(
            "replay of {}: {:?} {}{}",
            path.display(),
            e.status,
            e.stdout,
            e.stderr
        ));
    }
}

/// An unfinished recording is refused by the library and by `mdp replay`. Returns true when
/// it would pass for a valid file (the defect this test exists to catch).
fn check_refused(path: &Path, fail: &mut impl FnMut(String)) -> bool {
    let opens = TickFile::open(path).is_ok();
    if opens {
        fail(format!("{} opens as a valid tick file", path.display()));
    }
    let dir = path.parent().unwrap();
    let e = run(&["replay", path.to_str().unwrap(), "--quiet"], dir);
    if e.code() != Some(2) || !e.stderr.contains("error:") {
        fail(format!(
            "replay of {} was not refused: {:?} {}",
            path.display(),
            e.status,
            e.stderr
        ));
        return true;
    }
    opens
}

#[test]
fn sigint_and_kill_9_at_random_points_leave_only_finished_or_refused_files() {
    let points = env_u64("MDP_FAULT_POINTS", 50);
    let seed = env_u64("MDP_FAULT_SEED", 0x5eed_fa17);
    let fx = fixture();
    let mut rng = Rng { seed, i: 0 };
    let mut t = Tally::default();
    let started = Instant::now();
    for kind in [Kind::Gen, Kind::Replay, Kind::RunConfig] {
        for sig in [libc::SIGINT, libc::SIGKILL] {
            for n in 0..points {
                point(&fx, kind, sig, &mut rng, n, &mut t);
                assert!(
                    started.elapsed() < BOUND * 20,
                    "the fault script overran its bound"
                );
            }
        }
    }
    drop(fx);
    eprintln!(
        "fault script (seed {seed:#x}): {} points, {} files checked ({} finished, {} unfinished); \
         exits: {} ok, {} interrupted (130), {} killed (-9); {} hangs, {} panics, {} valid-looking \
         partial outputs; {:.1}s",
        t.points,
        t.files_checked,
        t.finished,
        t.unfinished,
        t.exit_ok,
        t.exit_interrupted,
        t.killed,
        t.hangs,
        t.panics,
        t.valid_looking_partials,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(t.points, 6 * points);
    assert!(
        t.failures.is_empty(),
        "{} failures:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    assert_eq!((t.hangs, t.panics, t.valid_looking_partials), (0, 0, 0));
}
