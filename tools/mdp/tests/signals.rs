//! Issue 7, failure 6: every long-running command stops gracefully on the first SIGINT/SIGTERM
//! (drain, summary, recording left unfinished, exit 130) and at once on the second (exit 130,
//! nothing finished). Each test waits until the child has started its work (a file exists or a
//! line was printed), then signals; what is asserted holds wherever the signal lands.

mod common;

use common::{fresh_dir, listing, run, Ended, Mdp};
use market_data_pipeline::TickFile;
use std::path::Path;

const INTERRUPTED: i32 = 130;

fn assert_interrupted(e: &Ended, what: &str) {
    assert!(e.status.is_some(), "{what}: hung\n{}", e.stderr);
    assert!(!e.panicked(), "{what}: {}", e.stderr);
    assert_eq!(
        e.code(),
        Some(INTERRUPTED),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        e.status,
        e.stdout,
        e.stderr
    );
    assert!(
        e.stderr.contains("interrupted by SIG"),
        "{what}: {}",
        e.stderr
    );
}

/// `path` is not there and `path.partial` is refused as unfinished.
fn assert_unfinished(dir: &Path, name: &str) {
    assert!(!dir.join(name).exists(), "{name} looks finished");
    let partial = dir.join(format!("{name}.partial"));
    assert!(
        partial.exists(),
        "{name}.partial is gone: {:?}",
        listing(dir)
    );
    if let Ok(f) = TickFile::open(&partial) {
        panic!(
            "{name}.partial opens as a valid tick file of {} ticks",
            f.len()
        );
    }
}

fn gen_input(dir: &Path, name: &str, ticks: &str) {
    let e = run(&["gen", name, "--ticks", ticks, "--quiet"], dir);
    assert_eq!(e.code(), Some(0), "{}", e.stderr);
}

#[test]
fn sigint_during_gen_stops_gracefully_and_leaves_the_recording_unfinished() {
    let dir = fresh_dir("sig-gen");
    let mut c = Mdp::spawn(&["gen", "big.mdt", "--ticks", "10000000000"], &dir);
    assert!(c.wait_until(|_| dir.join("big.mdt.partial").exists()));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "gen");
    assert!(
        e.stderr.contains("left unfinished at big.mdt.partial"),
        "{}",
        e.stderr
    );
    assert_unfinished(&dir, "big.mdt");
}

#[test]
fn sigterm_during_gen_csv_leaves_the_csv_unfinished() {
    let dir = fresh_dir("sig-gen-csv");
    let mut c = Mdp::spawn(
        &["gen", "big.csv", "--ticks", "10000000000", "--quiet"],
        &dir,
    );
    assert!(c.wait_until(|_| dir.join("big.csv.partial").exists()));
    c.signal(libc::SIGTERM);
    let e = c.wait();
    assert_interrupted(&e, "gen csv");
    assert!(!dir.join("big.csv").exists());
    assert!(dir.join("big.csv.partial").exists());
}

#[test]
fn sigint_during_replay_out_drains_reports_and_leaves_the_recording_unfinished() {
    let dir = fresh_dir("sig-replay");
    gen_input(&dir, "in.mdt", "100000");
    let mut c = Mdp::spawn(
        &["replay", "in.mdt", "--loops", "100000", "--out", "rec.mdt"],
        &dir,
    );
    assert!(c.wait_until(|_| dir.join("rec.mdt.partial").exists()));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "replay --out");
    assert!(e.stdout.contains("replayed "), "no summary: {}", e.stdout);
    assert!(!e.stdout.contains("recorded to"), "{}", e.stdout);
    assert!(
        e.stderr.contains("left unfinished at rec.mdt.partial"),
        "{}",
        e.stderr
    );
    assert_unfinished(&dir, "rec.mdt");
    // The input is untouched.
    assert_eq!(TickFile::open(dir.join("in.mdt")).unwrap().len(), 100_000);
}

#[test]
fn sigint_during_replay_csv_leaves_the_csv_unfinished() {
    let dir = fresh_dir("sig-replay-csv");
    gen_input(&dir, "in.mdt", "10000");
    let mut c = Mdp::spawn(
        &["replay", "in.mdt", "--loops", "100000", "--csv", "rec.csv"],
        &dir,
    );
    assert!(c.wait_until(|_| dir.join("rec.csv.partial").exists()));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "replay --csv");
    assert!(!dir.join("rec.csv").exists(), "{:?}", listing(&dir));
}

#[test]
fn sigint_during_run_bars_drains_and_prints_the_summary() {
    let dir = fresh_dir("sig-bars");
    let mut c = Mdp::spawn(&["run", "--bars", "--duration", "600"], &dir);
    assert!(c.wait_until(|c| c.stderr().contains("ticks")));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "run --bars");
    assert!(e.stdout.contains("ticks produced"), "{}", e.stdout);
    assert!(e.stdout.contains("conserved: true"), "{}", e.stdout);
}

#[test]
fn sigterm_during_the_failover_demo_stops_every_pipeline_and_reports() {
    let dir = fresh_dir("sig-demo");
    let mut c = Mdp::spawn(&["run", "--duration", "600"], &dir);
    assert!(c.wait_until(|c| c.stderr().contains("ticks")));
    c.signal(libc::SIGTERM);
    let e = c.wait();
    assert_interrupted(&e, "run");
    assert!(e.stdout.contains("pipelines:"), "{}", e.stdout);
}

#[test]
fn sigint_during_run_config_stops_every_pipeline_and_reports() {
    let dir = fresh_dir("sig-config");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config/failover.toml");
    let mut c = Mdp::spawn(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--duration",
            "600",
        ],
        &dir,
    );
    assert!(c.wait_until(|c| c.stderr().contains("ticks")));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "run --config");
    assert!(e.stdout.contains("pipelines:"), "{}", e.stdout);
    assert!(e.stdout.contains("conserved true"), "{}", e.stdout);
}

/// A `feed serve` of `serve_args` and a `feed read` subscribed to it, once the server has
/// accepted the reader.
fn serve_and_read(dir: &Path, serve_args: &[&str]) -> (Mdp, Mdp) {
    let mut args = vec!["feed", "serve"];
    args.extend_from_slice(serve_args);
    let mut server = Mdp::spawn(&args, dir);
    assert!(server.wait_until(|c| c.stdout().contains('\n')));
    let first = server.stdout();
    let addr = first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("listening on "))
        .expect(&first)
        .to_string();
    let reader = Mdp::spawn(&["feed", "read", &addr, "--timeout-s", "60"], dir);
    assert!(server.wait_until(|c| c.stdout().contains("subscriber")));
    (server, reader)
}

#[test]
fn sigint_during_feed_serve_hangs_up_between_frames_and_the_reader_gets_a_clean_end() {
    let dir = fresh_dir("sig-serve");
    let (server, reader) = serve_and_read(&dir, &["--ticks", "10000000000"]);
    server.signal(libc::SIGINT);
    let s = server.wait();
    assert_interrupted(&s, "feed serve");
    let r = reader.wait();
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout, r.stderr);
    // What the server says it sent is exactly what the reader got.
    let sent = s
        .stdout
        .lines()
        .find(|l| l.starts_with("sent "))
        .expect(&s.stdout);
    let sent = sent.split_whitespace().nth(1).unwrap();
    assert!(
        r.stdout.contains(&format!("received {sent} ticks")),
        "{}\n{}",
        s.stdout,
        r.stdout
    );
}

#[test]
fn sigint_while_feed_serve_waits_for_a_subscriber_stops_it() {
    let dir = fresh_dir("sig-accept");
    let mut server = Mdp::spawn(&["feed", "serve", "--accept-timeout-s", "3600"], &dir);
    assert!(server.wait_until(|c| c.stdout().contains("listening on")));
    server.signal(libc::SIGINT);
    let s = server.wait();
    assert_interrupted(&s, "feed serve (accept)");
}

#[test]
fn sigint_during_feed_read_reports_what_arrived() {
    let dir = fresh_dir("sig-read");
    let (server, reader) = serve_and_read(&dir, &["--ticks", "10000000000"]);
    reader.signal(libc::SIGINT);
    let r = reader.wait();
    assert_interrupted(&r, "feed read");
    assert!(r.stdout.contains("received "), "{}", r.stdout);
    // The server sees its subscriber go away and ends (with an error or by the signal).
    server.signal(libc::SIGINT);
    let s = server.wait();
    assert!(s.status.is_some() && !s.panicked(), "{}", s.stderr);
}

#[test]
fn sigint_during_bench_reports_the_completed_runs() {
    let dir = fresh_dir("sig-bench");
    let mut c = Mdp::spawn(
        &[
            "bench",
            "--ticks",
            "200000",
            "--runs",
            "1000",
            "--latency-rate",
            "100000",
            "--latency-secs",
            "0.05",
            "--backoff",
        ],
        &dir,
    );
    assert!(c.wait_until(|c| c.stderr().contains("run 2/1000")));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "bench");
    assert!(e.stdout.contains("throughput"), "{}", e.stdout);
    assert!(
        e.stderr.contains("runs completed and reported"),
        "{}",
        e.stderr
    );
}

#[test]
fn sigint_inside_a_long_bench_measurement_stops_it_without_a_report() {
    let dir = fresh_dir("sig-bench-long");
    let mut c = Mdp::spawn(
        &[
            "bench",
            "--ticks",
            "10000000000",
            "--runs",
            "1",
            "--backoff",
        ],
        &dir,
    );
    assert!(c.wait_until(|c| c.stderr().contains("run 1/1")));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "bench (inside a measurement)");
    assert!(e.stderr.contains("no run completed"), "{}", e.stderr);
}

#[test]
fn a_second_signal_ends_at_once_and_nothing_looks_finished() {
    let dir = fresh_dir("sig-twice");
    gen_input(&dir, "in.mdt", "100000");
    let mut c = Mdp::spawn(
        &[
            "replay", "in.mdt", "--loops", "100000", "--out", "rec.mdt", "--quiet",
        ],
        &dir,
    );
    assert!(c.wait_until(|_| dir.join("rec.mdt.partial").exists()));
    c.signal(libc::SIGINT);
    // Once the first is seen (or the run already ended), the second.
    assert!(c.wait_until(|c| c.stderr().contains("stopping")));
    if !c.exited() {
        c.signal(libc::SIGTERM);
    }
    let e = c.wait();
    assert!(e.status.is_some() && !e.panicked(), "{}", e.stderr);
    assert_eq!(e.code(), Some(INTERRUPTED), "{}", e.stderr);
    assert_unfinished(&dir, "rec.mdt");
}

#[test]
fn regression_json_summaries_did_not_say_the_run_was_interrupted() {
    let dir = fresh_dir("sig-json");
    gen_input(&dir, "in.mdt", "100000");
    let mut c = Mdp::spawn(
        &[
            "replay", "in.mdt", "--loops", "100000", "--out", "rec.mdt", "--json",
        ],
        &dir,
    );
    assert!(c.wait_until(|_| dir.join("rec.mdt.partial").exists()));
    c.signal(libc::SIGINT);
    let e = c.wait();
    assert_interrupted(&e, "replay --json");
    assert!(e.stdout.contains("\"interrupted\": true"), "{}", e.stdout);
}

#[test]
fn json_summaries_of_runs_that_ended_on_their_own_say_not_interrupted() {
    let dir = fresh_dir("sig-json-done");
    gen_input(&dir, "in.mdt", "1000");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config/failover.toml");
    // (case, arguments)
    let cases: [(u32, &[&str]); 4] = [
        (1, &["replay", "in.mdt", "--json"]),
        (2, &["run", "--bars", "--duration", "0.1", "--json"]),
        (3, &["run", "--duration", "0.1", "--json"]),
        (
            4,
            &[
                "run",
                "--config",
                config.to_str().unwrap(),
                "--duration",
                "0.1",
                "--json",
            ],
        ),
    ];
    for (case, args) in cases {
        let e = run(args, &dir);
        assert_eq!(e.code(), Some(0), "case {case}: {}", e.stderr);
        assert!(
            e.stdout.contains("\"interrupted\": false"),
            "case {case}: {}",
            e.stdout
        );
    }
}
