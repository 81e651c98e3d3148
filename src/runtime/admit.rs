//! `Admitted`: a runtime source wrapped with its provider's admission.
//!
//! Per poll chunk (never per tick): a request-based source takes one token of its provider's
//! budget (when rate coordination is on); every source passes its provider's breaker, whose
//! permit is reported with the poll's outcome. A refusal that may pass later (rate limited,
//! cooling down, breaker open) is `Pending`: the pipeline waits with its idle strategy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::SourceError;
use crate::flow::{ProviderHandle, Request};
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::tick::Tick;

/// Runtime switches the data path reads once per chunk.
#[derive(Debug)]
pub(crate) struct Flags {
    /// `enable_rate_coordination` of the current settings.
    pub rate_coordination: AtomicBool,
}

/// A source behind its provider's budget and breaker, optionally bounded.
pub(crate) struct Admitted {
    inner: Box<dyn TickSource>,
    provider: Option<ProviderHandle>,
    flags: Arc<Flags>,
    request_based: bool,
    remaining: Option<u64>,
}

impl Admitted {
    /// Wrap `inner`; `provider: None` is a plain (bounded) source.
    pub fn new(
        inner: Box<dyn TickSource>,
        provider: Option<ProviderHandle>,
        flags: Arc<Flags>,
        request_based: bool,
        max_ticks: Option<u64>,
    ) -> Admitted {
        Admitted {
            inner,
            provider,
            flags,
            request_based,
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

impl TickSource for Admitted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        self.inner.start(now_ns)
    }

    #[inline]
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        let inner = &mut *self.inner;
        let Some(p) = &self.provider else {
            return bounded(inner, &mut self.remaining, now_ns, out);
        };
        // Relaxed: an independent switch; a chunk admitted under the old value is fine.
        if self.request_based && self.flags.rate_coordination.load(Ordering::Relaxed) {
            match p.try_request_at(now_ns, Request::cost(1)) {
                Ok(()) => {}
                Err(e) if e.is_retryable() => return Ok(SourcePoll::Pending),
                Err(e) => {
                    return Err(SourceError::Failed {
                        source_name: inner.name().to_string(),
                        reason: e.to_string(),
                    })
                }
            }
            // The request's breaker permit is detached: report it bare.
            let r = bounded(inner, &mut self.remaining, now_ns, out);
            match &r {
                Ok(SourcePoll::Ready(_)) => p.record_success(),
                Err(_) => p.record_failure(),
                Ok(_) => {}
            }
            return r;
        }
        let Ok(permit) = p.breaker().allow_at(now_ns) else {
            return Ok(SourcePoll::Pending);
        };
        let r = bounded(inner, &mut self.remaining, now_ns, out);
        match &r {
            Ok(SourcePoll::Ready(_)) => permit.success(),
            Err(_) => permit.failure_at(now_ns),
            Ok(_) => drop(permit),
        }
        r
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
        Capabilities {
            request_based: self.request_based,
            ..self.inner.capabilities()
        }
    }

    fn symbol_table(&self) -> Option<&Arc<crate::symbol::SymbolTable>> {
        self.inner.symbol_table()
    }
}
