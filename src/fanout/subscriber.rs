//! `Subscriber`: one consumer of a fan-out, reading its own ring — itself a [`TickSource`], so
//! a pipeline, a quote stream or a router consumes a shared provider unchanged.

use std::sync::Arc;

use crate::error::{ConfigError, SourceError};
use crate::ring::{EdgeCounters, EdgeRx};
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::symbol::{SymbolId, SymbolTable};
use crate::tick::Tick;

use super::control::{Command, ErrorSlot, HubShared};

/// One subscriber of a [`FanoutHub`](super::FanoutHub). See the [module docs](super).
///
/// Dropping it (or [`close`](TickSource::close)) leaves the fan-out without disturbing the
/// other subscribers.
#[derive(Debug)]
pub struct Subscriber {
    id: u64,
    rx: EdgeRx<Tick>,
    hub: Arc<HubShared>,
    slot: Arc<ErrorSlot>,
    /// Its subscription's names (the provider's symbols when it takes all).
    names: Vec<String>,
    ids: Vec<SymbolId>,
    all: bool,
    read: u64,
    ended: bool,
    left: bool,
}

impl Subscriber {
    pub(super) fn new(
        id: u64,
        rx: EdgeRx<Tick>,
        hub: Arc<HubShared>,
        slot: Arc<ErrorSlot>,
        ids: Vec<SymbolId>,
    ) -> Subscriber {
        let all = ids.is_empty();
        let names = if all {
            hub.all_symbols.clone()
        } else {
            names_of(hub.table.as_ref(), &ids)
        };
        Subscriber {
            id,
            rx,
            hub,
            slot,
            names,
            ids,
            all,
            read: 0,
            ended: false,
            left: false,
        }
    }

    /// Its ring's live counters (offered / pushed / dropped / conflated / popped): what the
    /// fan-out offered this subscriber and what became of it.
    pub fn counters(&self) -> Arc<EdgeCounters> {
        self.rx.counters()
    }

    /// Whether it takes every symbol of the provider.
    pub fn takes_all(&self) -> bool {
        self.all
    }

    fn leave(&mut self) {
        if !self.left {
            self.left = true;
            // Refused only for `Add`; a closed hub has dropped our ring already.
            self.hub.post(Command::Remove { id: self.id });
        }
    }

    /// Take up to `max` ticks from the ring, handing each slice read to `put` (with the count
    /// taken before it); then the waiting error, the end, or `Pending`.
    #[inline]
    fn take(
        &mut self,
        max: usize,
        mut put: impl FnMut(usize, &[Tick]),
    ) -> Result<SourcePoll, SourceError> {
        if self.ended {
            return Ok(SourcePoll::Ended);
        }
        let due = self.slot.due_at();
        if due <= self.read {
            if let Some(e) = self.slot.take(self.read) {
                return Err(e);
            }
        }
        // Never read past a waiting error: it comes after the ticks sent before it.
        let max = max.min(usize::try_from(due - self.read.min(due)).unwrap_or(usize::MAX));
        let mut n = 0;
        self.rx.read(max, |s| {
            put(n, s);
            n += s.len();
        });
        if n > 0 {
            self.read += n as u64;
            return Ok(SourcePoll::Ready(n));
        }
        if self.rx.is_finished() {
            // The hub dropped the ring after its last push and any error it left.
            if let Some(e) = self.slot.take_any() {
                return Err(e);
            }
            self.ended = true;
            return Ok(SourcePoll::Ended);
        }
        Ok(SourcePoll::Pending)
    }

    /// Check `symbols` against the provider's table (when it has one).
    fn check(&self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        check_ids(&self.hub, symbols)
    }
}

/// The names of `ids` in `table` (`#id` for ids it does not know, or without a table).
fn names_of(table: Option<&Arc<SymbolTable>>, ids: &[SymbolId]) -> Vec<String> {
    ids.iter()
        .map(|&id| match table.and_then(|t| t.name(id)) {
            Some(n) => n.to_string(),
            None => id.to_string(),
        })
        .collect()
}

/// `symbols` are ids of `hub`'s table (when it has one).
pub(super) fn check_ids(hub: &HubShared, symbols: &[SymbolId]) -> Result<(), SourceError> {
    let Some(table) = &hub.table else {
        return Ok(());
    };
    let known = table.len();
    match symbols.iter().find(|s| s.0 as usize >= known) {
        None => Ok(()),
        Some(bad) => Err(SourceError::Config {
            source_name: hub.name.clone(),
            error: ConfigError::new(
                "symbols",
                format!("unknown symbol id {bad} (the provider's table has {known} symbols)"),
            ),
        }),
    }
}

impl TickSource for Subscriber {
    fn name(&self) -> &str {
        &self.hub.name
    }

    /// The hub starts the upstream; nothing to do here.
    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        Ok(())
    }

    #[inline]
    fn poll(&mut self, _now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let max = out.len();
        self.take(max, |n, s| out[n..n + s.len()].copy_from_slice(s))
    }

    /// Hands the ring's slices to `visit` in place: nothing is copied (`scratch` is not
    /// used beyond its length, the most ticks taken).
    #[inline]
    fn poll_visit(
        &mut self,
        _now_ns: u64,
        scratch: &mut [Tick],
        visit: &mut dyn FnMut(&[Tick]),
    ) -> Result<SourcePoll, SourceError> {
        self.take(scratch.len(), |_, s| visit(s))
    }

    /// Takes what `poll` would, copying only the newest tick taken (to `out[n - 1]`): the
    /// others are released from the ring in place.
    #[inline]
    fn poll_discard(&mut self, _now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let max = out.len();
        self.take(max, |n, s| {
            if let Some(last) = s.last() {
                out[n + s.len() - 1] = *last;
            }
        })
    }

    /// Ticks in its ring, an error due, or its end: what `poll` would look at, without
    /// reading anything.
    #[inline]
    fn has_waiting(&self) -> Option<bool> {
        Some(
            self.ended
                || self.rx.ready() > 0
                || self.slot.due_at() <= self.read
                || self.rx.is_finished(),
        )
    }

    fn close(&mut self) {
        self.leave();
        self.ended = true;
    }

    /// The upstream's status as the hub last published it; `Closed` once this subscriber
    /// left.
    fn status(&self) -> SourceStatus {
        if self.left {
            SourceStatus::Closed
        } else {
            self.hub.status()
        }
    }

    /// The upstream's health as the hub last published it (shared by every subscriber).
    fn health(&self) -> SourceHealth {
        self.hub.health()
    }

    fn symbols(&self) -> &[String] {
        &self.names
    }

    /// The upstream's, and `queued`: its ticks wait in this subscriber's ring until read.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            queued: true,
            ..self.hub.capabilities.clone()
        }
    }

    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        self.hub.table.as_ref()
    }

    /// Adds `symbols` to this subscriber's set, from the next chunk the hub offers it; the
    /// hub adds them to the upstream's subscription when the union gains them. A subscriber
    /// taking all symbols already has them.
    ///
    /// # Errors
    /// An id outside the provider's symbol table ([`SourceError::Config`] on `symbols`);
    /// nothing changed. An upstream refusal is reported later, by `poll`.
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.check(symbols)?;
        if self.all || self.left {
            return Ok(());
        }
        let new: Vec<SymbolId> = symbols
            .iter()
            .copied()
            .filter(|s| !self.ids.contains(s))
            .collect();
        self.names.extend(names_of(self.hub.table.as_ref(), &new));
        self.ids.extend(&new);
        self.hub.post(Command::Subscribe {
            id: self.id,
            symbols: new,
        });
        Ok(())
    }

    /// Takes `symbols` out of this subscriber's set (from the next chunk offered); the hub
    /// drops them upstream when no subscriber wants them any more. Not meaningful for a
    /// subscriber taking all symbols (ignored).
    ///
    /// # Errors
    /// An id outside the provider's symbol table; nothing changed.
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.check(symbols)?;
        if self.all || self.left {
            return Ok(());
        }
        let mut i = 0;
        while i < self.ids.len() {
            if symbols.contains(&self.ids[i]) {
                self.ids.remove(i);
                self.names.remove(i);
            } else {
                i += 1;
            }
        }
        self.hub.post(Command::Unsubscribe {
            id: self.id,
            symbols: symbols.to_vec(),
        });
        Ok(())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.leave();
    }
}
