//! The `mdp` binary end to end: gen → file → replay → tick-file sink is byte-identical, and
//! bad input gives a clear error and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use market_data_pipeline::TickFile;

fn mdp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mdp"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("mdp runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn gen_then_replay_into_a_tick_file_sink_is_byte_identical() {
    let a = tmp("a.mdt");
    let b = tmp("b.mdt");
    let out = mdp(&["gen", s(&a), "--ticks", "50000", "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mdp(&["replay", s(&a), "--exact", "--out", s(&b), "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (fa, fb) = (TickFile::open(&a).unwrap(), TickFile::open(&b).unwrap());
    assert_eq!(fa.len(), 50_000);
    assert_eq!(fb.len(), fa.len());
    for i in 0..fa.len() {
        assert_eq!(fa.raw_record(i), fb.raw_record(i), "record {i}");
    }
    let names = |f: &TickFile| {
        f.symbols()
            .iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&fa), names(&fb));
}

#[test]
fn bad_input_is_a_clear_error_with_a_nonzero_exit() {
    let a = tmp("c.mdt");
    assert!(mdp(&["gen", s(&a), "--ticks", "100", "--quiet"])
        .status
        .success());
    let bytes = std::fs::read(&a).unwrap();
    let trunc = tmp("trunc.mdt");
    std::fs::write(&trunc, &bytes[..1000]).unwrap();
    let bad_magic = tmp("magic.mdt");
    let mut m = bytes.clone();
    m[0] = b'X';
    std::fs::write(&bad_magic, &m).unwrap();
    // (case, args, expected text in stderr)
    let cases: Vec<(u32, Vec<&str>, &str)> = vec![
        (1, vec!["replay", s(&trunc)], "byte offset"),
        (2, vec!["replay", s(&bad_magic)], "magic"),
        (3, vec!["replay", "/nonexistent/x.mdt"], "No such file"),
        (4, vec!["replay", s(&a), "--speed", "fast"], "--speed"),
        (5, vec!["gen", s(&a), "--ticks", "0"], "--ticks"),
        (6, vec!["gen", s(&a), "--symbols", "BAD SYM"], "symbols"),
        (7, vec!["run", "--duration", "0"], "--duration"),
    ];
    for (case, args, want) in cases {
        let out = mdp(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {case}: {err}");
        assert!(err.contains(want), "case {case}: {err}");
        assert!(!err.contains("panicked"), "case {case}: {err}");
    }
}

#[test]
fn feed_serve_then_read_over_loopback_delivers_every_tick_without_gaps() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut server = Command::new(env!("CARGO_BIN_EXE_mdp"))
        .args([
            "feed",
            "serve",
            "--ticks",
            "20000",
            "--accept-timeout-s",
            "20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mdp feed serve runs");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    let out = mdp(&["feed", "read", &addr, "--timeout-s", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("received 20000 ticks"), "{stdout}");
    assert!(stdout.contains("sequence gaps: 0"), "{stdout}");
    assert!(server.wait().unwrap().success());
}

#[test]
fn run_config_start_errors_name_the_config_file_and_line() {
    // The provider's table is on line 5: the error names the config file and that line, then
    // the provider and the file it could not open.
    let config = tmp("missing_replay.toml");
    let missing = tmp("missing_replay.mdt");
    let text = format!(
        "max_concurrent_pipelines = 4\n\
         \n\
         # a replay provider over a file that is not there\n\
         \n\
         [providers.r]\n\
         kind = \"replay\"\n\
         path = {:?}\n\
         \n\
         [[pipelines]]\n\
         tenant_id = \"t\"\n\
         pipeline_id = \"p\"\n\
         sources = [\"r\"]\n\
         symbols = [\"AAPL\"]\n",
        s(&missing)
    );
    std::fs::write(&config, text).unwrap();
    let out = mdp(&["run", "--config", s(&config), "--duration", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let at = format!("error: {}:5: source r: {}: ", s(&config), s(&missing));
    assert!(err.starts_with(&at), "wanted {at:?}, got {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bench_reports_each_run_with_its_hop_probes_and_medians_per_placement() {
    let out = mdp(&[
        "bench",
        "--ticks",
        "4096",
        "--runs",
        "3",
        "--chunk",
        "64",
        "--ring",
        "1024",
        "--latency-secs",
        "0.01",
        "--latency-rate",
        "100000",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let runs = v["per_run"].as_array().expect("per_run");
    assert_eq!(runs.len(), 3);
    // The split derived from the session's probes (`null`: one level, one placement).
    let far = v["far_hop_ns"].as_u64();
    let split = v["hop_split"]["kind"].as_str().unwrap();
    assert_eq!(far.is_none(), split == "one_level", "{}", v["hop_split"]);
    let mut grouped = Vec::new();
    for g in v["groups"].as_array().expect("groups") {
        let placement = g["placement"].as_str().unwrap();
        for n in g["runs"].as_array().unwrap() {
            grouped.push((n.as_u64().unwrap(), placement.to_string()));
        }
        assert!(g["pipeline_vs_ring"].as_f64().unwrap() > 0.0, "{g}");
    }
    grouped.sort();
    for (i, r) in runs.iter().enumerate() {
        let (before, after) = (
            r["hop_before_ns"].as_u64().unwrap(),
            r["hop_after_ns"].as_u64().unwrap(),
        );
        let want = match far.map(|far| (before >= far, after >= far)) {
            None => "single",
            Some((false, false)) => "near",
            Some((true, true)) => "far",
            Some(_) => "moved",
        };
        assert_eq!(r["placement"], want, "{r}");
        assert_eq!(
            grouped[i],
            (i as u64 + 1, want.to_string()),
            "each run in its group once"
        );
        for k in [
            "pipeline_vs_ring",
            "crossbeam_vs_ring",
            "router_vs_pipeline",
        ] {
            let x = r[k].as_f64().unwrap();
            assert!(x.is_finite() && x > 0.0, "{k}: {r}");
        }
    }
}

#[test]
fn bench_replay_measures_the_replay_beside_a_bare_mmap_ring_and_refuses_a_bad_file() {
    let file = tmp("bench-replay.mdt");
    assert!(mdp(&["gen", s(&file), "--ticks", "20000", "--quiet"])
        .status
        .success());
    let out = mdp(&[
        "bench",
        "--replay",
        s(&file),
        "--runs",
        "2",
        "--chunk",
        "64",
        "--ring",
        "1024",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["ticks"], 20000, "the file's records: {v}");
    let runs = v["per_run"].as_array().expect("per_run");
    assert_eq!(runs.len(), 2);
    for r in runs {
        for k in ["mmap_ring", "replay"] {
            assert_eq!(r[k]["ticks"], 20000, "{k}: {r}");
        }
        let x = r["replay_vs_mmap_ring"].as_f64().unwrap();
        assert!(x.is_finite() && x > 0.0, "{r}");
    }
    let grouped: usize = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["runs"].as_array().unwrap().len())
        .sum();
    assert_eq!(grouped, 2, "each run in one group: {v}");
    // (case, file, words in the error)
    let missing = tmp("bench-replay-missing.mdt");
    let cases = [
        (1, s(&missing), s(&missing)),
        (2, "/dev/zero", "character device"),
    ];
    for (case, path, words) in cases {
        let out = mdp(&["bench", "--replay", path, "--runs", "1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {case}: {err}");
        assert!(
            err.contains(words) && !err.contains("panicked"),
            "case {case}: {err}"
        );
    }
}
