//! `SyntheticSource`: a seeded, deterministic random-walk tick generator with fault injection.
//!
//! Same seed, same symbols, same poll sizes → the same ticks. Unpaced it produces as fast as the
//! core goes (a few ns a tick); paced, a [`Pacer`] admits ticks at the configured rate,
//! counted from the `now_ns` given to `start` (so any clock works, epoch nanoseconds too).
//!
//! Ticks carry the poll's `now_ns` as event and receive time, or, with an [`EventTime`]
//! schedule, evenly spaced event times independent of the clock (a generated recording). A
//! schedule whose timestamps would pass `u64::MAX` is refused when the source is built, with
//! the field named: no timestamp is ever saturated.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::duration_ns;
use crate::error::{ConfigError, SourceError};
use crate::flow::Pacer;
use crate::price::{Price, PRICE_SCALE};
use crate::source::{Capabilities, SourceCore, SourcePoll, SourceStatus, TickSource};
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

/// Evenly spaced event times: tick `i` of the stream (from 0) has
/// `ts_event = ts_recv = start_ns + i × interval_ns`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventTime {
    /// Event time of the first tick, ns.
    pub start_ns: u64,
    /// Spacing between ticks, ns (0: every tick at `start_ns`).
    pub interval_ns: u64,
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
    /// Event times on a schedule instead of the clock; `None` stamps the poll's `now_ns`.
    pub event_time: Option<EventTime>,
    /// Declare `capabilities().shared_sequence`: sources of the same config but for their
    /// names (same seed, symbols, and no faults) produce the same ticks under the same `seq`s,
    /// so they are hot-hot copies of one stream that `Arbitrate` may merge.
    pub shared_sequence: bool,
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
            event_time: None,
            shared_sequence: false,
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
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `synthetic.symbols` (empty), `synthetic.rate` (0),
    /// `synthetic.burst` (0 when paced), `synthetic.trade_per_mille` (above 1000),
    /// `synthetic.tick_size`, `synthetic.start_price`, `synthetic.faults` (out of order), and,
    /// for an [`EventTime`] schedule whose last tick would be stamped past `u64::MAX`,
    /// `synthetic.event_time.interval_ns` (the spacing alone overflows) or
    /// `synthetic.event_time.start_ns`, or `synthetic.max_ticks` (an endless stream with a
    /// non-zero interval).
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
        match self.event_time {
            Some(et) => et.check(self.max_ticks),
            None => Ok(()),
        }
    }
}

impl EventTime {
    /// The event time of the last of `ticks` ticks (`None` for an endless stream).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when a timestamp would pass `u64::MAX`.
    fn check(self, ticks: Option<u64>) -> Result<(), ConfigError> {
        let Some(ticks) = ticks else {
            if self.interval_ns == 0 {
                return Ok(());
            }
            return Err(ConfigError::new(
                "synthetic.max_ticks",
                format!(
                    "an endless stream with event_time.interval_ns {} would be stamped past \
                     u64::MAX; set max_ticks",
                    self.interval_ns
                ),
            ));
        };
        let steps = ticks.saturating_sub(1);
        let Some(span) = steps.checked_mul(self.interval_ns) else {
            return Err(ConfigError::new(
                "synthetic.event_time.interval_ns",
                format!(
                    "{} ticks {} ns apart span more than u64::MAX ns",
                    ticks, self.interval_ns
                ),
            ));
        };
        if self.start_ns.checked_add(span).is_none() {
            return Err(ConfigError::new(
                "synthetic.event_time.start_ns",
                format!(
                    "{} + {steps} × {} ns passes u64::MAX ({}): tick {ticks} would have no \
                     event time; at most {} here",
                    self.start_ns,
                    self.interval_ns,
                    u64::MAX,
                    u64::MAX - span
                ),
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
    /// Name, symbols, health and capabilities (from the configuration); the table its
    /// symbols are interned in. The status comes from `mode`.
    core: SourceCore,
    cfg: SyntheticConfig,
    rng: Rng,
    syms: Vec<SymbolState>,
    /// Symbols unsubscribed, kept so that a later subscribe continues their walk.
    parked: Vec<SymbolState>,
    next_sym: usize,
    seq: u32,
    pacer: Option<Pacer>,
    mode: Mode,
    next_fault: usize,
    lo: i64,
    hi: i64,
    /// `trade_per_mille` scaled to 16 random bits.
    trade_threshold: u64,
    /// Event time of the next tick on the [`EventTime`] schedule.
    next_event_ns: u64,
    /// `now_ns` at `start`: pacing counts from here.
    started_ns: u64,
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
        let capabilities = Capabilities {
            trades: cfg.trade_per_mille > 0,
            quotes: cfg.trade_per_mille < 1000,
            replay: false,
            request_based: false,
            max_rate: cfg.rate,
            staleness_bound: cfg.staleness_bound,
            shared_sequence: cfg.shared_sequence,
            queued: false,
        };
        Ok(SyntheticSource {
            core: SourceCore::new(cfg.name.clone(), &cfg.symbols, capabilities)
                .with_symbol_table(table),
            rng: Rng(cfg.seed),
            syms,
            parked: Vec::new(),
            next_sym: 0,
            seq: 0,
            pacer,
            mode: Mode::Idle,
            next_fault: 0,
            lo,
            hi,
            trade_threshold: cfg.trade_per_mille as u64 * 65_536 / 1_000,
            next_event_ns: cfg.event_time.map_or(0, |et| et.start_ns),
            started_ns: 0,
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
            if f.at_tick > self.core.health.produced {
                break;
            }
            self.next_fault += 1;
            match f.kind {
                FaultKind::Error => {
                    self.core.health.errors += 1;
                    return Err(SourceError::Failed {
                        source_name: self.cfg.name.clone(),
                        reason: format!("injected error at tick {}", f.at_tick),
                    });
                }
                FaultKind::Fail => {
                    self.mode = Mode::Dead;
                    self.core.health.errors += 1;
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
                    self.core.health.errors += 1;
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
        self.cfg.faults.get(self.next_fault).map_or(u64::MAX, |f| {
            f.at_tick.saturating_sub(self.core.health.produced)
        })
    }
}

impl TickSource for SyntheticSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        if self.mode == Mode::Idle {
            self.mode = Mode::Running;
            self.core.health.last_tick_ns = Some(now_ns);
            self.started_ns = now_ns;
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
                self.core.health.errors += 1;
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
                    self.core.health.reconnects += 1;
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
            let left = max.saturating_sub(self.core.health.produced);
            if left == 0 {
                self.mode = Mode::Ended;
                return Ok(SourcePoll::Ended);
            }
            n = n.min(left);
        }
        if let Some(p) = self.pacer.as_mut() {
            // The pacer's time counts from the start: its fixed-point clock spans ~9 years, so
            // absolute readings (epoch ns) would saturate it. Before the start is time 0.
            n = p.take_up_to(now_ns.saturating_sub(self.started_ns), n);
        }
        if n == 0 || self.syms.is_empty() {
            return Ok(SourcePoll::Pending);
        }
        for slot in &mut out[..n as usize] {
            *slot = self.gen(now_ns);
        }
        if let Some(et) = self.cfg.event_time {
            // `validate` made sure every tick's time fits; only the time after the last tick
            // (never used) could pass u64::MAX.
            for t in &mut out[..n as usize] {
                t.ts_event = self.next_event_ns;
                t.ts_recv = self.next_event_ns;
                self.next_event_ns = self.next_event_ns.saturating_add(et.interval_ns);
            }
        }
        self.core.produced(n as usize, now_ns);
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

    /// Adds each symbol not produced yet to the round-robin (a symbol unsubscribed earlier
    /// continues its walk where it stopped; a new one starts near `start_price`), from the
    /// next poll.
    ///
    /// # Errors
    /// An id its table never issued ([`SourceError::Config`] on `synthetic.symbols`); then
    /// nothing is added.
    fn subscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.add_symbols(symbols)
    }

    /// Takes each symbol out of the round-robin from the next poll (its walk is kept for a
    /// later subscribe). With none left, polls are `Pending`. Never fails.
    fn unsubscribe(&mut self, symbols: &[SymbolId]) -> Result<(), SourceError> {
        self.remove_symbols(symbols);
        Ok(())
    }
}

mod subscribe;
#[cfg(test)]
mod tests;
