//! `PipelineOwner`: the seam through which a singleton pipeline's ownership lives beyond this
//! process (a lease with a fencing token, e.g. in Redis through the `mdp-redis` workspace
//! crate). The core knows only this trait: the coordination layer that holds the lease starts
//! the pipeline with [`PipelineRuntime::run_owned_pipeline`] when it acquires it and stops it
//! with [`PipelineRuntime::stop_pipeline`] when it is fenced out; the runtime asks the owner
//! only what to show in [`PipelineInfo::owner`](super::PipelineInfo::owner).
//!
//! [`PipelineRuntime::run_owned_pipeline`]: super::PipelineRuntime::run_owned_pipeline
//! [`PipelineRuntime::stop_pipeline`]: super::PipelineRuntime::stop_pipeline

use std::fmt::Debug;

/// The holder of a singleton pipeline's ownership on this host.
pub trait PipelineOwner: Send + Sync + Debug {
    /// The owner as [`list_pipelines`](super::PipelineRuntime::list_pipelines) shows it
    /// (member and fencing token, e.g. `host-a token 7`).
    fn owner(&self) -> String;
}
