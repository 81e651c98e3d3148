//! Specification of CSV import/export: lossless round trips, and bad lines refused with the
//! line, the field and the reason.

mod common;

use std::sync::Arc;

use common::{sample_ticks, TempDir};
use market_data_pipeline::file::CSV_HEADER;
use market_data_pipeline::file::{csv_to_tick_file, tick_file_to_csv, CsvReader, CsvWriter};
use market_data_pipeline::{
    DataError, DataErrorKind, DataLocation, SymbolTable, Tick, TickFile, TickFileWriter,
};

fn read_all(text: &[u8]) -> (Vec<Tick>, Option<DataError>, Arc<SymbolTable>) {
    let table = Arc::new(SymbolTable::new());
    let mut ticks = Vec::new();
    let mut reader = CsvReader::new(text, table.clone());
    // Bounded: a reader yields at most one item per line.
    for _ in 0..=text.len() + 1 {
        match reader.read_tick() {
            Ok(Some(t)) => ticks.push(t),
            Ok(None) => return (ticks, None, table),
            Err(e) => return (ticks, Some(e), table),
        }
    }
    panic!("reader did not end");
}

const GOOD: &str = "1,2,AAPL,trade,101.25,10,0,0,0,0,1,0,0";

#[test]
fn export_then_import_is_lossless() {
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let mut w = CsvWriter::new(Vec::new()).unwrap();
    for t in &ticks {
        w.write(t, &table.name(t.symbol).unwrap()).unwrap();
    }
    let text = w.finish().unwrap();
    let (back, err, back_table) = read_all(&text);
    assert_eq!(err, None);
    assert_eq!(back.len(), ticks.len());
    for (i, (a, b)) in back.iter().zip(&ticks).enumerate() {
        assert_eq!(a.encode(), b.encode(), "tick {i}");
    }
    assert_eq!(back_table.snapshot(), table.snapshot());
}

#[test]
fn tick_file_to_csv_to_tick_file_is_byte_identical() {
    let dir = TempDir::new("csv_round_trip");
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let original = dir.path("a.ticks");
    let mut w = TickFileWriter::create(&original, table).unwrap();
    w.write_all(&ticks).unwrap();
    w.finish().unwrap();

    let csv = dir.path("a.csv");
    assert_eq!(
        tick_file_to_csv(&original, &csv).unwrap(),
        ticks.len() as u64
    );
    let again = dir.path("b.ticks");
    let summary = csv_to_tick_file(&csv, &again, Arc::new(SymbolTable::new())).unwrap();
    assert_eq!(summary.records, ticks.len() as u64);
    assert_eq!(
        std::fs::read(&original).unwrap(),
        std::fs::read(&again).unwrap()
    );
    TickFile::open(&again).unwrap().validate_records().unwrap();
}

#[test]
fn table_of_bad_lines_names_line_field_and_reason() {
    // (case, bad line, column, field, words in the reason)
    let cases: &[(u32, &str, u32, &str, &str)] = &[
        (
            1,
            "1,2,AAPL,trade,1.2.3,10,0,0,0,0,1,0,0",
            5,
            "price",
            "invalid character",
        ),
        (
            2,
            "1,2,AAPL,trades,1,10,0,0,0,0,1,0,0",
            4,
            "kind",
            "not trade, quote or both",
        ),
        (3, "1,2,AAPL,trade,1,10,0,0,0,0,1,0", 13, "flags", "missing"),
        (
            4,
            "1,2,A B,trade,1,10,0,0,0,0,1,0,0",
            3,
            "symbol",
            "invalid character",
        ),
        (
            5,
            "x,2,AAPL,trade,1,10,0,0,0,0,1,0,0",
            1,
            "ts_event",
            "not a valid integer",
        ),
        (
            6,
            "1,2,AAPL,quote,0,0,1.0000000001,2,1,1,1,0,0",
            7,
            "bid",
            "more than 9 decimal",
        ),
        (
            7,
            "1,2,AAPL,trade,1,10,0,0,0,0,1,0,128",
            13,
            "flags",
            "unknown bits",
        ),
        (
            8,
            "1,2,AAPL,trade,1,10,0,0,0,0,1,0,0,9",
            14,
            "flags",
            "extra fields",
        ),
        (
            9,
            "1,2,AAPL,trade,1,4294967296,0,0,0,0,1,0,0",
            6,
            "size",
            "not a valid integer",
        ),
        (
            10,
            "1,2,,trade,1,10,0,0,0,0,1,0,0",
            3,
            "symbol",
            "empty symbol",
        ),
        (
            11,
            "1,2,AAPL,trade, 1,10,0,0,0,0,1,0,0",
            5,
            "price",
            "surrounding spaces",
        ),
        (
            12,
            "1,2,AAPL,trade,1,10,0,0,0,0,1,65536,0",
            12,
            "source",
            "not a valid integer",
        ),
    ];
    for &(case, line, column, field, words) in cases {
        let text = format!("{CSV_HEADER}\n{GOOD}\n{line}\n{GOOD}\n");
        let (ticks, err, _) = read_all(text.as_bytes());
        let e = err.unwrap_or_else(|| panic!("case {case}: accepted"));
        assert_eq!(
            ticks.len(),
            1,
            "case {case}: the good line before it is read"
        );
        assert_eq!(
            e.at,
            DataLocation::Line {
                line: 3,
                column: Some(column)
            },
            "case {case}: {e}"
        );
        match &e.kind {
            DataErrorKind::BadField { field: f, reason } => {
                assert_eq!(f, field, "case {case}: {e}");
                assert!(reason.contains(words), "case {case}: {e}");
            }
            other => panic!("case {case}: {other:?}"),
        }
        assert!(e.to_string().contains("line 3"), "case {case}: {e}");
    }
}

#[test]
fn bad_header_and_bad_text_name_the_line() {
    /// (case, input, line, column, words)
    type Case<'a> = (u32, &'a [u8], u64, Option<u32>, &'a str);
    let cases: &[Case] = &[
        (1, b"", 1, None, "header line"),
        (2, b"ts_event,ts_recv,sym\n", 1, Some(3), "expected column `symbol`"),
        (3, b"ts_event,ts_recv,symbol,kind,price,size,bid,ask,bid_size,ask_size,seq,source,flags,x\n", 1, Some(14), "extra columns"),
        (4, b"ts_event,ts_recv,symbol,kind,price,size,bid,ask,bid_size,ask_size,seq,source,flags\n\xff\n", 2, None, "UTF-8"),
    ];
    for &(case, input, line, column, words) in cases {
        let (_, err, _) = read_all(input);
        let e = err.unwrap_or_else(|| panic!("case {case}: accepted"));
        assert_eq!(
            e.at,
            DataLocation::Line { line, column },
            "case {case}: {e}"
        );
        assert!(e.to_string().contains(words), "case {case}: {e}");
    }
}

#[test]
fn overlong_line_is_refused_without_reading_it_whole() {
    let mut text = format!("{CSV_HEADER}\n").into_bytes();
    text.extend(std::iter::repeat_n(b'1', 100_000));
    let (_, err, _) = read_all(&text);
    let e = err.unwrap();
    assert_eq!(
        e.at,
        DataLocation::Line {
            line: 2,
            column: None
        }
    );
    assert!(e.to_string().contains("longer than"), "{e}");
}

#[test]
fn header_only_is_an_empty_stream_and_crlf_and_blank_lines_are_accepted() {
    let (ticks, err, _) = read_all(format!("{CSV_HEADER}\n").as_bytes());
    assert_eq!((ticks.len(), err), (0, None));
    let text = format!("{CSV_HEADER}\r\n{GOOD}\r\n\r\n{GOOD}");
    let (ticks, err, _) = read_all(text.as_bytes());
    assert_eq!((ticks.len(), err), (2, None));
}

#[test]
fn conversion_errors_name_the_csv_path() {
    let dir = TempDir::new("csv_path");
    let csv = dir.path("bad.csv");
    std::fs::write(
        &csv,
        format!("{CSV_HEADER}\n1,2,AAPL,sell,1,1,0,0,0,0,1,0,0\n"),
    )
    .unwrap();
    let e =
        csv_to_tick_file(&csv, dir.path("out.ticks"), Arc::new(SymbolTable::new())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bad.csv") && msg.contains("line 2, field 4"),
        "{msg}"
    );
}
