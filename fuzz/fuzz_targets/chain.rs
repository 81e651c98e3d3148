//! The whole processing chain on arbitrary ticks and configurations: operators (symbol filter,
//! dedupe, conflation, passthrough, in an order the input picks, then optionally bars) →
//! batcher → sink, with times, sizes and sequence numbers at their extremes. Invalid
//! configurations must be refused with an error naming the field; valid ones must terminate
//! (libFuzzer's timeout catches a hang), never panic, and conserve every tick: each stage's
//! input is its output plus what it counted as filtered, duplicate, conflated or late; the
//! batcher's input is what the sink took plus what is buffered or was rejected.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use market_data_pipeline::{
    BarConfig, BarOperator, CallbackSink, Conflate, CountingSink, Dedupe, HybridBatcher,
    NullSink, Operator, OperatorStats, Passthrough, Price, Record, Sink, SinkError,
    SymbolFilter, SymbolId, Tick, TickKind,
};

/// Reads the input front to back; past its end every read is 0.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| acc << 8 | u64::from(self.u8()))
    }

    /// Mostly values at or near the edges, sometimes anything.
    fn extreme(&mut self, prev: u64, max: u64) -> u64 {
        match self.u8() % 10 {
            0 => 0,
            1 => 1,
            2 => max - 1,
            3 => max,
            4 => prev.saturating_add(u64::from(self.u8())).min(max),
            5 => prev.saturating_sub(u64::from(self.u8())),
            6 => prev.saturating_add(self.u64() >> (self.u8() % 64)).min(max),
            7 => prev.saturating_sub(self.u64() >> (self.u8() % 64)),
            8 => prev,
            _ => self.u64() % max.saturating_add(1).max(1),
        }
    }

    fn tick(&mut self, prev: &Tick) -> Tick {
        let kind = match self.u8() % 3 {
            0 => TickKind::Trade,
            1 => TickKind::Quote,
            _ => TickKind::Both,
        };
        // The highest dense id costs per-symbol state for a million ids: one byte value of
        // 256 (not 0, which every read past the end returns), so the run spends its time on
        // the other cases too.
        let symbol = match self.u8() {
            255 => (1 << 20) - 1,
            254 => 1 << 20,
            253 => u32::MAX,
            s => u32::from(s % 8),
        };
        let price = |x: u64| Price(x as i64);
        Tick {
            ts_event: self.extreme(prev.ts_event, u64::MAX),
            ts_recv: self.extreme(prev.ts_recv, u64::MAX),
            price: price(self.extreme(prev.price.0 as u64, u64::MAX)),
            bid: price(self.extreme(prev.bid.0 as u64, u64::MAX)),
            ask: price(self.extreme(prev.ask.0 as u64, u64::MAX)),
            seq: self.extreme(u64::from(prev.seq), u64::from(u32::MAX)) as u32,
            size: self.extreme(u64::from(prev.size), u64::from(u32::MAX)) as u32,
            bid_size: self.u8().into(),
            ask_size: self.u8().into(),
            symbol: SymbolId(symbol),
            source: match self.u8() {
                255 => u16::MAX,
                s => u16::from(s % 4),
            },
            kind,
            flags: self.u8(),
        }
    }

    fn duration(&mut self) -> Duration {
        match self.u8() % 6 {
            0 => Duration::ZERO,
            1 => Duration::from_nanos(1),
            2 => Duration::from_nanos(u64::MAX),
            3 => Duration::MAX,
            4 => Duration::from_nanos(u64::from(self.u8()) + 1),
            _ => Duration::from_nanos(self.u64()),
        }
    }
}

/// Every tick in is out or counted as removed.
fn conserved(s: &OperatorStats) -> bool {
    s.ticks_in == s.records_out + s.filtered + s.duplicates + s.conflated + s.late
}

fn ticks_of(records: &[Record]) -> Vec<Tick> {
    records
        .iter()
        .map(|r| match r {
            Record::Tick(t) => *t,
            Record::Bar(b) => panic!("a tick operator emitted a bar: {b:?}"),
        })
        .collect()
}

/// One tick operator of the chain, built from the input; `None` when the input picked an
/// invalid configuration (checked to be refused).
fn tick_operator(input: &mut Input) -> Option<Box<dyn Operator>> {
    Some(match input.u8() % 4 {
        0 => {
            let allow: Vec<SymbolId> = (0..input.u8() % 4)
                .map(|_| SymbolId(input.extreme(0, u64::from(u32::MAX)) as u32))
                .collect();
            match SymbolFilter::new(&allow) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    assert!(e.to_string().contains("symbol_filter.allow"), "{e}");
                    return None;
                }
            }
        }
        1 => Box::new(Dedupe::with_sources(u16::from(input.u8() % 4))),
        2 => Box::new(Conflate::with_symbols(usize::from(input.u8() % 8))),
        _ => Box::new(Passthrough::new()),
    })
}

fn bar_operator(input: &mut Input) -> Option<BarOperator> {
    let window = input.duration();
    let lateness = input.duration();
    let idle = match input.u8() % 3 {
        0 => None,
        _ => Some(input.duration()),
    };
    let config = BarConfig::new(window, lateness).idle_close(idle);
    match BarOperator::new(config) {
        Ok(op) => Some(op),
        Err(e) => {
            let bad_window = window.is_zero() || window.as_nanos() > u128::from(u64::MAX);
            let bad_idle = idle.is_some_and(|d| d.is_zero());
            assert!(bad_window || bad_idle, "refused a valid {config:?}: {e}");
            let field = if bad_window { "bar.window" } else { "bar.idle_close" };
            assert!(e.to_string().contains(field), "{e}");
            None
        }
    }
}

fn batcher(input: &mut Input) -> Option<HybridBatcher> {
    let rows = match input.u8() % 5 {
        0 => 0,
        1 => 1,
        2 => HybridBatcher::MAX_ROWS_LIMIT + 1,
        3 => usize::MAX,
        _ => usize::from(input.u8()) * 16 + 2,
    };
    let age = input.duration();
    match HybridBatcher::new(rows, age) {
        Ok(b) => Some(b),
        Err(e) => {
            let field = if rows == 0 || rows > HybridBatcher::MAX_ROWS_LIMIT {
                "batcher.max_rows"
            } else {
                assert!(age.is_zero(), "refused rows {rows}, age {age:?}: {e}");
                "batcher.max_age"
            };
            assert!(e.to_string().contains(field), "{e}");
            None
        }
    }
}

/// A sink that refuses every `every`-th write (0: never).
fn flaky(every: u8) -> impl Sink {
    let mut writes = 0u32;
    CallbackSink::named("flaky", move |_batch: &[Record]| {
        writes += 1;
        if every != 0 && writes % u32::from(every) == 0 {
            return Err(SinkError::Closed { sink: "flaky" });
        }
        Ok(())
    })
}

/// What the bars emitted so far hold.
#[derive(Default)]
struct BarTally {
    bars: u64,
    trades: u64,
}

impl BarTally {
    fn check(&mut self, records: &[Record]) {
        for r in records {
            let Record::Bar(b) = r else {
                panic!("the bar operator emitted a tick: {r:?}")
            };
            assert!(b.start_ns <= b.end_ns, "{b:?}");
            assert!(b.low <= b.high && b.trades > 0, "{b:?}");
            self.bars += 1;
            self.trades += b.trades;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut chain = Vec::new();
    for _ in 0..input.u8() % 4 {
        match tick_operator(&mut input) {
            Some(op) => chain.push(op),
            None => return,
        }
    }
    let mut bars = match input.u8() % 2 {
        0 => None,
        _ => match bar_operator(&mut input) {
            Some(op) => Some(op),
            None => return,
        },
    };
    let Some(mut batcher) = batcher(&mut input) else {
        return;
    };
    let mut sink: Box<dyn Sink> = match input.u8() % 4 {
        0 => Box::new(CountingSink::new()),
        1 => Box::new(NullSink::new()),
        _ => Box::new(flaky(input.u8() % 4)),
    };

    let mut prev = Tick::default();
    let mut now = 0u64;
    let mut fed = 0u64;
    let mut tally = BarTally::default();
    let mut stage = Vec::new();
    let mut out = Vec::new();
    // Each step consumes at least one byte, so the input bounds the steps.
    while !input.0.is_empty() {
        now = input.extreme(now, u64::MAX);
        out.clear();
        match input.u8() % 4 {
            0 | 1 => {
                let ticks: Vec<Tick> = (0..input.u8() % 32)
                    .map(|_| {
                        prev = input.tick(&prev);
                        prev
                    })
                    .collect();
                fed += ticks.len() as u64;
                let mut ticks = ticks;
                for op in &mut chain {
                    stage.clear();
                    op.on_ticks(&ticks, &mut stage);
                    ticks = ticks_of(&stage);
                }
                match bars.as_mut() {
                    Some(b) => b.on_ticks(&ticks, &mut out),
                    None => out.extend(ticks.into_iter().map(Record::Tick)),
                }
            }
            2 => {
                if let Some(b) = bars.as_mut() {
                    b.on_idle(now, &mut out);
                }
                let _ = batcher.poll_age(now, &mut sink);
            }
            _ => {
                let _ = batcher.end_of_batch(&mut sink);
            }
        }
        if bars.is_some() {
            tally.check(&out);
        }
        let _ = batcher.push(&out, now, &mut sink);
    }
    // End of stream: everything held comes out.
    out.clear();
    for op in &mut chain {
        stage.clear();
        op.flush(&mut stage);
        assert!(stage.is_empty(), "{} held ticks across chunks", op.name());
    }
    if let Some(b) = bars.as_mut() {
        b.flush(&mut out);
        tally.check(&out);
        assert_eq!(b.open_windows(), 0);
    }
    let _ = batcher.push(&out, now, &mut sink);
    // A sink that refuses some writes is offered the buffer again until it takes it.
    for _ in 0..8 {
        if batcher.flush(&mut sink).is_ok() {
            break;
        }
    }
    let _ = sink.close();

    let mut upstream = fed;
    for op in &chain {
        let s = op.stats();
        assert!(conserved(&s), "{}: {s:?}", op.name());
        assert_eq!(s.ticks_in, upstream, "{} input", op.name());
        upstream = s.records_out;
    }
    if let Some(b) = &bars {
        let s = b.stats();
        assert_eq!(s.ticks_in, upstream, "bar input");
        assert_eq!(s.ticks_in, tally.trades + s.filtered + s.late, "bar: {s:?}");
        assert_eq!(s.records_out, tally.bars);
    }
    let s = batcher.stats();
    assert_eq!(
        s.records_in,
        s.rows + batcher.buffered() as u64 + s.rejected,
        "batcher: {s:?}"
    );
});
