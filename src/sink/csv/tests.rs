use std::fs::File;
use std::sync::Arc;

use super::*;
use crate::price::Price;
use crate::symbol::SymbolTable;
use crate::tick::{flags, Tick, TickKind};

/// The header the file format promises (spelled out: the test is the specification).
const HEADER: &str =
    "ts_event,ts_recv,symbol,kind,price,size,bid,ask,bid_size,ask_size,seq,source,flags";

fn temp_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mdp-csv-{}-{test}.csv", std::process::id()))
}

fn names() -> SymbolNames {
    SymbolNames::new(Arc::new(
        SymbolTable::with_symbols(&["AAPL", "MSFT"]).unwrap(),
    ))
}

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

#[test]
fn known_ticks_and_bars_are_written_exactly() {
    let path = temp_path("known");
    let mut sink = CsvSink::create(&path, names()).unwrap();
    let trade = Tick {
        ts_recv: 1_700_000_000_000_000_123,
        seq: 7,
        source: 2,
        flags: flags::SYNTHETIC,
        ..Tick::trade(SymbolId(0), 1_700_000_000_000_000_000, p("189.5"), 100)
    };
    let quote = Tick {
        seq: 8,
        ..Tick::quote(SymbolId(1), 42, p("410.01"), p("410.020000001"), 300, 0)
    };
    let both = Tick {
        kind: TickKind::Both,
        price: p("-0.5"),
        size: 1,
        ..Tick::quote(SymbolId(9), 43, p("1"), p("2"), 1, 1)
    };
    let bar = Bar {
        symbol: SymbolId(0),
        start_ns: 0,
        end_ns: 1_000_000_000,
        open: p("100"),
        high: p("105"),
        low: p("100"),
        close: p("102"),
        volume: 6,
        vwap: Price(102_666_666_667),
        trades: 3,
        last_recv_ns: 5,
    };
    sink.write(&[Record::Tick(trade), Record::Tick(quote)])
        .unwrap();
    sink.write(&[Record::Tick(both), Record::Bar(bar)]).unwrap();
    let recording = sink.recording();
    sink.close().unwrap();
    assert_eq!(recording.finish().unwrap().records, 4);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let want = [
        HEADER,
        "1700000000000000000,1700000000000000123,AAPL,trade,189.5,100,0,0,0,0,7,2,8",
        "42,42,MSFT,quote,0,0,410.01,410.020000001,300,0,8,0,0",
        "43,43,#9,both,-0.5,1,1,2,1,1,0,0,0",
        "bar,AAPL,0,1000000000,100,105,100,102,6,102.666666667,3",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), want);
    assert!(text.ends_with('\n'));
}

#[test]
fn file_with_no_records_has_the_header_only() {
    let path = temp_path("empty");
    let mut sink = CsvSink::create(&path, names()).unwrap();
    let recording = sink.recording();
    sink.close().unwrap();
    recording.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(text, format!("{HEADER}\n"));
}

#[test]
fn directory_that_does_not_exist_is_an_io_error_naming_the_path() {
    let path = std::env::temp_dir()
        .join(format!("mdp-no-such-dir-{}", std::process::id()))
        .join("out.csv");
    let err = CsvSink::create(&path, names()).unwrap_err();
    match &err {
        SinkError::Io {
            sink,
            path: p,
            message,
        } => {
            assert_eq!(*sink, "csv");
            assert_eq!(p, &path.display().to_string());
            assert!(message.contains("checking its directory"), "{message}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.starts_with("sink csv: "), "{shown}");
    assert!(shown.contains("out.csv"), "{shown}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_device_at_the_output_path_is_refused_not_replaced() {
    let dev_full = Path::new("/dev/full");
    if !dev_full.exists() {
        return;
    }
    let err = CsvSink::create(dev_full, names()).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("/dev/full"), "{shown}");
    assert!(shown.contains("a character device"), "{shown}");
    assert!(!Path::new("/dev/full.partial").exists());
}

#[test]
fn a_failed_run_leaves_only_the_partial_file_and_the_path_untouched() {
    let path = temp_path("failed_run");
    std::fs::write(&path, "old contents\n").unwrap();
    let mut sink = CsvSink::create(&path, names()).unwrap();
    let recording = sink.recording();
    let t = Record::Tick(Tick::trade(SymbolId(0), 1, p("1"), 1));
    sink.write(&[t; 3]).unwrap();
    sink.close().unwrap();
    let partial = recording.leave_unfinished().unwrap();
    assert_eq!(partial, recording.partial_path());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old contents\n");
    assert_eq!(
        std::fs::read_to_string(&partial).unwrap().lines().count(),
        4
    );
    let e = recording.finish().unwrap_err().to_string();
    assert!(e.contains("left unfinished"), "{e}");
    recording.discard().unwrap();
    assert!(!partial.exists());
    std::fs::remove_file(&path).ok();
}

#[test]
fn write_after_close_is_closed_not_silently_dropped() {
    let path = temp_path("closed");
    let mut sink = CsvSink::create(&path, names()).unwrap();
    sink.close().unwrap();
    let t = Record::Tick(Tick::trade(SymbolId(0), 1, p("1"), 1));
    assert_eq!(sink.write(&[t]), Err(SinkError::Closed { sink: "csv" }));
    assert_eq!(sink.flush(), Ok(()));
    sink.recording().discard().unwrap();
    assert!(!path.exists());
}

#[test]
fn a_file_of_ticks_reads_back_with_the_tick_csv_reader() {
    use crate::file::CsvReader;
    let path = temp_path("round_trip");
    let table = Arc::new(SymbolTable::with_symbols(&["AAPL", "MSFT"]).unwrap());
    let mut sink = CsvSink::create(&path, SymbolNames::new(table)).unwrap();
    let ticks = [
        Tick::trade(SymbolId(1), 10, p("410.5"), 3),
        Tick::quote(SymbolId(0), 11, p("189.99"), p("190.01"), 4, 5),
    ];
    sink.write(&ticks.map(Record::Tick)).unwrap();
    sink.close().unwrap();
    sink.recording().finish().unwrap();
    let back = Arc::new(SymbolTable::with_symbols(&["AAPL", "MSFT"]).unwrap());
    let file = std::io::BufReader::new(File::open(&path).unwrap());
    let read: Vec<Tick> = CsvReader::new(file, back).map(|r| r.unwrap()).collect();
    std::fs::remove_file(&path).ok();
    assert_eq!(read, ticks);
}
