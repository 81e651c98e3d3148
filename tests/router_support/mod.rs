//! Helpers shared by the router tests: fake sources and a manual-clock harness.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use market_data_pipeline::clock::SharedClock;
use market_data_pipeline::error::SourceError;
use market_data_pipeline::fanout::{FanoutHub, HubConfig, SubscriberConfig};
use market_data_pipeline::router::{RouterConfig, SourceRouter, SwitchReason, SwitchRecord};
use market_data_pipeline::source::{
    Capabilities, Fault, FaultKind, SourceCore, SourcePoll, SourceStatus, SyntheticConfig,
    SyntheticSource, TickSource,
};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{ManualClock, SymbolTable, Tick};

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;
/// The harness clock starts here (not at 0, so "never" and "at start" differ).
pub const T0: u64 = SEC;

/// An unpaced synthetic source over AAPL, writing `id` into `Tick::source`.
pub fn synth(name: &str, id: u16, faults: Vec<Fault>) -> Box<dyn TickSource> {
    synth_cfg(name, id, faults, None)
}

/// As [`synth`], declaring a staleness bound.
pub fn synth_stale(
    name: &str,
    id: u16,
    faults: Vec<Fault>,
    bound: Duration,
) -> Box<dyn TickSource> {
    synth_cfg(name, id, faults, Some(bound))
}

fn synth_cfg(
    name: &str,
    id: u16,
    faults: Vec<Fault>,
    bound: Option<Duration>,
) -> Box<dyn TickSource> {
    let cfg = SyntheticConfig {
        name: name.to_string(),
        source_id: id,
        faults,
        staleness_bound: bound,
        ..SyntheticConfig::new(&["AAPL"])
    };
    Box::new(SyntheticSource::new(cfg, Arc::new(SymbolTable::new())).unwrap())
}

pub fn fault(at_tick: u64, kind: FaultKind) -> Fault {
    Fault { at_tick, kind }
}

/// A feed of one sequenced stream that carries only the sequence numbers in `seqs` (hot-hot
/// redundant copies of a venue feed miss different ticks). The stream advances in time: poll
/// `k` releases the carried seqs up to `pattern[0] + … + pattern[k]`, so feeds with different
/// patterns run a bounded distance apart. `ts_event = now − lag`.
#[derive(Debug, Clone)]
pub struct SeqFeed {
    core: SourceCore,
    id: u16,
    seqs: Vec<u32>,
    pos: usize,
    upto: u64,
    pattern: Vec<u32>,
    k: usize,
    lag: Arc<AtomicU64>,
}

impl SeqFeed {
    /// Releases `step` stream positions a poll.
    pub fn new(name: &str, id: u16, seqs: Vec<u32>, step: u32) -> SeqFeed {
        let capabilities = Capabilities {
            trades: true,
            shared_sequence: true,
            ..Capabilities::default()
        };
        SeqFeed {
            core: SourceCore::new(name, &[] as &[&str], capabilities),
            id,
            seqs,
            pos: 0,
            upto: 0,
            pattern: vec![step],
            k: 0,
            lag: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Release `pattern[k % len]` positions at poll `k`.
    pub fn pattern(mut self, pattern: Vec<u32>) -> SeqFeed {
        self.pattern = pattern;
        self
    }

    /// Feed latency (`ts_recv − ts_event`), changeable while the router runs.
    pub fn lag(self, lag: Arc<AtomicU64>) -> SeqFeed {
        SeqFeed { lag, ..self }
    }

    /// Declare every poll a request against a provider budget.
    pub fn request_based(mut self) -> SeqFeed {
        self.core.capabilities.request_based = true;
        self
    }

    /// An endless-enough feed: seqs 1..=n.
    pub fn all(name: &str, id: u16, n: u32, step: u32) -> SeqFeed {
        SeqFeed::new(name, id, (1..=n).collect(), step)
    }
}

impl TickSource for SeqFeed {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }
    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.core.status = SourceStatus::Running;
        Ok(())
    }
    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if self.pos == self.seqs.len() {
            self.core.status = SourceStatus::Ended;
            return Ok(SourcePoll::Ended);
        }
        self.upto += u64::from(self.pattern[self.k % self.pattern.len()]);
        self.k += 1;
        // Relaxed: the lag is the only datum shared with the test thread.
        let lag = self.lag.load(Ordering::Relaxed);
        let mut n = 0;
        while n < out.len()
            && self.pos < self.seqs.len()
            && u64::from(self.seqs[self.pos]) <= self.upto
        {
            out[n] = Tick {
                seq: self.seqs[self.pos],
                source: self.id,
                ts_event: now_ns.saturating_sub(lag),
                ts_recv: now_ns,
                ..Tick::default()
            };
            n += 1;
            self.pos += 1;
        }
        if n == 0 {
            return Ok(SourcePoll::Pending);
        }
        self.core.produced(n, now_ns);
        Ok(SourcePoll::Ready(n))
    }
    fn close(&mut self) {
        self.core.status = SourceStatus::Closed;
    }
}

/// Feeds "a" (id 1) and "b" (id 2), `SeqFeed::all` releasing `step` seqs a poll, each run by
/// a fan-out hub (stepped by the caller, kept alive by it: a dropped hub ends its subscribers),
/// and a subscriber of each taking every symbol, for a router.
pub fn hubbed_feeds(clock: &SharedClock, step: u32) -> (Vec<FanoutHub>, Vec<Box<dyn TickSource>>) {
    let mut hubs = Vec::new();
    let mut subs: Vec<Box<dyn TickSource>> = Vec::new();
    for (name, id) in [("a", 1), ("b", 2)] {
        let feed = SeqFeed::all(name, id, 1_000_000, step);
        let hub = FanoutHub::new(Box::new(feed), HubConfig::default(), clock.clone()).unwrap();
        subs.push(Box::new(
            hub.handle().subscribe(SubscriberConfig::all()).unwrap(),
        ));
        hubs.push(hub);
    }
    (hubs, subs)
}

/// A router driven by a manual clock, collecting what it delivers.
pub struct Run {
    pub clock: Arc<ManualClock>,
    pub router: SourceRouter,
    pub got: Vec<Tick>,
    pub buf: Vec<Tick>,
    /// The ticks of the last poll.
    pub last: Vec<Tick>,
}

impl Run {
    /// A started router over `sources` polled with a `chunk`-tick buffer.
    pub fn new(sources: Vec<Box<dyn TickSource>>, cfg: RouterConfig, chunk: usize) -> Run {
        let clock = ManualClock::shared(T0);
        let mut router = SourceRouter::with_config(sources, cfg, clock.clone()).unwrap();
        router.start(T0).unwrap();
        Run {
            clock,
            router,
            got: Vec::new(),
            buf: vec![Tick::default(); chunk],
            last: Vec::new(),
        }
    }

    pub fn now(&self) -> u64 {
        use market_data_pipeline::Clock;
        self.clock.now_ns()
    }

    /// One poll at the current time.
    pub fn poll(&mut self) -> SourcePoll {
        let now = self.now();
        let r = self.router.poll(now, &mut self.buf).unwrap();
        self.last.clear();
        if let SourcePoll::Ready(n) = r {
            self.last.extend_from_slice(&self.buf[..n]);
            self.got.extend_from_slice(&self.buf[..n]);
        }
        r
    }

    /// `n` polls at the current time.
    pub fn polls(&mut self, n: usize) {
        for _ in 0..n {
            self.poll();
        }
    }

    pub fn advance_ns(&self, ns: u64) {
        self.clock.advance_ns(ns);
    }

    /// The source ids of the last poll's ticks (one entry per distinct id, in order).
    pub fn last_sources(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.last.iter().map(|t| t.source).collect();
        v.dedup();
        v
    }

    pub fn switches(&self) -> Vec<SwitchRecord> {
        self.router.stats().switches
    }

    /// Switch record `i` went `from` → `to` for `why` at `at_ns` ("-" for none).
    pub fn assert_switch(&self, i: usize, (from, to, why): (&str, &str, SwitchReason), at_ns: u64) {
        let sw = self.switches();
        assert_eq!(
            route(&sw[i]),
            (from.to_string(), to.to_string(), why),
            "switch {i}"
        );
        assert_eq!(sw[i].at_ns, at_ns, "switch {i} time");
    }

    pub fn reasons(&self) -> Vec<SwitchReason> {
        self.switches().iter().map(|r| r.reason).collect()
    }
}

/// `(from, to, reason)` of a record, names as `&str` ("-" for none).
pub fn route(r: &SwitchRecord) -> (String, String, SwitchReason) {
    let n = |x: &Option<Arc<str>>| x.as_deref().unwrap_or("-").to_string();
    (n(&r.from), n(&r.to), r.reason)
}

/// Per source id: the delivered seqs are strictly increasing (nothing twice) and, when
/// `contiguous`, without holes (nothing lost: the source was never restarted or skipped).
pub fn assert_each_source_in_order(ticks: &[Tick], contiguous: bool) {
    let mut last: HashMap<u16, u32> = HashMap::new();
    for (i, t) in ticks.iter().enumerate() {
        if let Some(&p) = last.get(&t.source) {
            assert!(
                t.seq > p,
                "tick {i}: source {} seq {} after {p}",
                t.source,
                t.seq
            );
            if contiguous {
                assert_eq!(
                    t.seq,
                    p + 1,
                    "tick {i}: source {} skipped from {p}",
                    t.source
                );
            }
        } else if contiguous {
            assert_eq!(t.seq, 1, "tick {i}: source {} did not start at 1", t.source);
        }
        last.insert(t.source, t.seq);
    }
}

/// Every tick whose source differs from the previous tick's carries `FIRST_AFTER_SWITCH`,
/// and the number of flagged ticks is at most the number of switches.
pub fn assert_switches_flagged(ticks: &[Tick], switches_total: u64) {
    let mut flagged = 0u64;
    for (i, t) in ticks.iter().enumerate() {
        let f = t.flags & flags::FIRST_AFTER_SWITCH != 0;
        if i > 0 && t.source != ticks[i - 1].source {
            assert!(f, "tick {i}: source changed without FIRST_AFTER_SWITCH");
        }
        flagged += u64::from(f);
    }
    assert!(
        flagged <= switches_total,
        "{flagged} flagged ticks, {switches_total} switches"
    );
}
