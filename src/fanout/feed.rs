//! `spawn_feed`: a source run as a task on a worker set, read through a ring — how a
//! [`SourceRouter`](crate::SourceRouter) is fed by sources produced on other workers.

use crate::clock::SharedClock;
use crate::error::{ConfigError, SourceError};
use crate::exec::{TaskPlacement, WorkerSet, WorkerSetError};
use crate::source::TickSource;

use super::{FanoutHub, HubConfig, Subscriber, SubscriberConfig};

/// Run `source` as a task on `workers` at `at` — a [`FanoutHub`] over it with one
/// subscriber, configured by `config` — and return that subscriber: a [`TickSource`] that
/// reads the source's ticks from its own SPSC ring. Polling it never polls `source` (that
/// happens on its worker), so a slow or blocking source cannot stall its reader, and a
/// router over several feeds reads feeds produced on several workers.
///
/// The feed reports what the source does, in order: its ticks, then its error (once, as the
/// source's [`SourceError`]) or its end. Dropping or closing the subscriber closes the
/// source and ends the task. More readers can subscribe through
/// [`FanoutHub::handle`] only when the hub is built by hand; this is the one-reader form.
///
/// ```
/// use std::sync::Arc;
/// use market_data_pipeline::exec::{TaskPlacement, WorkerSet, WorkerSetConfig};
/// use market_data_pipeline::fanout::{spawn_feed, HubConfig, SubscriberConfig};
/// use market_data_pipeline::ring::Backpressure;
/// use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
/// use market_data_pipeline::{MonotonicClock, SourceRouter, SymbolTable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let workers = WorkerSet::new(WorkerSetConfig::default())?;
/// let clock = MonotonicClock::shared();
/// let table = Arc::new(SymbolTable::new());
/// // Two copies of one sequenced stream (hot-hot), each produced on its own worker.
/// let feed = |name: &str, worker: usize| -> Result<_, Box<dyn std::error::Error>> {
///     let config = SyntheticConfig {
///         name: name.into(),
///         max_ticks: Some(10_000),
///         shared_sequence: true,
///         ..SyntheticConfig::new(&["AAPL"])
///     };
///     let source = SyntheticSource::new(config, table.clone())?;
///     let at = TaskPlacement::Worker(worker % workers.workers());
///     // `Block`: the feed waits for its reader instead of dropping what does not fit.
///     let ring = SubscriberConfig::all().backpressure(Backpressure::Block);
///     Ok(spawn_feed(Box::new(source), ring, HubConfig::default(), clock.clone(), &workers, at)?)
/// };
/// let (a, b) = (feed("a", 0)?, feed("b", 1)?);
/// // A router over the two rings: `Arbitrate` delivers each seq once, from whichever feed
/// // brings it first.
/// let router = SourceRouter::new(vec![a, b], "arbitrate")?;
/// assert_eq!(router.stream().count(), 10_000);
/// workers.shutdown();
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`FanoutHub::new`] and [`FanoutHandle::subscribe`](super::FanoutHandle::subscribe)
/// (a chunk size or ring capacity out of bounds: [`SourceError::Config`]); a placement on a
/// worker the set does not have ([`SourceError::Config`] naming `placement`); a worker set
/// that is shutting down ([`SourceError::NotRunning`]). `source` is dropped unstarted.
pub fn spawn_feed(
    source: Box<dyn TickSource>,
    config: SubscriberConfig,
    hub: HubConfig,
    clock: SharedClock,
    workers: &WorkerSet,
    at: TaskPlacement,
) -> Result<Subscriber, SourceError> {
    let name = source.name().to_string();
    let hub = FanoutHub::new(source, hub, clock)?;
    let sub = hub.handle().subscribe(config)?;
    workers.spawn(Box::new(hub), at).map_err(|e| match e {
        WorkerSetError::ShutDown => SourceError::NotRunning {
            source_name: name,
            state: "its worker set is shutting down",
        },
        e => SourceError::Config {
            source_name: name,
            error: ConfigError::new("placement", e.to_string()),
        },
    })?;
    Ok(sub)
}
