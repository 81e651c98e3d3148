//! Specification of `ReplaySource`: pacing by event time against a manual clock, filters,
//! looping, receive stamping, symbol remapping and bad records.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;

use common::{sample_ticks, TempDir};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{
    Clock, DataErrorKind, DataLocation, ManualClock, Repeat, ReplayConfig, ReplaySource,
    ReplaySpeed, SourceError, SourcePoll, SourceStatus, SymbolTable, Tick, TickFile,
    TickFileWriter, TickSource,
};

const SEC: u64 = 1_000_000_000;
/// Clock reading when the source starts (not zero, so clock and event time differ).
const T0: u64 = 500 * SEC;

struct Fixture {
    _dir: TempDir,
    path: std::path::PathBuf,
    table: Arc<SymbolTable>,
    ticks: Vec<Tick>,
}

/// The six sample ticks (event times 1 s .. 6 s; AAPL at 1, 3, 5 s; MSFT at 2, 4, 6 s).
fn fixture(name: &str) -> Fixture {
    let dir = TempDir::new(name);
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let path = dir.path("replay.ticks");
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    w.write_all(&ticks).unwrap();
    w.finish().unwrap();
    Fixture {
        _dir: dir,
        path,
        table,
        ticks,
    }
}

fn started(f: &Fixture, config: ReplayConfig) -> ReplaySource {
    let mut src = ReplaySource::open(&f.path, f.table.clone(), config).unwrap();
    src.start(T0).unwrap();
    src
}

/// Poll until `Pending` or `Ended` (at most 100 polls), returning everything produced.
fn drain(src: &mut ReplaySource, now: u64, buf: usize) -> (Vec<Tick>, SourcePoll) {
    let mut got = Vec::new();
    let mut out = vec![Tick::default(); buf];
    for _ in 0..100 {
        match src.poll(now, &mut out).unwrap() {
            SourcePoll::Ready(n) => {
                assert!((1..=buf).contains(&n), "Ready({n}) with a buffer of {buf}");
                got.extend_from_slice(&out[..n]);
            }
            other => return (got, other),
        }
    }
    panic!("source never stopped producing");
}

fn event_times(ticks: &[Tick]) -> Vec<u64> {
    ticks.iter().map(|t| t.ts_event / SEC).collect()
}

#[test]
fn as_fast_as_possible_never_exceeds_the_buffer_then_ends() {
    let f = fixture("replay_max");
    let mut src = started(&f, ReplayConfig::default());
    let mut out = [Tick::default(); 4];
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ready(4));
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ready(2));
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ended);
    assert_eq!(src.status(), SourceStatus::Ended);
    assert_eq!(src.health().produced, 6);
}

#[test]
fn table_of_speeds_releases_exactly_the_records_due() {
    let two = ReplaySpeed::times(NonZeroU32::new(2).unwrap());
    let half = ReplaySpeed::Scaled {
        num: NonZeroU32::new(1).unwrap(),
        den: NonZeroU32::new(2).unwrap(),
    };
    // (case, speed, clock ns after start, event seconds released in total)
    let cases: &[(u32, ReplaySpeed, u64, &[u64])] = &[
        (1, ReplaySpeed::REALTIME, 0, &[1]),
        (2, ReplaySpeed::REALTIME, SEC - 1, &[1]),
        (3, ReplaySpeed::REALTIME, SEC, &[1, 2]),
        (4, ReplaySpeed::REALTIME, 5 * SEC, &[1, 2, 3, 4, 5, 6]),
        (5, two, SEC, &[1, 2, 3]),
        (6, two, SEC / 2, &[1, 2]),
        (7, two, 3 * SEC - 1, &[1, 2, 3, 4, 5, 6]),
        (8, half, 2 * SEC, &[1, 2]),
        (9, half, 2 * SEC - 1, &[1]),
    ];
    for &(case, speed, after, want) in cases {
        let f = fixture("replay_speeds");
        let clock = ManualClock::new(T0);
        let config = ReplayConfig {
            speed,
            ..ReplayConfig::default()
        };
        let mut src = started(&f, config);
        clock.advance_ns(after);
        let (got, _) = drain(&mut src, clock.now_ns(), 8);
        assert_eq!(event_times(&got), want, "case {case}");
    }
}

#[test]
fn pacing_does_not_drift_however_often_it_is_polled() {
    let f = fixture("replay_drift");
    let speed = ReplaySpeed::times(NonZeroU32::new(3).unwrap());
    let config = ReplayConfig {
        speed,
        ..ReplayConfig::default()
    };
    let mut src = started(&f, config);
    let clock = ManualClock::new(T0);
    let mut released = Vec::new();
    // 1,000 polls 1 ms apart with a one-tick buffer: 1 s of clock is 3 s of event time.
    for _ in 0..1000 {
        clock.advance_ns(SEC / 1000);
        let (got, _) = drain(&mut src, clock.now_ns(), 1);
        released.extend(got);
    }
    assert_eq!(event_times(&released), [1, 2, 3, 4]);
}

#[test]
fn stamp_recv_sets_receive_time_and_replayed_flag() {
    let f = fixture("replay_stamp");
    let mut src = started(&f, ReplayConfig::default());
    let (got, _) = drain(&mut src, T0 + 7, 8);
    for (i, (t, orig)) in got.iter().zip(&f.ticks).enumerate() {
        assert_eq!(t.ts_recv, T0 + 7, "tick {i}");
        assert_eq!(t.flags, orig.flags | flags::REPLAYED, "tick {i}");
        assert_eq!(t.ts_event, orig.ts_event, "tick {i}");
    }
}

#[test]
fn without_stamp_recv_records_are_byte_identical_to_the_file() {
    let f = fixture("replay_exact");
    let config = ReplayConfig {
        stamp_recv: false,
        ..ReplayConfig::default()
    };
    let mut src = started(&f, config);
    let (got, end) = drain(&mut src, T0, 8);
    assert_eq!(end, SourcePoll::Ended);
    let file = TickFile::open(&f.path).unwrap();
    assert_eq!(got.len() as u64, file.len());
    for (i, t) in got.iter().enumerate() {
        assert_eq!(Some(&t.encode()), file.raw_record(i as u64), "record {i}");
    }
}

#[test]
fn symbol_and_time_filters_select_records() {
    /// (case, symbols, from_ns, until_ns, event seconds released)
    type Case<'a> = (u32, &'a [&'a str], Option<u64>, Option<u64>, &'a [u64]);
    let cases: &[Case] = &[
        (1, &["AAPL"], None, None, &[1, 3, 5]),
        (2, &["MSFT"], None, None, &[2, 4, 6]),
        (3, &[], Some(2 * SEC), Some(5 * SEC), &[2, 3, 4]),
        (4, &["AAPL"], Some(2 * SEC), None, &[3, 5]),
        (5, &["AAPL", "MSFT"], None, Some(SEC + 1), &[1]),
    ];
    for &(case, symbols, from_ns, until_ns, want) in cases {
        let f = fixture("replay_filters");
        let config = ReplayConfig {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            from_ns,
            until_ns,
            ..ReplayConfig::default()
        };
        let mut src = started(&f, config);
        let (got, _) = drain(&mut src, T0, 8);
        assert_eq!(event_times(&got), want, "case {case}");
        let names: Vec<_> = got
            .iter()
            .map(|t| f.table.name(t.symbol).unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| symbols.is_empty() || symbols.contains(&&**n)),
            "case {case}"
        );
    }
}

#[test]
fn time_filter_paces_from_the_first_selected_record() {
    let f = fixture("replay_filter_pace");
    let config = ReplayConfig {
        speed: ReplaySpeed::REALTIME,
        from_ns: Some(3 * SEC),
        ..ReplayConfig::default()
    };
    let mut src = started(&f, config);
    let (got, end) = drain(&mut src, T0, 8);
    assert_eq!((event_times(&got), end), (vec![3], SourcePoll::Pending));
}

#[test]
fn looping_keeps_event_time_monotonic_and_sequence_continuing() {
    let f = fixture("replay_loop");
    let config = ReplayConfig {
        repeat: Repeat::Times(NonZeroU32::new(3).unwrap()),
        loop_gap_ns: SEC,
        ..ReplayConfig::default()
    };
    let mut src = started(&f, config);
    let (got, end) = drain(&mut src, T0, 5);
    assert_eq!(end, SourcePoll::Ended);
    // Span 1..6 s plus a 1 s gap: each loop is shifted by 6 s.
    let want: Vec<u64> = (0..3)
        .flat_map(|k| (1..=6).map(move |s| s + 6 * k))
        .collect();
    assert_eq!(event_times(&got), want);
    let seqs: Vec<u32> = got.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (100..118).collect::<Vec<_>>());
}

#[test]
fn looping_forever_with_nothing_selected_ends_instead_of_spinning() {
    let f = fixture("replay_loop_empty");
    let config = ReplayConfig {
        repeat: Repeat::Forever,
        from_ns: Some(100 * SEC),
        ..ReplayConfig::default()
    };
    let mut src = started(&f, config);
    let (got, end) = drain(&mut src, T0, 8);
    assert_eq!((got.len(), end), (0, SourcePoll::Ended));
}

#[test]
fn file_symbols_are_interned_into_the_pipeline_table_and_ids_remapped() {
    let f = fixture("replay_remap");
    let pipeline = Arc::new(SymbolTable::with_symbols(&["ZZZ", "MSFT"]).unwrap());
    let mut src = ReplaySource::open(&f.path, pipeline.clone(), ReplayConfig::default()).unwrap();
    src.start(T0).unwrap();
    assert_eq!(src.symbols(), ["AAPL", "MSFT"]);
    let (got, _) = drain(&mut src, T0, 8);
    for (t, orig) in got.iter().zip(&f.ticks) {
        let want = f.table.name(orig.symbol).unwrap();
        assert_eq!(pipeline.name(t.symbol).unwrap(), want);
    }
    assert_eq!(pipeline.get("AAPL").map(|id| id.0), Some(2));
}

#[test]
fn bad_record_during_replay_is_a_data_error_with_its_offset() {
    let f = fixture("replay_bad");
    let mut bytes = std::fs::read(&f.path).unwrap();
    let bad_at = TickFile::record_offset(3);
    bytes[bad_at as usize + 62] = 0; // kind byte
    let file = TickFile::from_bytes(&bytes).unwrap();
    let mut src = ReplaySource::new(file, f.table.clone(), ReplayConfig::default()).unwrap();
    src.start(T0).unwrap();
    let mut out = [Tick::default(); 8];
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ready(3));
    for _ in 0..2 {
        match src.poll(T0, &mut out) {
            Err(SourceError::Data { source_name, error }) => {
                assert_eq!(source_name, "replay");
                assert_eq!(error.at, DataLocation::Offset(bad_at));
                assert!(matches!(error.kind, DataErrorKind::BadRecord(_)), "{error}");
            }
            other => panic!("expected a data error, got {other:?}"),
        }
    }
    assert_eq!(src.status(), SourceStatus::Failed);
    assert_eq!(src.health().errors, 1);
}

#[test]
fn lifecycle_poll_before_start_errors_and_after_close_ends() {
    let f = fixture("replay_lifecycle");
    let mut src = ReplaySource::open(&f.path, f.table.clone(), ReplayConfig::default()).unwrap();
    let mut out = [Tick::default(); 2];
    assert!(matches!(
        src.poll(T0, &mut out),
        Err(SourceError::NotRunning { state: "idle", .. })
    ));
    src.start(T0).unwrap();
    assert!(src.start(T0).is_err(), "second start");
    assert!(matches!(src.poll(T0, &mut []), Ok(SourcePoll::Pending)));
    src.close();
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ended);
}

#[test]
fn table_of_invalid_configurations_is_refused() {
    let f = fixture("replay_config");
    // (case, config, field)
    let cases: Vec<(u32, ReplayConfig, &str)> = vec![
        (
            1,
            ReplayConfig {
                symbols: vec!["GOOG".into()],
                ..ReplayConfig::default()
            },
            "symbols",
        ),
        (
            2,
            ReplayConfig {
                from_ns: Some(5),
                until_ns: Some(5),
                ..ReplayConfig::default()
            },
            "from_ns",
        ),
    ];
    for (case, config, field) in cases {
        match ReplaySource::open(&f.path, f.table.clone(), config) {
            Err(SourceError::Config { error, .. }) => assert_eq!(error.field, field, "case {case}"),
            other => panic!("case {case}: {other:?}"),
        }
    }
}

#[test]
fn missing_or_bad_file_is_a_data_error_naming_the_path() {
    let dir = TempDir::new("replay_missing");
    let path = dir.path("nope.ticks");
    let e = ReplaySource::open(&path, Arc::new(SymbolTable::new()), ReplayConfig::default())
        .unwrap_err();
    assert!(e.to_string().contains("nope.ticks"), "{e}");
    assert!(!e.is_retryable());
}

#[test]
fn poll_stays_short_when_filters_skip_many_records() {
    let dir = TempDir::new("replay_skip");
    let table = Arc::new(SymbolTable::with_symbols(&["A", "B"]).unwrap());
    let path = dir.path("skip.ticks");
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    let a = table.get("A").unwrap();
    for i in 0..100_000u64 {
        w.write(&Tick::trade(a, i, Default::default(), 1)).unwrap();
    }
    w.write(&Tick::trade(
        table.get("B").unwrap(),
        100_000,
        Default::default(),
        1,
    ))
    .unwrap();
    w.finish().unwrap();
    let config = ReplayConfig {
        symbols: vec!["B".into()],
        ..ReplayConfig::default()
    };
    let mut src = ReplaySource::open(&path, table, config).unwrap();
    src.start(T0).unwrap();
    let mut out = [Tick::default(); 4];
    // The first poll gives up after its skip budget (65,536 records) instead of scanning on.
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Pending);
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ready(1));
    assert_eq!(out[0].ts_event, 100_000);
    assert_eq!(src.poll(T0, &mut out).unwrap(), SourcePoll::Ended);
}
