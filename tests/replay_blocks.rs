//! The replay decodes a block of records per step (`TickFile::decode_into`) and, without
//! filters or pacing, delivers it whole. Specification: the ticks delivered do not depend on
//! the poll buffer's size (a buffer of one is the tick-by-tick reference), for every mix of
//! filters, pacing and loops; a bad record anywhere in a block ends the replay after the good
//! records before it, with an error naming its offset; `decode_into` checks what `record`
//! checks.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;

use common::TempDir;
use market_data_pipeline::{
    DataErrorKind, DataLocation, Price, Repeat, ReplayConfig, ReplaySource, ReplaySpeed,
    SourceError, SourcePoll, SymbolId, SymbolTable, Tick, TickFile, TickFileWriter, TickKind,
    TickSource,
};

const SEC: u64 = 1_000_000_000;
const T0: u64 = 77 * SEC;
/// Records in the test file.
const N: u64 = 700;

/// `N` ticks over three symbols whose file ids are not the pipeline's (the file's table
/// interns a filler first), event times 1 ms apart with every 50th going back 3 ms.
fn write_file(dir: &TempDir) -> std::path::PathBuf {
    let table = Arc::new(SymbolTable::new());
    let filler = table.intern("FILL").unwrap();
    let ids: Vec<SymbolId> = ["AAPL", "MSFT", "GOOG"]
        .iter()
        .map(|s| table.intern(s).unwrap())
        .collect();
    let path = dir.path("blocks.ticks");
    let mut w = TickFileWriter::create(&path, table).unwrap();
    for i in 0..N {
        let back = if i % 50 == 49 { 3 } else { 0 };
        let mut t = Tick::trade(
            ids[(i % 3) as usize],
            SEC + (i + 10 - back) * 1_000_000,
            Price::from_units(100 + i as i64),
            i as u32,
        );
        t.seq = 1000 + i as u32;
        t.kind = [TickKind::Trade, TickKind::Quote, TickKind::Both][(i % 3) as usize];
        w.write(&t).unwrap();
    }
    let _ = filler;
    w.finish().unwrap();
    path
}

/// Everything `src` delivers when polled with a buffer of `buf` ticks at each clock reading of
/// `times` until it is pending (bounded), then at the last reading until it ends.
fn replay_all(
    path: &std::path::Path,
    config: &ReplayConfig,
    buf: usize,
    times: &[u64],
) -> Vec<Tick> {
    let table = Arc::new(SymbolTable::new());
    table.intern("ZZZ").unwrap(); // pipeline ids differ from the file's
    let mut src = ReplaySource::open(path, table, config.clone()).unwrap();
    src.start(T0).unwrap();
    let mut out = vec![Tick::default(); buf];
    let mut got = Vec::new();
    for &now in times {
        for _ in 0..100_000 {
            match src.poll(now, &mut out).unwrap() {
                SourcePoll::Ready(n) => got.extend_from_slice(&out[..n]),
                SourcePoll::Pending | SourcePoll::Ended => break,
            }
        }
    }
    got
}

#[test]
fn delivered_ticks_do_not_depend_on_the_buffer_size_for_any_mix_of_filters_pacing_and_loops() {
    let dir = TempDir::new("replay_blocks_sizes");
    let path = write_file(&dir);
    let two_x = ReplaySpeed::times(NonZeroU32::new(2).unwrap());
    let loops = Repeat::Times(NonZeroU32::new(3).unwrap());
    // (case, config)
    let cases: Vec<(u32, ReplayConfig)> = vec![
        (1, ReplayConfig::default()),
        (
            2,
            ReplayConfig {
                repeat: loops,
                stamp_recv: false,
                ..ReplayConfig::default()
            },
        ),
        (
            3,
            ReplayConfig {
                symbols: vec!["MSFT".into(), "GOOG".into()],
                repeat: loops,
                ..ReplayConfig::default()
            },
        ),
        (
            4,
            ReplayConfig {
                from_ns: Some(SEC + 100 * 1_000_000),
                until_ns: Some(SEC + 400 * 1_000_000),
                ..ReplayConfig::default()
            },
        ),
        (
            5,
            ReplayConfig {
                speed: two_x,
                repeat: loops,
                ..ReplayConfig::default()
            },
        ),
        (
            6,
            ReplayConfig {
                speed: ReplaySpeed::REALTIME,
                symbols: vec!["AAPL".into()],
                ..ReplayConfig::default()
            },
        ),
    ];
    // Clock readings: a few steps into the file, then far past its end (loops included).
    let times: Vec<u64> = [0, 1, 37, 150, 151, 400, 1_000_000]
        .iter()
        .map(|ms| T0 + ms * 1_000_000)
        .collect();
    for (case, config) in cases {
        let reference = replay_all(&path, &config, 1, &times);
        assert!(!reference.is_empty(), "case {case}: nothing replayed");
        for buf in [2, 7, 64, 256, 1000] {
            let got = replay_all(&path, &config, buf, &times);
            assert_eq!(got.len(), reference.len(), "case {case}, buffer {buf}");
            assert!(got == reference, "case {case}, buffer {buf}: ticks differ");
        }
        if config.speed == ReplaySpeed::AsFastAsPossible && config.symbols.is_empty() {
            let per_loop = match config.repeat {
                Repeat::Times(n) => n.get() as usize,
                _ => 1,
            };
            let filtered = config.from_ns.is_some();
            assert!(
                filtered || reference.len() == N as usize * per_loop,
                "case {case}"
            );
        }
    }
}

#[test]
fn a_bad_record_anywhere_in_a_block_ends_the_replay_after_the_good_ones_with_its_offset() {
    let dir = TempDir::new("replay_blocks_bad");
    let path = write_file(&dir);
    let good = std::fs::read(&path).unwrap();
    // (case, record index, byte within the record, value, what the error says)
    let cases: Vec<(u32, u64, usize, u8, &str)> = vec![
        (1, 0, 62, 0, "kind"),
        (2, 1, 63, 0x80, "flag"),
        (3, 255, 62, 9, "kind"),
        (4, 256, 56, 0xEE, "symbol"),
        (5, N - 1, 63, 0xF0, "flag"),
        (6, 333, 59, 0x01, "symbol"),
    ];
    for (case, index, byte, value, words) in cases {
        let mut bytes = good.clone();
        let at = TickFile::record_offset(index);
        bytes[at as usize + byte] = value;
        for buf in [1, 64, 256, 1000] {
            let file = TickFile::from_bytes(&bytes).unwrap();
            let table = Arc::new(SymbolTable::new());
            let mut src = ReplaySource::new(file, table, ReplayConfig::default()).unwrap();
            src.start(T0).unwrap();
            let mut out = vec![Tick::default(); buf];
            let mut delivered = 0u64;
            let error = loop {
                match src.poll(T0, &mut out) {
                    Ok(SourcePoll::Ready(n)) => delivered += n as u64,
                    Ok(other) => panic!("case {case}, buffer {buf}: {other:?} before the error"),
                    Err(SourceError::Data { error, .. }) => break error,
                    Err(e) => panic!("case {case}, buffer {buf}: {e}"),
                }
                assert!(delivered <= N, "case {case}: past the end");
            };
            assert_eq!(
                delivered, index,
                "case {case}, buffer {buf}: good records first"
            );
            assert_eq!(
                error.at,
                DataLocation::Offset(at),
                "case {case}, buffer {buf}"
            );
            assert!(
                error.to_string().to_lowercase().contains(words),
                "case {case}, buffer {buf}: {error}"
            );
        }
    }
}

#[test]
fn decode_into_checks_what_record_checks_and_stops_at_the_first_bad_record() {
    let dir = TempDir::new("replay_blocks_decode");
    let path = write_file(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let bad = 300u64;
    bytes[TickFile::record_offset(bad) as usize + 56] = 0x7F; // no such symbol id
    let file = TickFile::from_bytes(&bytes).unwrap();
    let mut out = vec![Tick::default(); 256];
    // (case, first, buffer, count decoded)
    let cases: Vec<(u32, u64, usize, usize)> = vec![
        (1, 0, 256, 256),
        (2, 256, 256, (bad - 256) as usize),
        (3, bad, 256, 0),
        (4, bad + 1, 256, 256),
        (5, N - 10, 256, 10),
        (6, N, 256, 0),
        (7, u64::MAX, 256, 0),
        (8, 5, 0, 0),
    ];
    for (case, first, buf, want) in cases {
        let got = file.decode_into(first, &mut out[..buf]);
        assert_eq!(got, want, "case {case}");
        for (k, t) in out[..got].iter().enumerate() {
            let one = file.record(first + k as u64).unwrap().unwrap();
            assert_eq!(*t, one, "case {case}, record {}", first + k as u64);
        }
    }
    match file.record(bad) {
        Some(Err(e)) => {
            assert_eq!(e.at, DataLocation::Offset(TickFile::record_offset(bad)));
            assert!(matches!(e.kind, DataErrorKind::UnknownSymbol(0x7F)), "{e}");
        }
        other => panic!("record {bad}: {other:?}"),
    }
}
