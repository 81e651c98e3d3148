//! Regressions of issue 7 (items 2–5 and the smaller ones about files), run through the `mdp`
//! binary: unbounded reads, an output that is the input, outputs that replaced links and
//! FIFOs, failed runs that left finished recordings, and a write error that did not name its
//! file. Each child runs with a memory limit and a time bound ([`support`]).

mod common;

use std::path::Path;

use common::{mkfifo, Env, Feeder};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

fn gen(env: &Env, name: &str, ticks: u32) -> std::path::PathBuf {
    let path = env.p(name);
    let out = env.run(&args(&[
        "gen",
        &s(&path),
        "--ticks",
        &ticks.to_string(),
        "--quiet",
    ]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    path
}

/// Item 2: `replay /dev/zero`, a FIFO fed from /dev/urandom and `run --config /dev/zero`
/// grew memory for ever.
#[test]
fn regression_unbounded_reads_from_devices_and_fed_fifos() {
    let env = Env::new("reg-reads");
    let fifo = env.p("fifo");
    mkfifo(&fifo);
    let feeder = Feeder::start("/dev/urandom", &fifo);
    let cases: Vec<(u32, Vec<String>, &str)> = vec![
        (1, args(&["replay", "/dev/zero"]), "/dev/zero: refused"),
        (2, args(&["replay", &s(&fifo)]), "refused: a FIFO"),
        (
            3,
            args(&["run", "--config", "/dev/zero", "--duration", "0.1"]),
            "limit of 16777216 bytes",
        ),
    ];
    for (case, a, want) in cases {
        let out = env.run(&a);
        assert!(!out.hung(), "case {case}: {out:?}");
        assert_eq!(out.code(), Some(2), "case {case}: {out:?}");
        assert!(out.stderr.contains(want), "case {case}: {out:?}");
    }
    drop(feeder);
}

/// Item 3: `mdp replay F --csv F` died with SIGBUS and truncated F to 0 bytes.
#[test]
fn regression_replay_onto_its_own_input_destroyed_it() {
    let env = Env::new("reg-same");
    let input = gen(&env, "in.mdt", 20_000);
    let link = env.p("link.mdt");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let hard = env.p("hard.mdt");
    std::fs::hard_link(&input, &hard).unwrap();
    let before = std::fs::read(&input).unwrap();
    for (case, flag, out) in [
        (1, "--csv", &input),
        (2, "--out", &input),
        (3, "--csv", &hard),
        (4, "--out", &link),
    ] {
        let o = env.run(&args(&["replay", &s(&input), flag, &s(out), "--quiet"]));
        assert_eq!(o.code(), Some(2), "case {case}: {o:?}");
        assert!(o.stderr.contains("refused"), "case {case}: {o:?}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "case {case}: input changed"
        );
    }
}

/// Item 4: `--out` replaced whatever was at the path (a symlink, a FIFO…) with a file.
#[test]
fn regression_outputs_replaced_links_and_fifos() {
    let env = Env::new("reg-replace");
    let input = gen(&env, "in.mdt", 1_000);
    let target = env.p("target");
    std::fs::write(&target, b"keep").unwrap();
    let link = env.p("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = env.p("dangling");
    std::os::unix::fs::symlink(env.p("nowhere"), &dangling).unwrap();
    let fifo = env.p("fifo");
    mkfifo(&fifo);
    for (case, cmd) in [
        (
            1,
            args(&["replay", &s(&input), "--out", &s(&link), "--quiet"]),
        ),
        (
            2,
            args(&["replay", &s(&input), "--csv", &s(&dangling), "--quiet"]),
        ),
        (
            3,
            args(&["replay", &s(&input), "--out", &s(&fifo), "--quiet"]),
        ),
        (4, args(&["gen", &s(&link), "--ticks", "10", "--quiet"])),
        (5, args(&["gen", &s(&dangling), "--ticks", "10", "--quiet"])),
        (6, args(&["gen", &s(&fifo), "--ticks", "10", "--quiet"])),
    ] {
        let o = env.run(&cmd);
        assert_eq!(o.code(), Some(2), "case {case}: {o:?}");
        assert!(
            o.stderr.contains("is at the output path"),
            "case {case}: {o:?}"
        );
        let is = |p: &Path| std::fs::symlink_metadata(p).unwrap().file_type();
        assert!(is(&link).is_symlink(), "case {case}");
        assert!(is(&dangling).is_symlink(), "case {case}");
        use std::os::unix::fs::FileTypeExt;
        assert!(is(&fifo).is_fifo(), "case {case}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep", "case {case}");
        assert!(!env.p("nowhere").exists(), "case {case}");
    }
}

/// Item 5 (and "recorded to X" printed when recording failed): a replay that stopped at a
/// corrupt record 50,000 exited 2 but left `--out`/`--csv` as finished files of the 50,000
/// ticks before it, which later replayed with exit 0.
#[test]
fn regression_failed_replay_left_finished_recordings() {
    let env = Env::new("reg-failed");
    let input = gen(&env, "in.mdt", 60_000);
    let mut bytes = std::fs::read(&input).unwrap();
    bytes[64 + 50_000 * 64 + 62] = 9; // record 50,000: invalid kind
    std::fs::write(&input, &bytes).unwrap();
    for (case, flag, name) in [(1, "--out", "out.mdt"), (2, "--csv", "out.csv")] {
        let out = env.p(name);
        let o = env.run(&args(&["replay", &s(&input), flag, &s(&out), "--quiet"]));
        assert_eq!(o.code(), Some(2), "case {case}: {o:?}");
        assert!(
            o.stderr.contains("byte offset 3200064"),
            "case {case}: {o:?}"
        );
        let partial = format!("{}.partial", s(&out));
        assert!(o.stderr.contains(&partial), "case {case}: {o:?}");
        assert!(!o.stdout.contains("recorded"), "case {case}: {o:?}");
        assert!(!out.exists(), "case {case}: a finished file at {}", s(&out));
    }
    // The unfinished tick file is refused under its own name and under any other.
    let partial = env.p("out.mdt.partial");
    let o = env.run(&args(&["replay", &s(&partial)]));
    assert_eq!(o.code(), Some(2), "{o:?}");
    assert!(o.stderr.contains("unfinished recording"), "{o:?}");
    let renamed = env.p("renamed.mdt");
    std::fs::copy(&partial, &renamed).unwrap();
    let o = env.run(&args(&["replay", &s(&renamed)]));
    assert_eq!(o.code(), Some(2), "{o:?}");
    assert!(o.stderr.contains("unfinished recording"), "{o:?}");
    // A replay that succeeds finishes its recording, and says so.
    let good = gen(&env, "good.mdt", 1_000);
    let out = env.p("ok.mdt");
    let o = env.run(&args(&["replay", &s(&good), "--out", &s(&out), "--quiet"]));
    assert_eq!(o.code(), Some(0), "{o:?}");
    assert!(o.stdout.contains("recorded 1000 records"), "{o:?}");
    let o = env.run(&args(&["replay", &s(&out), "--quiet"]));
    assert_eq!(o.code(), Some(0), "{o:?}");
}

/// Smaller item: `mdp gen x.csv` on a full disk failed without naming the file. A file-size
/// limit (`ulimit -f`, with SIGXFSZ ignored so the write fails with EFBIG) stands in for the
/// full disk; /dev/full is no longer accepted as an output at all.
#[test]
fn regression_gen_write_error_did_not_name_the_path() {
    let env = Env::new("reg-efbig");
    let input = gen(&env, "in.mdt", 20_000);
    let gen_into = |out: &Path| args(&["gen", &s(out), "--ticks", "200000", "--quiet"]);
    let replay_into = |out: &Path| args(&["replay", &s(&input), "--out", &s(out), "--quiet"]);
    type Cmd<'a> = &'a dyn Fn(&Path) -> Vec<String>;
    let cases: [(u32, &str, Cmd); 3] = [
        (1, "big.csv", &gen_into),
        (2, "big.mdt", &gen_into),
        // The sink fails in the middle of a pipeline: never closed, left unfinished.
        (3, "rec.mdt", &replay_into),
    ];
    for (case, name, cmd) in cases {
        let out = env.p(name);
        let o = env.run_with(&cmd(&out), &["ulimit -f 64", "trap '' XFSZ"]);
        assert_eq!(o.code(), Some(2), "case {case}: {o:?}");
        let partial = format!("{}.partial", s(&out));
        assert!(o.stderr.contains(&partial), "case {case}: {o:?}");
        assert!(o.stderr.contains("left unfinished"), "case {case}: {o:?}");
        assert!(!out.exists(), "case {case}");
        assert!(Path::new(&partial).exists(), "case {case}");
    }
}
