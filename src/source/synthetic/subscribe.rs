//! The synthetic source's subscription: symbols added to and taken out of its round-robin.

use super::{Rng, SymbolState, SyntheticSource};
use crate::error::{ConfigError, SourceError};
use crate::symbol::SymbolId;

impl SyntheticSource {
    /// Add `symbols` not produced yet (see `TickSource::subscribe`).
    pub(super) fn add_symbols(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        let mut names = Vec::with_capacity(symbols.len());
        for &id in symbols {
            let Some(name) = self.core.symbol_table.as_ref().and_then(|t| t.name(id)) else {
                return Err(SourceError::Config {
                    source_name: self.cfg.name.clone(),
                    error: ConfigError::new(
                        "synthetic.symbols",
                        format!(
                            "unknown symbol id {id} (its table has {} symbols)",
                            self.core.symbol_table.as_ref().map_or(0, |t| t.len())
                        ),
                    ),
                });
            };
            names.push(name);
        }
        for (&id, name) in symbols.iter().zip(names) {
            if self.syms.iter().any(|s| s.id == id) {
                continue;
            }
            let state = match self.parked.iter().position(|s| s.id == id) {
                Some(i) => self.parked.swap_remove(i),
                None => {
                    // Deterministic per seed and symbol, like the configured symbols' spread.
                    let r = Rng(self.cfg.seed ^ 0x5eed ^ u64::from(id.0)).next();
                    SymbolState {
                        id,
                        mid: self.cfg.start_price.raw()
                            + (r % 200) as i64 * self.cfg.tick_size.raw(),
                        seq_trades: 0,
                    }
                }
            };
            self.syms.push(state);
            self.core.symbols.push(name.to_string());
        }
        Ok(())
    }

    /// Take `symbols` out of the round-robin, keeping their walk (see
    /// `TickSource::unsubscribe`).
    pub(super) fn remove_symbols(&mut self, symbols: &[SymbolId]) {
        for &id in symbols {
            let Some(i) = self.syms.iter().position(|s| s.id == id) else {
                continue;
            };
            self.parked.push(self.syms.remove(i));
            self.core.symbols.remove(i);
            if self.next_sym > i {
                self.next_sym -= 1;
            }
            if self.next_sym >= self.syms.len() {
                self.next_sym = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::error::SourceError;
    use crate::source::synthetic::{SyntheticConfig, SyntheticSource};
    use crate::source::{SourcePoll, TickSource};
    use crate::symbol::{SymbolId, SymbolTable};
    use crate::tick::Tick;

    fn symbols_of(s: &mut SyntheticSource, n: usize) -> Vec<u32> {
        let mut buf = vec![Tick::default(); n];
        match s.poll(0, &mut buf).unwrap() {
            SourcePoll::Ready(k) => buf[..k].iter().map(|t| t.symbol.0).collect(),
            other => panic!("expected ticks, got {other:?}"),
        }
    }

    #[test]
    fn subscribe_and_unsubscribe_change_exactly_the_symbols_produced() {
        let table = Arc::new(SymbolTable::with_symbols(&["A", "B", "C"]).unwrap());
        let mut s = SyntheticSource::new(SyntheticConfig::new(&["A"]), table.clone()).unwrap();
        s.start(0).unwrap();
        assert_eq!(symbols_of(&mut s, 3), [0, 0, 0]);
        s.subscribe(&[SymbolId(2), SymbolId(0)]).unwrap();
        assert_eq!(s.symbols(), ["A", "C"]);
        assert_eq!(symbols_of(&mut s, 4), [0, 2, 0, 2]);
        s.unsubscribe(&[SymbolId(0), SymbolId(1)]).unwrap();
        assert_eq!(s.symbols(), ["C"]);
        assert_eq!(symbols_of(&mut s, 3), [2, 2, 2]);
        s.unsubscribe(&[SymbolId(2)]).unwrap();
        assert!(s.symbols().is_empty());
        let mut buf = [Tick::default(); 4];
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Pending);
    }

    #[test]
    fn a_resubscribed_symbol_continues_its_walk() {
        let table = Arc::new(SymbolTable::with_symbols(&["A", "B"]).unwrap());
        let mut s = SyntheticSource::new(SyntheticConfig::new(&["A", "B"]), table).unwrap();
        s.start(0).unwrap();
        let mut buf = vec![Tick::default(); 64];
        s.poll(0, &mut buf).unwrap();
        let last_a = buf
            .iter()
            .rev()
            .find(|t| t.symbol == SymbolId(0))
            .unwrap()
            .bid;
        s.unsubscribe(&[SymbolId(0)]).unwrap();
        s.poll(0, &mut buf).unwrap();
        s.subscribe(&[SymbolId(0)]).unwrap();
        s.poll(0, &mut buf).unwrap();
        let next_a = buf.iter().find(|t| t.symbol == SymbolId(0)).unwrap().bid;
        // One step of the walk is at most 3 ticks of 0.01 plus the spread change (0.01).
        assert!(
            (next_a.raw() - last_a.raw()).abs() <= 4 * 10_000_000,
            "{last_a} -> {next_a}"
        );
    }

    #[test]
    fn subscribing_an_unknown_id_is_an_error_naming_it_and_changes_nothing() {
        let table = Arc::new(SymbolTable::with_symbols(&["A"]).unwrap());
        let mut s = SyntheticSource::new(SyntheticConfig::new(&["A"]), table).unwrap();
        s.start(0).unwrap();
        for bad in [1, 7, u32::MAX] {
            let e = s.subscribe(&[SymbolId(0), SymbolId(bad)]).unwrap_err();
            assert!(matches!(e, SourceError::Config { .. }), "{e}");
            assert!(
                e.to_string().contains(&format!("unknown symbol id #{bad}")),
                "{e}"
            );
            assert_eq!(s.symbols(), ["A"]);
        }
    }
}
