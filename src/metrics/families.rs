//! The metric families: one `Collector` that writes every family of one [`Scrape`].

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::flow::BreakerState;
use crate::metrics::{Scrape, LATENCY_BOUNDS_NS};
use crate::pipeline::{PipelineState, PipelineStats};
use crate::router::SwitchReason;
use crate::runtime::{PipelineInfo, PipelineKind, ProviderHealth};

type Fmt = Result<(), std::fmt::Error>;

/// A sample without labels.
const NO_LABELS: [(&str, &str); 0] = [];

const BREAKER_STATES: [BreakerState; 3] = [
    BreakerState::Closed,
    BreakerState::Open,
    BreakerState::HalfOpen,
];
const PIPELINE_STATES: [PipelineState; 5] = [
    PipelineState::Starting,
    PipelineState::Running,
    PipelineState::Draining,
    PipelineState::Stopped,
    PipelineState::Failed,
];

/// Writes one scrape's families.
#[derive(Debug)]
pub(super) struct ScrapeCollector(pub(super) Scrape);

fn counter<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> Fmt {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in samples {
        m.encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
    }
    Ok(())
}

fn gauge<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> Fmt {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in samples {
        m.encode_family(&labels)?.encode_gauge(&v)?;
    }
    Ok(())
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn kind_str(k: PipelineKind) -> &'static str {
    match k {
        PipelineKind::Pipeline => "pipeline",
        PipelineKind::QuoteStream => "quote_stream",
    }
}

impl Collector for ScrapeCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Fmt {
        let s = &self.0;
        let snap = &s.snapshot;
        gauge(
            &mut enc,
            "runtime_settings_version",
            "Version of the settings in force (0 at start, +1 per update_settings).",
            None,
            [(NO_LABELS, snap.settings_version as f64)],
        )?;
        gauge(
            &mut enc,
            "runtime_pipelines",
            "Pipelines and quote streams listed (running or finished, not yet reaped).",
            None,
            [(NO_LABELS, snap.pipelines.len() as f64)],
        )?;
        providers(&mut enc, &snap.providers)?;
        pipelines(&mut enc, s)?;
        routers(&mut enc, &snap.pipelines)
    }
}

fn providers(enc: &mut DescriptorEncoder<'_>, ps: &[ProviderHealth]) -> Fmt {
    let by =
        |f: fn(&ProviderHealth) -> u64| ps.iter().map(move |p| ([("provider", &*p.name)], f(p)));
    counter(
        enc,
        "provider_admitted",
        "Requests admitted by the provider's budget and breaker.",
        by(|p| p.state.counters.admitted),
    )?;
    counter(
        enc,
        "provider_rate_limited",
        "Requests refused by a budget window.",
        by(|p| p.state.counters.rate_limited),
    )?;
    counter(
        enc,
        "provider_cooldown_refused",
        "Requests refused by a running cooldown.",
        by(|p| p.state.counters.cooling_down),
    )?;
    counter(
        enc,
        "provider_breaker_refused",
        "Requests refused by the open circuit breaker.",
        by(|p| p.state.counters.circuit_open),
    )?;
    gauge(
        enc,
        "provider_cooldown_remaining",
        "Time left of each running cooldown, by scope.",
        Some(&Unit::Seconds),
        ps.iter().flat_map(|p| {
            p.state.cooldowns.iter().map(|(scope, left)| {
                (
                    [("provider", &*p.name), ("scope", scope.as_str())],
                    left.as_secs_f64(),
                )
            })
        }),
    )?;
    // The deadline as Unix time, from the time left and the wall clock read once per scrape
    // (the engine's clock is monotonic and has no calendar).
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    gauge(
        enc,
        "provider_cooldown_deadline",
        "When each running cooldown ends, by scope, as Unix time (the wall clock at the scrape plus the time left).",
        Some(&Unit::Seconds),
        ps.iter().flat_map(|p| {
            p.state.cooldowns.iter().map(move |(scope, left)| {
                (
                    [("provider", &*p.name), ("scope", scope.as_str())],
                    now_unix + left.as_secs_f64(),
                )
            })
        }),
    )?;
    gauge(
        enc,
        "provider_breaker_state",
        "1 for the state the provider's circuit breaker is in, 0 for the others.",
        None,
        ps.iter().flat_map(|p| {
            BREAKER_STATES.iter().map(|st| {
                (
                    [("provider", &*p.name), ("state", st.as_str())],
                    flag(p.state.breaker.state == *st),
                )
            })
        }),
    )?;
    counter(
        enc,
        "provider_breaker_transitions",
        "Circuit breaker transitions, by the state entered.",
        ps.iter().flat_map(|p| {
            let b = &p.state.breaker;
            [
                ("open", b.opened),
                ("half_open", b.half_opened),
                ("closed", b.closed),
            ]
            .map(|(to, n)| ([("provider", &*p.name), ("to", to)], n))
        }),
    )?;
    gauge(
        enc,
        "provider_budget_scale",
        "Budget scale factor (1 = the configured rate).",
        None,
        ps.iter().map(|p| ([("provider", &*p.name)], p.state.scale)),
    )?;
    gauge(
        enc,
        "provider_tokens",
        "Whole tokens available in each budget window (window 0 first).",
        None,
        ps.iter().flat_map(|p| {
            p.state.tokens.iter().enumerate().map(|(i, t)| {
                (
                    vec![("provider", p.name.clone()), ("window", i.to_string())],
                    *t as f64,
                )
            })
        }),
    )
}

/// The labels of a pipeline's samples.
fn plabels(p: &PipelineInfo) -> [(&'static str, String); 2] {
    [
        ("pipeline", p.key.to_string()),
        ("kind", kind_str(p.kind).to_string()),
    ]
}

fn pipelines(enc: &mut DescriptorEncoder<'_>, s: &Scrape) -> Fmt {
    let ps = &s.snapshot.pipelines;
    let by = |f: fn(&PipelineInfo, &PipelineStats) -> u64| {
        ps.iter().map(move |p| (plabels(p), f(p, &p.stats)))
    };
    counter(
        enc,
        "pipeline_produced",
        "Ticks its source produced.",
        by(|_, st| st.produced),
    )?;
    counter(
        enc,
        "pipeline_processed",
        "Ticks its operator took in.",
        by(|_, st| st.ticks_in),
    )?;
    counter(
        enc,
        "pipeline_delivered",
        "Records written to its sink.",
        by(|_, st| st.delivered),
    )?;
    counter(
        enc,
        "pipeline_dropped",
        "Ticks dropped by backpressure: on its source edge and its fan-out subscription ring.",
        by(|p, st| st.edge.dropped + p.subscription.unwrap_or_default().dropped),
    )?;
    counter(
        enc,
        "pipeline_conflated",
        "Ticks conflated by backpressure: on its source edge and its fan-out subscription ring.",
        by(|p, st| st.edge.conflated + p.subscription.unwrap_or_default().conflated),
    )?;
    counter(
        enc,
        "pipeline_after_close",
        "Ticks its fan-out subscription was offered after it stopped reading (left unread \
         when it left, or offered once it was gone): not lost to backpressure.",
        by(|p, _| p.subscription.unwrap_or_default().after_close),
    )?;
    counter(
        enc,
        "pipeline_late",
        "Ticks its operator dropped as late.",
        by(|_, st| st.operator.late),
    )?;
    counter(
        enc,
        "pipeline_lost",
        "Ticks lost to a failed stage.",
        by(|_, st| st.lost),
    )?;
    counter(
        enc,
        "pipeline_source_errors",
        "Errors its source returned.",
        by(|_, st| st.source_errors),
    )?;
    counter(
        enc,
        "pipeline_operator_filtered",
        "Ticks its operator filtered out.",
        by(|_, st| st.operator.filtered),
    )?;
    counter(
        enc,
        "pipeline_operator_duplicates",
        "Ticks its operator suppressed as duplicates.",
        by(|_, st| st.operator.duplicates),
    )?;
    counter(
        enc,
        "pipeline_operator_conflated",
        "Ticks its operator conflated.",
        by(|_, st| st.operator.conflated),
    )?;
    gauge(
        enc,
        "pipeline_in_flight",
        "Ticks between its source and its operator now.",
        None,
        ps.iter().map(|p| (plabels(p), p.stats.in_flight() as f64)),
    )?;
    gauge(
        enc,
        "pipeline_state",
        "1 for the life-cycle state the pipeline is in, 0 for the others.",
        None,
        ps.iter().flat_map(|p| {
            PIPELINE_STATES.iter().map(move |st| {
                let [a, b] = plabels(p);
                (
                    [a, b, ("state", st.as_str().to_string())],
                    flag(p.state == *st),
                )
            })
        }),
    )?;
    let mut m = enc.encode_descriptor(
        "pipeline_latency",
        "Latency from a tick's ts_recv to its sink write.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    let mut buckets = Vec::with_capacity(LATENCY_BOUNDS_NS.len() + 1);
    for (p, b) in ps.iter().zip(&s.latency) {
        buckets.clear();
        let mut below = 0;
        for (bound, cum) in LATENCY_BOUNDS_NS.iter().zip(&b.cumulative) {
            buckets.push((*bound as f64 / 1e9, cum - below));
            below = *cum;
        }
        buckets.push((f64::INFINITY, b.count - below));
        let labels = plabels(p);
        m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            b.sum_ns / 1e9,
            b.count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

fn routers(enc: &mut DescriptorEncoder<'_>, ps: &[PipelineInfo]) -> Fmt {
    let routed = || {
        ps.iter()
            .filter_map(|p| Some((p.key.to_string(), p.routing.as_ref()?)))
    };
    let per_source = || {
        routed().flat_map(|(key, r)| {
            r.sources.iter().map(move |src| {
                (
                    [("pipeline", key.clone()), ("source", src.name.to_string())],
                    src,
                    r,
                )
            })
        })
    };
    gauge(
        enc,
        "router_active_source",
        "1 for the source the router delivers, 0 for the others.",
        None,
        per_source().map(|(l, src, r)| (l, flag(r.active.as_deref() == Some(&*src.name)))),
    )?;
    counter(
        enc,
        "router_switches",
        "Switches of the delivered source, by reason.",
        routed().flat_map(|(key, r)| {
            SwitchReason::ALL.iter().map(move |reason| {
                (
                    [
                        ("pipeline", key.clone()),
                        ("reason", reason.as_str().to_string()),
                    ],
                    r.switches_by_reason[reason.index()],
                )
            })
        }),
    )?;
    counter(
        enc,
        "router_source_delivered",
        "Ticks of each source the router delivered.",
        per_source().map(|(l, src, _)| (l, src.delivered)),
    )?;
    counter(
        enc,
        "router_removed_sources",
        "Sources removed from the router while it ran.",
        routed().map(|(key, r)| ([("pipeline", key)], r.removed.count)),
    )?;
    counter(
        enc,
        "router_removed_delivered",
        "Ticks the router delivered from sources since removed (with router_source_delivered, \
         every tick it delivered).",
        routed().map(|(key, r)| ([("pipeline", key)], r.removed.delivered)),
    )?;
    counter(
        enc,
        "router_source_errors",
        "Errors each source returned to the router.",
        per_source().map(|(l, src, _)| (l, src.errors)),
    )?;
    counter(
        enc,
        "router_source_drained",
        "Ticks of each queued standby source the router read and discarded while it was not \
         delivered.",
        per_source().map(|(l, src, _)| (l, src.drained)),
    )?;
    gauge(
        enc,
        "router_source_staleness",
        "Time since each source last delivered data to the router.",
        Some(&Unit::Seconds),
        per_source().map(|(l, src, _)| (l, src.since_data_ns as f64 / 1e9)),
    )?;
    let by = |f: fn(&crate::router::RouterStats) -> u64| {
        routed().map(move |(key, r)| ([("pipeline", key)], f(r)))
    };
    counter(
        enc,
        "router_gaps",
        "Arbitrate: sequence numbers no source carried within the window.",
        by(|r| r.gaps),
    )?;
    counter(
        enc,
        "router_duplicates",
        "Arbitrate: ticks suppressed because their sequence number was already delivered.",
        by(|r| r.duplicates),
    )?;
    counter(
        enc,
        "router_late",
        "Arbitrate: ticks that arrived after their sequence number left the window.",
        by(|r| r.late),
    )
}
