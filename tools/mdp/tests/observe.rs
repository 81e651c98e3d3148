//! `mdp run --metrics ADDR` serves /metrics while it runs; `-v --log-format json` prints the
//! engine's state changes as JSON lines; `--plot` writes SVG.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn run_with_metrics_serves_them_and_logs_state_changes_as_json_lines() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdp"))
        .args(["run", "--duration", "2", "--metrics", "127.0.0.1:0", "-v"])
        .args(["--log-format", "json", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let mut addr = None;
    // The address comes first (before the run ends); stderr is read to its end below.
    for _ in 0..1000 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("metrics: http://") {
            addr = Some(rest.trim().trim_end_matches("/metrics").to_string());
            lines.push(line);
            break;
        }
        lines.push(line);
    }
    let addr = addr.unwrap_or_else(|| panic!("no metrics address in {lines:?}"));
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(
        reply.contains("mdp_pipeline_produced_total{pipeline=\"desk/quotes\""),
        "{reply}"
    );
    assert!(reply.ends_with("# EOF\n"));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let all: Vec<String> = lines
        .into_iter()
        .chain(rest.lines().map(String::from))
        .collect();
    let events: Vec<serde_json::Value> = all
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    for want in [
        "metrics server listening",
        "pipeline started",
        "pipeline stopped",
    ] {
        assert!(messages.contains(&want), "{want} in {messages:?}");
    }
    // The demo's primary fails: the router's switch is an event with its fields.
    let switch = events
        .iter()
        .find(|e| e["message"] == "router switched source")
        .unwrap_or_else(|| panic!("a switch in {messages:?}"));
    assert_eq!(switch["from"], "primary");
    assert_eq!(switch["reason"], "error");
}

#[test]
fn replay_and_bench_plot_svg_files() {
    let dir = std::env::temp_dir().join(format!("mdp-observe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.mdt");
    let mdp = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mdp"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    mdp(&["gen", &s(&file), "--ticks", "20000", "--quiet"]);
    let replay = dir.join("replay.svg");
    mdp(&["replay", &s(&file), "--quiet", "--plot", &s(&replay)]);
    let bench = dir.join("bench.svg");
    mdp(&[
        "bench",
        "--ticks",
        "20000",
        "--runs",
        "2",
        "--latency-rate",
        "20000",
        "--latency-secs",
        "0.1",
        "--backoff",
        "--plot",
        &s(&bench),
    ]);
    for svg in [replay, bench] {
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("<polyline"),
            "{}",
            svg.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
