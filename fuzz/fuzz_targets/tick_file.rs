//! Parse arbitrary bytes as a tick file, read every record, and replay it: errors are fine,
//! panics and hangs are not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use market_data_pipeline::{
    ReplayConfig, ReplaySource, SourcePoll, SymbolTable, Tick, TickFile, TickSource,
};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = TickFile::from_bytes(data) else {
        return;
    };
    let mut n = 0u64;
    let mut good = 0u64;
    for record in file.records() {
        if let Ok(tick) = record {
            // A record that reads back names a symbol of the file and re-encodes to its bytes.
            assert!(file.symbols().name(tick.symbol).is_some());
            assert_eq!(Some(&tick.encode()), file.raw_record(n));
            good += 1;
        }
        n += 1;
    }
    assert_eq!(n, file.len());
    let first_bad = file.validate_records().err();

    // Replay into a table that already holds another symbol (so ids are remapped).
    let table = Arc::new(SymbolTable::with_symbols(&["OTHER"]).unwrap());
    let Ok(mut src) = ReplaySource::new(file, table, ReplayConfig::default()) else {
        return;
    };
    src.start(0).unwrap();
    let mut out = [Tick::default(); 7];
    let mut produced = 0u64;
    // Each Ready poll consumes at least one record, so len + 2 polls always suffice.
    for _ in 0..n + 2 {
        match src.poll(0, &mut out) {
            Ok(SourcePoll::Ready(k)) => {
                assert!(k >= 1 && k <= out.len());
                produced += k as u64;
            }
            Ok(SourcePoll::Ended) => {
                assert!(first_bad.is_none());
                assert_eq!(produced, n);
                return;
            }
            Ok(SourcePoll::Pending) => panic!("as-fast-as-possible replay never pends"),
            Err(_) => {
                assert!(first_bad.is_some());
                assert!(produced < good + 1);
                return;
            }
        }
    }
    panic!("replay did not end");
});
