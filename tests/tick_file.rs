//! Specification of the binary tick file: round trips, and every kind of bad input refused
//! with an error naming the byte offset (never a panic).

mod common;

use std::sync::Arc;

use common::{sample_ticks, TempDir};
use market_data_pipeline::file::writer::partial_path;
use market_data_pipeline::file::{FileHeader, HEADER_LEN};
use market_data_pipeline::{
    DataErrorKind, DataLocation, SymbolId, SymbolTable, Tick, TickFile, TickFileWriter,
};

fn write_sample(dir: &TempDir, name: &str) -> (std::path::PathBuf, Vec<Tick>) {
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let path = dir.path(name);
    let mut w = TickFileWriter::create(&path, table).unwrap();
    w.write_all(&ticks).unwrap();
    w.finish().unwrap();
    (path, ticks)
}

fn offset_of(e: &market_data_pipeline::DataError) -> u64 {
    match e.at {
        DataLocation::Offset(o) => o,
        other => panic!("error without an offset ({other:?}): {e}"),
    }
}

#[test]
fn round_trip_write_then_read_is_byte_identical() {
    let dir = TempDir::new("round_trip");
    let (path, ticks) = write_sample(&dir, "a.ticks");
    let file = TickFile::open(&path).unwrap();
    assert_eq!(file.len(), ticks.len() as u64);
    file.validate_records().unwrap();
    for (i, (read, written)) in file.records().zip(&ticks).enumerate() {
        assert_eq!(read.unwrap().encode(), written.encode(), "record {i}");
        assert_eq!(
            file.raw_record(i as u64),
            Some(&written.encode()),
            "record {i}"
        );
    }
    assert_eq!(file.symbols().name(ticks[0].symbol), Some("AAPL"));
    assert_eq!(file.symbols().name(ticks[1].symbol), Some("MSFT"));

    // The same ticks written again give the same bytes.
    let (path2, _) = write_sample(&dir, "b.ticks");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&path2).unwrap()
    );
}

#[test]
fn only_the_symbols_used_are_named_and_ids_are_kept() {
    let dir = TempDir::new("ids_kept");
    let table = Arc::new(SymbolTable::with_symbols(&["UNUSED", "A", "ALSO_UNUSED", "B"]).unwrap());
    let path = dir.path("ids.ticks");
    let mut w = TickFileWriter::create(&path, table).unwrap();
    w.write(&Tick::trade(SymbolId(3), 1, Default::default(), 1))
        .unwrap();
    w.write(&Tick::trade(SymbolId(1), 2, Default::default(), 1))
        .unwrap();
    let summary = w.finish().unwrap();
    assert_eq!((summary.records, summary.symbols), (2, 2));
    let file = TickFile::open(&path).unwrap();
    let names: Vec<_> = file.symbols().iter().collect();
    assert_eq!(names, vec![(SymbolId(1), "A"), (SymbolId(3), "B")]);
}

#[test]
fn writer_refuses_a_symbol_id_not_in_its_table() {
    let dir = TempDir::new("unknown_id");
    let table = Arc::new(SymbolTable::with_symbols(&["A"]).unwrap());
    let mut w = TickFileWriter::create(dir.path("u.ticks"), table).unwrap();
    w.write(&Tick::trade(SymbolId(0), 1, Default::default(), 1))
        .unwrap();
    let e = w
        .write(&Tick::trade(SymbolId(5), 1, Default::default(), 1))
        .unwrap_err();
    assert_eq!(e.kind, DataErrorKind::UnknownSymbol(5));
    assert_eq!(e.at, DataLocation::Offset(128));
}

#[test]
fn empty_file_is_truncated_at_offset_zero() {
    let dir = TempDir::new("empty");
    let path = dir.path("empty.ticks");
    std::fs::write(&path, b"").unwrap();
    let e = TickFile::open(&path).unwrap_err();
    assert_eq!(e.at, DataLocation::Offset(0));
    assert_eq!(
        e.kind,
        DataErrorKind::Truncated {
            needed: HEADER_LEN as u64,
            available: 0
        }
    );
    assert!(e.to_string().contains("empty.ticks"), "{e}");
}

#[test]
fn file_with_no_records_is_valid() {
    let dir = TempDir::new("no_records");
    let path = dir.path("none.ticks");
    TickFileWriter::create(&path, Arc::new(SymbolTable::new()))
        .unwrap()
        .finish()
        .unwrap();
    let file = TickFile::open(&path).unwrap();
    assert!(file.is_empty());
    assert_eq!(file.records().count(), 0);
}

#[test]
fn unfinished_file_is_refused() {
    let dir = TempDir::new("unfinished");
    let path = dir.path("u.ticks");
    {
        let table = Arc::new(SymbolTable::new());
        let ticks = sample_ticks(&table);
        let mut w = TickFileWriter::create(&path, table).unwrap();
        w.write_all(&ticks).unwrap();
        // dropped without finish()
    }
    assert!(!path.exists(), "nothing appears at the final path");
    let e = TickFile::open(partial_path(&path)).unwrap_err();
    assert!(e.to_string().contains("unfinished"), "{e}");
}

#[test]
fn truncated_at_every_byte_offset_names_an_offset_and_never_panics() {
    let dir = TempDir::new("truncated");
    let (path, _) = write_sample(&dir, "t.ticks");
    let bytes = std::fs::read(&path).unwrap();
    for cut in 0..bytes.len() {
        let e = TickFile::from_bytes(&bytes[..cut])
            .err()
            .unwrap_or_else(|| panic!("cut at {cut}: accepted"));
        assert!(
            matches!(e.kind, DataErrorKind::Truncated { .. }),
            "cut at {cut}: {e}"
        );
        assert_eq!(offset_of(&e), cut as u64, "cut at {cut}: {e}");
    }
}

#[test]
fn table_of_bad_headers_names_the_field_offset() {
    let dir = TempDir::new("bad_headers");
    let (path, _) = write_sample(&dir, "h.ticks");
    let good = std::fs::read(&path).unwrap();
    // (case, byte to change, new value, expected offset, expected kind check)
    type Check = fn(&DataErrorKind) -> bool;
    let cases: &[(u32, usize, u8, u64, Check)] = &[
        (1, 0, b'X', 0, |k| {
            matches!(k, DataErrorKind::BadMagic { .. })
        }),
        (2, 8, 2, 8, |k| {
            matches!(
                k,
                DataErrorKind::UnsupportedVersion {
                    found: 2,
                    supported: 1
                }
            )
        }),
        (3, 12, 32, 12, |k| {
            matches!(k, DataErrorKind::BadRecordSize { found: 32 })
        }),
        (4, 16, 65, 16, |k| matches!(k, DataErrorKind::BadHeader(_))),
        (5, 50, 1, 50, |k| matches!(k, DataErrorKind::BadHeader(_))),
        (6, 33, 9, 32, |k| matches!(k, DataErrorKind::BadHeader(_))),
        (7, 20, 9, good.len() as u64 - 18, |k| {
            matches!(k, DataErrorKind::BadSymbolTable(_))
        }),
    ];
    for &(case, at, value, offset, check) in cases {
        let mut bytes = good.clone();
        bytes[at] = value;
        let e = TickFile::from_bytes(&bytes).unwrap_err();
        assert!(check(&e.kind), "case {case}: {e}");
        assert_eq!(offset_of(&e), offset, "case {case}: {e}");
    }
}

#[test]
fn trailing_garbage_is_refused_at_its_offset() {
    let dir = TempDir::new("trailing");
    let (path, _) = write_sample(&dir, "g.ticks");
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.len() as u64;
    bytes.push(0);
    let e = TickFile::from_bytes(&bytes).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::BadHeader(_)), "{e}");
    assert_eq!(offset_of(&e), end);
}

#[test]
fn corrupted_record_names_its_exact_byte_offset() {
    let dir = TempDir::new("corrupt");
    let (path, ticks) = write_sample(&dir, "c.ticks");
    let good = std::fs::read(&path).unwrap();
    // (case, record index, byte within record, value, kind)
    let cases: &[(u32, u64, usize, u8, &str)] = &[
        (1, 2, 62, 9, "invalid tick kind byte 9"),
        (2, 0, 63, 0x80, "unknown flag bits"),
        (3, 3, 56, 0x7f, "unknown symbol id"),
    ];
    for &(case, index, byte, value, words) in cases {
        let mut bytes = good.clone();
        let at = TickFile::record_offset(index);
        bytes[at as usize + byte] = value;
        // Opening succeeds (records are checked as read) ...
        let file = TickFile::from_bytes(&bytes).unwrap();
        // ... the good records before it read fine, the bad one names its offset.
        let results: Vec<_> = file.records().collect();
        assert_eq!(results.len(), ticks.len(), "case {case}");
        for (i, r) in results.iter().enumerate().take(index as usize) {
            assert!(r.is_ok(), "case {case}: record {i}");
        }
        let e = results[index as usize].clone().unwrap_err();
        assert_eq!(e.at, DataLocation::Offset(at), "case {case}: {e}");
        assert!(e.to_string().contains(words), "case {case}: {e}");
        assert_eq!(file.validate_records(), Err(e), "case {case}");
    }
}

#[test]
fn header_round_trips_through_decode() {
    let dir = TempDir::new("header");
    let (path, ticks) = write_sample(&dir, "x.ticks");
    let bytes = std::fs::read(&path).unwrap();
    let h = FileHeader::decode(&bytes).unwrap();
    assert_eq!(h.record_count, ticks.len() as u64);
    assert_eq!(h.encode()[..], bytes[..HEADER_LEN]);
}

#[test]
fn fuzz_seed_files_are_valid_tick_files() {
    // The committed fuzz seeds must stay valid as the format evolves, or the fuzzer starts
    // from nothing.
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/tick_file");
    for (name, records) in [("three.ticks", 3), ("empty.ticks", 0)] {
        let file = TickFile::open(seeds.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.len(), records, "{name}");
        file.validate_records().unwrap();
    }
}
