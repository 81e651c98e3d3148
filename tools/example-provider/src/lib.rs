//! An example provider crate: the `constant` source, registered at link time.
//!
//! A crate that provides sources depends on `market-data-pipeline`, implements
//! [`TickSource`] (`start`, `poll` and `close`; the name, symbols, state, health and
//! capabilities live in a [`SourceCore`] that the trait's accessors read), writes a factory
//! from a [`SourceSpec`], and submits it with
//! [`register_source_provider!`]. A binary that links this crate (`use example_provider as _;`)
//! finds `constant` with `SourceRegistry::discover_entrypoints()`; settings then use it as
//! `kind = "constant"`:
//!
//! ```toml
//! [providers.fixed]
//! kind = "constant"
//! symbols = ["AAPL"]
//! price = 187.5
//! spread = 0.02
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_code)]

use market_data_pipeline::error::{ConfigError, SourceError};
use market_data_pipeline::registry::{RegistryError, SourceContext, SourceSpec};
use market_data_pipeline::source::SourceCore;
use market_data_pipeline::{
    register_source_provider, Capabilities, Price, SourcePoll, SourceStatus, SymbolId, Tick,
    TickSource,
};

/// Quotes at a fixed bid/ask for every symbol, round-robin; endless unless `max_ticks` is set.
#[derive(Debug)]
pub struct ConstantSource {
    /// Name, symbols, state, health and capabilities: the trait's accessors read it.
    core: SourceCore,
    ids: Vec<SymbolId>,
    bid: Price,
    ask: Price,
    source_id: u16,
    remaining: Option<u64>,
    next: usize,
    seq: u32,
}

impl TickSource for ConstantSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.core.status = SourceStatus::Running;
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if self.core.status != SourceStatus::Running {
            return Err(SourceError::NotRunning {
                source_name: self.core.name.clone(),
                state: self.core.status.as_str(),
            });
        }
        let n = match self.remaining {
            Some(0) => {
                self.core.status = SourceStatus::Ended;
                return Ok(SourcePoll::Ended);
            }
            Some(r) => out.len().min(usize::try_from(r).unwrap_or(usize::MAX)),
            None => out.len(),
        };
        for t in &mut out[..n] {
            let id = self.ids[self.next];
            self.next = (self.next + 1) % self.ids.len();
            self.seq = self.seq.wrapping_add(1);
            *t = Tick {
                ts_recv: now_ns,
                seq: self.seq,
                source: self.source_id,
                ..Tick::quote(id, now_ns, self.bid, self.ask, 100, 100)
            };
        }
        if let Some(r) = &mut self.remaining {
            *r -= n as u64;
        }
        self.core.produced(n, now_ns);
        Ok(SourcePoll::Ready(n))
    }

    fn close(&mut self) {
        self.core.status = SourceStatus::Closed;
    }
}

fn price(spec: &SourceSpec, key: &str, default: f64) -> Result<Price, ConfigError> {
    let v = spec.params().f64(key)?.unwrap_or(default);
    Price::from_f64(v)
        .filter(|p| p.raw() >= 0)
        .ok_or_else(|| ConfigError::new(spec.key(key), format!("{v} is not a price")))
}

/// The factory: parameters `price` (default 100.0), `spread` (default 0.01), `max_ticks`.
///
/// # Errors
/// Unknown or mistyped parameters and missing symbols, named by TOML key.
pub fn build(spec: &SourceSpec, ctx: &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> {
    spec.params().only(&["price", "spread", "max_ticks"])?;
    if spec.symbols.is_empty() {
        return Err(ConfigError::new(spec.key("symbols"), "no symbols configured").into());
    }
    let mid = price(spec, "price", 100.0)?;
    let spread = price(spec, "spread", 0.01)?;
    let ids = spec
        .symbols
        .iter()
        .map(|s| {
            ctx.symbols
                .intern(s)
                .map_err(|e| ConfigError::new(spec.key("symbols"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let capabilities = Capabilities {
        quotes: true,
        ..Capabilities::default()
    };
    Ok(Box::new(ConstantSource {
        core: SourceCore::new(spec.name.clone(), &spec.symbols, capabilities),
        ids,
        bid: Price(mid.raw() - spread.raw() / 2),
        ask: Price(mid.raw() + spread.raw() / 2),
        source_id: ctx.source_id,
        remaining: spec.params().u64("max_ticks")?,
        next: 0,
        seq: 0,
    }))
}

register_source_provider!("constant", build);
