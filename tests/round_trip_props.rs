//! Property: any ticks survive tick file and CSV round trips unchanged.

mod common;

use std::sync::Arc;

use common::TempDir;
use market_data_pipeline::file::{CsvReader, CsvWriter};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{
    Price, SymbolId, SymbolTable, Tick, TickFile, TickFileWriter, TickKind,
};
use proptest::prelude::*;

const NAMES: [&str; 3] = ["AAPL", "BRK.B", "ES_F"];

fn any_tick() -> impl Strategy<Value = Tick> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
        ),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        (
            0..NAMES.len() as u32,
            any::<u16>(),
            1u8..=3,
            0..=flags::KNOWN,
        ),
    )
        .prop_map(
            |((te, tr, p, b, a), (seq, sz, bs, asz), (sym, src, k, fl))| Tick {
                ts_event: te,
                ts_recv: tr,
                price: Price(p),
                bid: Price(b),
                ask: Price(a),
                seq,
                size: sz,
                bid_size: bs,
                ask_size: asz,
                symbol: SymbolId(sym),
                source: src,
                kind: TickKind::from_u8(k).unwrap(),
                flags: fl,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tick_file_and_csv_round_trips_are_exact(ticks in prop::collection::vec(any_tick(), 0..20)) {
        let table = Arc::new(SymbolTable::with_symbols(&NAMES).unwrap());
        let dir = TempDir::new("props");
        let path = dir.path("p.ticks");
        let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
        w.write_all(&ticks).unwrap();
        w.finish().unwrap();
        let file = TickFile::open(&path).unwrap();
        let back: Vec<Tick> = file.records().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&back, &ticks);

        let mut csv = CsvWriter::new(Vec::new()).unwrap();
        for t in &ticks {
            csv.write(t, NAMES[t.symbol.0 as usize]).unwrap();
        }
        let text = csv.finish().unwrap();
        let back: Vec<Tick> = CsvReader::new(&text[..], table)
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(back, ticks);
    }
}
