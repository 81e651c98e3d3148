//! `RouterStream`: the seed's `router.stream()` — the routed ticks as [`Quote`]s on the
//! caller's thread, with the router's own clock.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::SourceError;
use crate::quote::{Quote, QuoteMaker};
use crate::router::SourceRouter;
use crate::source::{SourceStream, TickSource};
use crate::symbol::SymbolTable;

/// A blocking iterator over a router's quotes (the same item as
/// [`QuoteStream`](crate::runtime::QuoteStream)). It ends when every source has ended or failed
/// for good, or on an error, which [`error`](Self::error) then holds.
///
/// Symbols are named from the symbol table of the router's first source that reports one
/// (sources created from one [`SourceRegistry`](crate::registry::SourceRegistry) share its
/// table); ids no table knows print as `"?"`.
pub struct RouterStream {
    ticks: SourceStream<SourceRouter>,
    quotes: QuoteMaker,
    error: Option<SourceError>,
}

impl std::fmt::Debug for RouterStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterStream")
            .field("router", self.ticks.source())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl SourceRouter {
    /// The seed's `router.stream()`: a blocking iterator over the routed quotes (the same
    /// [`Quote`] items as `stream_quotes`), reading time from the router's clock.
    pub fn stream(self) -> RouterStream {
        RouterStream::new(self)
    }

    /// The routed raw ticks (`Result<Tick, SourceError>`), reading time from `clock`.
    pub fn tick_stream(self, clock: SharedClock) -> SourceStream<SourceRouter> {
        SourceStream::new(self, clock)
    }
}

impl RouterStream {
    fn new(router: SourceRouter) -> RouterStream {
        let table = router
            .symbol_table()
            .cloned()
            .unwrap_or_else(|| Arc::new(SymbolTable::new()));
        let clock = router.clock().clone();
        RouterStream {
            ticks: SourceStream::new(router, clock),
            quotes: QuoteMaker::new(table),
            error: None,
        }
    }

    /// The router being streamed (its stats, active source, switch log).
    pub fn router(&self) -> &SourceRouter {
        self.ticks.source()
    }

    /// The error that ended the stream, if one did.
    pub fn error(&self) -> Option<&SourceError> {
        self.error.as_ref()
    }

    /// Give the router back.
    pub fn into_router(self) -> SourceRouter {
        self.ticks.into_inner()
    }
}

impl Iterator for RouterStream {
    type Item = Quote;

    fn next(&mut self) -> Option<Quote> {
        match self.ticks.next()? {
            Ok(t) => Some(self.quotes.quote(&t)),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}
