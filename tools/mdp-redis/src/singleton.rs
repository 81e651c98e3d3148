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
//! lease's own renewal would.
//!
//! That check runs every lease/10, so an owner cut off past its lease could still deliver for
//! up to that long after it resumes. With `singleton_stream_max_len` set, the pipeline's sink
//! is a fenced Redis stream sink (`<prefix>:singleton:<tenant>/<pipeline>:ticks`,
//! [`RedisStreamSink::open_fenced`]): every entry is checked against the lease's token in
//! Redis as it is appended, so an owner that has been replaced cannot append a single tick
//! after the new owner's first; the refused sink fails its pipeline, which stops itself, and
//! the next poll reports it stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use market_data_pipeline::pipeline::PipelineState;
use market_data_pipeline::runtime::{PipelineKey, PipelineOwner, PipelineRuntime, PipelineSpec};
use market_data_pipeline::sink::Sink;
use market_data_pipeline::CountingSink;

use crate::config::CoordinationConfig;
use crate::error::CoordError;
use crate::owner::{OwnerEvent, Ownership};
use crate::stream::RedisStreamSink;

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
    /// This host lost `key` (fenced out, or cut off for a whole lease; or its fenced sink was
    /// refused or failed and the pipeline stopped itself) and stopped it after it had
    /// delivered `delivered` records.
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
    url: String,
    prefix: String,
    stream_max_len: Option<u64>,
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
            url: config.url.clone(),
            prefix: config.key_prefix.clone(),
            stream_max_len: config.singleton_stream_max_len,
            ttl,
            held,
        })
    }

    /// The stream the fenced writes of `key` go to.
    pub fn log_key(prefix: &str, key: &PipelineKey) -> String {
        format!("{prefix}:singleton:{key}:log")
    }

    /// The stream a singleton's ticks go to (with `singleton_stream_max_len`).
    pub fn stream_key(prefix: &str, key: &PipelineKey) -> String {
        format!("{prefix}:singleton:{key}:ticks")
    }

    /// The sink of a pipeline just acquired with `token`: fenced into its stream, or counting.
    fn sink(&self, h: &Held, token: u64) -> Result<Box<dyn Sink>, String> {
        let Some(max_len) = self.stream_max_len else {
            return Ok(Box::new(CountingSink::new()));
        };
        let stream = Singletons::stream_key(&self.prefix, &h.spec.key());
        RedisStreamSink::open_fenced(&self.url, &stream, max_len, h.ownership.lease_key(), token)
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .map_err(|e| e.to_string())
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
        for i in 0..self.held.len() {
            let event = self.held[i].ownership.poll();
            let sink = match event {
                OwnerEvent::Acquired(token) => Some(self.sink(&self.held[i], token)),
                _ => None,
            };
            let h = &mut self.held[i];
            match event {
                OwnerEvent::Acquired(token) => {
                    let label = Arc::new(Label(format!("{} token {token}", self.member)));
                    let started = sink.expect("made above").and_then(|sink| {
                        runtime
                            .run_owned_pipeline(h.spec.clone(), sink, label)
                            .map_err(|e| e.to_string())
                    });
                    match started {
                        Ok(key) => {
                            h.running = Some((key.clone(), token));
                            h.next_write = now;
                            events.push(SingletonEvent::Started { key, token });
                        }
                        Err(error) => {
                            h.ownership.release();
                            events.push(SingletonEvent::Failed {
                                key: h.spec.key(),
                                error,
                            });
                        }
                    }
                }
                OwnerEvent::Lost(_) => events.extend(stop(runtime, h)),
                OwnerEvent::Unchanged => {}
            }
            if h.running.is_some() && now >= h.next_write {
                h.next_write = now + self.ttl / 10;
                let (delivered, failed) = progress(runtime, h);
                if failed {
                    // Its sink refused (fenced out) or failed: it has stopped itself; the
                    // lease goes back (a no-op when another host holds it already).
                    events.extend(stop(runtime, h));
                    h.ownership.release();
                } else if h.ownership.fenced_append(&h.log, delivered) == Some(false) {
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

/// Records delivered so far, and whether the pipeline failed.
fn progress(runtime: &PipelineRuntime, h: &Held) -> (u64, bool) {
    let Some((key, _)) = &h.running else {
        return (0, false);
    };
    runtime
        .list_pipelines()
        .into_iter()
        .find(|p| &p.key == key)
        .map_or((0, false), |p| {
            (p.stats.delivered, p.state == PipelineState::Failed)
        })
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
