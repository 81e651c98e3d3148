//! `SourceCore`: what every source reports the same way (name, symbols, state, health,
//! capabilities, symbol table), kept in one value so that a source's [`TickSource`] impl
//! writes only what differs.
//!
//! [`TickSource`]: super::TickSource

use std::sync::Arc;

use crate::source::{Capabilities, SourceHealth, SourceStatus};
use crate::symbol::SymbolTable;

/// The accessor state of a source. A source that keeps one and returns it from
/// [`TickSource::core`](super::TickSource::core) gets `name`, `status`, `health`, `symbols`,
/// `capabilities` and `symbol_table` from the trait's default methods; it overrides only the
/// ones it computes (a status derived from its own state machine, say).
///
/// ```
/// use market_data_pipeline::source::SourceCore;
/// use market_data_pipeline::{Capabilities, SourceStatus};
/// let mut core = SourceCore::new("feed", &["AAPL"], Capabilities::default());
/// assert_eq!(core.status, SourceStatus::Idle);
/// core.produced(3, 1_000);
/// assert_eq!((core.health.produced, core.health.last_tick_ns), (3, Some(1_000)));
/// ```
#[derive(Clone, Debug)]
pub struct SourceCore {
    /// The source's name (for errors, routing records and stats).
    pub name: String,
    /// Symbols the source produces.
    pub symbols: Vec<String>,
    /// Life-cycle state; `Idle` until the source starts.
    pub status: SourceStatus,
    /// Health counters.
    pub health: SourceHealth,
    /// What the source can do.
    pub capabilities: Capabilities,
    /// The symbol table its ticks' symbol ids refer to, when it knows it.
    pub symbol_table: Option<Arc<SymbolTable>>,
}

impl SourceCore {
    /// An idle source named `name` producing `symbols`, with zeroed health and no symbol table.
    pub fn new<S: AsRef<str>>(
        name: impl Into<String>,
        symbols: &[S],
        capabilities: Capabilities,
    ) -> SourceCore {
        SourceCore {
            name: name.into(),
            symbols: symbols.iter().map(|s| s.as_ref().to_string()).collect(),
            status: SourceStatus::Idle,
            health: SourceHealth::default(),
            capabilities,
            symbol_table: None,
        }
    }

    /// The same, naming the table its symbol ids refer to.
    pub fn with_symbol_table(mut self, table: Arc<SymbolTable>) -> SourceCore {
        self.symbol_table = Some(table);
        self
    }

    /// Count `n` ticks produced by a poll at `now_ns`.
    #[inline]
    pub fn produced(&mut self, n: usize, now_ns: u64) {
        self.health.produced += n as u64;
        self.health.last_tick_ns = Some(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SourceError;
    use crate::source::{SourcePoll, TickSource};
    use crate::tick::Tick;

    /// Implements only what differs; the accessors come from the trait, reading `core`.
    struct WithCore(SourceCore);

    /// Implements neither `core` nor the accessors.
    struct Bare;

    impl TickSource for WithCore {
        fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
            self.0.status = SourceStatus::Running;
            Ok(())
        }
        fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
            self.0.produced(out.len(), now_ns);
            Ok(SourcePoll::Ready(out.len()))
        }
        fn close(&mut self) {
            self.0.status = SourceStatus::Closed;
        }
        fn core(&self) -> Option<&SourceCore> {
            Some(&self.0)
        }
    }

    impl TickSource for Bare {
        fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
            Ok(())
        }
        fn poll(&mut self, _now_ns: u64, _out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
            Ok(SourcePoll::Ended)
        }
        fn close(&mut self) {}
    }

    #[test]
    fn the_trait_accessors_read_the_core_and_follow_it() {
        let table = Arc::new(SymbolTable::new());
        let caps = Capabilities {
            quotes: true,
            ..Capabilities::default()
        };
        let core = SourceCore::new("feed", &["AAPL", "MSFT"], caps.clone())
            .with_symbol_table(table.clone());
        let mut s: Box<dyn TickSource> = Box::new(WithCore(core));
        assert_eq!(s.name(), "feed");
        assert_eq!(s.symbols(), ["AAPL", "MSFT"]);
        assert_eq!(s.status(), SourceStatus::Idle);
        assert_eq!(s.capabilities(), caps);
        assert!(Arc::ptr_eq(s.symbol_table().unwrap(), &table));
        s.start(5).unwrap();
        let mut buf = [Tick::default(); 4];
        s.poll(7, &mut buf).unwrap();
        assert_eq!(s.status(), SourceStatus::Running);
        assert_eq!((s.health().produced, s.health().last_tick_ns), (4, Some(7)));
        s.close();
        assert_eq!(s.status(), SourceStatus::Closed);
    }

    #[test]
    fn a_source_with_neither_core_nor_accessors_is_nameless_and_idle() {
        let s = Bare;
        assert_eq!(s.name(), "");
        assert!(s.symbols().is_empty());
        assert_eq!(s.status(), SourceStatus::Idle);
        assert_eq!(s.health(), SourceHealth::default());
        assert_eq!(s.capabilities(), Capabilities::default());
        assert!(s.symbol_table().is_none());
    }
}
