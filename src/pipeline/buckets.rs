//! A pipeline's latency histogram folded into cumulative buckets, for exporters (a Prometheus
//! histogram) that want counts at fixed bounds rather than percentiles.
//!
//! Read at scrape time under the shared histogram's lock: the sink stage merges into it with a
//! `try_lock`, so a reader holding it only defers a merge, never makes the data path wait.

use hdrhistogram::Histogram;

use crate::pipeline::handle::{PipelineHandle, PipelineMonitor};
use crate::pipeline::stats::{lock, PipelineShared};

/// Latency (`ts_recv` → sink write) counted at fixed upper bounds, cumulatively.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyBuckets {
    /// Records measured.
    pub count: u64,
    /// Sum of the latencies, ns, from the histogram's bucket values (within its 3 significant
    /// digits of the exact sum).
    pub sum_ns: f64,
    /// `cumulative[i]`: records with latency at most the `i`-th bound (the `+Inf` bucket is
    /// [`count`](LatencyBuckets#structfield.count)).
    pub cumulative: Vec<u64>,
}

impl LatencyBuckets {
    /// Fold `h` into buckets with upper bounds `bounds_ns` (ascending). One pass over the
    /// recorded values.
    pub fn of(h: &Histogram<u64>, bounds_ns: &[u64]) -> LatencyBuckets {
        let mut per = vec![0u64; bounds_ns.len()];
        let mut sum_ns = 0.0;
        for v in h.iter_recorded() {
            let value = h.highest_equivalent(v.value_iterated_to());
            let n = v.count_at_value();
            sum_ns += value as f64 * n as f64;
            let i = bounds_ns.partition_point(|&b| b < value);
            if let Some(slot) = per.get_mut(i) {
                *slot += n;
            }
        }
        let mut acc = 0;
        for slot in &mut per {
            acc += *slot;
            *slot = acc;
        }
        LatencyBuckets {
            count: h.len(),
            sum_ns,
            cumulative: per,
        }
    }
}

impl PipelineShared {
    pub(crate) fn latency_buckets(&self, bounds_ns: &[u64]) -> LatencyBuckets {
        LatencyBuckets::of(&lock(&self.latency), bounds_ns)
    }
}

impl PipelineHandle {
    /// The latency histogram merged so far, counted at `bounds_ns` (see [`LatencyBuckets`]).
    pub fn latency_buckets(&self, bounds_ns: &[u64]) -> LatencyBuckets {
        self.shared.latency_buckets(bounds_ns)
    }
}

impl PipelineMonitor {
    /// As [`PipelineHandle::latency_buckets`].
    pub fn latency_buckets(&self, bounds_ns: &[u64]) -> LatencyBuckets {
        self.shared.latency_buckets(bounds_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::stats::latency_histogram;

    #[test]
    fn buckets_count_each_record_once_at_the_first_bound_at_or_above_it() {
        let mut h = latency_histogram();
        h.record_n(100, 3).unwrap();
        h.record_n(1_000, 2).unwrap();
        h.record_n(50_000, 1).unwrap();
        let b = LatencyBuckets::of(&h, &[100, 1_000, 10_000]);
        assert_eq!(b.count, 6);
        assert_eq!(b.cumulative, [3, 5, 5]);
        // The sum is within the histogram's precision.
        let exact = 300.0 + 2_000.0 + 50_000.0;
        assert!((b.sum_ns - exact).abs() / exact < 1e-3, "{}", b.sum_ns);
        assert_eq!(
            LatencyBuckets::of(&latency_histogram(), &[1]).cumulative,
            [0]
        );
    }
}
