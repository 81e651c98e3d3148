//! What `mdp bench` reports: each run with its hop probes, placement and ratios within the
//! run, then the medians of each placement group (near, far, moved), as a table or JSON.

use serde::Serialize;

use super::{median, HopSplit, Regime, Report, Rows};

/// One run: where the cores were, what each contender did, and the ratios within the run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PerRun {
    /// 1-based.
    pub run: usize,
    /// One-way hop (ns) probed before and after the run.
    pub hop_before_ns: u64,
    pub hop_after_ns: u64,
    pub placement: Regime,
    /// Throughput, M ticks/s.
    pub ring_mtps: f64,
    pub crossbeam_mtps: f64,
    pub pipeline_mtps: f64,
    pub pipeline_router_mtps: f64,
    pub pipeline_vs_ring: f64,
    pub crossbeam_vs_ring: f64,
    pub router_vs_pipeline: f64,
    /// Latency of the paced runs, ns.
    pub ring_p50_ns: u64,
    pub pipeline_p50_ns: u64,
    pub ring_p99_ns: u64,
    pub pipeline_p99_ns: u64,
    pub p50_pipeline_vs_ring: f64,
}

/// The medians of the runs of one placement.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Group {
    pub placement: Regime,
    /// The runs in it (1-based).
    pub runs: Vec<usize>,
    pub hop_ns: f64,
    pub ring_mtps: f64,
    pub crossbeam_mtps: f64,
    pub pipeline_mtps: f64,
    pub pipeline_router_mtps: f64,
    /// Medians of the ratios within each run.
    pub pipeline_vs_ring: f64,
    pub crossbeam_vs_ring: f64,
    pub router_vs_pipeline: f64,
    pub ring_p50_ns: f64,
    pub pipeline_p50_ns: f64,
    pub p50_pipeline_vs_ring: f64,
}

/// The runs of `thr` and `lat` (one row each per completed run) with their `hops`.
pub(super) fn per_run(
    thr: &Rows,
    lat: &Rows,
    hops: &[(u64, u64)],
    split: &HopSplit,
) -> Vec<PerRun> {
    (0..hops.len())
        .map(|i| {
            let (ring, cb, pipe, routed) = (
                &thr.bare_ring[i],
                &thr.crossbeam[i],
                &thr.pipeline[i],
                &thr.pipeline_router[i],
            );
            let (ring_lat, pipe_lat) = (&lat.bare_ring[i], &lat.pipeline[i]);
            let (before, after) = hops[i];
            PerRun {
                run: i + 1,
                hop_before_ns: before,
                hop_after_ns: after,
                placement: split.regime(before, after),
                ring_mtps: ring.rate / 1e6,
                crossbeam_mtps: cb.rate / 1e6,
                pipeline_mtps: pipe.rate / 1e6,
                pipeline_router_mtps: routed.rate / 1e6,
                pipeline_vs_ring: pipe.rate / ring.rate,
                crossbeam_vs_ring: cb.rate / ring.rate,
                router_vs_pipeline: routed.rate / pipe.rate,
                ring_p50_ns: ring_lat.p50_ns,
                pipeline_p50_ns: pipe_lat.p50_ns,
                ring_p99_ns: ring_lat.p99_ns,
                pipeline_p99_ns: pipe_lat.p99_ns,
                p50_pipeline_vs_ring: pipe_lat.p50_ns as f64 / ring_lat.p50_ns.max(1) as f64,
            }
        })
        .collect()
}

/// The medians per placement, near then far then moved (or single); empty groups are left
/// out.
pub(super) fn groups(runs: &[PerRun]) -> Vec<Group> {
    Regime::ALL
        .into_iter()
        .filter_map(|placement| {
            let rows: Vec<&PerRun> = runs.iter().filter(|r| r.placement == placement).collect();
            if rows.is_empty() {
                return None;
            }
            let med =
                |f: fn(&PerRun) -> f64| median(&rows.iter().map(|r| f(r)).collect::<Vec<_>>());
            Some(Group {
                placement,
                runs: rows.iter().map(|r| r.run).collect(),
                hop_ns: med(|r| (r.hop_before_ns + r.hop_after_ns) as f64 / 2.0),
                ring_mtps: med(|r| r.ring_mtps),
                crossbeam_mtps: med(|r| r.crossbeam_mtps),
                pipeline_mtps: med(|r| r.pipeline_mtps),
                pipeline_router_mtps: med(|r| r.pipeline_router_mtps),
                pipeline_vs_ring: med(|r| r.pipeline_vs_ring),
                crossbeam_vs_ring: med(|r| r.crossbeam_vs_ring),
                router_vs_pipeline: med(|r| r.router_vs_pipeline),
                ring_p50_ns: med(|r| r.ring_p50_ns as f64),
                pipeline_p50_ns: med(|r| r.pipeline_p50_ns as f64),
                p50_pipeline_vs_ring: med(|r| r.p50_pipeline_vs_ring),
            })
        })
        .collect()
}

/// The human-readable report.
pub(super) fn print_table(r: &Report) {
    println!("mdp bench — {}", r.setup.describe());
    println!(
        "\neach run (throughput M ticks/s; latency at {} ticks/s, ns):",
        r.latency_rate
    );
    println!(
        "  {:>3} {:>9} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7}",
        "run",
        "hop ns",
        "place",
        "ring",
        "xbeam",
        "pipe",
        "p+rtr",
        "p/ring",
        "x/ring",
        "rtr/p",
        "ring50",
        "pipe50"
    );
    for x in &r.per_run {
        println!(
            "  {:>3} {:>4}/{:<4} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>6.2} {:>6.2} {:>6.2} {:>7} {:>7}",
            x.run,
            x.hop_before_ns,
            x.hop_after_ns,
            x.placement.as_str(),
            x.ring_mtps,
            x.crossbeam_mtps,
            x.pipeline_mtps,
            x.pipeline_router_mtps,
            x.pipeline_vs_ring,
            x.crossbeam_vs_ring,
            x.router_vs_pipeline,
            x.ring_p50_ns,
            x.pipeline_p50_ns
        );
    }
    println!("\nmedians per placement (ratios: median of the ratios within each run):");
    for g in &r.groups {
        let runs: Vec<String> = g.runs.iter().map(|n| n.to_string()).collect();
        println!(
            "  {:<5} runs {} (hop ~{:.0} ns): ring {:.1}, crossbeam {:.1}, pipeline {:.1}, \
             pipeline+router {:.1} M ticks/s",
            g.placement.as_str(),
            runs.join(","),
            g.hop_ns,
            g.ring_mtps,
            g.crossbeam_mtps,
            g.pipeline_mtps,
            g.pipeline_router_mtps
        );
        println!(
            "        pipeline/ring {:.2}, crossbeam/ring {:.2}, (pipeline+router)/pipeline \
             {:.2}; p50 ring {:.0} ns, pipeline {:.0} ns, ratio {:.2}",
            g.pipeline_vs_ring,
            g.crossbeam_vs_ring,
            g.router_vs_pipeline,
            g.ring_p50_ns,
            g.pipeline_p50_ns,
            g.p50_pipeline_vs_ring
        );
    }
}
