//! Fan-out: a provider runs once and every pipeline that uses it subscribes.
//!
//! A [`FanoutHub`] owns the one running upstream [`TickSource`](crate::TickSource) of a provider (one
//! connection, one budget spend, one breaker) and is a [`Task`](crate::exec::Task): each step
//! applies the subscribe / unsubscribe commands posted since the last one, polls the upstream
//! once into its chunk buffer, and offers every [`Subscriber`] the runs of that chunk its
//! symbols select, into the subscriber's own SPSC ring (with the subscriber's own
//! [`Backpressure`] policy, capacity and counters). A subscriber taking all symbols gets the
//! chunk in one offer, with no copy but the ring's. A [`Subscriber`] is itself a `TickSource`
//! reading its ring, so pipelines, quote streams and routers consume a shared provider
//! unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use market_data_pipeline::exec::Task;
//! use market_data_pipeline::fanout::{FanoutHub, HubConfig, SubscriberConfig};
//! use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
//! use market_data_pipeline::{ManualClock, SourcePoll, SymbolTable, Tick, TickSource};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let table = Arc::new(SymbolTable::new());
//! let upstream = SyntheticSource::new(SyntheticConfig::new(&["AAPL", "MSFT"]), table.clone())?;
//! let mut hub = FanoutHub::new(Box::new(upstream), HubConfig::default(), ManualClock::shared(0))?;
//! let aapl = table.get("AAPL").unwrap();
//! let mut only_aapl = hub.handle().subscribe(SubscriberConfig::new(&[aapl]))?;
//! let mut everything = hub.handle().subscribe(SubscriberConfig::all())?;
//! hub.step(); // applies both subscriptions, polls the upstream once, fans the chunk out
//! let mut buf = [Tick::default(); 64];
//! let SourcePoll::Ready(n) = only_aapl.poll(0, &mut buf)? else { panic!() };
//! assert!(buf[..n].iter().all(|t| t.symbol == aapl));
//! assert!(matches!(everything.poll(0, &mut buf)?, SourcePoll::Ready(_)));
//! # Ok(()) }
//! ```
//!
//! # Backpressure with fan-out
//!
//! - `DropNewest`: what does not fit in this subscriber's ring is dropped and counted for it
//!   alone. A stalled subscriber never stalls the hub or the others.
//! - `ConflateLatest`: quotes that do not fit are conflated in this subscriber's stash (the
//!   latest per symbol goes in when there is room). A trade that finds no room is **dropped
//!   and counted** (on a dedicated edge it would wait; the hub does not wait for a subscriber
//!   that did not ask for it). Never stalls the others.
//! - `Block`: **nothing is ever lost for this subscriber, and it paces the provider for
//!   everyone.** While its ring is full the hub keeps the chunk (with each subscriber's
//!   progress in it) and does not poll the upstream until it has taken it; the others get
//!   nothing new meanwhile (a provider with a finite buffer upstream may drop or disconnect
//!   then). That is the price of never losing a tick on a shared provider: choose `Block`
//!   only for subscribers that keep up.
//!
//! # Life cycle
//!
//! - Subscribing posts a command; the hub applies it at its next step, and the subscriber
//!   receives from the next chunk on. Changing a subscriber's symbols
//!   ([`subscribe`](crate::TickSource::subscribe) / [`unsubscribe`](crate::TickSource::unsubscribe) on it) applies
//!   from the next chunk offered to it. The hub keeps the upstream's subscription equal to
//!   the union of its subscribers' symbols (see [Subscriptions](crate::TickSource#subscriptions)): while any
//!   subscriber takes all symbols, nothing is unsubscribed upstream.
//! - The upstream ending reaches every subscriber as end of stream after what it was sent;
//!   an upstream error reaches each subscriber once, after the ticks sent before it, as the
//!   upstream's [`SourceError`] (which names the provider). Retryable errors leave the hub
//!   running (each subscriber's consumer decides whether to give up); any other ends it.
//!   If several errors come before a subscriber reads one, it gets the first (the provider's
//!   `health().errors` counts them all).
//! - A subscriber leaving (dropped or closed) is removed without disturbing the others.
//!   What the hub offered it after it stopped reading — left unread in its ring, or offered
//!   once its consumer was gone — is counted as `after_close` in its counters
//!   ([`EdgeStats::after_close`](crate::ring::EdgeStats::after_close)), not as `dropped`:
//!   `dropped` is backpressure's loss alone (e.g. a pipeline that reached its `max_ticks`
//!   bound reads nothing more before it unsubscribes; none of that is dropped).
//!   When the last one leaves, the hub closes the upstream and finishes (the default: a
//!   provider allows few connections and each one may spend budget, so an unused one is
//!   given back); [`HubConfig::keep_open`] keeps it polling for a provider whose reconnects
//!   are costly. Subscribing to a finished hub is refused with an error, never stranded.

mod control;
mod feed;
mod hub;
mod subscriber;
mod symbols;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use feed::spawn_feed;
pub use hub::FanoutHub;
pub use subscriber::Subscriber;
pub use symbols::SymbolSet;

use crate::error::SourceError;
use crate::ring::{edge, Backpressure};
use crate::source::SourceStatus;
use crate::symbol::SymbolId;
use crate::tick::Tick;
use control::{Command, ErrorSlot, HubShared};

/// How a hub runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Most ticks per upstream poll (the chunk fanned out per step).
    pub chunk_size: usize,
    /// Keep the upstream open (and polled) when the last subscriber leaves, instead of
    /// closing it and finishing.
    pub keep_open: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            chunk_size: 256,
            keep_open: false,
        }
    }
}

/// What a subscriber asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberConfig {
    /// Its symbols; empty: every symbol of the provider.
    pub symbols: Vec<SymbolId>,
    /// Its ring's capacity in ticks.
    pub capacity: usize,
    /// What its full ring does (see [Backpressure with fan-out](self#backpressure-with-fan-out)).
    pub backpressure: Backpressure,
}

impl SubscriberConfig {
    /// `symbols` (empty: all), a 4096-tick ring, `DropNewest`.
    pub fn new(symbols: &[SymbolId]) -> SubscriberConfig {
        SubscriberConfig {
            symbols: symbols.to_vec(),
            capacity: 4096,
            backpressure: Backpressure::DropNewest,
        }
    }

    /// Every symbol of the provider.
    pub fn all() -> SubscriberConfig {
        SubscriberConfig::new(&[])
    }

    /// With a ring of `capacity` ticks.
    pub fn capacity(mut self, capacity: usize) -> SubscriberConfig {
        self.capacity = capacity;
        self
    }

    /// With `policy` on its ring.
    pub fn backpressure(mut self, policy: Backpressure) -> SubscriberConfig {
        self.backpressure = policy;
        self
    }
}

/// Subscribes to a hub from any thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FanoutHandle {
    shared: Arc<HubShared>,
}

impl FanoutHandle {
    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.shared.name
    }

    /// Whether `other` is a handle to the same hub.
    pub fn is_same(&self, other: &FanoutHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether the hub has finished (a subscribe would be refused).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Ask the hub to finish at its next step without waiting for its subscribers: what
    /// they are owed is counted as dropped for each, and each sees the end of its stream.
    pub fn stop(&self) {
        // Relaxed: a request; the hub reads it at its next step.
        self.shared.stop.store(true, crate::sync::Ordering::Relaxed);
    }

    /// The upstream's status as last published by the hub.
    pub fn status(&self) -> SourceStatus {
        self.shared.status()
    }

    /// Add a subscriber. It receives from the next chunk the hub polls after this call.
    ///
    /// # Errors
    /// [`SourceError::Config`] naming the provider: a ring capacity of 0 or above the bound
    /// (`ring_capacity`), an id outside the provider's symbol table (`symbols`).
    /// [`SourceError::NotRunning`] (`"ended"`): the hub has finished (its upstream ended or
    /// failed, or its last subscriber left); start a new one.
    pub fn subscribe(&self, config: SubscriberConfig) -> Result<Subscriber, SourceError> {
        let name = &self.shared.name;
        subscriber::check_ids(&self.shared, &config.symbols)?;
        let (mut tx, rx) = edge::<Tick>(config.capacity, config.backpressure).map_err(|error| {
            SourceError::Config {
                source_name: name.clone(),
                error,
            }
        })?;
        // What it is offered after it stops reading is no backpressure loss.
        tx.count_departure_apart();
        let id = self.shared.next_id();
        let slot = Arc::new(ErrorSlot::default());
        let symbols = if config.symbols.is_empty() {
            SymbolSet::all()
        } else {
            SymbolSet::of(&config.symbols)
        };
        let add = Command::Add {
            id,
            tx,
            symbols,
            slot: slot.clone(),
        };
        if !self.shared.post(add) {
            return Err(SourceError::NotRunning {
                source_name: name.clone(),
                state: "ended",
            });
        }
        Ok(Subscriber::new(
            id,
            rx,
            self.shared.clone(),
            slot,
            config.symbols,
        ))
    }
}
