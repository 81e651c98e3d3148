//! `RouterControl`: the control plane of a router, usable from any thread while the router is
//! polled on its worker.
//!
//! Configuration changes are validated here and swapped in with `arc-swap`; sources are added
//! and removed through a crossbeam channel. Every change then bumps one counter (`changes`), and
//! the poll thread reads that counter once per poll (one `Acquire` load): only when it moved
//! does it `load()` the config and drain the channel (non-blocking). Stats are published by the
//! poll thread into a mutex it only ever `try_lock`s.

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use crossbeam::channel::{Receiver, Sender};

use crate::admission::CoordinationSwitch;
use crate::clock::SharedClock;
use crate::error::ConfigError;
use crate::flow::RateCoordinator;
use crate::source::TickSource;
use crate::sync::{lock, AtomicU64, Ordering};

use super::slot::RoutedSource;
use super::{RouterConfig, RouterStats, RoutingStrategy};

/// Most commands the poll thread applies in one poll (the rest wait for the next).
pub(crate) const COMMANDS_PER_POLL: usize = 16;

/// A request to the poll thread.
pub(crate) enum Command {
    /// Add a (prepared, not yet started) source.
    Add(Box<RoutedSource>),
    /// Remove the source of this name.
    Remove(Arc<str>),
}

/// Where a router's sources get their gates.
#[derive(Clone)]
pub(crate) struct Gating {
    pub coordinator: Arc<RateCoordinator>,
    pub switch: Option<Arc<CoordinationSwitch>>,
}

/// State shared by the router and its controls.
pub(crate) struct RouterShared {
    config: ArcSwap<RouterConfig>,
    /// Bumped after every config swap and every command sent: the poll thread looks at the
    /// config and the channel only when it moved.
    changes: AtomicU64,
    /// The names of the sources (added and not removed), kept by the control plane only.
    names: Mutex<Vec<Arc<str>>>,
    /// The rate coordinator whose providers guard the sources, and the coordination switch
    /// their gates read (`None`: always on), for sources added later.
    coordinator: Mutex<Option<Gating>>,
    pub(crate) stats: Mutex<RouterStats>,
}

impl RouterShared {
    pub(crate) fn new(
        config: Arc<RouterConfig>,
        names: Vec<Arc<str>>,
        stats: RouterStats,
    ) -> RouterShared {
        RouterShared {
            config: ArcSwap::new(config),
            changes: AtomicU64::new(0),
            names: Mutex::new(names),
            coordinator: Mutex::new(None),
            stats: Mutex::new(stats),
        }
    }

    /// The current config if it is not `seen` (one `load()`; a clone only on change).
    #[inline]
    pub(crate) fn changed(&self, seen: &Arc<RouterConfig>) -> Option<Arc<RouterConfig>> {
        let cur = self.config.load();
        (!Arc::ptr_eq(&cur, seen)).then(|| Arc::clone(&cur))
    }

    /// A config was swapped in or a command sent (called after it).
    fn bump(&self) {
        // Release: whoever reads the new count with Acquire sees the swap or the send before it.
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// How many changes were made so far (see [`bump`](Self::bump)).
    #[inline]
    pub(crate) fn changes(&self) -> u64 {
        // Acquire: pairs with the Release in `bump`.
        self.changes.load(Ordering::Acquire)
    }

    pub(crate) fn set_gating(&self, g: Gating) {
        *lock(&self.coordinator) = Some(g);
    }

    pub(crate) fn gating(&self) -> Option<Gating> {
        lock(&self.coordinator).clone()
    }
}

/// The command channel of a router.
pub(crate) fn channel() -> (Sender<Command>, Receiver<Command>) {
    crossbeam::channel::unbounded()
}

/// Take the next command without blocking.
#[inline]
pub(crate) fn next_command(rx: &Receiver<Command>) -> Option<Command> {
    // Empty and Disconnected alike: nothing to apply now.
    rx.try_recv().ok()
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Invalid configuration (or a duplicate source name).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No source of that name is routed.
    #[error("router: no source named {:?}", crate::error::bounded(.0))]
    UnknownSource(String),
    /// The router has been dropped; nothing will apply the request.
    #[error("router: dropped")]
    RouterDropped,
}

/// The control plane of a [`SourceRouter`](super::SourceRouter): `Clone + Send + Sync`.
///
/// Every method returns at once. Source changes take effect at the router's next poll; config
/// changes at the poll after the swap; [`stats`](Self::stats) is what the poll thread last
/// published (at most `stats_interval` old, refreshed on every switch, and final once the
/// router has ended, been closed or been dropped).
#[derive(Clone)]
pub struct RouterControl {
    shared: Arc<RouterShared>,
    tx: Sender<Command>,
    clock: SharedClock,
}

impl fmt::Debug for RouterControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterControl")
            .field("config", &*self.shared.config.load())
            .finish_non_exhaustive()
    }
}

impl RouterControl {
    pub(crate) fn new(shared: Arc<RouterShared>, tx: Sender<Command>, clock: SharedClock) -> Self {
        RouterControl { shared, tx, clock }
    }

    /// The config in force (or about to be).
    pub fn config(&self) -> RouterConfig {
        (**self.shared.config.load()).clone()
    }

    /// Validate `config` and swap it in.
    ///
    /// Changing `breaker_threshold` or `breaker_timeout` gives every source a new (CLOSED)
    /// breaker; changing `arbitrate_window` reports the undecided part of the old window.
    /// Not checked here (the sources live on the poll thread): that the sources declare
    /// `shared_sequence` when the new strategy is `Arbitrate` — the construction check is the
    /// only one.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field; nothing is changed.
    pub fn set_config(&self, config: RouterConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.shared.config.store(Arc::new(config));
        self.shared.bump();
        Ok(())
    }

    /// Change only the strategy (validated against the rest of the config in force).
    ///
    /// # Errors
    /// [`ConfigError`] (e.g. `router.hold_down` is zero and the strategy needs one).
    pub fn set_strategy(&self, strategy: RoutingStrategy) -> Result<(), ConfigError> {
        loop {
            let cur = self.shared.config.load_full();
            let mut next = (*cur).clone();
            next.strategy = strategy;
            next.validate()?;
            let prev = self.shared.config.compare_and_swap(&cur, Arc::new(next));
            if Arc::ptr_eq(&prev, &cur) {
                self.shared.bump();
                return Ok(());
            }
        }
    }

    /// Route `source` too (lowest priority for `First`). It is started by the poll thread.
    /// With a rate coordinator, it is gated like the sources given at construction (see
    /// [`SourceRouter::with_coordinator`](super::SourceRouter::with_coordinator)).
    ///
    /// # Errors
    /// [`ControlError::Config`] naming `sources.name` for a duplicate name, or when the source
    /// is request-based and the router's rate coordinator has no provider of its name;
    /// [`ControlError::RouterDropped`].
    pub fn add_source(&self, source: Box<dyn TickSource>) -> Result<(), ControlError> {
        let cfg = self.shared.config.load_full();
        let mut slot = RoutedSource::new(source, &cfg, &self.clock)?;
        if let Some(g) = self.shared.gating() {
            slot.attach(&g.coordinator, g.switch.as_ref(), "sources.name")?;
        }
        let mut names = lock(&self.shared.names);
        if names.contains(&slot.name) {
            return Err(ConfigError::new(
                "sources.name",
                format!("duplicate source name {:?}", &*slot.name),
            )
            .into());
        }
        let name = slot.name.clone();
        self.tx
            .send(Command::Add(Box::new(slot)))
            .map_err(|_| ControlError::RouterDropped)?;
        self.shared.bump();
        names.push(name);
        Ok(())
    }

    /// Stop routing the source `name`; the poll thread closes and drops it.
    ///
    /// # Errors
    /// [`ControlError::UnknownSource`], [`ControlError::RouterDropped`].
    pub fn remove_source(&self, name: &str) -> Result<(), ControlError> {
        let mut names = lock(&self.shared.names);
        let Some(i) = names.iter().position(|n| &**n == name) else {
            return Err(ControlError::UnknownSource(name.to_string()));
        };
        self.tx
            .send(Command::Remove(names[i].clone()))
            .map_err(|_| ControlError::RouterDropped)?;
        self.shared.bump();
        names.remove(i);
        Ok(())
    }

    /// The stats the poll thread last published.
    pub fn stats(&self) -> RouterStats {
        lock(&self.shared.stats).clone()
    }
}
