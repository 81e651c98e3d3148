//! `ReplaySource` time arithmetic at the edges of event time: timestamps 0 and `u64::MAX`,
//! times going backwards, and loops whose shifted times would pass `u64::MAX` (they once
//! saturated: every later loop replayed with all its ticks at `u64::MAX`); and a replay of
//! ticks at `u64::MAX` into bars, end to end.

mod common;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TempDir;
use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::{
    BarConfig, BarOperator, CallbackSink, ManualClock, Price, Record, Repeat, ReplayConfig,
    ReplaySource, ReplaySpeed, SourceError, SourcePoll, SourceStatus, SymbolTable, Tick,
    TickFileWriter, TickSource,
};

const MAX: u64 = u64::MAX;

/// A replay of trades at `times` (event time; receive time `recv`).
fn replay(dir: &TempDir, times: &[u64], recv: u64, config: ReplayConfig) -> ReplaySource {
    let table = Arc::new(SymbolTable::new());
    let s = table.intern("ES").unwrap();
    let path = dir.path("extremes.ticks");
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    for (i, &ts) in times.iter().enumerate() {
        let mut t = Tick::trade(s, ts, Price::from_units(1), 1);
        (t.ts_recv, t.seq) = (recv, i as u32);
        w.write(&t).unwrap();
    }
    w.finish().unwrap();
    let mut src = ReplaySource::open(&path, table, config).unwrap();
    src.start(0).unwrap();
    src
}

/// Polls at `now` until the source stops producing (bounded); the event times it produced
/// and how it stopped.
fn drain(src: &mut ReplaySource, now: u64) -> (Vec<u64>, Result<SourcePoll, SourceError>) {
    let mut out = [Tick::default(); 4];
    let mut got = Vec::new();
    for _ in 0..1_000 {
        match src.poll(now, &mut out) {
            Ok(SourcePoll::Ready(n)) => got.extend(out[..n].iter().map(|t| t.ts_event)),
            other => return (got, other),
        }
    }
    panic!("still producing after 1000 polls: {} ticks", got.len());
}

#[test]
fn regression_loops_past_u64_max_saturated_every_later_timestamp() {
    let dir = TempDir::new("replay-extremes-loop");
    let config = ReplayConfig {
        repeat: Repeat::Forever,
        ..ReplayConfig::default()
    };
    let mut src = replay(&dir, &[MAX - 10, MAX], 0, config);
    let (got, end) = drain(&mut src, 0);
    assert_eq!(
        got,
        vec![MAX - 10, MAX],
        "the first loop, unshifted, and no more"
    );
    match end {
        Err(SourceError::Data { error, .. }) => {
            let msg = error.to_string();
            assert!(msg.contains("loop 2") && msg.contains("u64::MAX"), "{msg}");
            assert!(msg.contains("extremes.ticks"), "names the file: {msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(src.status(), SourceStatus::Failed);
}

#[test]
fn loops_that_fit_are_all_played_up_to_the_last_representable_time() {
    let dir = TempDir::new("replay-extremes-fit");
    // Span 10, gap 5: loop k is shifted by 15·k; the third loop ends exactly at MAX.
    let config = ReplayConfig {
        repeat: Repeat::Times(NonZeroU32::new(3).unwrap()),
        loop_gap_ns: 5,
        ..ReplayConfig::default()
    };
    let base = MAX - 40;
    let mut src = replay(&dir, &[base, base + 10], 0, config);
    let (got, end) = drain(&mut src, 0);
    assert_eq!(
        got,
        vec![base, base + 10, base + 15, base + 25, base + 30, MAX]
    );
    assert_eq!(end.unwrap(), SourcePoll::Ended);
}

#[test]
fn kept_receive_times_past_u64_max_also_stop_the_next_loop() {
    let dir = TempDir::new("replay-extremes-recv");
    let config = ReplayConfig {
        repeat: Repeat::Times(NonZeroU32::new(2).unwrap()),
        stamp_recv: false,
        ..ReplayConfig::default()
    };
    let mut src = replay(&dir, &[0, 10], MAX, config);
    let (got, end) = drain(&mut src, 0);
    assert_eq!(got, vec![0, 10]);
    assert!(matches!(end, Err(SourceError::Data { .. })), "{end:?}");
}

#[test]
fn paced_replay_from_zero_to_max_and_backwards_never_overflows() {
    let dir = TempDir::new("replay-extremes-paced");
    // Real time, at the maximum speed: event time 0, then MAX, then backwards.
    let config = ReplayConfig {
        speed: ReplaySpeed::Scaled {
            num: NonZeroU32::MAX,
            den: NonZeroU32::MIN,
        },
        ..ReplayConfig::default()
    };
    let mut src = replay(&dir, &[0, MAX, 5, 0], 0, config);
    // At clock 0 only the first is due; MAX is due once elapsed × u32::MAX reaches it.
    assert_eq!(drain(&mut src, 0).0, vec![0]);
    assert_eq!(
        drain(&mut src, MAX / u64::from(u32::MAX) - 1).0,
        Vec::<u64>::new()
    );
    let (got, end) = drain(&mut src, MAX);
    assert_eq!(got, vec![MAX, 5, 0], "earlier times are due at once");
    assert_eq!(end.unwrap(), SourcePoll::Ended);
}

#[test]
fn regression_failure_1_replaying_ticks_at_u64_max_into_bars_hung_the_pipeline() {
    // `mdp gen --start-ns 18446744073709551615 f`, then `mdp replay f --bars-ms 1000`: the bar
    // stage spun for ever and the run never returned.
    let dir = TempDir::new("replay-extremes-bars");
    let table = Arc::new(SymbolTable::new());
    let s = table.intern("ES").unwrap();
    let path = dir.path("max.ticks");
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    for ts in [MAX - 1_000_000_000, MAX - 1, MAX, MAX] {
        w.write(&Tick::trade(s, ts, Price::from_units(1), 1))
            .unwrap();
    }
    w.finish().unwrap();
    let source = ReplaySource::open(&path, table, ReplayConfig::default()).unwrap();
    let bars = Arc::new(Mutex::new(Vec::new()));
    let seen = bars.clone();
    let report = StreamingPipeline::builder()
        .source(source)
        .operator(BarOperator::new(BarConfig::new(Duration::from_secs(1), Duration::ZERO)).unwrap())
        .sink(CallbackSink::new(move |batch: &[Record]| {
            seen.lock().unwrap().extend_from_slice(batch);
            Ok(())
        }))
        .clock(ManualClock::shared(0))
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.stats.ticks_in, 4);
    let bars: Vec<(u64, u64, u64)> = bars
        .lock()
        .unwrap()
        .iter()
        .map(|r| match r {
            Record::Bar(b) => (b.start_ns, b.end_ns, b.trades),
            Record::Tick(t) => panic!("a tick from the bar stage: {t:?}"),
        })
        .collect();
    let last = MAX - MAX % 1_000_000_000;
    assert_eq!(
        bars,
        vec![(last - 1_000_000_000, last, 1), (last, MAX, 3)],
        "the last window, the one holding u64::MAX, is emitted at end of stream"
    );
}
