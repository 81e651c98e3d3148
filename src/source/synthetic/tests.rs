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
        SyntheticSource::new(SyntheticConfig::new(&["A"]), Arc::new(SymbolTable::new())).unwrap();
    let mut buf = [Tick::default(); 4];
    assert!(matches!(
        s.poll(0, &mut buf),
        Err(SourceError::NotRunning { .. })
    ));
}

fn scheduled(start_ns: u64, interval_ns: u64, ticks: Option<u64>) -> SyntheticConfig {
    SyntheticConfig {
        max_ticks: ticks,
        event_time: Some(EventTime {
            start_ns,
            interval_ns,
        }),
        ..SyntheticConfig::new(&["A", "B"])
    }
}

#[test]
fn regression_failure_11_event_times_past_u64_max_are_refused_naming_the_field() {
    // `mdp gen --start-ns 18446744073709551615` (or a huge `--interval-ns`) once saturated
    // every later timestamp to u64::MAX.
    const MAX: u64 = u64::MAX;
    // (case, start, interval, ticks, refused field)
    type Case = (u32, u64, u64, Option<u64>, Option<&'static str>);
    let cases: &[Case] = &[
        (1, MAX, 1, Some(2), Some("synthetic.event_time.start_ns")),
        (2, MAX, 0, Some(1_000), None),
        (3, MAX, 1, Some(1), None),
        (4, 0, MAX, Some(3), Some("synthetic.event_time.interval_ns")),
        (5, 1, MAX / 2, Some(3), None), // the last tick lands exactly on MAX
        (
            6,
            2,
            MAX / 2,
            Some(3),
            Some("synthetic.event_time.start_ns"),
        ),
        (7, 1_700_000_000_000_000_000, 1_000, Some(1_000_000), None),
        (8, 0, 1, None, Some("synthetic.max_ticks")), // endless: it would overflow
        (9, MAX, 0, None, None),
        (10, 0, MAX, Some(0), None),
    ];
    for &(case, start, interval, ticks, field) in cases {
        let result = SyntheticSource::new(
            scheduled(start, interval, ticks),
            Arc::new(SymbolTable::new()),
        );
        match (result, field) {
            (Ok(_), None) => {}
            (Err(SourceError::Config { error, .. }), Some(field)) => {
                assert_eq!(error.field, field, "case {case}: {error}")
            }
            (Err(e), _) => panic!("case {case}: {e}"),
            (Ok(_), Some(field)) => panic!("case {case}: accepted, {field} not named"),
        }
    }
}

#[test]
fn scheduled_event_times_run_exactly_up_to_u64_max_then_the_stream_ends() {
    let max = u64::MAX;
    let mut s = src(scheduled(max - 4, 2, Some(3)));
    // The clock plays no part: polls at different times, one tick each.
    let mut stamps = Vec::new();
    for now in [5, 0, 9] {
        let t = drain(&mut s, now, 1);
        assert_eq!(t.len(), 1);
        stamps.push((t[0].ts_event, t[0].ts_recv));
    }
    assert_eq!(
        stamps,
        vec![(max - 4, max - 4), (max - 2, max - 2), (max, max)]
    );
    let mut buf = [Tick::default(); 4];
    assert_eq!(s.poll(10, &mut buf).unwrap(), SourcePoll::Ended);
}

#[test]
fn regression_paced_source_on_an_epoch_clock_was_not_paced() {
    // The pacer counts time in 1/64 ns from 0 and saturates after 2^58 ns (~9 years): driven
    // with epoch nanoseconds, its saturated clock admitted every tick after the first burst.
    // Pacing now counts from `start`.
    for start in [1_700_000_000_000_000_000u64, u64::MAX - 2_000_000_000] {
        let mut s = SyntheticSource::new(
            SyntheticConfig {
                rate: Some(1000),
                burst: 10,
                ..SyntheticConfig::new(&["A"])
            },
            Arc::new(SymbolTable::new()),
        )
        .unwrap();
        s.start(start).unwrap();
        assert_eq!(drain(&mut s, start, 100).len(), 10, "start {start}");
        assert!(drain(&mut s, start, 100).is_empty());
        assert_eq!(
            drain(&mut s, start + 5_000_000, 100).len(),
            5,
            "start {start}"
        );
        // A clock reading before the start (a caller that went back) admits nothing new.
        assert!(drain(&mut s, start - 1, 100).is_empty());
        assert_eq!(drain(&mut s, start + 1_000_000_000, 100).len(), 10);
    }
}
