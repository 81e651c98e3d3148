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

/// A source behind its provider's gate (`None`: a plain source), optionally bounded. The
/// poll that reaches the bound closes the inner source at once (a fan-out subscription leaves
/// its hub then, so what the hub offers it afterwards is `after_close`, never `dropped`);
/// later polls return `Ended`.
pub(crate) struct GatedSource {
    inner: Box<dyn TickSource>,
    gate: Option<AdmissionGate>,
    remaining: Option<u64>,
    closed: bool,
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
            closed: false,
        }
    }

    fn close_inner(&mut self) {
        if !self.closed {
            self.closed = true;
            self.inner.close();
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
        let r = match &self.gate {
            None => bounded(inner, remaining, now_ns, out),
            Some(gate) => match gate.poll(now_ns, || bounded(inner, remaining, now_ns, out)) {
                Ok(r) => r,
                Err(Refusal::NotNow(_) | Refusal::BreakerOpen(_)) => Ok(SourcePoll::Pending),
                Err(Refusal::Never(e)) => Err(SourceError::Failed {
                    source_name: inner.name().to_string(),
                    reason: e.to_string(),
                }),
            },
        };
        if self.remaining == Some(0) {
            // The bound is reached: nothing more is wanted of the inner source.
            self.close_inner();
        }
        r
    }

    fn close(&mut self) {
        self.close_inner()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::GatedSource;
    use crate::clock::ManualClock;
    use crate::exec::Task;
    use crate::fanout::{FanoutHub, HubConfig, SubscriberConfig};
    use crate::ring::Backpressure;
    use crate::source::{SourcePoll, SyntheticConfig, SyntheticSource, TickSource};
    use crate::symbol::SymbolTable;
    use crate::tick::Tick;

    #[test]
    fn regression_a_bounded_subscriber_leaves_when_it_reads_its_bound_not_at_its_next_poll() {
        // Was: a pipeline's `max_ticks` bound ended its stream at the poll after the one that
        // read the last tick, and the subscription was closed only then; meanwhile the hub
        // kept filling its ring, and under `DropNewest` what did not fit was counted as
        // dropped although the pipeline wanted nothing more.
        let table = Arc::new(SymbolTable::new());
        let upstream = SyntheticSource::new(SyntheticConfig::new(&["AAPL"]), table).unwrap();
        let clock = ManualClock::shared(0);
        let mut hub = FanoutHub::new(Box::new(upstream), HubConfig::default(), clock).unwrap();
        let h = hub.handle();
        let config = SubscriberConfig::all()
            .capacity(512)
            .backpressure(Backpressure::DropNewest);
        let sub = h.subscribe(config.clone()).unwrap();
        let counters = sub.counters();
        // Another subscriber keeps the hub running after this one leaves.
        let _other = h.subscribe(config).unwrap();
        let mut bounded = GatedSource::new(Box::new(sub), None, Some(300));
        bounded.start(0).unwrap();
        hub.step(); // 256 ticks into each ring
        let mut buf = [Tick::default(); 256];
        assert_eq!(bounded.poll(0, &mut buf).unwrap(), SourcePoll::Ready(256));
        hub.step();
        assert_eq!(bounded.poll(0, &mut buf).unwrap(), SourcePoll::Ready(44));
        // The pipeline is slow to come back; the hub runs on.
        for _ in 0..10 {
            hub.step();
        }
        let s = counters.snapshot();
        assert_eq!((s.popped, s.dropped, s.in_flight()), (300, 0, 0), "{s:?}");
        assert_eq!(s.offered, s.popped + s.after_close, "{s:?}");
        assert_eq!(bounded.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
        bounded.close();
        assert_eq!(counters.snapshot(), s, "closing again changes nothing");
    }
}
