//! Parse arbitrary bytes as tick CSV: errors are fine, panics and hangs are not. Every tick
//! that parses must survive export and re-import unchanged.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use market_data_pipeline::file::{CsvReader, CsvWriter};
use market_data_pipeline::SymbolTable;

fuzz_target!(|data: &[u8]| {
    let table = Arc::new(SymbolTable::new());
    let mut ticks = Vec::new();
    // A reader yields at most one item per input line, so this bound is never the limit.
    for item in CsvReader::new(data, table.clone()).take(data.len() + 2) {
        match item {
            Ok(t) => ticks.push(t),
            Err(_) => break,
        }
    }
    let mut w = CsvWriter::new(Vec::new()).unwrap();
    for t in &ticks {
        w.write(t, &table.name(t.symbol).unwrap()).unwrap();
    }
    let text = w.finish().unwrap();
    let again: Vec<_> = CsvReader::new(&text[..], table.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(again, ticks);
});
