//! The runtime's running providers: one fan-out hub per provider, shared by every pipeline
//! and quote stream that reads it (one upstream connection, one budget spend, one breaker).
//!
//! A hub is created when a provider is first used, its pipelines subscribe to it, and it
//! finishes (and leaves the map) when its last subscriber leaves. Until the worker set hosts
//! tasks, each hub runs on one dedicated thread of its own (one per provider, not per
//! pipeline) through the small runner below.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use crate::clock::SharedClock;
use crate::error::{PipelineError, SourceError};
use crate::exec::{Step, Task};
use crate::fanout::{FanoutHandle, FanoutHub, HubConfig, Subscriber, SubscriberConfig};
use crate::idle::{IdleStrategy, Idler};
use crate::ring::EdgeCounters;
use crate::runtime::error::RuntimeError;
use crate::source::TickSource;

/// A running hub and the thread that steps it.
#[derive(Debug)]
struct Running {
    handle: FanoutHandle,
    thread: Option<JoinHandle<()>>,
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
    /// What `build` returns; a subscription the hub refuses (capacity, symbols); a hub
    /// thread that cannot be started.
    pub(crate) fn subscribe(
        &self,
        name: &str,
        config: SubscriberConfig,
        hub_config: HubConfig,
        clock: &SharedClock,
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
        let thread = run(hub, name, Arc::downgrade(&self.map))?;
        map.insert(
            name.to_string(),
            Running {
                handle,
                thread: Some(thread),
            },
        );
        Ok(counted(sub))
    }

    /// Stop every hub (their subscribers see the end of their streams) and wait for their
    /// threads (a hub's step is bounded, so each ends at its next step).
    pub(crate) fn shutdown(&self) {
        let hubs = std::mem::take(&mut *crate::sync::lock(&self.map));
        for r in hubs.values() {
            r.handle.stop();
        }
        for (_, mut r) in hubs {
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
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

/// Step `hub` on a thread of its own until it is done; then take it out of `map`.
fn run(mut hub: FanoutHub, name: &str, map: Weak<Map>) -> Result<JoinHandle<()>, RuntimeError> {
    let key = name.to_string();
    std::thread::Builder::new()
        .name(format!("mdp-hub-{name}"))
        .spawn(move || {
            let me = hub.handle();
            let mut idler = Idler::new(IdleStrategy::default());
            loop {
                match panic::catch_unwind(AssertUnwindSafe(|| hub.step())) {
                    Ok(Step::Progress) => idler.reset(),
                    Ok(Step::Idle) => idler.idle(),
                    Ok(Step::Done) => break,
                    Err(payload) => {
                        hub.panicked(crate::pipeline::panic_message(&*payload));
                        break;
                    }
                }
            }
            drop(hub);
            if let Some(map) = map.upgrade() {
                let mut map = crate::sync::lock(&map);
                if map.get(&key).is_some_and(|r| r.handle.is_same(&me)) {
                    // Detached: this thread is ending.
                    map.remove(&key);
                }
            }
        })
        .map_err(|e| {
            RuntimeError::Pipeline(PipelineError::Worker {
                worker: format!("hub {name}"),
                reason: format!("cannot start its thread: {e}"),
            })
        })
}
