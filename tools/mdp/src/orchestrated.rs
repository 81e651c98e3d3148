//! `mdp run --config FILE`: a `PipelineRuntime` from a TOML file, with live provider, breaker
//! and pipeline counters, then the final report of every pipeline.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, RuntimeSnapshot,
};
use market_data_pipeline::{PipelineReport, RouterStats};
use serde_json::{json, Value};

use mdp_redis::Singletons;

use crate::signal;

/// How often the main loop looks at the signal flag while it waits.
const POLL: Duration = Duration::from_millis(10);
/// How often the live line is redrawn.
const LIVE_LINE: Duration = Duration::from_millis(250);

/// Run `settings` for `duration` (or until SIGINT/SIGTERM), printing a live line (unless
/// `json`) and a summary.
pub(crate) fn run_settings(
    settings: PipelineRuntimeSettings,
    duration: Duration,
    json: bool,
) -> Result<()> {
    let runtime = PipelineRuntime::start(settings).context("starting the runtime")?;
    run_runtime(runtime, None, duration, json)
}

/// Run a started `runtime` (with one default pipeline if its settings listed none) for
/// `duration` (or until SIGINT/SIGTERM), printing a live line (unless `json`) and a summary.
fn run_runtime(
    runtime: PipelineRuntime,
    mut singletons: Option<Singletons>,
    duration: Duration,
    json: bool,
) -> Result<()> {
    if let Some(addr) = runtime.metrics_addr() {
        eprintln!("metrics: http://{addr}/metrics");
    }
    if runtime.list_pipelines().is_empty() && singletons.as_ref().is_none_or(Singletons::is_empty) {
        runtime.run_pipeline(PipelineSpec::new("cli", "run"))?;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut next_line = started;
    let mut interrupted = None;
    loop {
        let now = Instant::now();
        if let Some(sig) = signal::requested() {
            signal::announce(sig, "stopping and draining every pipeline");
            interrupted = Some(sig);
            break;
        }
        if now >= deadline {
            break;
        }
        if let Some(s) = singletons.as_mut() {
            crate::coordination::report(&s.poll(&runtime));
        }
        if !json && now >= next_line {
            eprint!(
                "\r{}{}   ",
                live_line(&runtime.snapshot(), started.elapsed()),
                crate::coordination::status_line(&runtime)
            );
            let _ = std::io::stderr().flush();
            next_line = now + LIVE_LINE;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
    if !json {
        eprintln!();
    }
    let last = runtime.snapshot();
    let mut reports = Vec::new();
    for p in runtime.list_pipelines() {
        reports.push((p.key.to_string(), runtime.stop_pipeline(&p.key)?));
    }
    if let Some(s) = singletons.as_mut() {
        s.release(&runtime);
    }
    if json {
        let mut out = to_json(&last, &reports);
        out["interrupted"] = json!(interrupted.is_some());
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_summary(&last, &reports);
    }
    if let Some((key, r)) = reports.iter().find(|(_, r)| r.error.is_some()) {
        bail!(
            "pipeline {key} failed: {}",
            r.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    if let Some(signal) = interrupted {
        return Err(signal::interrupted(
            signal,
            format!(
                "stopped after {:.2}s; every pipeline was drained and the summary covers the run",
                started.elapsed().as_secs_f64()
            ),
        ));
    }
    Ok(())
}

/// The built-in demo of plain `mdp run`: two synthetic providers, faults injected into the
/// primary, so failover, breaker transitions, fail-back and counts show live.
pub(crate) const DEMO: &str = include_str!("../../../examples/config/failover.toml");

/// Plain `mdp run`.
pub(crate) fn run_demo(duration: Duration, json: bool, metrics: Option<&str>) -> Result<()> {
    let mut settings = PipelineRuntimeSettings::from_toml_str(DEMO).context("the built-in demo")?;
    if metrics.is_some() {
        settings.metrics_addr = metrics.map(str::to_string);
    }
    run_settings(settings, duration, json)
}

/// `mdp run --config FILE`. An error raised while starting names the file and the line of the
/// key it is about.
/// `--metrics ADDR` replaces the file's `metrics_addr`.
pub(crate) fn run_file(
    path: &Path,
    duration: Duration,
    json: bool,
    metrics: Option<&str>,
) -> Result<()> {
    let mut settings = PipelineRuntimeSettings::from_file(path)?;
    if settings.coordination.is_none() && metrics.is_none() {
        let runtime = PipelineRuntime::start_from_file(path)?;
        return run_runtime(runtime, None, duration, json);
    }
    if let Some(addr) = metrics {
        settings.metrics_addr = Some(addr.to_string());
    }
    if settings.coordination.is_none() {
        let runtime = PipelineRuntime::start(settings)
            .with_context(|| format!("starting the runtime of {}", path.display()))?;
        return run_runtime(runtime, None, duration, json);
    }
    // Shared budgets are attached before any pipeline polls a provider: started first, the
    // pipelines would spend every local bucket's burst on top of the account's budget.
    let pipelines = settings.pipelines.clone();
    let runtime = PipelineRuntime::start(PipelineRuntimeSettings {
        pipelines: Vec::new(),
        ..settings
    })
    .with_context(|| format!("starting the runtime of {}", path.display()))?;
    let coordination = crate::coordination::attach(&runtime)
        .with_context(|| format!("{}: [coordination]", path.display()))?;
    let singletons = crate::coordination::singletons(&runtime, coordination.as_ref(), &pipelines)
        .with_context(|| format!("{}: [coordination]", path.display()))?;
    for spec in pipelines.into_iter().filter(|s| !s.singleton) {
        runtime
            .run_pipeline(spec)
            .with_context(|| format!("starting a pipeline of {}", path.display()))?;
    }
    let result = run_runtime(runtime, singletons, duration, json);
    drop(coordination); // gives unspent leased tokens back
    result
}

fn live_line(s: &RuntimeSnapshot, elapsed: Duration) -> String {
    let mut line = format!("{:>6.2}s", elapsed.as_secs_f64());
    for p in &s.pipelines {
        line += &format!(
            "  {}: {} ticks, {} out [{}]",
            p.key,
            p.stats.produced,
            p.stats.delivered,
            p.state.as_str()
        );
        if let Some(o) = &p.owner {
            line += &format!(" owner {o}");
        }
        if let Some(r) = &p.routing {
            line += &format!(
                " via {} (switches {}:",
                r.active.as_deref().unwrap_or("-"),
                r.switches_total
            );
            for src in &r.sources {
                line += &format!(" {} {} sel×{}", src.name, src.breaker, src.selected);
            }
            line += ")";
        }
    }
    line
}

fn print_routing(r: &RouterStats) {
    println!(
        "    router ({}): {} switches, active {}",
        r.strategy,
        r.switches_total,
        r.active.as_deref().unwrap_or("-")
    );
    for src in &r.sources {
        println!(
            "      {:<10} selected {:>3}  delivered {:>10}  drained as standby {:>10}  errors {:>3}  breaker {}",
            src.name, src.selected, src.delivered, src.drained, src.errors, src.breaker
        );
    }
    let first = r.switches.first().map_or(0, |w| w.at_ns);
    for w in &r.switches {
        println!(
            "      +{:>7.3}s  {} -> {}  ({})",
            (w.at_ns - first) as f64 / 1e9,
            w.from.as_deref().unwrap_or("-"),
            w.to.as_deref().unwrap_or("-"),
            w.reason
        );
    }
}

fn routing_json(r: &RouterStats) -> Value {
    json!({
        "strategy": r.strategy.as_str(),
        "active": r.active.as_deref(),
        "switches_total": r.switches_total,
        "switches": r.switches.iter().map(|w| json!({
            "at_ns": w.at_ns,
            "from": w.from.as_deref(),
            "to": w.to.as_deref(),
            "reason": w.reason.as_str(),
        })).collect::<Vec<_>>(),
        "sources": r.sources.iter().map(|src| json!({
            "name": &*src.name,
            "selected": src.selected,
            "delivered": src.delivered,
            "drained": src.drained,
            "errors": src.errors,
            "breaker": src.breaker.to_string(),
        })).collect::<Vec<_>>(),
        "removed": json!({
            "count": r.removed.count,
            "delivered": r.removed.delivered,
            "drained": r.removed.drained,
            "errors": r.removed.errors,
        }),
    })
}

fn print_summary(s: &RuntimeSnapshot, reports: &[(String, PipelineReport)]) {
    println!(
        "providers (budgets and breakers of the coordinator; routed sources have theirs in their router):"
    );
    for p in &s.providers {
        let b = &p.state.breaker;
        println!(
            "  {:<12} {:<10} coordinator breaker {:<9} opened {} half-opened {} closed {}  rate-limited {}  request-based {}",
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
        // The router's final counters (they add up to `delivered`); the last snapshot's when
        // the report has none.
        if let Some(routing) = r.routing.as_ref().or_else(|| routing_of(s, key)) {
            print_routing(routing);
        }
    }
}

fn routing_of<'a>(s: &'a RuntimeSnapshot, key: &str) -> Option<&'a RouterStats> {
    s.pipelines
        .iter()
        .find(|p| p.key.as_str() == key)
        .and_then(|p| p.routing.as_ref())
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
                "owner": s.pipelines.iter().find(|p| p.key.as_str() == key).and_then(|p| p.owner.clone()),
                "elapsed_s": r.elapsed.as_secs_f64(),
                "produced": st.produced,
                "processed": st.ticks_in,
                "delivered": st.delivered,
                "dropped": st.lost(),
                "source_errors": st.source_errors,
                "conserved": st.is_conserved(),
                "latency_ns": {"p50": st.latency.p50, "p99": st.latency.p99, "max": st.latency.max},
                "error": r.error.as_ref().map(|e| e.to_string()),
                "routing": r.routing.as_ref().or_else(|| routing_of(s, key)).map(routing_json),
            })
        })
        .collect();
    json!({
        "settings_version": s.settings_version,
        "routing_strategy": s.routing_strategy.as_str(),
        "providers": providers,
        "pipelines": pipelines,
    })
}
