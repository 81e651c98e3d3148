//! `mdp run --config FILE`: a `PipelineRuntime` from a TOML file, with live provider, breaker
//! and pipeline counters, then the final report of every pipeline.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, RuntimeSnapshot,
};
use market_data_pipeline::PipelineReport;
use serde_json::{json, Value};

/// Run `settings` for `duration`, printing a live line (unless `json`) and a summary.
pub fn run_settings(settings: PipelineRuntimeSettings, duration: f64, json: bool) -> Result<()> {
    if !(duration > 0.0 && duration.is_finite()) {
        bail!("--duration must be a positive number of seconds");
    }
    let no_pipelines = settings.pipelines.is_empty();
    let runtime = PipelineRuntime::start(settings).context("starting the runtime")?;
    if no_pipelines {
        runtime.run_pipeline(PipelineSpec::new("cli", "run"))?;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(duration);
    while Instant::now() < deadline {
        if !json {
            eprint!("\r{}   ", live_line(&runtime.snapshot(), started.elapsed()));
            let _ = std::io::stderr().flush();
        }
        std::thread::sleep(Duration::from_millis(250).min(deadline - Instant::now().min(deadline)));
    }
    if !json {
        eprintln!();
    }
    let last = runtime.snapshot();
    let mut reports = Vec::new();
    for p in runtime.list_pipelines() {
        reports.push((p.key.to_string(), runtime.stop_pipeline(&p.key)?));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&last, &reports))?
        );
    } else {
        print_summary(&last, &reports);
    }
    if let Some((key, r)) = reports.iter().find(|(_, r)| r.error.is_some()) {
        bail!(
            "pipeline {key} failed: {}",
            r.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    Ok(())
}

/// `mdp run --config FILE`.
pub fn run_file(path: &Path, duration: f64, json: bool) -> Result<()> {
    let settings = PipelineRuntimeSettings::from_file(path)?;
    run_settings(settings, duration, json)
}

fn live_line(s: &RuntimeSnapshot, elapsed: Duration) -> String {
    let mut line = format!("{:>6.2}s", elapsed.as_secs_f64());
    for p in &s.providers {
        let b = &p.state.breaker;
        line += &format!(
            "  {} [{} open×{} half×{} closed×{}]",
            p.name,
            b.state,
            b.opened,
            b.half_opened,
            b.closed
        );
    }
    for p in &s.pipelines {
        line += &format!(
            "  {}: {} ticks, {} out [{}]",
            p.key,
            p.stats.produced,
            p.stats.delivered,
            p.state.as_str()
        );
    }
    line
}

fn print_summary(s: &RuntimeSnapshot, reports: &[(String, PipelineReport)]) {
    println!("providers (routing: {}):", s.routing_strategy);
    for p in &s.providers {
        let b = &p.state.breaker;
        println!(
            "  {:<12} {:<10} breaker {:<9} opened {} half-opened {} closed {}  rate-limited {}  request-based {}",
            p.name,
            p.kind,
            b.state,
            b.opened,
            b.half_opened,
            b.closed,
            p.state.counters.rate_limited,
            p.request_based
        );
    }
    println!("pipelines:");
    for (key, r) in reports {
        let st = &r.stats;
        println!(
            "  {:<16} {:.2}s  produced {}  processed {}  delivered {}  dropped {}  source errors {}  conserved {}  p50 {} ns  p99 {} ns{}",
            key,
            r.elapsed.as_secs_f64(),
            st.produced,
            st.ticks_in,
            st.delivered,
            st.lost(),
            st.source_errors,
            st.is_conserved(),
            st.latency.p50,
            st.latency.p99,
            r.error.as_ref().map(|e| format!("  error: {e}")).unwrap_or_default()
        );
    }
}

fn to_json(s: &RuntimeSnapshot, reports: &[(String, PipelineReport)]) -> Value {
    let providers: Vec<Value> = s
        .providers
        .iter()
        .map(|p| {
            let b = &p.state.breaker;
            json!({
                "name": p.name,
                "kind": p.kind,
                "request_based": p.request_based,
                "tokens": p.state.tokens,
                "breaker": {"state": b.state.to_string(), "opened": b.opened, "half_opened": b.half_opened, "closed": b.closed},
                "rate_limited": p.state.counters.rate_limited,
                "circuit_open": p.state.counters.circuit_open,
            })
        })
        .collect();
    let pipelines: Vec<Value> = reports
        .iter()
        .map(|(key, r)| {
            let st = &r.stats;
            json!({
                "key": key,
                "elapsed_s": r.elapsed.as_secs_f64(),
                "produced": st.produced,
                "processed": st.ticks_in,
                "delivered": st.delivered,
                "dropped": st.lost(),
                "source_errors": st.source_errors,
                "conserved": st.is_conserved(),
                "latency_ns": {"p50": st.latency.p50, "p99": st.latency.p99, "max": st.latency.max},
                "error": r.error.as_ref().map(|e| e.to_string()),
            })
        })
        .collect();
    json!({
        "settings_version": s.settings_version,
        "routing_strategy": s.routing_strategy,
        "providers": providers,
        "pipelines": pipelines,
    })
}
