//! `ReplaySource`: replays a memory-mapped tick file as a [`TickSource`].
//!
//! Pacing is computed against the start, never accumulated: at `now_ns` the records due are
//! those with `ts_event ≤ first_event + (now_ns − start_ns) × speed`, so polling often or rarely
//! gives the same stream and no drift builds up. Records come out in file order.
//!
//! Time arithmetic is total: pacing targets beyond `u64::MAX` mean "everything is due", event
//! times that go backwards are due at once, and a further loop whose shifted times would pass
//! `u64::MAX` is not played: the replay fails with a data error saying which loop, instead of
//! saturating every later timestamp.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;

use crate::error::{ConfigError, DataError, DataErrorKind, DataLocation, SourceError};
use crate::file::TickFile;
use crate::source::{
    poll_via_scratch, Capabilities, SourceCore, SourcePoll, SourceStatus, TickSlots, TickSource,
};
use crate::symbol::{SymbolId, SymbolTable};
use crate::tick::{flags, Tick};

/// How fast event time runs against the clock.
///
/// The default, everywhere — [`ReplayConfig::default`] and a `replay` provider with no
/// `speed` — is [`AsFastAsPossible`](ReplaySpeed::AsFastAsPossible): replays are for tests,
/// backfills and benchmarks first; ask for `speed = 1` ([`ReplaySpeed::REALTIME`]) to pace at
/// the recorded rate.
///
/// ```
/// use market_data_pipeline::{ReplayConfig, ReplaySpeed};
/// assert_eq!(ReplaySpeed::default(), ReplaySpeed::AsFastAsPossible);
/// assert_eq!(ReplayConfig::default().speed, ReplaySpeed::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplaySpeed {
    /// No pacing: every poll fills the buffer. The default.
    #[default]
    AsFastAsPossible,
    /// Event time advances `num / den` ns per clock ns (1/1 is real time, 2/1 twice as fast).
    Scaled {
        /// Numerator.
        num: NonZeroU32,
        /// Denominator.
        den: NonZeroU32,
    },
}

impl ReplaySpeed {
    /// Real time (1×).
    pub const REALTIME: ReplaySpeed = ReplaySpeed::Scaled {
        num: NonZeroU32::MIN,
        den: NonZeroU32::MIN,
    };

    /// `n` times real time.
    pub const fn times(n: NonZeroU32) -> ReplaySpeed {
        ReplaySpeed::Scaled {
            num: n,
            den: NonZeroU32::MIN,
        }
    }

    /// Event time reached `elapsed_ns` of clock time after `first_event`.
    #[inline]
    fn target(self, first_event: u64, elapsed_ns: u64) -> u64 {
        match self {
            ReplaySpeed::AsFastAsPossible => u64::MAX,
            ReplaySpeed::Scaled { num, den } => {
                let ahead = elapsed_ns as u128 * num.get() as u128 / den.get() as u128;
                first_event.saturating_add(u64::try_from(ahead).unwrap_or(u64::MAX))
            }
        }
    }
}

/// How many times the file is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Once.
    Once,
    /// This many times in all.
    Times(NonZeroU32),
    /// Until closed.
    Forever,
}

/// Configuration of a [`ReplaySource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Source name (errors, stats).
    pub name: String,
    /// Pacing.
    pub speed: ReplaySpeed,
    /// Only these symbols (empty: all symbols of the file).
    pub symbols: Vec<String>,
    /// Only records with `ts_event ≥ from_ns` (file event time).
    pub from_ns: Option<u64>,
    /// Only records with `ts_event < until_ns` (file event time).
    pub until_ns: Option<u64>,
    /// Looping. Each further loop shifts event times by the loop's span plus `loop_gap_ns`, and
    /// sequence numbers by the loop's sequence span, so both keep increasing. A loop whose
    /// shifted times would pass `u64::MAX` ends the replay with an error.
    pub repeat: Repeat,
    /// Event-time gap between the last record of a loop and the first of the next.
    pub loop_gap_ns: u64,
    /// `true` (default): `ts_recv = now_ns` and [`flags::REPLAYED`] set. `false`: ticks are
    /// the file's records unchanged (apart from symbol remapping and loop shifts).
    pub stamp_recv: bool,
}

impl Default for ReplayConfig {
    fn default() -> ReplayConfig {
        ReplayConfig {
            name: "replay".to_string(),
            speed: ReplaySpeed::default(),
            symbols: Vec::new(),
            from_ns: None,
            until_ns: None,
            repeat: Repeat::Once,
            loop_gap_ns: 1_000_000,
            stamp_recv: true,
        }
    }
}

/// Records skipped by the filters in one poll before it returns (keeps `poll` short; checked
/// per block, so a poll may skip up to a block more).
const SKIP_BUDGET: u32 = 64 * 1024;

/// Records decoded ahead per block when pacing may end a poll early (the rest is decoded
/// again by a later poll).
const PACED_BLOCK: usize = 64;

/// Range of event times and sequence numbers seen in one loop (file values, unshifted), and
/// the latest receive time.
#[derive(Clone, Copy, Debug)]
struct LoopSpan {
    ts: (u64, u64),
    seq: (u32, u32),
    recv_max: u64,
}

impl LoopSpan {
    fn of(t: &Tick) -> LoopSpan {
        LoopSpan {
            ts: (t.ts_event, t.ts_event),
            seq: (t.seq, t.seq),
            recv_max: t.ts_recv,
        }
    }
    fn add(&mut self, t: &Tick) {
        self.ts = (self.ts.0.min(t.ts_event), self.ts.1.max(t.ts_event));
        self.seq = (self.seq.0.min(t.seq), self.seq.1.max(t.seq));
        self.recv_max = self.recv_max.max(t.ts_recv);
    }
}

/// Replays a tick file. See the [module docs](self).
///
/// ```
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use market_data_pipeline::{
///     Clock, ManualClock, Price, ReplayConfig, ReplaySource, ReplaySpeed, SourcePoll,
///     SymbolTable, Tick, TickFileWriter, TickSource,
/// };
/// let dir = std::env::temp_dir().join(format!("mdp-replay-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("doc.ticks");
/// let table = Arc::new(SymbolTable::new());
/// let es = table.intern("ES").unwrap();
/// let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
/// for s in 1..=4u64 {
///     w.write(&Tick::trade(es, s * 1_000_000_000, Price::from_units(5000), 1)).unwrap();
/// }
/// w.finish().unwrap();
///
/// let config = ReplayConfig {
///     speed: ReplaySpeed::times(NonZeroU32::new(2).unwrap()),
///     ..ReplayConfig::default()
/// };
/// let mut replay = ReplaySource::open(&path, table, config).unwrap();
/// let clock = ManualClock::new(0);
/// replay.start(clock.now_ns()).unwrap();
/// clock.advance_ns(1_000_000_000); // 1 s of clock = 2 s of event time at 2×
/// let mut out = [Tick::default(); 16];
/// assert_eq!(replay.poll(clock.now_ns(), &mut out).unwrap(), SourcePoll::Ready(3));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct ReplaySource {
    /// Name, the selected symbols, state, health; the table its symbols are interned in.
    core: SourceCore,
    config: ReplayConfig,
    file: TickFile,
    /// Pipeline id of each file symbol, by position in the file's symbol table.
    remap: Vec<SymbolId>,
    /// Whether each file symbol passes the filter, by position.
    selected: Vec<bool>,
    /// Every record passes the filters (no symbol or time filter): blocks go out whole.
    all_pass: bool,
    /// The pipeline ids are the file ids (`remap` is the identity): no remapping per tick.
    same_ids: bool,
    error: Option<SourceError>,
    next: u64,
    loops_done: u32,
    start_ns: u64,
    first_event: Option<u64>,
    ts_shift: u64,
    seq_shift: u32,
    span: Option<LoopSpan>,
}

impl ReplaySource {
    /// Open the tick file at `path` and replay it into a pipeline using `table`.
    ///
    /// # Errors
    /// `Data` when the file is bad (with its path and offset), `Config` when the
    /// configuration is invalid.
    pub fn open(
        path: impl AsRef<Path>,
        table: Arc<SymbolTable>,
        config: ReplayConfig,
    ) -> Result<ReplaySource, SourceError> {
        let file = TickFile::open(path).map_err(|error| SourceError::Data {
            source_name: config.name.clone(),
            error,
        })?;
        ReplaySource::new(file, table, config)
    }

    /// Replay an already open file. The file's symbols are interned into `table` and record
    /// ids are remapped to the table's.
    ///
    /// # Errors
    /// `Config` when the range is empty, a filtered symbol is not in the file, or `table`
    /// refuses a symbol.
    pub fn new(
        file: TickFile,
        table: Arc<SymbolTable>,
        config: ReplayConfig,
    ) -> Result<ReplaySource, SourceError> {
        let cfg_err = |field: &str, reason: String| SourceError::Config {
            source_name: config.name.clone(),
            error: ConfigError::new(field, reason),
        };
        if let (Some(from), Some(until)) = (config.from_ns, config.until_ns) {
            if from >= until {
                let reason = format!("from_ns {from} is not before until_ns {until}");
                return Err(cfg_err("from_ns", reason));
            }
        }
        let names: Vec<&str> = file.symbols().iter().map(|(_, name)| name).collect();
        for want in &config.symbols {
            if !names.contains(&want.as_str()) {
                let reason = format!(
                    "{:?} is not in the file (it has {})",
                    crate::error::bounded(want),
                    crate::error::bounded_list(&names)
                );
                return Err(cfg_err("symbols", reason));
            }
        }
        let mut remap = Vec::with_capacity(names.len());
        for name in &names {
            remap.push(
                table
                    .intern(name)
                    .map_err(|e| cfg_err("symbols", e.to_string()))?,
            );
        }
        let selected: Vec<bool> = names
            .iter()
            .map(|n| config.symbols.is_empty() || config.symbols.iter().any(|w| w == n))
            .collect();
        let all_pass =
            selected.iter().all(|&s| s) && config.from_ns.is_none() && config.until_ns.is_none();
        let same_ids = file
            .symbols()
            .iter()
            .zip(&remap)
            .all(|((id, _), &to)| id == to);
        let symbols: Vec<&str> = names
            .iter()
            .zip(&selected)
            .filter(|(_, &s)| s)
            .map(|(n, _)| *n)
            .collect();
        let capabilities = Capabilities {
            trades: true,
            quotes: true,
            replay: true,
            ..Capabilities::default()
        };
        Ok(ReplaySource {
            core: SourceCore::new(config.name.clone(), &symbols, capabilities)
                .with_symbol_table(table),
            config,
            file,
            remap,
            selected,
            all_pass,
            same_ids,
            error: None,
            next: 0,
            loops_done: 0,
            start_ns: 0,
            first_event: None,
            ts_shift: 0,
            seq_shift: 0,
            span: None,
        })
    }

    /// The file being replayed.
    pub fn file(&self) -> &TickFile {
        &self.file
    }

    /// Whether a decoded (so valid) record passes the symbol and time filters.
    fn passes(&self, tick: &Tick) -> bool {
        self.file
            .symbols()
            .index_of(tick.symbol)
            .is_some_and(|si| self.selected[si])
            && self.config.from_ns.is_none_or(|f| tick.ts_event >= f)
            && self.config.until_ns.is_none_or(|u| tick.ts_event < u)
    }

    /// The replay failed on bad data: the error is reported from now on.
    fn fail(&mut self, error: DataError) {
        self.core.status = SourceStatus::Failed;
        self.core.health.errors += 1;
        self.error = Some(SourceError::Data {
            source_name: self.config.name.clone(),
            error,
        });
    }

    /// Widen this loop's span by `ticks` (file values, before any shift). Only a further loop
    /// uses it.
    #[inline]
    fn note_span(&mut self, ticks: &[Tick]) {
        if self.config.repeat == Repeat::Once {
            return;
        }
        let Some((first, rest)) = ticks.split_first() else {
            return;
        };
        let span = self.span.get_or_insert_with(|| LoopSpan::of(first));
        span.add(first);
        for t in rest {
            span.add(t);
        }
    }

    /// At the end of the file: start another loop (`Ok(true)`) or end.
    ///
    /// # Errors
    ///
    /// A data error when the next loop's shifted event (or kept receive) times would pass
    /// `u64::MAX`.
    fn next_loop(&mut self) -> Result<bool, DataError> {
        self.loops_done += 1;
        let more = match self.config.repeat {
            Repeat::Once => false,
            Repeat::Times(n) => self.loops_done < n.get(),
            Repeat::Forever => true,
        };
        // A loop that produced nothing would produce nothing again: end instead of spinning.
        let Some(span) = self.span.take().filter(|_| more) else {
            return Ok(false);
        };
        // Every time of the next loop is a file time plus the new shift: the largest must fit.
        let latest = if self.config.stamp_recv {
            span.ts.1
        } else {
            span.ts.1.max(span.recv_max)
        };
        let shift = (span.ts.1 - span.ts.0)
            .checked_add(self.config.loop_gap_ns)
            .and_then(|step| step.checked_add(self.ts_shift))
            .filter(|&shift| latest.checked_add(shift).is_some());
        let Some(shift) = shift else {
            let reason = format!(
                "loop {} would shift event times past u64::MAX (the file spans {}..={} ns, \
                 loop_gap_ns {}, shift so far {} ns); replayed {} loops",
                self.loops_done + 1,
                span.ts.0,
                latest,
                self.config.loop_gap_ns,
                self.ts_shift,
                self.loops_done
            );
            let kind = DataErrorKind::BadField {
                field: "ts_event".into(),
                reason,
            };
            let error = DataError::new(DataLocation::Unknown, kind);
            return Err(match self.file.path() {
                Some(path) => error.in_file(path),
                None => error,
            });
        };
        self.ts_shift = shift;
        let seq_step = span.seq.1.wrapping_sub(span.seq.0).wrapping_add(1);
        self.seq_shift = self.seq_shift.wrapping_add(seq_step);
        self.next = 0;
        Ok(true)
    }

    /// Turn a file record into the tick delivered: pipeline symbol id, loop shifts, receive
    /// stamp.
    #[inline]
    fn stamp(&self, tick: &mut Tick, now_ns: u64) {
        if !self.same_ids {
            if let Some(si) = self.file.symbols().index_of(tick.symbol) {
                tick.symbol = self.remap[si];
            }
        }
        // `next_loop` checked that the shift fits every time of this loop (the first loop is
        // unshifted).
        tick.ts_event = tick.ts_event.saturating_add(self.ts_shift);
        tick.seq = tick.seq.wrapping_add(self.seq_shift);
        if self.config.stamp_recv {
            tick.ts_recv = now_ns;
            tick.flags |= flags::REPLAYED;
        } else {
            tick.ts_recv = tick.ts_recv.saturating_add(self.ts_shift);
        }
    }

    /// Fill `out` with the records due at `now_ns`, block by block: each block is decoded and
    /// validated in one pass straight into `out` ([`TickFile::decode_into`]); with no filter
    /// and no pacing the whole block is delivered (span, stamps: plain loops over the block),
    /// otherwise it is filtered and paced tick by tick and compacted in place.
    fn fill(&mut self, now_ns: u64, out: &mut [Tick]) -> usize {
        let elapsed = now_ns.saturating_sub(self.start_ns);
        let paced = self.config.speed != ReplaySpeed::AsFastAsPossible;
        let mut target = self
            .first_event
            .map(|f| self.config.speed.target(f, elapsed));
        let mut n = 0;
        let mut skipped = 0;
        while n < out.len() && skipped < SKIP_BUDGET {
            let want = if paced {
                (out.len() - n).min(PACED_BLOCK)
            } else {
                out.len() - n
            };
            let got = self.file.decode_into(self.next, &mut out[n..n + want]);
            if got == 0 {
                // `decode_into` stops only at a bad record or at the end of the file.
                if !self.end_of_block() {
                    break;
                }
                continue;
            }
            if self.all_pass && !paced {
                let block = &mut out[n..n + got];
                self.first_event.get_or_insert(block[0].ts_event);
                self.note_span(block);
                for tick in block.iter_mut() {
                    self.stamp(tick, now_ns);
                }
                n += got;
                self.next += got as u64;
                continue;
            }
            let mut not_due = false;
            let (from, to) = (n, n + got);
            for at in from..to {
                let mut tick = out[at];
                if !self.passes(&tick) {
                    self.next += 1;
                    skipped += 1;
                    continue;
                }
                let first = *self.first_event.get_or_insert(tick.ts_event);
                let due = *target.get_or_insert_with(|| self.config.speed.target(first, elapsed));
                if tick.ts_event.saturating_add(self.ts_shift) > due {
                    not_due = true;
                    break;
                }
                self.note_span(std::slice::from_ref(&tick));
                self.stamp(&mut tick, now_ns);
                // `n ≤ at`: compacting in place never overwrites a record not yet read.
                out[n] = tick;
                n += 1;
                self.next += 1;
            }
            if not_due {
                break;
            }
        }
        n
    }

    /// What a poll returns without reading the file: `Ended` once closed or ended, the
    /// failure once failed, `NotRunning` before `start`. `None` while running.
    fn not_running(&self) -> Option<Result<SourcePoll, SourceError>> {
        if self.core.status == SourceStatus::Closed {
            return Some(Ok(SourcePoll::Ended));
        }
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        match self.core.status {
            SourceStatus::Running => None,
            SourceStatus::Ended => Some(Ok(SourcePoll::Ended)),
            other => Some(Err(SourceError::NotRunning {
                source_name: self.config.name.clone(),
                state: other.as_str(),
            })),
        }
    }

    /// The outcome of a poll that delivered `n` ticks.
    fn polled(&mut self, n: usize, now_ns: u64) -> Result<SourcePoll, SourceError> {
        if n > 0 {
            self.core.produced(n, now_ns);
            return Ok(SourcePoll::Ready(n));
        }
        match (&self.error, self.core.status) {
            (Some(e), _) => Err(e.clone()),
            (None, SourceStatus::Ended) => Ok(SourcePoll::Ended),
            _ => Ok(SourcePoll::Pending),
        }
    }

    /// [`fill`](Self::fill)'s unfiltered, unpaced path straight into a ring's free slots:
    /// each record is decoded, checked, noted in the loop's span and stamped on its way into
    /// its slot ([`TickFile::valid_records`]). Loops and bad records end a block as in `fill`.
    fn fill_slots(&mut self, now_ns: u64, slots: &mut TickSlots<'_>) -> usize {
        let track = self.config.repeat != Repeat::Once;
        let mut n = 0;
        while slots.capacity() > 0 {
            if self.first_event.is_none() {
                if let Some(Ok(first)) = self.file.record(self.next) {
                    self.first_event = Some(first.ts_event);
                }
            }
            let (next, cap) = (self.next, slots.capacity());
            let plain = self.ts_shift == 0 && self.seq_shift == 0;
            let got = if !track && plain && self.same_ids && self.config.stamp_recv {
                // The common case (one pass, the file's ids, stamped now): the least work per
                // record, in a loop the compiler keeps in registers.
                slots.fill(self.file.valid_records_with(next, cap, |tick| {
                    tick.ts_recv = now_ns;
                    tick.flags |= flags::REPLAYED;
                }))
            } else {
                let mut span = self.span.take();
                let this = &*self;
                let got = slots.fill(this.file.valid_records_with(next, cap, |tick| {
                    if track {
                        match &mut span {
                            Some(s) => s.add(tick),
                            None => span = Some(LoopSpan::of(tick)),
                        }
                    }
                    this.stamp(tick, now_ns);
                }));
                self.span = span;
                got
            };
            if got == 0 {
                if !self.end_of_block() {
                    break;
                }
                continue;
            }
            n += got;
            self.next += got as u64;
        }
        n
    }

    /// Nothing more could be read at `next`: a bad record fails the replay, the end of the
    /// file starts the next loop (`true`: read on) or ends the replay.
    fn end_of_block(&mut self) -> bool {
        if let Some(Err(error)) = self.file.record(self.next) {
            self.fail(error);
            return false;
        }
        match self.next_loop() {
            Ok(true) => true,
            Ok(false) => {
                self.core.status = SourceStatus::Ended;
                false
            }
            Err(error) => {
                self.fail(error);
                false
            }
        }
    }
}

impl TickSource for ReplaySource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        if self.core.status != SourceStatus::Idle {
            return Err(SourceError::NotRunning {
                source_name: self.config.name.clone(),
                state: self.core.status.as_str(),
            });
        }
        self.start_ns = now_ns;
        self.core.status = SourceStatus::Running;
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if let Some(done) = self.not_running() {
            return done;
        }
        let n = self.fill(now_ns, out);
        self.polled(n, now_ns)
    }

    /// With no filter and no pacing, each record is decoded, checked and stamped on its way
    /// into its slot (one write per tick, no buffer between); otherwise through `scratch`.
    fn poll_into(
        &mut self,
        now_ns: u64,
        scratch: &mut [Tick],
        slots: &mut TickSlots<'_>,
    ) -> Result<SourcePoll, SourceError> {
        if !self.all_pass || self.config.speed != ReplaySpeed::AsFastAsPossible {
            return poll_via_scratch(self, now_ns, scratch, slots);
        }
        if let Some(done) = self.not_running() {
            return done;
        }
        let n = self.fill_slots(now_ns, slots);
        self.polled(n, now_ns)
    }

    fn close(&mut self) {
        self.core.status = SourceStatus::Closed;
    }
}
