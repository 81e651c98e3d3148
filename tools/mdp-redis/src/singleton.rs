//! [`Singletons`]: a runtime's singleton pipelines, each started only while this host owns it
//! ([`Ownership`]: a Redis lease with a fencing token) and stopped when it is fenced out.
//!
//! Call [`Singletons::poll`] from the runtime's control loop (every 10 ms or so). For each
//! singleton pipeline it renews or tries to acquire the lease when due; on acquisition it
//! starts the pipeline with [`PipelineRuntime::run_owned_pipeline`] (its owner shows in
//! `list_pipelines` as `<member> token <T>`), on loss it stops it. While it owns a pipeline it
//! also makes a *fenced write* every tenth of the lease: `(token, member, delivered)` appended
//! to `<prefix>:singleton:<tenant>/<pipeline>:log` by a Lua script that refuses it unless the
//! token is still the newest handed out. A refused write stops the pipeline at once, before the
//! lease's own renewal would. Anything else the pipeline writes can be fenced the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use market_data_pipeline::runtime::{PipelineKey, PipelineOwner, PipelineRuntime, PipelineSpec};
use market_data_pipeline::CountingSink;

use crate::config::CoordinationConfig;
use crate::error::CoordError;
use crate::owner::{OwnerEvent, Ownership};

/// The owner label a running singleton pipeline carries.
#[derive(Debug)]
struct Label(String);

impl PipelineOwner for Label {
    fn owner(&self) -> String {
        self.0.clone()
    }
}

/// One singleton pipeline as this host sees it.
struct Held {
    spec: PipelineSpec,
    ownership: Ownership,
    log: String,
    running: Option<(PipelineKey, u64)>,
    next_write: Instant,
}

/// What [`Singletons::poll`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SingletonEvent {
    /// This host acquired `key` with fencing token `token` and started it.
    Started {
        /// The pipeline.
        key: PipelineKey,
        /// The fencing token.
        token: u64,
    },
    /// This host lost `key` (fenced out, or cut off for a whole lease) and stopped it after
    /// it had delivered `delivered` records.
    Stopped {
        /// The pipeline.
        key: PipelineKey,
        /// The token it held.
        token: u64,
        /// Records it delivered while owned.
        delivered: u64,
    },
    /// Acquired but the runtime refused to start it (the message says why); the lease is given
    /// back.
    Failed {
        /// The pipeline.
        key: PipelineKey,
        /// Why.
        error: String,
    },
}

/// A runtime's singleton pipelines (see the module docs).
pub struct Singletons {
    member: String,
    ttl: Duration,
    held: Vec<Held>,
}

impl std::fmt::Debug for Singletons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singletons")
            .field("member", &self.member)
            .field("pipelines", &self.held.len())
            .finish()
    }
}

impl Singletons {
    /// The singleton pipelines among `specs` (the others are ignored), owned as `member`.
    ///
    /// # Errors
    /// [`CoordError::Config`] for a bad URL or lease.
    pub fn new(
        config: &CoordinationConfig,
        member: &str,
        specs: &[PipelineSpec],
    ) -> Result<Singletons, CoordError> {
        let ttl = Duration::from_millis(config.singleton_ttl_ms);
        let mut held = Vec::new();
        for spec in specs.iter().filter(|s| s.singleton) {
            let name = spec.key().to_string();
            held.push(Held {
                ownership: Ownership::new(&config.url, &config.key_prefix, &name, member, ttl)?,
                log: Singletons::log_key(&config.key_prefix, &spec.key()),
                spec: spec.clone(),
                running: None,
                next_write: Instant::now(),
            });
        }
        Ok(Singletons {
            member: member.into(),
            ttl,
            held,
        })
    }

    /// The stream the fenced writes of `key` go to.
    pub fn log_key(prefix: &str, key: &PipelineKey) -> String {
        format!("{prefix}:singleton:{key}:log")
    }

    /// How many singleton pipelines there are.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// No singleton pipeline.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Acquire, renew, fence-check; start and stop pipelines accordingly. A few Redis round
    /// trips at most, each bounded by the lease's timeout.
    pub fn poll(&mut self, runtime: &PipelineRuntime) -> Vec<SingletonEvent> {
        let mut events = Vec::new();
        let now = Instant::now();
        for h in &mut self.held {
            match h.ownership.poll() {
                OwnerEvent::Acquired(token) => {
                    let label = Arc::new(Label(format!("{} token {token}", self.member)));
                    match runtime.run_owned_pipeline(
                        h.spec.clone(),
                        Box::new(CountingSink::new()),
                        label,
                    ) {
                        Ok(key) => {
                            h.running = Some((key.clone(), token));
                            h.next_write = now;
                            events.push(SingletonEvent::Started { key, token });
                        }
                        Err(e) => {
                            h.ownership.release();
                            events.push(SingletonEvent::Failed {
                                key: h.spec.key(),
                                error: e.to_string(),
                            });
                        }
                    }
                }
                OwnerEvent::Lost(_) => events.extend(stop(runtime, h)),
                OwnerEvent::Unchanged => {}
            }
            if h.running.is_some() && now >= h.next_write {
                h.next_write = now + self.ttl / 10;
                let delivered = delivered(runtime, h);
                if h.ownership.fenced_append(&h.log, delivered) == Some(false) {
                    events.extend(stop(runtime, h));
                }
            }
        }
        events
    }

    /// Stop every owned pipeline and give the leases back (another host can take them at once).
    pub fn release(&mut self, runtime: &PipelineRuntime) -> Vec<SingletonEvent> {
        let mut events = Vec::new();
        for h in &mut self.held {
            events.extend(stop(runtime, h));
            h.ownership.release();
        }
        events
    }
}

fn delivered(runtime: &PipelineRuntime, h: &Held) -> u64 {
    let Some((key, _)) = &h.running else { return 0 };
    runtime
        .list_pipelines()
        .into_iter()
        .find(|p| &p.key == key)
        .map_or(0, |p| p.stats.delivered)
}

fn stop(runtime: &PipelineRuntime, h: &mut Held) -> Option<SingletonEvent> {
    let (key, token) = h.running.take()?;
    let delivered = runtime.stop_pipeline(&key).map_or(0, |r| r.stats.delivered);
    Some(SingletonEvent::Stopped {
        key,
        token,
        delivered,
    })
}
