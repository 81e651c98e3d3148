//! Parse arbitrary bytes as a tick file and read every record: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use market_data_pipeline::TickFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = TickFile::from_bytes(data) {
        let mut n = 0u64;
        for record in file.records() {
            if let Ok(tick) = record {
                // A record that reads back must name a symbol of the file.
                assert!(file.symbols().name(tick.symbol).is_some());
            }
            n += 1;
        }
        assert_eq!(n, file.len());
        let _ = file.validate_records();
    }
});
