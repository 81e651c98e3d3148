//! The replay decodes a block of records per step (`TickFile::decode_into`) and, without
//! filters or pacing, delivers it whole; a split pipeline's source stage has it write each
//! record straight into the ring's free slots (`TickSource::poll_into`). Specification: the
//! ticks delivered do not depend on the poll buffer's size (a buffer of one is the
//! tick-by-tick reference) nor on whether they are written into a buffer or into the ring's
//! slots (however many slots are offered, wrapping the ring or not), for every mix of filters,
//! pacing, loops and symbol ids; a bad record anywhere in a block ends the replay after the
//! good records before it, with an error naming its offset, on both paths; `decode_into`
//! checks what `record` checks.

mod common;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::TempDir;
use market_data_pipeline::ring::{edge, Backpressure, EdgeRx, EdgeTx};
use market_data_pipeline::{
    DataErrorKind, DataLocation, Price, Repeat, ReplayConfig, ReplaySource, ReplaySpeed,
    SourceError, SourcePoll, SymbolId, SymbolTable, Tick, TickFile, TickFileWriter, TickKind,
    TickSource,
};

const SEC: u64 = 1_000_000_000;
const T0: u64 = 77 * SEC;
/// Records in the test file.
const N: u64 = 700;

/// `N` ticks over three symbols, event times 1 ms apart with every 50th going back 3 ms. With
/// `filler`, the file's table interns a filler first, so its ids (1, 2, 3) are not `0..len`
/// and not a fresh table's; without, they are `0..3`, a fresh table's.
fn write_file(dir: &TempDir, filler: bool) -> PathBuf {
    let table = Arc::new(SymbolTable::new());
    if filler {
        table.intern("FILL").unwrap();
    }
    let ids: Vec<SymbolId> = ["AAPL", "MSFT", "GOOG"]
        .iter()
        .map(|s| table.intern(s).unwrap())
        .collect();
    let path = dir.path(if filler {
        "filler.ticks"
    } else {
        "blocks.ticks"
    });
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
    w.finish().unwrap();
    path
}

/// How the replay hands its ticks over.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `poll` into a buffer of this many ticks.
    Buffer(usize),
    /// `poll_into` this many free slots of a ring of `ring` slots, read after each poll.
    Slots { slots: usize, ring: usize },
}

/// The source over `path`; `same_ids`: the pipeline's table is fresh (the ids of a file
/// without filler are its own), otherwise it interns another symbol first.
fn open(path: &Path, config: &ReplayConfig, same_ids: bool) -> ReplaySource {
    let table = Arc::new(SymbolTable::new());
    if !same_ids {
        table.intern("ZZZ").unwrap();
    }
    ReplaySource::open(path, table, config.clone()).unwrap()
}

/// One poll of `src` at `now` through `via`: what it delivered is appended to `got`.
fn poll_via(
    src: &mut ReplaySource,
    now: u64,
    via: Via,
    ring: &mut (EdgeTx<Tick>, EdgeRx<Tick>),
    out: &mut [Tick],
    got: &mut Vec<Tick>,
) -> Result<SourcePoll, SourceError> {
    match via {
        Via::Buffer(buf) => {
            let r = src.poll(now, &mut out[..buf]);
            if let Ok(SourcePoll::Ready(n)) = r {
                got.extend_from_slice(&out[..n]);
            }
            r
        }
        Via::Slots { slots, .. } => {
            let (tx, rx) = ring;
            let mut free = tx
                .slots(slots)
                .expect("the ring was drained: the slots are free");
            let r = src.poll_into(now, out, &mut free);
            drop(free);
            let written = tx.claim_written() as usize;
            let before = got.len();
            rx.read(usize::MAX, |ticks| got.extend_from_slice(ticks));
            assert_eq!(got.len() - before, written, "read what was written");
            match r {
                Ok(SourcePoll::Ready(n)) => assert_eq!(n, written, "Ready counts the slots"),
                _ => assert_eq!(written, 0, "nothing written unless Ready"),
            }
            let stats = tx.counters().snapshot();
            assert_eq!(
                stats.offered, stats.pushed,
                "every written tick is offered and pushed"
            );
            assert_eq!(stats.pushed, stats.popped, "and was read");
            r
        }
    }
}

/// Everything the replay delivers through `via` at each clock reading of `times` until it is
/// pending (bounded), then at the last reading until it ends.
fn replay_all(
    path: &Path,
    config: &ReplayConfig,
    same_ids: bool,
    via: Via,
    times: &[u64],
) -> Vec<Tick> {
    let mut src = open(path, config, same_ids);
    src.start(T0).unwrap();
    let ring = match via {
        Via::Slots { ring, .. } => ring,
        Via::Buffer(_) => 1,
    };
    let mut ring = edge::<Tick>(ring, Backpressure::Block).unwrap();
    let mut out = vec![Tick::default(); 1000];
    let mut got = Vec::new();
    for &now in times {
        for _ in 0..100_000 {
            match poll_via(&mut src, now, via, &mut ring, &mut out, &mut got).unwrap() {
                SourcePoll::Ready(_) => {}
                SourcePoll::Pending | SourcePoll::Ended => break,
            }
        }
    }
    got
}

#[test]
fn delivered_ticks_do_not_depend_on_the_buffer_size_for_any_mix_of_filters_pacing_and_loops() {
    let dir = TempDir::new("replay_blocks_sizes");
    let files = [
        (write_file(&dir, true), false),
        (write_file(&dir, false), true),
    ];
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
        (
            7,
            ReplayConfig {
                repeat: loops,
                ..ReplayConfig::default()
            },
        ),
    ];
    // Clock readings: a few steps into the file, then far past its end (loops included).
    let times: Vec<u64> = [0, 1, 37, 150, 151, 400, 1_000_000]
        .iter()
        .map(|ms| T0 + ms * 1_000_000)
        .collect();
    let vias = [
        Via::Buffer(2),
        Via::Buffer(7),
        Via::Buffer(64),
        Via::Buffer(256),
        Via::Buffer(1000),
        Via::Slots { slots: 1, ring: 1 },
        Via::Slots { slots: 7, ring: 10 },
        Via::Slots {
            slots: 256,
            ring: 256,
        },
        Via::Slots {
            slots: 256,
            ring: 300,
        },
        Via::Slots {
            slots: 1000,
            ring: 1024,
        },
    ];
    for (case, config) in cases {
        for (path, same_ids) in &files {
            let reference = replay_all(path, &config, *same_ids, Via::Buffer(1), &times);
            assert!(!reference.is_empty(), "case {case}: nothing replayed");
            for via in vias {
                let got = replay_all(path, &config, *same_ids, via, &times);
                assert_eq!(
                    got.len(),
                    reference.len(),
                    "case {case}, same ids {same_ids}, {via:?}"
                );
                assert!(
                    got == reference,
                    "case {case}, same ids {same_ids}, {via:?}: ticks differ"
                );
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
}

#[test]
fn a_bad_record_anywhere_in_a_block_ends_the_replay_after_the_good_ones_with_its_offset() {
    let dir = TempDir::new("replay_blocks_bad");
    let files = [
        (write_file(&dir, true), false),
        (write_file(&dir, false), true),
    ];
    // (case, which file: its ids are 0..3, record index, byte within the record, value, what
    // the error says). Symbol ids just outside each file's ids: 0 for ids 1..=3, 3 for 0..3.
    type Case = (u32, Option<bool>, u64, usize, u8, &'static str);
    let cases: Vec<Case> = vec![
        (1, None, 0, 62, 0, "kind"),
        (2, None, 1, 63, 0x80, "flag"),
        (3, None, 255, 62, 9, "kind"),
        (4, None, 256, 56, 0xEE, "symbol"),
        (5, None, N - 1, 63, 0xF0, "flag"),
        (6, None, 333, 59, 0x01, "symbol"),
        (7, Some(true), 400, 56, 3, "symbol"),
        (8, Some(false), 401, 56, 0, "symbol"),
    ];
    let vias = [
        Via::Buffer(1),
        Via::Buffer(64),
        Via::Buffer(256),
        Via::Buffer(1000),
        Via::Slots { slots: 1, ring: 1 },
        Via::Slots {
            slots: 256,
            ring: 300,
        },
        Via::Slots {
            slots: 1000,
            ring: 1000,
        },
    ];
    for (case, which, index, byte, value, words) in cases {
        for (path, contiguous) in &files {
            if which.is_some_and(|w| w != *contiguous) {
                continue;
            }
            let mut bytes = std::fs::read(path).unwrap();
            let at = TickFile::record_offset(index);
            bytes[at as usize + byte] = value;
            for via in vias {
                let file = TickFile::from_bytes(&bytes).unwrap();
                let table = Arc::new(SymbolTable::new());
                let mut src = ReplaySource::new(file, table, ReplayConfig::default()).unwrap();
                src.start(T0).unwrap();
                let mut ring = edge::<Tick>(1024, Backpressure::Block).unwrap();
                let (mut out, mut got) = (vec![Tick::default(); 1000], Vec::new());
                let error = loop {
                    match poll_via(&mut src, T0, via, &mut ring, &mut out, &mut got) {
                        Ok(SourcePoll::Ready(_)) => {}
                        Ok(other) => panic!("case {case}, {via:?}: {other:?} before the error"),
                        Err(SourceError::Data { error, .. }) => break error,
                        Err(e) => panic!("case {case}, {via:?}: {e}"),
                    }
                    assert!(got.len() as u64 <= N, "case {case}: past the end");
                };
                let what = format!("case {case}, ids 0..3 {contiguous}, {via:?}");
                assert_eq!(got.len() as u64, index, "{what}: good records first");
                assert_eq!(error.at, DataLocation::Offset(at), "{what}");
                assert!(
                    error.to_string().to_lowercase().contains(words),
                    "{what}: {error}"
                );
                // The error stays: a later poll reports it again, delivering nothing.
                let again = poll_via(&mut src, T0, via, &mut ring, &mut out, &mut got);
                assert!(matches!(again, Err(SourceError::Data { .. })), "{what}");
                assert_eq!(got.len() as u64, index, "{what}");
            }
        }
    }
}

#[test]
fn decode_into_checks_what_record_checks_and_stops_at_the_first_bad_record() {
    let dir = TempDir::new("replay_blocks_decode");
    let path = write_file(&dir, true);
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
