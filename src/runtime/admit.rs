//! `GatedSource`: a runtime source behind its provider's [`AdmissionGate`], optionally bounded.
//!
//! Per poll chunk (never per tick) the gate admits the poll — the provider's breaker, and for
//! a request-based source with rate coordination on, its cooldowns and one token of its
//! budget — and resolves the grant with the poll's outcome (see [`crate::admission`]). A
//! refusal that may pass later (budget spent, cooling down, breaker open) is `Pending`: the
//! pipeline waits with its idle strategy; a request that can never pass is an error.

use std::sync::Arc;

use crate::admission::{AdmissionGate, Refusal};
use crate::error::SourceError;
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::symbol::SymbolId;
use crate::tick::Tick;

/// A source behind its provider's gate (`None`: a plain source), optionally bounded.
pub(crate) struct GatedSource {
    inner: Box<dyn TickSource>,
    gate: Option<AdmissionGate>,
    remaining: Option<u64>,
}

impl GatedSource {
    /// Wrap `inner`; `gate: None` is a plain (bounded) source.
    pub(super) fn new(
        inner: Box<dyn TickSource>,
        gate: Option<AdmissionGate>,
        max_ticks: Option<u64>,
    ) -> GatedSource {
        GatedSource {
            inner,
            gate,
            remaining: max_ticks,
        }
    }
}

/// Poll `inner`, producing at most `remaining` more ticks.
#[inline]
fn bounded(
    inner: &mut dyn TickSource,
    remaining: &mut Option<u64>,
    now_ns: u64,
    out: &mut [Tick],
) -> Result<SourcePoll, SourceError> {
    let room = match *remaining {
        Some(0) => return Ok(SourcePoll::Ended),
        Some(r) => out.len().min(usize::try_from(r).unwrap_or(usize::MAX)),
        None => out.len(),
    };
    let r = inner.poll(now_ns, &mut out[..room]);
    if let (Ok(SourcePoll::Ready(n)), Some(rem)) = (&r, remaining) {
        *rem -= (*n as u64).min(*rem);
    }
    r
}

impl TickSource for GatedSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        self.inner.start(now_ns)
    }

    #[inline]
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let inner = &mut *self.inner;
        let remaining = &mut self.remaining;
        let Some(gate) = &self.gate else {
            return bounded(inner, remaining, now_ns, out);
        };
        match gate.poll(now_ns, || bounded(inner, remaining, now_ns, out)) {
            Ok(r) => r,
            Err(Refusal::NotNow(_) | Refusal::BreakerOpen(_)) => Ok(SourcePoll::Pending),
            Err(Refusal::Never(e)) => Err(SourceError::Failed {
                source_name: inner.name().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn close(&mut self) {
        self.inner.close()
    }

    fn status(&self) -> SourceStatus {
        self.inner.status()
    }

    fn health(&self) -> SourceHealth {
        self.inner.health()
    }

    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }

    fn capabilities(&self) -> Capabilities {
        let caps = self.inner.capabilities();
        Capabilities {
            request_based: self
                .gate
                .as_ref()
                .map_or(caps.request_based, |g| g.request_based()),
            ..caps
        }
    }

    fn symbol_table(&self) -> Option<&Arc<crate::symbol::SymbolTable>> {
        self.inner.symbol_table()
    }

    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.inner.subscribe(symbols)
    }

    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.inner.unsubscribe(symbols)
    }
}

// Tests: `runtime::admission_paths` (this path and the router's, through the same gate).
