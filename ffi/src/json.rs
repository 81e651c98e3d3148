//! The JSON the C ABI hands out for snapshots, pipeline lists and stop reports (serde_json
//! is named here only).

use market_data_pipeline::flow::{BreakerStats, ProviderState};
use market_data_pipeline::pipeline::{LatencySummary, PipelineReport, PipelineStats};
use market_data_pipeline::ring::EdgeStats;
use market_data_pipeline::router::RouterStats;
use market_data_pipeline::runtime::{
    PipelineInfo, PipelineKey, PipelineKind, ProviderHealth, RuntimeSnapshot,
};
use serde_json::{json, Value};

fn latency(l: &LatencySummary) -> Value {
    json!({
        "count": l.count, "p50_ns": l.p50, "p90_ns": l.p90, "p99_ns": l.p99,
        "p999_ns": l.p999, "max_ns": l.max,
    })
}

fn edge(e: &EdgeStats) -> Value {
    json!({
        "offered": e.offered, "pushed": e.pushed, "dropped": e.dropped,
        "after_close": e.after_close, "conflated": e.conflated, "pending": e.pending,
        "popped": e.popped,
    })
}

fn stats(s: &PipelineStats) -> Value {
    let op = &s.operator;
    json!({
        "state": s.state.as_str(),
        "produced": s.produced,
        "source_errors": s.source_errors,
        "ticks_in": s.ticks_in,
        "lost": s.lost(),
        "records_out": s.records_out,
        "delivered": s.delivered,
        "batches": s.batches,
        "in_flight": s.in_flight(),
        "conserved": s.is_conserved(),
        "edge": edge(&s.edge),
        "operator": {
            "ticks_in": op.ticks_in, "records_out": op.records_out, "filtered": op.filtered,
            "duplicates": op.duplicates, "conflated": op.conflated, "late": op.late,
        },
        "latency": latency(&s.latency),
        "warnings": s.warnings,
    })
}

fn routing(r: &RouterStats) -> Value {
    let sources: Vec<Value> = r
        .sources
        .iter()
        .map(|s| {
            json!({
                "name": &*s.name, "selected": s.selected, "delivered": s.delivered,
                "discarded": s.discarded, "produced": s.produced, "errors": s.errors,
                "breaker": s.breaker.as_str(), "latency_ns": s.latency_ns, "usable": s.usable,
            })
        })
        .collect();
    json!({
        "strategy": r.strategy.as_str(),
        "active": r.active.as_deref(),
        "sources": sources,
        "removed": {
            "count": r.removed.count, "delivered": r.removed.delivered,
            "drained": r.removed.drained, "errors": r.removed.errors,
        },
        "switches_total": r.switches_total,
        "delivered": r.delivered,
        "gaps": r.gaps,
        "duplicates": r.duplicates,
        "late": r.late,
    })
}

fn pipeline(p: &PipelineInfo) -> Value {
    json!({
        "key": p.key.as_str(),
        "kind": match p.kind {
            PipelineKind::Pipeline => "pipeline",
            PipelineKind::QuoteStream => "quote_stream",
        },
        "sources": p.sources,
        "state": p.state.as_str(),
        "stats": stats(&p.stats),
        "routing": p.routing.as_ref().map(routing),
        "subscription": p.subscription.as_ref().map(edge),
    })
}

/// `list_pipelines` as a JSON array.
pub(crate) fn pipelines(list: &[PipelineInfo]) -> Value {
    Value::Array(list.iter().map(pipeline).collect())
}

fn breaker(b: &BreakerStats) -> Value {
    json!({
        "state": b.state.as_str(),
        "consecutive_failures": b.consecutive_failures,
        "probes_in_flight": b.probes_in_flight,
        "opened": b.opened,
        "half_opened": b.half_opened,
        "closed": b.closed,
        "last_transition_ns": b.last_transition_ns,
    })
}

fn provider_state(s: &ProviderState) -> Value {
    let cooldowns: Vec<Value> = s
        .cooldowns
        .iter()
        .map(|(scope, left)| json!({"scope": scope, "remaining_ns": left.as_nanos() as u64}))
        .collect();
    json!({
        "tokens": s.tokens,
        "breaker": breaker(&s.breaker),
        "cooldowns": cooldowns,
        "scale": s.scale,
        "refused": {
            "rate_limited": s.counters.rate_limited,
            "circuit_open": s.counters.circuit_open,
            "cooling_down": s.counters.cooling_down,
        },
    })
}

fn provider(p: &ProviderHealth) -> Value {
    json!({
        "name": p.name,
        "kind": p.kind,
        "request_based": p.request_based,
        "state": provider_state(&p.state),
    })
}

/// The runtime snapshot.
pub(crate) fn snapshot(s: &RuntimeSnapshot) -> Value {
    json!({
        "settings_version": s.settings_version,
        "routing_strategy": s.routing_strategy.as_str(),
        "providers": s.providers.iter().map(provider).collect::<Vec<_>>(),
        "pipelines": pipelines(&s.pipelines),
    })
}

/// A stopped pipeline's final report.
pub(crate) fn report(key: &PipelineKey, r: &PipelineReport) -> Value {
    json!({
        "key": key.as_str(),
        "stats": stats(&r.stats),
        "error": r.error.as_ref().map(ToString::to_string),
        "elapsed_ns": r.elapsed.as_nanos() as u64,
    })
}
