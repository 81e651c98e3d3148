//! How many slots a pipeline's ring gets when none was set: it depends on where the stages
//! run.
//!
//! - **Dedicated threads** ([`StreamingPipeline::start`](crate::pipeline::StreamingPipeline::start)):
//!   [`DEDICATED_RING_CAPACITY`] slots (16384 ticks, 1 MiB). One pipeline owns two cores'
//!   caches; a deep ring lets the source run ahead of a stalled consumer.
//! - **A worker set** ([`StreamingPipeline::start_on`](crate::pipeline::StreamingPipeline::start_on),
//!   a runtime's pipelines): [`SHARED_RING_CHUNKS`] chunks (2048 slots, 128 KiB, at the default
//!   chunk of 256 ticks). The workers step every hosted task once per round, one chunk per
//!   step, so a ring never needs more than a few chunks to keep both sides busy; and the rings
//!   of every pipeline on the set share the same two caches. With 100 pipelines, 1 MiB rings
//!   are 100 MiB of ring, written and read back from memory on every chunk; 128 KiB rings are
//!   12.8 MiB, which the last-level cache holds (PERF.md §7 has the measurements).
//!
//! An explicit capacity (`StreamingPipelineBuilder::ring_capacity`,
//! `PipelineSettings::ring_capacity`) applies wherever the stages run.

use crate::ring::max_capacity;
use crate::tick::Tick;

/// Slots of a pipeline's ring on dedicated threads when none was set (never fewer than one
/// chunk).
pub const DEDICATED_RING_CAPACITY: usize = 1 << 14;

/// Chunks of a pipeline's ring on a worker set when none was set: 2048 slots at the default
/// chunk of 256 ticks (at most [`max_capacity`] slots).
pub const SHARED_RING_CHUNKS: usize = 8;

/// Where a pipeline's stages run, for the defaults that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageHost {
    /// Threads of its own ([`StreamingPipeline::start`](crate::pipeline::StreamingPipeline::start)).
    Dedicated,
    /// A shared [`WorkerSet`](crate::exec::WorkerSet).
    WorkerSet,
}

impl StageHost {
    /// The ring capacity (slots) a pipeline moving chunks of `chunk` ticks gets here when
    /// none was set: [`DEDICATED_RING_CAPACITY`] (or one chunk, if larger) on dedicated
    /// threads, [`SHARED_RING_CHUNKS`] chunks on a worker set (at most [`max_capacity`]).
    ///
    /// ```
    /// use market_data_pipeline::pipeline::StageHost;
    /// assert_eq!(StageHost::Dedicated.default_ring_capacity(256), 16_384);
    /// assert_eq!(StageHost::WorkerSet.default_ring_capacity(256), 2_048);
    /// ```
    pub fn default_ring_capacity(self, chunk: usize) -> usize {
        match self {
            StageHost::Dedicated => DEDICATED_RING_CAPACITY.max(chunk),
            StageHost::WorkerSet => SHARED_RING_CHUNKS
                .saturating_mul(chunk)
                .min(max_capacity::<Tick>()),
        }
    }

    /// `explicit` when set, otherwise [`default_ring_capacity`](Self::default_ring_capacity).
    pub fn ring_capacity(self, explicit: Option<usize>, chunk: usize) -> usize {
        explicit.unwrap_or_else(|| self.default_ring_capacity(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_by_host_and_chunk() {
        // (host, chunk, slots)
        let cases = [
            (1, StageHost::Dedicated, 256, 16_384),
            (2, StageHost::Dedicated, 1, 16_384),
            (3, StageHost::Dedicated, 65_536, 65_536),
            (4, StageHost::WorkerSet, 256, 2_048),
            (5, StageHost::WorkerSet, 1, 8),
            (6, StageHost::WorkerSet, 4_096, 32_768),
            (7, StageHost::WorkerSet, usize::MAX, max_capacity::<Tick>()),
        ];
        for (n, host, chunk, want) in cases {
            assert_eq!(host.default_ring_capacity(chunk), want, "case {n}");
        }
    }

    #[test]
    fn an_explicit_capacity_wins_on_either_host() {
        for host in [StageHost::Dedicated, StageHost::WorkerSet] {
            assert_eq!(host.ring_capacity(Some(512), 256), 512);
            assert_eq!(
                host.ring_capacity(None, 256),
                host.default_ring_capacity(256)
            );
        }
    }
}
