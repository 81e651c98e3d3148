//! `SyntheticSource`: a seeded, deterministic random-walk tick generator with fault injection.
//!
//! Same seed, same symbols, same poll sizes → the same ticks. Unpaced it produces as fast as the
//! core goes (a few ns a tick); paced, a [`Pacer`] admits ticks at the configured rate.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::duration_ns;
use crate::error::{ConfigError, SourceError};
use crate::flow::Pacer;
use crate::price::{Price, PRICE_SCALE};
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::symbol::{SymbolId, SymbolTable};
use crate::tick::{flags, Tick, TickKind};

/// A fault to inject when the source has produced `at_tick` ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Produced-tick count at which the fault fires.
    pub at_tick: u64,
    /// What happens.
    pub kind: FaultKind,
}

/// Kinds of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// One poll returns a retryable `SourceError::Failed`; the next continues.
    Error,
    /// Every poll from now on fails (the source is dead).
    Fail,
    /// Polls return `Pending` for this long (the source goes stale).
    Stall(Duration),
    /// One poll returns `SourceError::Disconnected`; for this long polls return `Pending` with
    /// status `Disconnected`; then the source reconnects and continues its stream.
    Disconnect(Duration),
}

/// Configuration of a [`SyntheticSource`].
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Source name.
    pub name: String,
    /// Symbols to produce (round-robin).
    pub symbols: Vec<String>,
    /// RNG seed.
    pub seed: u64,
    /// Ticks per second; `None` = unpaced (as fast as possible).
    pub rate: Option<u64>,
    /// Pacer burst (ticks) when paced.
    pub burst: u64,
    /// Share of trades among ticks, per mille (0..=1000); the rest are quotes.
    pub trade_per_mille: u32,
    /// Starting mid price.
    pub start_price: Price,
    /// Price increment of the random walk.
    pub tick_size: Price,
    /// Stop after this many ticks (`Ended`); `None` = endless.
    pub max_ticks: Option<u64>,
    /// Source id written into every tick.
    pub source_id: u16,
    /// Faults to inject, in order of `at_tick`.
    pub faults: Vec<Fault>,
    /// Declared staleness bound for routers.
    pub staleness_bound: Option<Duration>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            name: "synthetic".into(),
            symbols: Vec::new(),
            seed: 42,
            rate: None,
            burst: 1_000,
            trade_per_mille: 300,
            start_price: Price::from_units(100),
            tick_size: Price(PRICE_SCALE / 100),
            max_ticks: None,
            source_id: 0,
            faults: Vec::new(),
            staleness_bound: None,
        }
    }
}

impl SyntheticConfig {
    /// A config producing `symbols`, otherwise defaults.
    pub fn new<S: AsRef<str>>(symbols: &[S]) -> SyntheticConfig {
        SyntheticConfig {
            symbols: symbols.iter().map(|s| s.as_ref().to_string()).collect(),
            ..SyntheticConfig::default()
        }
    }

    /// Check the configuration (field names in errors).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.symbols.is_empty() {
            return Err(ConfigError::new(
                "synthetic.symbols",
                "no symbols configured",
            ));
        }
        if self.rate == Some(0) {
            return Err(ConfigError::new("synthetic.rate", "must be greater than 0"));
        }
        if self.rate.is_some() && self.burst == 0 {
            return Err(ConfigError::new(
                "synthetic.burst",
                "must be greater than 0",
            ));
        }
        if self.trade_per_mille > 1000 {
            return Err(ConfigError::new(
                "synthetic.trade_per_mille",
                "must be at most 1000",
            ));
        }
        if self.tick_size.raw() <= 0 {
            return Err(ConfigError::new("synthetic.tick_size", "must be positive"));
        }
        if self.start_price.raw() <= self.tick_size.raw() * 1_000 {
            return Err(ConfigError::new(
                "synthetic.start_price",
                "must be more than 1000 tick sizes",
            ));
        }
        if self.faults.windows(2).any(|w| w[0].at_tick > w[1].at_tick) {
            return Err(ConfigError::new(
                "synthetic.faults",
                "must be ordered by at_tick",
            ));
        }
        Ok(())
    }
}

/// wyrand: tiny, fast, good enough for synthetic prices.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u64
    }
}

#[derive(Clone, Debug)]
struct SymbolState {
    id: SymbolId,
    mid: i64,
    seq_trades: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle,
    Running,
    StalledUntil(u64),
    DownUntil(u64),
    Dead,
    Ended,
    Closed,
}

/// Seeded random-walk tick generator. See the module docs.
///
/// ```
/// use std::sync::Arc;
/// use market_data_pipeline::{SymbolTable, Tick, TickSource, SourcePoll};
/// use market_data_pipeline::source::synthetic::{SyntheticConfig, SyntheticSource};
///
/// let table = Arc::new(SymbolTable::new());
/// let mut src = SyntheticSource::new(SyntheticConfig::new(&["AAPL"]), table).unwrap();
/// src.start(0).unwrap();
/// let mut buf = [Tick::default(); 64];
/// assert_eq!(src.poll(0, &mut buf).unwrap(), SourcePoll::Ready(64));
/// ```
#[derive(Debug)]
pub struct SyntheticSource {
    /// The table its symbols are interned in.
    table: Arc<SymbolTable>,
    cfg: SyntheticConfig,
    rng: Rng,
    syms: Vec<SymbolState>,
    next_sym: usize,
    seq: u32,
    pacer: Option<Pacer>,
    mode: Mode,
    next_fault: usize,
    health: SourceHealth,
    lo: i64,
    hi: i64,
    /// `trade_per_mille` scaled to 16 random bits.
    trade_threshold: u64,
}

impl SyntheticSource {
    /// A source interning its symbols into `table`.
    pub fn new(
        cfg: SyntheticConfig,
        table: Arc<SymbolTable>,
    ) -> Result<SyntheticSource, SourceError> {
        let bad = |error: ConfigError| SourceError::Config {
            source_name: cfg.name.clone(),
            error,
        };
        if cfg.symbols.is_empty() {
            return Err(SourceError::NoSymbols {
                source_name: cfg.name.clone(),
            });
        }
        cfg.validate().map_err(bad)?;
        let mut syms = Vec::with_capacity(cfg.symbols.len());
        let mut rng = Rng(cfg.seed ^ 0x5eed);
        for (i, s) in cfg.symbols.iter().enumerate() {
            let id = table.intern(s).map_err(|e| {
                bad(ConfigError::new(
                    format!("synthetic.symbols[{i}]"),
                    e.to_string(),
                ))
            })?;
            // Spread starting prices a little per symbol, deterministically.
            let jitter = (rng.next() % 200) as i64 * cfg.tick_size.raw();
            syms.push(SymbolState {
                id,
                mid: cfg.start_price.raw() + jitter,
                seq_trades: 0,
            });
        }
        let pacer = match cfg.rate {
            Some(rate) => Some(Pacer::new(rate, cfg.burst).map_err(bad)?),
            None => None,
        };
        let lo = cfg.start_price.raw() / 2;
        let hi = cfg.start_price.raw().saturating_mul(2);
        Ok(SyntheticSource {
            table: table.clone(),
            rng: Rng(cfg.seed),
            syms,
            next_sym: 0,
            seq: 0,
            pacer,
            mode: Mode::Idle,
            next_fault: 0,
            health: SourceHealth::default(),
            lo,
            hi,
            trade_threshold: cfg.trade_per_mille as u64 * 65_536 / 1_000,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.cfg
    }

    #[inline]
    fn gen(&mut self, now_ns: u64) -> Tick {
        // Steps of -3..=3 ticks (0 twice as likely), indexed by three random bits.
        const STEPS: [i64; 8] = [-3, -2, -1, 0, 0, 1, 2, 3];
        let r = self.rng.next();
        let i = self.next_sym;
        self.next_sym = if i + 1 == self.syms.len() { 0 } else { i + 1 };
        let ts = self.cfg.tick_size.raw();
        let st = &mut self.syms[i];
        let step = STEPS[(r & 7) as usize] * ts;
        let mut mid = st.mid + step;
        // Reflected at the bounds (rare, so well predicted).
        if mid < self.lo || mid > self.hi {
            mid = st.mid - step;
        }
        st.mid = mid;
        let half_spread = ts * (1 + ((r >> 3) & 1) as i64);
        let bid = mid - half_spread;
        let ask = mid + half_spread;
        // Trade or quote without a branch: ~30 % trades would mispredict often.
        let trade = ((r >> 8) & 0xFFFF) < self.trade_threshold;
        st.seq_trades += trade as u64;
        let price = if (r >> 28) & 1 == 0 { bid } else { ask };
        self.seq = self.seq.wrapping_add(1);
        Tick {
            ts_event: now_ns,
            ts_recv: now_ns,
            price: Price(price & -(trade as i64)),
            bid: Price(bid),
            ask: Price(ask),
            seq: self.seq,
            size: (100 * (1 + ((r >> 32) & 7) as u32)) & (trade as u32).wrapping_neg(),
            bid_size: 100 * (1 + ((r >> 20) & 15) as u32),
            ask_size: 100 * (1 + ((r >> 24) & 15) as u32),
            symbol: st.id,
            source: self.cfg.source_id,
            kind: if trade {
                TickKind::Both
            } else {
                TickKind::Quote
            },
            flags: flags::SYNTHETIC,
        }
    }

    /// Apply faults due at the current produced count. Returns an error to report, if any.
    fn fire_faults(&mut self, now_ns: u64) -> Result<(), SourceError> {
        while let Some(f) = self.cfg.faults.get(self.next_fault).copied() {
            if f.at_tick > self.health.produced {
                break;
            }
            self.next_fault += 1;
            match f.kind {
                FaultKind::Error => {
                    self.health.errors += 1;
                    return Err(SourceError::Failed {
                        source_name: self.cfg.name.clone(),
                        reason: format!("injected error at tick {}", f.at_tick),
                    });
                }
                FaultKind::Fail => {
                    self.mode = Mode::Dead;
                    self.health.errors += 1;
                    return Err(SourceError::Failed {
                        source_name: self.cfg.name.clone(),
                        reason: format!("injected permanent failure at tick {}", f.at_tick),
                    });
                }
                FaultKind::Stall(d) => {
                    self.mode = Mode::StalledUntil(now_ns.saturating_add(duration_ns(d)));
                }
                FaultKind::Disconnect(d) => {
                    self.mode = Mode::DownUntil(now_ns.saturating_add(duration_ns(d)));
                    self.health.errors += 1;
                    return Err(SourceError::Disconnected {
                        source_name: self.cfg.name.clone(),
                        reason: format!("injected disconnect at tick {}", f.at_tick),
                    });
                }
            }
        }
        Ok(())
    }

    /// How many ticks until the next fault fires (caps a poll so faults hit exactly).
    fn until_fault(&self) -> u64 {
        self.cfg
            .faults
            .get(self.next_fault)
            .map_or(u64::MAX, |f| f.at_tick.saturating_sub(self.health.produced))
    }
}

impl TickSource for SyntheticSource {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        if self.mode == Mode::Idle {
            self.mode = Mode::Running;
            self.health.last_tick_ns = Some(now_ns);
        }
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        match self.mode {
            Mode::Idle => {
                return Err(SourceError::NotRunning {
                    source_name: self.cfg.name.clone(),
                    state: "not started",
                })
            }
            Mode::Closed | Mode::Ended => return Ok(SourcePoll::Ended),
            Mode::Dead => {
                self.health.errors += 1;
                return Err(SourceError::Failed {
                    source_name: self.cfg.name.clone(),
                    reason: "injected permanent failure".into(),
                });
            }
            Mode::StalledUntil(t) | Mode::DownUntil(t) => {
                if now_ns < t {
                    return Ok(SourcePoll::Pending);
                }
                if matches!(self.mode, Mode::DownUntil(_)) {
                    self.health.reconnects += 1;
                }
                self.mode = Mode::Running;
            }
            Mode::Running => {}
        }
        self.fire_faults(now_ns)?;
        if self.mode != Mode::Running {
            return Ok(SourcePoll::Pending);
        }
        let mut n = (out.len() as u64).min(self.until_fault());
        if let Some(max) = self.cfg.max_ticks {
            let left = max.saturating_sub(self.health.produced);
            if left == 0 {
                self.mode = Mode::Ended;
                return Ok(SourcePoll::Ended);
            }
            n = n.min(left);
        }
        if let Some(p) = self.pacer.as_mut() {
            n = p.take_up_to(now_ns, n);
        }
        if n == 0 {
            return Ok(SourcePoll::Pending);
        }
        for slot in &mut out[..n as usize] {
            *slot = self.gen(now_ns);
        }
        self.health.produced += n;
        self.health.last_tick_ns = Some(now_ns);
        Ok(SourcePoll::Ready(n as usize))
    }

    fn close(&mut self) {
        self.mode = Mode::Closed;
    }

    fn status(&self) -> SourceStatus {
        match self.mode {
            Mode::Idle => SourceStatus::Idle,
            Mode::Running => SourceStatus::Running,
            Mode::StalledUntil(_) => SourceStatus::Stalled,
            Mode::DownUntil(_) => SourceStatus::Disconnected,
            Mode::Dead => SourceStatus::Failed,
            Mode::Ended => SourceStatus::Ended,
            Mode::Closed => SourceStatus::Closed,
        }
    }

    fn health(&self) -> SourceHealth {
        self.health
    }

    fn symbols(&self) -> &[String] {
        &self.cfg.symbols
    }

    fn symbol_table(&self) -> Option<&Arc<SymbolTable>> {
        Some(&self.table)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: self.cfg.trade_per_mille > 0,
            quotes: self.cfg.trade_per_mille < 1000,
            replay: false,
            request_based: false,
            max_rate: self.cfg.rate,
            staleness_bound: self.cfg.staleness_bound,
            shared_sequence: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(cfg: SyntheticConfig) -> SyntheticSource {
        let mut s = SyntheticSource::new(cfg, Arc::new(SymbolTable::new())).unwrap();
        s.start(0).unwrap();
        s
    }

    fn drain(s: &mut SyntheticSource, now: u64, n: usize) -> Vec<Tick> {
        let mut buf = vec![Tick::default(); n];
        match s.poll(now, &mut buf).unwrap() {
            SourcePoll::Ready(k) => buf[..k].to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn same_seed_same_ticks_different_seed_different_ticks() {
        let a = drain(&mut src(SyntheticConfig::new(&["AAPL", "MSFT"])), 7, 500);
        let b = drain(&mut src(SyntheticConfig::new(&["AAPL", "MSFT"])), 7, 500);
        assert_eq!(a, b);
        let c = drain(
            &mut src(SyntheticConfig {
                seed: 43,
                ..SyntheticConfig::new(&["AAPL", "MSFT"])
            }),
            7,
            500,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn ticks_are_sane_quotes_and_trades() {
        let ticks = drain(&mut src(SyntheticConfig::new(&["A", "B", "C"])), 1, 3000);
        assert_eq!(ticks.len(), 3000);
        let trades = ticks.iter().filter(|t| t.kind.has_trade()).count();
        assert!((600..1200).contains(&trades), "trades {trades}");
        for (i, t) in ticks.iter().enumerate() {
            assert!(t.bid < t.ask, "tick {i}: crossed");
            assert!(t.bid.raw() > 0);
            assert_eq!(t.seq as usize, i + 1);
            assert_eq!(t.symbol.0 as usize, i % 3);
            if t.kind.has_trade() {
                assert!(t.price == t.bid || t.price == t.ask);
                assert!(t.size > 0);
            }
        }
    }

    #[test]
    fn no_symbols_and_invalid_config_are_clear_errors() {
        let t = Arc::new(SymbolTable::new());
        let e = SyntheticSource::new(SyntheticConfig::default(), t.clone()).unwrap_err();
        assert!(matches!(e, SourceError::NoSymbols { .. }));
        let e = SyntheticSource::new(
            SyntheticConfig {
                rate: Some(0),
                ..SyntheticConfig::new(&["A"])
            },
            t.clone(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("synthetic.rate"), "{e}");
        let e = SyntheticSource::new(SyntheticConfig::new(&["BAD SYM"]), t).unwrap_err();
        assert!(e.to_string().contains("synthetic.symbols[0]"), "{e}");
    }

    #[test]
    fn paced_source_follows_its_rate_on_the_manual_clock() {
        let mut s = src(SyntheticConfig {
            rate: Some(1000),
            burst: 10,
            ..SyntheticConfig::new(&["A"])
        });
        assert_eq!(drain(&mut s, 0, 100).len(), 10);
        assert!(drain(&mut s, 0, 100).is_empty());
        assert_eq!(drain(&mut s, 5_000_000, 100).len(), 5);
        // One simulated second: at most burst + rate.
        let mut total = 15;
        for ms in 6..=1000u64 {
            total += drain(&mut s, ms * 1_000_000, 100).len();
        }
        assert!(total <= 1010, "total {total}");
        assert!(total >= 1000, "total {total}");
    }

    #[test]
    fn regression_original_synthetic_could_not_exceed_1000_ticks_per_second() {
        // One poll at one instant: unpaced, the source fills the whole buffer.
        let mut s = src(SyntheticConfig::new(&["A"]));
        let n = if cfg!(miri) { 5_000 } else { 100_000 };
        assert_eq!(drain(&mut s, 0, n).len(), n);
    }

    #[test]
    fn max_ticks_ends_the_stream() {
        let mut s = src(SyntheticConfig {
            max_ticks: Some(250),
            ..SyntheticConfig::new(&["A"])
        });
        assert_eq!(drain(&mut s, 0, 200).len(), 200);
        assert_eq!(drain(&mut s, 0, 200).len(), 50);
        let mut buf = [Tick::default(); 4];
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ended);
        assert_eq!(s.status(), SourceStatus::Ended);
    }

    #[test]
    fn injected_faults_fire_at_exact_tick_counts() {
        let ms = Duration::from_millis(1);
        let mut s = src(SyntheticConfig {
            faults: vec![
                Fault {
                    at_tick: 10,
                    kind: FaultKind::Error,
                },
                Fault {
                    at_tick: 20,
                    kind: FaultKind::Stall(ms),
                },
                Fault {
                    at_tick: 30,
                    kind: FaultKind::Disconnect(ms),
                },
                Fault {
                    at_tick: 40,
                    kind: FaultKind::Fail,
                },
            ],
            ..SyntheticConfig::new(&["A"])
        });
        let mut buf = [Tick::default(); 100];
        // 1. error after 10 ticks, then continues.
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
        assert!(s.poll(0, &mut buf).unwrap_err().is_retryable());
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
        // 2. stall for 1 ms.
        assert_eq!(s.poll(0, &mut buf).unwrap(), SourcePoll::Pending);
        assert_eq!(s.status(), SourceStatus::Stalled);
        assert_eq!(s.poll(999_999, &mut buf).unwrap(), SourcePoll::Pending);
        assert_eq!(s.poll(1_000_000, &mut buf).unwrap(), SourcePoll::Ready(10));
        // 3. disconnect, down for 1 ms, then reconnects and continues the sequence.
        let e = s.poll(1_000_000, &mut buf).unwrap_err();
        assert!(matches!(e, SourceError::Disconnected { .. }));
        assert_eq!(s.status(), SourceStatus::Disconnected);
        assert_eq!(s.poll(1_500_000, &mut buf).unwrap(), SourcePoll::Pending);
        assert_eq!(s.poll(2_000_000, &mut buf).unwrap(), SourcePoll::Ready(10));
        assert_eq!(buf[0].seq, 31);
        assert_eq!(s.health().reconnects, 1);
        // 4. permanent failure.
        assert!(s.poll(2_000_000, &mut buf).is_err());
        assert!(s.poll(9_000_000, &mut buf).is_err());
        assert_eq!(s.status(), SourceStatus::Failed);
        assert_eq!(s.health().errors, 4);
    }

    #[test]
    fn poll_before_start_is_an_error_not_a_panic() {
        let mut s =
            SyntheticSource::new(SyntheticConfig::new(&["A"]), Arc::new(SymbolTable::new()))
                .unwrap();
        let mut buf = [Tick::default(); 4];
        assert!(matches!(
            s.poll(0, &mut buf),
            Err(SourceError::NotRunning { .. })
        ));
    }
}
