//! The runtime's `/metrics`: scraped over loopback while pipelines run, parsed (by a small
//! parser here, and by the `prometheus_client` Python package's OpenMetrics parser when it is
//! installed), and checked against `snapshot()`; the responder's answers to other requests;
//! its settings and its shutdown.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{two_providers, wait_for};
use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::runtime::{PipelineRuntime, PipelineRuntimeSettings, PipelineSpec};

/// `primary` (request-based, failing at tick 1000) and `backup`; metrics on a free port.
fn settings() -> PipelineRuntimeSettings {
    let mut s = two_providers(r#"faults = [{ at_tick = 1000, kind = "error" }]"#);
    let primary = s
        .providers
        .get_mut("primary")
        .expect("two_providers has a primary");
    primary.request_based = true;
    primary.capacity = Some(1_000_000);
    primary.refill_rate = Some(1_000_000);
    s.metrics_addr = Some("127.0.0.1:0".into());
    s
}

/// Send `request`, read the whole reply; (status line, body).
fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a header and a body");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    body
}

/// Samples by `name{sorted labels}`.
type Samples = BTreeMap<String, f64>;

fn sample_key(name: &str, labels: &[(String, String)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// A small, strict reader of the text: every family has HELP then TYPE, every sample belongs
/// to the family declared last, counters' samples end in `_total`, the text ends in `# EOF`.
fn parse_well_formed(text: &str) -> Samples {
    assert!(text.ends_with("# EOF\n"), "ends with # EOF");
    let mut samples = Samples::new();
    let (mut family, mut kind) = (String::new(), String::new());
    let mut helped = String::new();
    let mut families = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped = rest.split(' ').next().unwrap().to_string();
            assert!(
                families.insert(helped.clone()),
                "family {helped} declared once"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap();
            assert_eq!(name, helped, "TYPE follows the HELP of the same family");
            assert!(name.starts_with("mdp_"), "{name}");
            (family, kind) = (name.to_string(), t.to_string());
            continue;
        }
        if line.starts_with("# UNIT ") {
            assert!(family.ends_with("_seconds"), "{line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap();
                let labels = rest
                    .split("\",")
                    .filter(|s| !s.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name, labels)
            }
        };
        match kind.as_str() {
            "counter" => assert_eq!(name, format!("{family}_total"), "counter sample {line}"),
            "gauge" => assert_eq!(name, family, "{line}"),
            "histogram" => assert!(
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{family}{s}")),
                "{line}"
            ),
            other => panic!("unexpected type {other}"),
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(
            samples.insert(sample_key(name, &labels), v).is_none(),
            "one sample per series: {line}"
        );
    }
    samples
}

/// What the prometheus_client package's OpenMetrics parser reads, when it is installed.
fn python_parse(text: &str) -> Option<Samples> {
    let python = std::env::var("MDP_METRICS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/metrics/parse_openmetrics.py"
    );
    let child = std::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let required = std::env::var_os("MDP_REQUIRE_METRICS_PARSER").is_some();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !required,
                "MDP_REQUIRE_METRICS_PARSER set, but {python} cannot run: {e}"
            );
            eprintln!("SKIPPED the OpenMetrics parser check: {python} cannot run: {e}");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        assert!(
            !required,
            "MDP_REQUIRE_METRICS_PARSER set, but prometheus_client is missing"
        );
        eprintln!(
            "SKIPPED the OpenMetrics parser check: prometheus_client is not installed for {python} \
             (.ci/run installs it in a venv)"
        );
        return None;
    }
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejects the text: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut samples = Samples::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut f = line.split('\t');
        let (name, labels, value) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let labels: Vec<(String, String)> = labels
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let v = match value {
            "inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        };
        samples.insert(sample_key(name, &labels), v);
    }
    Some(samples)
}

fn get(samples: &Samples, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}"))
}

#[test]
fn metrics_scraped_over_loopback_while_pipelines_run_parse_and_match_the_snapshot() {
    let runtime = PipelineRuntime::start(settings()).unwrap();
    let addr = runtime
        .metrics_addr()
        .expect("metrics_addr set: the server runs");
    let routed = runtime
        .run_pipeline(PipelineSpec::new("t", "routed").max_ticks(5_000))
        .unwrap();
    let bounded = runtime
        .run_pipeline(
            PipelineSpec::new("t", "bounded")
                .sources(&["backup"])
                .max_ticks(3_000),
        )
        .unwrap();
    let running = runtime
        .run_pipeline(PipelineSpec::new("t", "running").sources(&["backup"]))
        .unwrap();
    assert!(wait_for(30_000, || runtime.list_pipelines().iter().all(
        |p| { p.key == running || p.state == PipelineState::Stopped }
    )));
    let text = scrape(addr);
    if let Some(path) = std::env::var_os("MDP_METRICS_DUMP") {
        std::fs::write(path, &text).unwrap();
    }
    let after = runtime.snapshot();
    let ours = parse_well_formed(&text);
    if let Some(theirs) = python_parse(&text) {
        // The real parser reads the same series and values (it names counter samples with
        // `_total` too, and histogram buckets with their `le`).
        assert_eq!(theirs.len(), ours.len(), "series count");
        for (k, v) in &ours {
            let t = theirs
                .get(k)
                .unwrap_or_else(|| panic!("the parser has no {k}"));
            assert!(
                t == v || (t - v).abs() <= 1e-9 * v.abs(),
                "{k}: ours {v}, parser {t}"
            );
        }
    }
    // Finished pipelines: exactly the snapshot's counts.
    for key in [&routed, &bounded] {
        let info = after.pipelines.iter().find(|p| &p.key == key).unwrap();
        let l = format!("kind=pipeline,pipeline={key}");
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_produced_total{{{l}}}")),
            info.stats.produced as f64
        );
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_processed_total{{{l}}}")),
            info.stats.ticks_in as f64
        );
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_delivered_total{{{l}}}")),
            info.stats.delivered as f64
        );
        // What its subscription was offered after it stopped reading: exported, and no
        // loss (the hub may see it leave after the scrape: counters only grow).
        let sub = info.subscription.unwrap_or_default();
        let after_close = get(&ours, &format!("mdp_pipeline_after_close_total{{{l}}}"));
        assert!(after_close <= sub.after_close as f64, "{sub:?}");
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_dropped_total{{{l}}}")),
            0.0,
            "{sub:?}"
        );
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_state{{{l},state=stopped}}")),
            1.0
        );
        assert_eq!(
            get(&ours, &format!("mdp_pipeline_state{{{l},state=running}}")),
            0.0
        );
        // The histogram counts what the latency summary counts, and its +Inf bucket is all.
        let count = get(&ours, &format!("mdp_pipeline_latency_seconds_count{{{l}}}"));
        assert_eq!(count, info.stats.latency.count as f64);
        assert_eq!(
            get(
                &ours,
                &format!(
                    "mdp_pipeline_latency_seconds_bucket{{kind=pipeline,le=+Inf,pipeline={key}}}"
                )
            ),
            count
        );
    }
    // The running one: the scrape came before the snapshot, and counters only grow.
    let info = after.pipelines.iter().find(|p| p.key == running).unwrap();
    let l = format!("kind=pipeline,pipeline={running}");
    assert!(
        get(&ours, &format!("mdp_pipeline_produced_total{{{l}}}")) <= info.stats.produced as f64
    );
    // The router: it failed over from primary at its error, by reason.
    let routing = after
        .pipelines
        .iter()
        .find(|p| p.key == routed)
        .unwrap()
        .routing
        .clone()
        .unwrap();
    assert_eq!(
        get(
            &ours,
            &format!("mdp_router_switches_total{{pipeline={routed},reason=error}}")
        ),
        routing.switches_by_reason[market_data_pipeline::SwitchReason::Error.index()] as f64
    );
    assert!(
        get(
            &ours,
            &format!("mdp_router_switches_total{{pipeline={routed},reason=error}}")
        ) >= 1.0
    );
    // Nothing was removed: the removed sources' families say 0 for the routed pipeline.
    assert_eq!(routing.removed.count, 0);
    for family in [
        "mdp_router_removed_sources_total",
        "mdp_router_removed_delivered_total",
    ] {
        assert_eq!(get(&ours, &format!("{family}{{pipeline={routed}}}")), 0.0);
    }
    for s in &routing.sources {
        let k = format!("pipeline={routed},source={}", s.name);
        assert_eq!(
            get(&ours, &format!("mdp_router_source_delivered_total{{{k}}}")),
            s.delivered as f64
        );
        assert_eq!(
            get(&ours, &format!("mdp_router_source_errors_total{{{k}}}")),
            s.errors as f64
        );
        assert_eq!(
            get(&ours, &format!("mdp_router_source_drained_total{{{k}}}")),
            s.drained as f64
        );
    }
    // Providers: the request-based one was admitted per poll; breaker state is a one-hot set.
    let primary = after
        .providers
        .iter()
        .find(|p| p.name == "primary")
        .unwrap();
    let admitted = get(&ours, "mdp_provider_admitted_total{provider=primary}");
    assert!(admitted >= 1.0 && admitted <= primary.state.counters.admitted as f64);
    let states: f64 = ["closed", "open", "half_open"]
        .iter()
        .map(|s| {
            get(
                &ours,
                &format!("mdp_provider_breaker_state{{provider=primary,state={s}}}"),
            )
        })
        .sum();
    assert_eq!(states, 1.0);
    assert_eq!(get(&ours, "mdp_runtime_pipelines{}"), 3.0);
    drop(runtime);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the server stops with the runtime"
    );
}

#[test]
fn the_responder_answers_other_requests_with_their_status_and_stops_with_the_runtime() {
    let runtime = PipelineRuntime::start(settings()).unwrap();
    let addr = runtime.metrics_addr().unwrap();
    let cases: [(&[u8], &str); 4] = [
        (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
        (
            b"POST /metrics HTTP/1.1\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (b"nonsense\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK"),
    ];
    for (i, (request, want)) in cases.iter().enumerate() {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(request).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with(want), "case {i}: {reply}");
    }
    // A request past the size bound is refused without reading it all.
    let mut conn = TcpStream::connect(addr).unwrap();
    let big = vec![b'a'; market_data_pipeline::metrics::MAX_REQUEST_BYTES + 10];
    let _ = conn.write_all(b"GET /metrics HTTP/1.1\r\nX: ");
    let _ = conn.write_all(&big);
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    // A client that connects and says nothing does not keep shutdown waiting beyond the
    // request deadline: dropping the runtime returns and the port is closed.
    let _idle = TcpStream::connect(addr).unwrap();
    drop(runtime);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_bad_or_busy_metrics_addr_is_an_error_naming_the_key() {
    let bad = PipelineRuntimeSettings {
        metrics_addr: Some("localhost".into()),
        ..Default::default()
    };
    let e = bad.validate().unwrap_err();
    assert_eq!(e.field, "metrics_addr");
    assert!(e.reason.contains("IP:port"), "{e}");
    let e = PipelineRuntime::start(bad).unwrap_err();
    assert!(e.to_string().contains("metrics_addr"), "{e}");
    // The port of a running server is taken: a second runtime cannot bind it.
    let first = PipelineRuntime::start(settings()).unwrap();
    let taken = first.metrics_addr().unwrap();
    let second = PipelineRuntimeSettings {
        metrics_addr: Some(taken.to_string()),
        ..Default::default()
    };
    let e = PipelineRuntime::start(second).unwrap_err().to_string();
    assert!(
        e.contains("metrics_addr") && e.contains("cannot listen"),
        "{e}"
    );
    // The setting is read from TOML too, and checked there.
    let dir = common::TempDir::new("metrics-addr");
    let path = dir.path("s.toml");
    std::fs::write(&path, "metrics_addr = \"nope:1\"\n").unwrap();
    let e = PipelineRuntimeSettings::from_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("metrics_addr"), "{e}");
    // And it cannot be moved live.
    let mut moved = (*first.settings()).clone();
    moved.metrics_addr = Some("127.0.0.1:1".into());
    let e = first.update_settings(moved).unwrap_err().to_string();
    assert!(e.contains("metrics_addr"), "{e}");
}

#[test]
fn render_without_a_server_is_well_formed() {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    assert_eq!(runtime.metrics_addr(), None);
    let text = market_data_pipeline::metrics::render(&runtime);
    let samples = parse_well_formed(&text);
    assert_eq!(get(&samples, "mdp_runtime_pipelines{}"), 0.0);
    assert_eq!(
        get(&samples, "mdp_provider_budget_scale{provider=synthetic}"),
        1.0
    );
}

#[test]
fn a_running_cooldown_is_rendered_with_its_time_left_and_its_deadline() {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    runtime
        .coordinator()
        .trigger_cooldown_for("synthetic", "pacing", 600.0)
        .unwrap();
    let before = unix();
    let text = market_data_pipeline::metrics::render(&runtime);
    let after = unix();
    let samples = parse_well_formed(&text);
    let key = "{provider=synthetic,scope=pacing}";
    let left = get(
        &samples,
        &format!("mdp_provider_cooldown_remaining_seconds{key}"),
    );
    assert!(left > 0.0 && left <= 600.0, "time left {left}");
    let deadline = get(
        &samples,
        &format!("mdp_provider_cooldown_deadline_seconds{key}"),
    );
    assert!(
        deadline >= before && deadline <= after + 600.0,
        "deadline {deadline} outside [{before}, {after} + 600]"
    );
}

#[test]
fn every_metric_the_grafana_dashboard_queries_is_rendered() {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    let text = market_data_pipeline::metrics::render(&runtime);
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/grafana/mdp-dashboard.json"
    );
    let dashboard = std::fs::read_to_string(path).unwrap();
    let mut queried = 0;
    for (at, _) in dashboard.match_indices("mdp_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_total", "_bucket"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(families.contains(&family), "{name} is not rendered");
        queried += 1;
    }
    assert!(queried >= 20, "{queried}");
}
