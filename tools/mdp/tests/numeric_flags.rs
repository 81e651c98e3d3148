//! Issue 7, failures 7, 8 and 11 and the `--bars-ms 0` inconsistency: every duration, rate,
//! float and size flag refuses NaN, infinities, negatives, zero where zero means nothing, values
//! past its documented maximum and values whose arithmetic would overflow, with exit 2 and a
//! message naming the flag, before any work starts. Values at the bounds are accepted.

mod common;

use common::{fresh_dir, listing, run};
use market_data_pipeline::TickFile;

const U64_MAX: &str = "18446744073709551615";

/// (case, args, the flag the message must name). None of these may start work.
fn cases() -> Vec<(u32, Vec<&'static str>, &'static str)> {
    let mut v: Vec<(Vec<&'static str>, &'static str)> = Vec::new();
    // Durations and floats (7): `run` in its three modes, and bench.
    for d in [
        "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1e19", "1e20", "1e308",
    ] {
        v.push((vec!["run", "--duration", d], "--duration"));
        v.push((vec!["run", "--bars", "--duration", d], "--duration"));
        v.push((
            vec!["run", "--config", "absent.toml", "--duration", d],
            "--duration",
        ));
        v.push((vec!["bench", "--latency-secs", d], "--latency-secs"));
    }
    // Bar windows: the same bounds under both spellings in both subcommands.
    for ms in ["0", "2678400001", U64_MAX] {
        v.push((vec!["run", "--bars", "--bar-ms", ms], "--bar-ms"));
        v.push((vec!["run", "--bars", "--bars-ms", ms], "--bar-ms"));
        v.push((vec!["replay", "absent.mdt", "--bars-ms", ms], "--bars-ms"));
        v.push((vec!["replay", "absent.mdt", "--bar-ms", ms], "--bars-ms"));
    }
    // Rates.
    v.push((vec!["run", "--bars", "--rate", "1000000000001"], "--rate"));
    for r in ["0", "1000000000001", U64_MAX] {
        v.push((vec!["bench", "--latency-rate", r], "--latency-rate"));
    }
    v.push((
        vec![
            "bench",
            "--latency-rate",
            "1000000000",
            "--latency-secs",
            "100",
        ],
        "--latency-secs",
    ));
    // Sizes (8).
    for r in ["0", "255", "16777217", "8589934592", U64_MAX] {
        v.push((vec!["bench", "--ring", r], "--ring"));
    }
    for c in ["0", "65537"] {
        v.push((vec!["bench", "--chunk", c], "--chunk"));
    }
    for r in ["0", "1001"] {
        v.push((vec!["bench", "--runs", r], "--runs"));
    }
    // The --pipelines mode of bench: pipelines, workers and the measuring window.
    for p in ["10001", U64_MAX] {
        v.push((vec!["bench", "--pipelines", p], "--pipelines"));
    }
    for w in ["0", "1025", U64_MAX] {
        v.push((
            vec!["bench", "--pipelines", "2", "--workers", w],
            "--workers",
        ));
    }
    for d in ["nan", "inf", "-1", "0", "1e19"] {
        v.push((
            vec!["bench", "--pipelines", "2", "--window-secs", d],
            "--window-secs",
        ));
    }
    v.push((vec!["bench", "--pipelines", "2", "--ring", "255"], "--ring"));
    for t in ["0", "10000000001", U64_MAX] {
        v.push((vec!["bench", "--ticks", t], "--ticks"));
        v.push((vec!["gen", "out.mdt", "--ticks", t], "--ticks"));
        v.push((vec!["feed", "serve", "--ticks", t], "--ticks"));
        v.push((vec!["feed", "read", "127.0.0.1:9", "--ticks", t], "--ticks"));
    }
    for s in ["0", "86401", U64_MAX] {
        v.push((
            vec!["feed", "serve", "--accept-timeout-s", s],
            "--accept-timeout-s",
        ));
        v.push((
            vec!["feed", "read", "127.0.0.1:9", "--timeout-s", s],
            "--timeout-s",
        ));
    }
    v.push((vec!["replay", "absent.mdt", "--loops", "0"], "--loops"));
    for s in ["0x", "-1x", "nanx", "4294967296x"] {
        v.push((vec!["replay", "absent.mdt", "--speed", s], "--speed"));
    }
    // Timestamps that overflow (11): start + interval × (ticks − 1) past u64::MAX.
    v.push((
        vec!["gen", "out.mdt", "--start-ns", U64_MAX, "--ticks", "2"],
        "--start-ns",
    ));
    v.push((
        vec!["gen", "out.mdt", "--interval-ns", U64_MAX, "--ticks", "3"],
        "--interval-ns",
    ));
    v.push((
        vec![
            "gen",
            "out.csv",
            "--start-ns",
            "18446744073709550616",
            "--ticks",
            "1001",
            "--interval-ns",
            "1",
        ],
        "--start-ns",
    ));
    v.push((
        vec![
            "gen",
            "out.mdt",
            "--start-ns",
            "0",
            "--interval-ns",
            "4611686018427387904",
            "--ticks",
            "5",
        ],
        "--interval-ns",
    ));
    v.into_iter()
        .enumerate()
        .map(|(i, (a, f))| (i as u32 + 1, a, f))
        .collect()
}

#[test]
fn every_numeric_flag_refuses_nan_infinite_negative_and_overflowing_values_naming_the_flag() {
    let dir = fresh_dir("numeric-flags");
    let cases = cases();
    for (case, args, flag) in &cases {
        let e = run(args, &dir);
        assert!(e.status.is_some(), "case {case} {args:?}: hung");
        assert!(!e.panicked(), "case {case} {args:?}: {}", e.stderr);
        assert_eq!(e.code(), Some(2), "case {case} {args:?}: {}", e.stderr);
        assert!(
            e.stderr.contains(flag),
            "case {case} {args:?}: the message does not name {flag}: {}",
            e.stderr
        );
    }
    // Nothing was created: every refusal came before any output was opened.
    assert_eq!(listing(&dir), Vec::<String>::new());
}

/// `mdp gen --interval-ns/--start-ns` near u64::MAX silently saturated every later timestamp.
/// What fits exactly is written exactly: the last tick at u64::MAX, every timestamp distinct.
#[test]
fn gen_timestamps_that_end_exactly_at_u64_max_are_written_without_saturation() {
    let dir = fresh_dir("gen-max");
    let e = run(
        &[
            "gen",
            "m.mdt",
            "--start-ns",
            "18446744073709550616",
            "--interval-ns",
            "1",
            "--ticks",
            "1000",
            "--quiet",
        ],
        &dir,
    );
    assert_eq!(e.code(), Some(0), "{}", e.stderr);
    let f = TickFile::open(dir.join("m.mdt")).unwrap();
    assert_eq!(f.len(), 1000);
    let ts: Vec<u64> = f.records().map(|r| r.unwrap().ts_event).collect();
    assert_eq!(ts.first(), Some(&(u64::MAX - 999)));
    assert_eq!(ts.last(), Some(&u64::MAX));
    assert!(
        ts.windows(2).all(|w| w[1] == w[0] + 1),
        "saturated timestamps"
    );
    let e = run(
        &[
            "gen",
            "one.mdt",
            "--start-ns",
            U64_MAX,
            "--ticks",
            "1",
            "--quiet",
        ],
        &dir,
    );
    assert_eq!(e.code(), Some(0), "{}", e.stderr);
}
