//! Decode arbitrary bytes as a feed stream, cut into pieces chosen by the input: errors are
//! fine, panics and hangs are not; offsets stay inside the input; a valid prefix decodes the
//! same however it is cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use market_data_pipeline::source::feed::FrameDecoder;
use market_data_pipeline::{DataLocation, Tick};

fn decode(data: &[u8], piece: usize, cap: usize) -> (Vec<Tick>, Option<u64>) {
    let mut dec = FrameDecoder::new(Vec::new());
    let mut out = vec![Tick::default(); cap];
    let mut got = Vec::new();
    for mut rest in data.chunks(piece) {
        // Each round consumes input or fills `out`, which is then emptied.
        for _ in 0..=rest.len() + 1 {
            match dec.decode(rest, 0, &mut out) {
                Ok(d) => {
                    got.extend_from_slice(&out[..d.ticks]);
                    rest = &rest[d.consumed..];
                    if rest.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    let DataLocation::Offset(at) = e.at else {
                        panic!("no offset: {e}")
                    };
                    assert!(at < data.len() as u64);
                    return (got, Some(at));
                }
            }
        }
    }
    let err = dec.decode(&[], 0, &mut out).err().map(|e| match e.at {
        DataLocation::Offset(at) => at,
        _ => panic!("no offset: {e}"),
    });
    (got, err)
}

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let piece = usize::from(knobs & 0x3f) + 1;
    let cap = usize::from(knobs >> 6) + 1;
    let whole = decode(data, data.len().max(1), 64);
    let cut = decode(data, piece, cap);
    assert_eq!(whole, cut);
});
