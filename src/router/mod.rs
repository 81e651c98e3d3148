//! `SourceRouter`: a [`TickSource`] over several sources, with failover, fail-back and
//! hot-hot arbitration.
//!
//! # Quick start: the seed's "Multi-Provider with Fallback"
//!
//! ```
//! use market_data_pipeline::registry::{standin, SourceFactory};
//! use market_data_pipeline::{SourceRegistry, SourceRouter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Stand-ins for IBKR and Polygon (see `registry::standin`); this IBKR dies at its 100th tick.
//! let registry = SourceRegistry::empty();
//! registry.register("ibkr", SourceFactory::new(|spec, ctx| {
//!     standin::ibkr(&spec.clone().param("fail_at_tick", 100), ctx)
//! }));
//! registry.register("polygon", SourceFactory::new(standin::polygon));
//! // Create sources: named after their provider, source ids 1 and 2, one symbol table
//! let ibkr_source = registry.load("ibkr")?.create(&["AAPL"])?;
//! let polygon_source = registry.load("polygon")?.create(&["AAPL"])?;
//!
//! // Create router with fallback
//! let router = SourceRouter::new(vec![ibkr_source, polygon_source], "first")?;
//! let control = router.control();
//!
//! // Stream with automatic fallback
//! let mut from_polygon = 0;
//! for quote in router.stream().take(300) {
//!     from_polygon += usize::from(quote.source == 2);
//! }
//! assert_eq!(from_polygon, 200); // IBKR's 100 ticks, then Polygon's, in the same poll
//! let stats = control.stats();
//! assert_eq!(stats.switches[0].to.as_deref(), Some("polygon"));
//! # Ok(()) }
//! ```
//!
//! The router is itself a source, so it goes into a pipeline like any other:
//!
//! ```
//! # use std::sync::Arc;
//! # use market_data_pipeline::router::{RoutingStrategy, SourceRouter};
//! # use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
//! # use market_data_pipeline::{CountingSink, Passthrough, StreamingPipeline, SymbolTable};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let feed = |name: &str| SyntheticSource::new(SyntheticConfig {
//! #     name: name.into(), max_ticks: Some(1_000), ..SyntheticConfig::new(&["AAPL"])
//! # }, Arc::new(SymbolTable::new()));
//! let router = SourceRouter::new(vec![feed("ibkr")?, feed("polygon")?], "first")?;
//! let report = StreamingPipeline::builder()
//!     .source(router) // Router is a TickSource!
//!     .operator(Passthrough::new())
//!     .sink(CountingSink::new())
//!     .build()?
//!     .run()?;
//! assert_eq!(report.stats.delivered, 2_000); // ibkr ends → polygon
//! # Ok(()) }
//! ```
//!
//! # Strategies: what is delivered, and what is lost where
//!
//! | strategy | polls | delivers | loses |
//! |---|---|---|---|
//! | `First` | the active source; higher-priority sources only as fail-back probes (every `probe_interval`, once out of their `hold_down`, through their breaker) | the highest-priority source that has delivered since its last failure | nothing the router polled. Each source's stream stays gapless as seen by the router: a standby is not polled, so whatever it does not buffer itself while it waits is not seen, and a failed source's outage is not back-filled. A queued standby (`Capabilities::queued`, a fan-out subscriber) is drained instead: what it produces while another source is delivered is discarded (`SourceStats::drained`), not delivered late after a switch. |
//! | `RoundRobin` | the active source | each usable source in turn for `round_robin_chunks` chunks | nothing the router polled (as `First`); queued standbys drained (as `First`). |
//! | `Fastest` | the active source, and every standby once per `probe_interval` | the usable source with the lowest latency estimate, switched only when a standby beats the active one by `fastest_hysteresis` and the last switch is `hold_down` old | the standby samples: polled and discarded (counted as `SourceStats::discarded`); queued standbys drained (as `First`), and measured as they are drained. |
//! | `Arbitrate` | every usable source, every poll (a source whose [`has_waiting`](TickSource::has_waiting) says nothing waits counts as polled and quiet; a request-based source behind a spending gate is always polled) | each `seq` once, on first arrival (so possibly out of `seq` order when a feed was behind) | nothing any feed carried, unless it arrives more than `arbitrate_window` behind the newest `seq` (`RouterStats::late`). A `seq` no feed carried is reported as a gap (`RouterStats::gaps`, and `GAP_BEFORE` on the next delivered tick) once the stream is `arbitrate_window` past it, or when every feed has ended. |
//!
//! The single-active strategies (`First`, `RoundRobin`, `Fastest`) treat each source as its own
//! stream: nothing is delivered twice per (source, `seq`), and a source's ticks come in its own
//! order. They do not merge redundant copies of one stream — that is `Arbitrate`, which needs
//! sources that declare `capabilities().shared_sequence`.
//!
//! A live change *into* `Arbitrate` continues after the last `seq` the active source delivered
//! (earlier seqs count as late). A live change *out of* `Arbitrate` does not: the chosen feed
//! continues from its own position, which may repeat or skip seqs the hot set delivered.
//!
//! # Failover, fail-back and standbys
//!
//! A source is failed over when its `poll` (or `start`) errors (`SwitchReason::Error`, or
//! `Disconnected` for `SourceError::Disconnected`), when it ends (`Ended`), when its one breaker
//! — a [`CircuitBreaker`](crate::flow::CircuitBreaker) of the router's, or its provider's (see
//! below) — refuses it (`BreakerOpen`), and when it goes stale: the first poll at which
//! it has produced nothing for its `capabilities().staleness_bound` (or
//! `RouterConfig::default_staleness`) since it last delivered or was made active (`Stale`).
//! Errors and stale periods count as breaker failures; `breaker_threshold` consecutive ones
//! open the breaker for `breaker_timeout`, during which the source is not even probed.
//!
//! When the active source fails, the router polls the candidates in strategy order (those out
//! of their `hold_down` first) in the same `poll`, straight into the caller's buffer, and
//! switches to the first that yields ticks. So a failover costs one poll, and the router
//! switches at a chunk boundary of the new source: its first chunk is the one delivered, never
//! polled twice. If no candidate yields ticks the router records a switch to none and returns
//! `Pending`, probing again at each poll; `Ended` once every source has ended or failed for
//! good, at least one of them having ended — when all of them failed for good, `poll` returns
//! [`SourceError::AllFailed`] naming each source and its last error (the stream was lost, not
//! completed).
//!
//! `First` fails back the same way: every `probe_interval`, each higher-priority source that
//! is out of its hold-down and whose breaker admits a call (a HALF_OPEN breaker admits exactly
//! one probe) is polled into the caller's buffer; ticks mean "recovered" and are delivered as
//! the first chunk after the switch (`FailBack`); `Pending` is inconclusive (the probe permit
//! is released); an error fails the probe (breaker failure, new hold-down).
//!
//! Every source is started once, by the router's `start`, and never restarted: a standby taken
//! over continues from where it is (the original restarted the fallback, which replayed and
//! skipped ticks).
//!
//! ## Queued standbys
//!
//! A source read from a queue that fills whether or not it is read — a fan-out subscriber
//! ([`fanout::spawn_feed`](crate::fanout::spawn_feed), a runtime's routed providers), which
//! declares `Capabilities::queued` — is a hot standby: its producer runs on its own worker.
//! The single-active strategies deliver one source's stream, and what a standby produces
//! meanwhile is not part of it (as with a standby that is not polled at all). So after every
//! poll the router drains each queued standby (a bounded number of reads per poll) and
//! discards its ticks, counted as [`SourceStats::drained`] (every tick read from a source is
//! delivered, discarded or drained: nothing is lost uncounted). A failover or fail-back to it
//! then continues from what it produces now: without draining, its queue would fill while it
//! waits (under `Block`, then hold its producer back) and a switch would deliver that backlog
//! as if it were live, ticks as old as the time it waited. A queued source that draining found
//! producing since its last failure, within its staleness bound, is taken as a failover
//! candidate or passes a fail-back probe even when its queue is empty at that moment (the
//! switch is made and its next tick delivered).
//! With no active source, usable candidates are not drained: their queues are what the next
//! probe delivers. `Arbitrate` reads every feed in service at every poll and judges each tick
//! by its `seq` (a backlog arrives as duplicates or late ticks), so it drains nothing.
//!
//! # Records and flags
//!
//! Every change of the delivered source is a [`SwitchRecord`] (time, from, to,
//! [`SwitchReason`]); the last `switch_history` are kept. The first tick delivered after any
//! recorded switch carries [`flags::FIRST_AFTER_SWITCH`].
//! The router does not rewrite `Tick::source`: ticks keep their source's own id, and
//! [`RouterStats`] has the per-source counts.
//!
//! # Gates: one breaker per source, and rate-coordinated sources
//!
//! Every poll of a routed source goes through its [`AdmissionGate`](crate::admission) — the
//! same gate type the runtime's pipelines poll their provider through, so refusals, HALF_OPEN
//! probes and live changes mean the same on both paths. A source has one breaker: by default
//! one of the router's (`RouterConfig::breaker_threshold` / `breaker_timeout`); with
//! [`SourceRouter::with_coordinator`], a source whose name is a registered provider uses that
//! provider's breaker instead, and a request-based source (`capabilities().request_based`) also
//! takes a token of the provider's budget per poll. "Rate limited", "cooling down" or
//! "suspended" mean "not now": the source is not polled, not failed and not judged stale in
//! that poll. An open breaker fails it over. [`RouterStats`] says whose breaker each source has
//! ([`SourceStats::breaker_owner`]).
//!
//! # Control plane and threading
//!
//! The router is polled by one thread (a pipeline's source worker, or a [`SourceStream`](crate::source::SourceStream)).
//! [`RouterControl`] (`Clone + Send + Sync`) changes it from any other thread: configs are
//! validated and swapped in (`arc-swap`); sources are added and removed through a channel;
//! each change bumps a counter that the poll thread reads once per poll (one atomic load), and
//! only when it moved does the poll thread `load()` the config and drain the channel
//! (`try_recv`, never blocking, at most 16 commands per poll);
//! stats are published by the poll thread into a mutex it only `try_lock`s, every
//! `stats_interval` and on every switch, and (waiting for the lock) once more when the routed
//! stream ends, the router is closed (a pipeline stopping) or dropped: the last published
//! stats then count every delivered tick, so the sources' `delivered` sum exactly to the
//! router's `delivered`, which is the pipeline's `produced`.
//!
//! # Cost on the poll path
//!
//! Per poll of a healthy `First` router: one atomic load (the control plane's change count;
//! the config's `ArcSwap::load` and the commands' `try_recv` only after a change), one breaker
//! check (an atomic load), the source's poll, a comparison of the clock against the next
//! probe and publish times, and one read of each queued standby's queue (a copy of what it
//! holds into the scratch buffer). No allocation, lock, syscall or log line per tick or per poll
//! (switch records are allocated per switch, stats copied into preallocated space every
//! `stats_interval`). `Arbitrate` reads each feed where it lies (a fan-out subscriber's ring, in
//! place: [`TickSource::poll_visit`]) and adds a bitmap test per tick read; a delivered tick is
//! copied once, from the ring into the caller's buffer, a duplicate not at all. A feed with
//! nothing waiting costs a few loads ([`TickSource::has_waiting`]), not a poll.

mod arbitrate;
mod commands;
mod config;
mod control;
mod quotes;
mod single;
mod slot;
mod stats;
mod strategy;
mod switch;

use std::fmt;
use std::sync::Arc;

use crossbeam::channel::{Receiver, Sender};

use crate::admission::{AdmissionGate, CoordinationSwitch};
use crate::clock::{MonotonicClock, SharedClock};
use crate::error::{ConfigError, SourceError};
use crate::flow::RateCoordinator;
use crate::seq_window::SeqWindow;
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::symbol::SymbolId;
use crate::tick::{flags, Tick};

pub use config::RouterConfig;
use config::Tuning;
use control::{Command, Gating, RouterShared};
pub use control::{ControlError, RouterControl};
pub use quotes::RouterStream;
use slot::RoutedSource;
pub use stats::{BreakerOwner, RemovedSources, RouterStats, SourceStats};
pub use strategy::{IntoStrategy, RoutingStrategy};
use switch::SwitchLog;
pub use switch::{SwitchReason, SwitchRecord};

/// A source that routes among several sources. See the [module docs](self).
pub struct SourceRouter {
    name: String,
    slots: Vec<RoutedSource>,
    /// The delivered source (single-active strategies).
    active: Option<usize>,
    cfg: Arc<RouterConfig>,
    tuning: Tuning,
    clock: SharedClock,
    shared: Arc<RouterShared>,
    commands: Receiver<Command>,
    tx: Sender<Command>,
    /// Probe and arbitration buffer, allocated once (resized only by a config change).
    scratch: Vec<Tick>,
    log: SwitchLog,
    /// Flag the next delivered tick with `FIRST_AFTER_SWITCH`.
    flag_next: bool,
    started: bool,
    closed: bool,
    /// `RoundRobin`: chunks delivered by the active source since it was chosen.
    chunks_on_active: u32,
    /// `RoundRobin` / `Arbitrate`: where the next rotation starts (taken modulo the count).
    cursor: usize,
    /// `First` fail-back probes and `Fastest` samples are due at this time.
    next_probe_ns: u64,
    last_switch_ns: u64,
    /// The active source failed in this poll: (it, why), until a fallback is found.
    pending_switch: Option<(usize, SwitchReason)>,
    window: SeqWindow,
    /// The control plane's change count (`RouterShared::changes`) as of the last look at the
    /// config and the commands.
    seen_changes: u64,
    delivered: u64,
    /// The removed sources' counters, summed.
    removed: RemovedSources,
    polls: u64,
    last_tick_ns: Option<u64>,
    next_publish_ns: u64,
    stats_dirty: bool,
    symbols: Vec<String>,
}

impl fmt::Debug for SourceRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRouter")
            .field("name", &self.name)
            .field("strategy", &self.cfg.strategy)
            .field("active", &self.active_name())
            .field(
                "sources",
                &self.slots.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SourceRouter {
    /// Route `sources` (in priority order) with `strategy` — a [`RoutingStrategy`] or its
    /// name (`"first"`, the default strategy) — default config, real clock. Sources need no
    /// `Box::new`: any [`TickSource`], boxed or not (a `Box<dyn TickSource>` from a registry is
    /// boxed once more: one extra indirect call per poll, nothing per tick).
    ///
    /// # Errors
    /// An unknown strategy name (`router.strategy`), or as [`with_config`](Self::with_config).
    pub fn new<S: TickSource + 'static>(
        sources: Vec<S>,
        strategy: impl IntoStrategy,
    ) -> Result<SourceRouter, ConfigError> {
        let sources = sources
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn TickSource>)
            .collect();
        Self::with_config(
            sources,
            RouterConfig::new(strategy.into_strategy()?),
            MonotonicClock::shared(),
        )
    }

    /// Route `sources` (in priority order) with `config`; breakers read `clock`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `sources` (empty), `sources[i].name` (duplicate),
    /// `sources[i]` (`Arbitrate` over a source without `shared_sequence`), or any
    /// `router.*` field [`RouterConfig::validate`] rejects.
    pub fn with_config(
        sources: Vec<Box<dyn TickSource>>,
        config: RouterConfig,
        clock: SharedClock,
    ) -> Result<SourceRouter, ConfigError> {
        config.validate()?;
        if sources.is_empty() {
            return Err(ConfigError::new("sources", "no sources to route"));
        }
        let mut slots: Vec<RoutedSource> = Vec::with_capacity(sources.len());
        for (i, s) in sources.into_iter().enumerate() {
            if slots.iter().any(|o| &*o.name == s.name()) {
                return Err(ConfigError::new(
                    format!("sources[{i}].name"),
                    format!("duplicate source name {:?}", s.name()),
                ));
            }
            if config.strategy == RoutingStrategy::Arbitrate && !s.capabilities().shared_sequence {
                return Err(ConfigError::new(
                    format!("sources[{i}]"),
                    format!(
                        "arbitrate needs feeds of one sequenced stream; {:?} does not declare \
                         capabilities().shared_sequence",
                        s.name()
                    ),
                ));
            }
            slots.push(RoutedSource::new(s, &config, &clock)?);
        }
        let cfg = Arc::new(config);
        let names = slots.iter().map(|s| s.name.clone()).collect();
        let shared = Arc::new(RouterShared::new(
            cfg.clone(),
            names,
            RouterStats::default(),
        ));
        let (tx, commands) = control::channel();
        let mut r = SourceRouter {
            name: "router".to_string(),
            slots,
            active: None,
            tuning: cfg.tuning(),
            scratch: vec![Tick::default(); cfg.scratch_ticks],
            log: SwitchLog::new(cfg.switch_history),
            window: SeqWindow::new(cfg.arbitrate_window),
            seen_changes: 0,
            cfg,
            clock,
            shared,
            commands,
            tx,
            flag_next: false,
            started: false,
            closed: false,
            chunks_on_active: 0,
            cursor: 0,
            next_probe_ns: 0,
            last_switch_ns: 0,
            pending_switch: None,
            delivered: 0,
            removed: RemovedSources::default(),
            polls: 0,
            last_tick_ns: None,
            next_publish_ns: 0,
            stats_dirty: true,
            symbols: Vec::new(),
        };
        r.refresh_symbols();
        r.publish(0);
        Ok(r)
    }

    /// Give the router a name (default `"router"`).
    pub fn with_name(mut self, name: impl Into<String>) -> SourceRouter {
        self.name = name.into();
        self
    }

    /// Guard the sources with `coordinator`'s providers: a source whose name is a registered
    /// provider polls through that provider's [`AdmissionGate`] — the provider's breaker is
    /// then its one breaker (the router's breaker settings do not apply to it), and a
    /// request-based source (`capabilities().request_based`) takes one token of its budget per
    /// poll. A refusal by the budget or a cooldown means "not now": the source is not polled,
    /// not failed and not judged stale in that poll. A refusal by the provider's breaker fails
    /// the source over (`SwitchReason::BreakerOpen`). Sources with no provider keep a breaker
    /// of the router's.
    ///
    /// # Errors
    /// [`ConfigError`] naming `sources[i]` for a request-based source whose name is not a
    /// registered provider.
    pub fn with_coordinator(
        mut self,
        coordinator: Arc<RateCoordinator>,
    ) -> Result<SourceRouter, ConfigError> {
        for (i, s) in self.slots.iter_mut().enumerate() {
            s.attach(&coordinator, None, &format!("sources[{i}]"))?;
        }
        self.shared.set_gating(Gating {
            coordinator,
            switch: None,
        });
        Ok(self)
    }

    /// The runtime's form of [`with_coordinator`](Self::with_coordinator): source `i` has
    /// `gates[i]` (its provider's), every gate reading `switch`. With `fed`, each source is
    /// a subscriber of its provider's fan-out hub, which already polls the provider through
    /// that gate: the router reads the source directly (one admission per upstream poll, not
    /// two) and uses the gate's breaker only to judge the source usable and to report
    /// staleness. Without it, the router polls each source through its gate.
    pub(crate) fn with_provider_gates(
        mut self,
        coordinator: Arc<RateCoordinator>,
        gates: Vec<AdmissionGate>,
        switch: Arc<CoordinationSwitch>,
        fed: bool,
    ) -> SourceRouter {
        debug_assert_eq!(gates.len(), self.slots.len());
        for (s, g) in self.slots.iter_mut().zip(gates) {
            s.gate = g;
            s.fed = fed;
        }
        self.shared.set_gating(Gating {
            coordinator,
            switch: Some(switch),
        });
        self
    }

    /// The control plane (clone it to other threads).
    pub fn control(&self) -> RouterControl {
        RouterControl::new(self.shared.clone(), self.tx.clone(), self.clock.clone())
    }

    /// The clock the breakers read.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The config in force on the poll thread.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// The name of the delivered source (single-active strategies).
    pub fn active_name(&self) -> Option<&str> {
        self.active.map(|a| &*self.slots[a].name)
    }

    /// The one breaker guarding the source `name` (e.g. to trip it from a health check): its
    /// provider's when it polls through a provider's gate, otherwise the router's own.
    pub fn breaker(&self, name: &str) -> Option<Arc<crate::flow::CircuitBreaker>> {
        self.slots
            .iter()
            .find(|s| &*s.name == name)
            .map(|s| s.gate.shared_breaker())
    }

    fn refresh_symbols(&mut self) {
        self.symbols.clear();
        for s in &self.slots {
            for sym in s.source.symbols() {
                if !self.symbols.contains(sym) {
                    self.symbols.push(sym.clone());
                }
            }
        }
    }

    /// Record a switch and flag the next delivered tick.
    fn record(&mut self, now_ns: u64, from: Option<usize>, to: Option<usize>, why: SwitchReason) {
        let name = |i: Option<usize>| i.map(|i| self.slots[i].name.clone());
        let r = SwitchRecord {
            at_ns: now_ns,
            from: name(from),
            to: name(to),
            reason: why,
        };
        self.log.push(r);
        self.flag_next = true;
        self.stats_dirty = true;
        self.last_switch_ns = now_ns;
    }

    /// Make `to` the delivered source, recording the switch from `from`.
    fn activate(&mut self, now_ns: u64, from: Option<usize>, to: usize, why: SwitchReason) {
        self.select(now_ns, to);
        self.record(now_ns, from, Some(to), why);
    }

    /// Make `to` the delivered source without a record (the initial choice).
    fn select(&mut self, now_ns: u64, to: usize) {
        self.active = Some(to);
        let s = &mut self.slots[to];
        s.counters.selected += 1;
        // A fresh staleness budget: a standby has not been polled, so its last data is old.
        s.last_data_ns = now_ns;
        self.chunks_on_active = 0;
        self.cursor = to + 1;
    }

    /// Apply a config swapped in by the control plane (one `load()` per poll).
    fn refresh_config(&mut self, now_ns: u64) {
        let Some(new) = self.shared.changed(&self.cfg) else {
            return;
        };
        let old = std::mem::replace(&mut self.cfg, new);
        self.tuning = self.cfg.tuning();
        if old.breakers_differ(&self.cfg) {
            for s in &mut self.slots {
                s.renew_breaker(&self.cfg, &self.clock);
            }
        }
        self.log.set_cap(self.cfg.switch_history);
        self.scratch.resize(self.cfg.scratch_ticks, Tick::default());
        if old.arbitrate_window != self.cfg.arbitrate_window {
            self.window.resize(self.cfg.arbitrate_window);
        }
        if old.strategy != self.cfg.strategy {
            self.strategy_changed(now_ns);
        }
        self.stats_dirty = true;
    }

    fn strategy_changed(&mut self, now_ns: u64) {
        self.next_probe_ns = now_ns;
        self.chunks_on_active = 0;
        if !self.cfg.strategy.single_active() {
            if let Some(a) = self.active.take() {
                // What the single-active strategy delivered of the shared stream is decided.
                if let Some(seq) = self.slots[a].last_seq {
                    self.window.restart_at(seq.wrapping_add(1));
                }
                self.record(now_ns, Some(a), None, SwitchReason::Manual);
            }
            for s in &mut self.slots {
                s.in_service = true;
                s.last_data_ns = now_ns;
            }
        } else if self.active.is_none() {
            if let Some(c) = self.pick(now_ns, None, true) {
                self.activate(now_ns, None, c, SwitchReason::Manual);
            }
        }
    }

    /// Every source is finished (ended or failed for good).
    fn all_done(&self) -> bool {
        !self.slots.is_empty() && self.slots.iter().all(|s| s.dead || s.ended)
    }

    /// Every source failed for good (none ended its stream): an error naming each source and
    /// its last error; `None` if any source ended normally or is still usable.
    fn all_failed(&self) -> Option<SourceError> {
        if self.slots.is_empty() || !self.slots.iter().all(|s| s.dead) {
            return None;
        }
        let failures = self
            .slots
            .iter()
            .map(|s| match &s.last_error {
                Some(e) => format!("{}: {e}", s.name),
                None => format!("{}: failed", s.name),
            })
            .collect();
        Some(SourceError::AllFailed {
            source_name: self.name.clone(),
            failures,
        })
    }
}

impl TickSource for SourceRouter {
    fn name(&self) -> &str {
        &self.name
    }

    /// Start every source (standbys too: they are never restarted later) and choose the first
    /// delivered source. A source that fails to start counts as failed; the router itself
    /// starts as long as it has sources.
    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        for s in &mut self.slots {
            let _ = s.start(now_ns);
        }
        if self.cfg.strategy.single_active() {
            if let Some(c) = self.pick(now_ns, None, true) {
                self.select(now_ns, c);
            }
        }
        self.next_probe_ns = now_ns.saturating_add(self.tuning.probe_ns);
        self.last_switch_ns = now_ns;
        self.publish(now_ns);
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if !self.started || self.closed {
            return if self.closed {
                Ok(SourcePoll::Ended)
            } else {
                Err(SourceError::NotRunning {
                    source_name: self.name.clone(),
                    state: "not started",
                })
            };
        }
        if out.is_empty() {
            return Ok(SourcePoll::Pending);
        }
        // One Acquire load per poll; the config and the commands only when it moved.
        let changes = self.shared.changes();
        if changes != self.seen_changes {
            self.refresh_config(now_ns);
            if self.drain_commands(now_ns) {
                self.seen_changes = changes;
            }
        }
        self.polls += 1;
        let r = if self.cfg.strategy.single_active() {
            let r = self.poll_single(now_ns, out);
            if let SourcePoll::Ready(_) = r {
                if std::mem::take(&mut self.flag_next) {
                    out[0].flags |= flags::FIRST_AFTER_SWITCH;
                }
            }
            r
        } else {
            self.poll_arbitrate(now_ns, out)
        };
        if let SourcePoll::Ready(n) = r {
            self.delivered += n as u64;
            self.last_tick_ns = Some(now_ns);
        }
        if r == SourcePoll::Ended {
            // The stream is over: what the control plane reports from now on is complete.
            self.publish_final(now_ns);
            // A stream whose every source failed did not end: it was lost.
            if let Some(e) = self.all_failed() {
                return Err(e);
            }
        } else if self.stats_dirty || now_ns >= self.next_publish_ns {
            self.publish(now_ns);
        }
        Ok(r)
    }

    /// Close every source and publish the final stats (a pipeline that stops closes its
    /// source: the chunks delivered since the last periodic publication are counted).
    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for s in &mut self.slots {
            s.source.close();
        }
        if self.started {
            // `active` still names the source delivered last.
            self.publish_final(self.clock.now_ns());
        }
        self.active = None;
    }

    fn status(&self) -> SourceStatus {
        if self.closed {
            SourceStatus::Closed
        } else if !self.started {
            SourceStatus::Idle
        } else if self.all_done() {
            SourceStatus::Ended
        } else if self.active.is_some()
            || (!self.cfg.strategy.single_active() && self.slots.iter().any(|s| s.in_service))
        {
            SourceStatus::Running
        } else {
            SourceStatus::Stalled
        }
    }

    fn health(&self) -> SourceHealth {
        SourceHealth {
            produced: self.delivered,
            errors: self.slots.iter().map(|s| s.counters.errors).sum(),
            last_tick_ns: self.last_tick_ns,
            reconnects: self.log.total(),
        }
    }

    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn capabilities(&self) -> Capabilities {
        let any = |f: fn(&Capabilities) -> bool| self.slots.iter().any(|s| f(&s.caps));
        Capabilities {
            trades: any(|c| c.trades),
            quotes: any(|c| c.quotes),
            replay: !self.slots.is_empty() && self.slots.iter().all(|s| s.caps.replay),
            request_based: false,
            max_rate: None,
            staleness_bound: None,
            shared_sequence: !self.slots.is_empty()
                && self.slots.iter().all(|s| s.caps.shared_sequence),
            // Its sources' queues are read when it is polled; nothing of its own waits.
            queued: false,
        }
    }

    /// The table of the first source that reports one.
    fn symbol_table(&self) -> Option<&Arc<crate::symbol::SymbolTable>> {
        self.slots.iter().find_map(|s| s.source.symbol_table())
    }

    /// Passed to every routed source (standbys too, so a failover finds them subscribed).
    ///
    /// # Errors
    /// The first source's refusal; the sources after it are still asked.
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        let r = self.each_source(|s| s.subscribe(symbols));
        self.refresh_symbols();
        r
    }

    /// Passed to every routed source.
    ///
    /// # Errors
    /// The first source's refusal; the sources after it are still asked.
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        let r = self.each_source(|s| s.unsubscribe(symbols));
        self.refresh_symbols();
        r
    }
}

impl Drop for SourceRouter {
    /// A router dropped without being closed (a [`SourceStream`](crate::source::SourceStream)
    /// left before its end) publishes its final stats too.
    fn drop(&mut self) {
        if self.started && !self.closed {
            self.publish_final(self.clock.now_ns());
        }
    }
}

impl SourceRouter {
    /// Apply `f` to every routed source, returning the first error.
    fn each_source(
        &mut self,
        mut f: impl FnMut(&mut dyn TickSource) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut first = Ok(());
        for s in &mut self.slots {
            if let Err(e) = f(&mut *s.source) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}
