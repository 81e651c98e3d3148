//! The runtime's running providers: one fan-out hub per provider, shared by every pipeline
//! and quote stream that reads it (one upstream connection, one budget spend, one breaker).
//!
//! A hub is created when a provider is first used, its pipelines subscribe to it, and it
//! finishes when its last subscriber leaves (its entry is replaced at the next subscription).
//! Each hub is a task on the runtime's worker set, stepped beside the pipelines' stages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::clock::SharedClock;
use crate::error::{PipelineError, SourceError};
use crate::exec::{TaskPlacement, WorkerSet};
use crate::fanout::{FanoutHandle, FanoutHub, HubConfig, Subscriber, SubscriberConfig};
use crate::ring::EdgeCounters;
use crate::runtime::error::RuntimeError;
use crate::source::TickSource;

/// A running hub (a task on the worker set).
#[derive(Debug)]
struct Running {
    handle: FanoutHandle,
}

type Map = Mutex<BTreeMap<String, Running>>;

/// A pipeline's source, with its fan-out subscription's counters when it has one.
pub(crate) type Provided = (Box<dyn TickSource>, Option<Arc<EdgeCounters>>);

/// The hubs of a runtime, by provider name.
#[derive(Debug, Default)]
pub(crate) struct Hubs {
    map: Arc<Map>,
}

/// What a provider's source is: shared through a hub, or (a replay, whose stream each
/// pipeline reads from its own start) its pipeline's alone.
pub(crate) enum Upstream {
    /// Run it once, fanned out.
    Shared(Box<dyn TickSource>),
    /// Give it to the one pipeline as it is.
    Own(Box<dyn TickSource>),
}

impl Hubs {
    /// A subscriber of provider `name`'s hub, starting the hub (over what `build` makes)
    /// if none runs, with its ring's counters. `build` is called only when no hub runs.
    ///
    /// # Errors
    /// What `build` returns; a subscription the hub refuses (capacity, symbols); a worker
    /// set that takes no more tasks (shutting down).
    pub(crate) fn subscribe(
        &self,
        name: &str,
        config: SubscriberConfig,
        hub_config: HubConfig,
        clock: &SharedClock,
        workers: &WorkerSet,
        build: impl FnOnce() -> Result<Upstream, RuntimeError>,
    ) -> Result<Provided, RuntimeError> {
        let mut map = crate::sync::lock(&self.map);
        if let Some(running) = map.get(name) {
            match running.handle.subscribe(config.clone()) {
                Ok(sub) => return Ok(counted(sub)),
                // Finished (its last subscriber left, or its upstream ended): start anew.
                Err(SourceError::NotRunning { .. }) => {
                    map.remove(name);
                }
                Err(e) => return Err(source_error(e)),
            }
        }
        let upstream = match build()? {
            Upstream::Own(source) => return Ok((source, None)),
            Upstream::Shared(source) => source,
        };
        let hub = FanoutHub::new(upstream, hub_config, clock.clone()).map_err(source_error)?;
        let handle = hub.handle();
        let sub = handle.subscribe(config).map_err(source_error)?;
        workers
            .spawn(Box::new(hub), TaskPlacement::LeastLoaded)
            .map_err(|e| {
                RuntimeError::Pipeline(PipelineError::Worker {
                    worker: format!("hub {name}"),
                    reason: e.to_string(),
                })
            })?;
        map.insert(name.to_string(), Running { handle });
        Ok(counted(sub))
    }

    /// Stop every hub: each ends at its next step on its worker (its subscribers see the end
    /// of their streams); the worker set's shutdown waits for them.
    pub(crate) fn shutdown(&self) {
        let hubs = std::mem::take(&mut *crate::sync::lock(&self.map));
        for r in hubs.values() {
            r.handle.stop();
        }
    }
}

/// A subscriber as a source, with its ring's counters.
fn counted(sub: Subscriber) -> Provided {
    let counters = sub.counters();
    (Box::new(sub), Some(counters))
}

fn source_error(e: SourceError) -> RuntimeError {
    RuntimeError::Registry(e.into())
}
