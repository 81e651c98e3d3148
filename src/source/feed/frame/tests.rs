use super::*;
use crate::price::Price;
use crate::symbol::SymbolId;
use crate::tick::TickKind;
use proptest::prelude::*;

fn tick(seq: u32) -> Tick {
    Tick {
        seq,
        ts_event: 1_000 + u64::from(seq),
        ..Tick::trade(SymbolId(seq % 3), 0, Price::from_units(10), seq)
    }
}

fn wire(n: u32) -> Vec<u8> {
    let mut w = header().to_vec();
    for s in 0..n {
        w.extend_from_slice(&tick(s).encode());
    }
    w
}

/// Feed `chunks` in order with an output buffer of `cap` ticks, re-feeding unconsumed bytes.
fn run(dec: &mut FrameDecoder, chunks: &[&[u8]], cap: usize) -> Result<Vec<Tick>, DataError> {
    let mut got = Vec::new();
    let mut out = vec![Tick::default(); cap];
    for c in chunks {
        let mut rest = *c;
        // Bounded: each round consumes input or fills `out`.
        for _ in 0..=rest.len() + 1 {
            let d = dec.decode(rest, 7, &mut out)?;
            got.extend_from_slice(&out[..d.ticks]);
            rest = &rest[d.consumed..];
            if rest.is_empty() {
                break;
            }
        }
        assert!(rest.is_empty(), "decoder stopped making progress");
    }
    // Surface an error met after the last good ticks.
    dec.decode(&[], 7, &mut out)?;
    Ok(got)
}

fn expected(n: u32) -> Vec<Tick> {
    (0..n)
        .map(|s| Tick {
            ts_recv: 7,
            ..tick(s)
        })
        .collect()
}

#[test]
fn case_1_every_split_point_of_three_frames_gives_the_same_ticks() {
    let w = wire(3);
    for cut in 0..=w.len() {
        let mut dec = FrameDecoder::new(Vec::new());
        let got = run(&mut dec, &[&w[..cut], &w[cut..]], 8).unwrap();
        assert_eq!(got, expected(3), "cut at {cut}");
        assert_eq!(dec.offset(), w.len() as u64);
        assert_eq!(dec.partial(), 0);
    }
}

#[test]
fn case_2_every_pair_of_split_points_gives_the_same_ticks() {
    let w = wire(2);
    for a in 0..=w.len() {
        for b in a..=w.len() {
            let mut dec = FrameDecoder::new(Vec::new());
            let got = run(&mut dec, &[&w[..a], &w[a..b], &w[b..]], 8).unwrap();
            assert_eq!(got, expected(2), "cuts at {a}, {b}");
        }
    }
}

#[test]
fn case_3_byte_by_byte_and_coalesced_with_a_small_output_buffer() {
    let w = wire(10);
    let bytes: Vec<&[u8]> = w.chunks(1).collect();
    let mut dec = FrameDecoder::new(Vec::new());
    assert_eq!(run(&mut dec, &bytes, 1).unwrap(), expected(10));
    let mut dec = FrameDecoder::new(Vec::new());
    assert_eq!(run(&mut dec, &[&w], 3).unwrap(), expected(10));
}

#[test]
fn case_4_a_full_output_buffer_leaves_the_rest_unconsumed() {
    let w = wire(5);
    let mut dec = FrameDecoder::new(Vec::new());
    let mut out = [Tick::default(); 2];
    let d = dec.decode(&w, 1, &mut out).unwrap();
    assert_eq!(d.ticks, 2);
    assert_eq!(d.consumed, HEADER_LEN + 2 * TICK_BYTES);
    let d = dec.decode(&w, 1, &mut []).unwrap();
    assert_eq!(
        d,
        Decoded {
            consumed: 0,
            ticks: 0
        }
    );
}

#[test]
fn case_5_bad_kind_byte_names_the_offset_of_its_frame() {
    let mut w = wire(4);
    let frame2 = HEADER_LEN + 2 * TICK_BYTES;
    w[frame2 + 62] = 9;
    for cut in [0, frame2, frame2 + 63, w.len()] {
        let mut dec = FrameDecoder::new(Vec::new());
        let e = run(&mut dec, &[&w[..cut], &w[cut..]], 8).unwrap_err();
        assert_eq!(e.at, DataLocation::Offset(frame2 as u64), "cut at {cut}");
        assert_eq!(
            e.kind,
            DataErrorKind::BadRecord(crate::tick::TickDecodeError::BadKind(9))
        );
        assert!(
            e.to_string().contains(&format!("byte offset {frame2}")),
            "{e}"
        );
        // Poisoned until reset.
        assert_eq!(dec.decode(&[], 0, &mut [Tick::default()]), Err(e));
        dec.reset();
        assert_eq!(run(&mut dec, &[&wire(1)], 1).unwrap(), expected(1));
    }
}

#[test]
fn case_5b_good_ticks_before_a_bad_frame_come_first_then_the_error() {
    let mut w = wire(3);
    w[HEADER_LEN + 2 * TICK_BYTES + 62] = 0;
    let mut dec = FrameDecoder::new(Vec::new());
    let mut out = [Tick::default(); 8];
    let d = dec.decode(&w, 7, &mut out).unwrap();
    assert_eq!((d.consumed, d.ticks), (w.len(), 2));
    assert_eq!(out[..2], expected(2)[..]);
    let e = dec.error().cloned().unwrap();
    assert_eq!(
        e.at,
        DataLocation::Offset((HEADER_LEN + 2 * TICK_BYTES) as u64)
    );
    assert_eq!(dec.decode(&[], 7, &mut out), Err(e));
}

type KindCheck = fn(&DataErrorKind) -> bool;

#[test]
fn case_6_bad_headers_are_named_at_offset_zero() {
    let cases: [(usize, u8, KindCheck); 3] = [
        (0, b'X', |k| matches!(k, DataErrorKind::BadMagic { .. })),
        (4, 2, |k| {
            matches!(k, DataErrorKind::UnsupportedVersion { found: 2, .. })
        }),
        (6, 65, |k| {
            matches!(k, DataErrorKind::BadRecordSize { found: 65 })
        }),
    ];
    for (i, (at, byte, is)) in cases.into_iter().enumerate() {
        let mut w = wire(1);
        w[at] = byte;
        let e = run(&mut FrameDecoder::new(Vec::new()), &[&w], 4).unwrap_err();
        assert_eq!(e.at, DataLocation::Offset(0), "case {i}");
        assert!(is(&e.kind), "case {i}: {e}");
    }
}

#[test]
fn case_7_unknown_symbol_and_bad_flags_name_their_frame() {
    let w = wire(3); // symbols 0, 1, 2
    let e = run(&mut FrameDecoder::new(vec![1, 0]), &[&w], 4).unwrap_err();
    assert_eq!(
        e.at,
        DataLocation::Offset((HEADER_LEN + 2 * TICK_BYTES) as u64)
    );
    assert_eq!(e.kind, DataErrorKind::UnknownSymbol(2));
    let mut w = wire(2);
    w[HEADER_LEN + TICK_BYTES + 63] = 0x80;
    let e = run(&mut FrameDecoder::new(Vec::new()), &[&w], 4).unwrap_err();
    assert_eq!(e.at, DataLocation::Offset((HEADER_LEN + TICK_BYTES) as u64));
}

#[test]
fn kinds_survive_the_wire() {
    let q = Tick::quote(SymbolId(4), 3, Price(1), Price(2), 5, 6);
    assert_eq!(q.kind, TickKind::Quote);
    let mut w = header().to_vec();
    w.extend_from_slice(&q.encode());
    let got = run(&mut FrameDecoder::new(Vec::new()), &[&w], 1).unwrap();
    assert_eq!(got, vec![Tick { ts_recv: 7, ..q }]);
}

proptest! {
    #[test]
    fn arbitrary_bytes_in_arbitrary_pieces_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(0usize..600, 0..6),
        cap in 0usize..5,
        valid_header in any::<bool>(),
    ) {
        let mut input = if valid_header { header().to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.sort_unstable();
        let mut dec = FrameDecoder::new(Vec::new());
        let mut out = vec![Tick::default(); cap];
        let mut prev = 0;
        for end in cuts.into_iter().chain([input.len()]) {
            let mut rest = &input[prev..end];
            prev = end;
            for _ in 0..=rest.len() + 1 {
                match dec.decode(rest, 1, &mut out) {
                    Ok(d) => {
                        prop_assert!(d.consumed <= rest.len());
                        prop_assert!(d.ticks <= out.len());
                        rest = &rest[d.consumed..];
                        if rest.is_empty() || d.consumed == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        prop_assert!(matches!(e.at, DataLocation::Offset(o) if o <= input.len() as u64));
                        break;
                    }
                }
            }
        }
        prop_assert!(dec.offset() <= input.len() as u64);
    }

    #[test]
    fn valid_streams_decode_the_same_however_they_are_cut(
        n in 0u32..12,
        cuts in proptest::collection::vec(0usize..1000, 0..8),
        cap in 1usize..6,
    ) {
        let w = wire(n);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(w.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut prev = 0;
        for end in cuts.into_iter().chain([w.len()]) {
            pieces.push(&w[prev..end]);
            prev = end;
        }
        let got = run(&mut FrameDecoder::new(Vec::new()), &pieces, cap).unwrap();
        prop_assert_eq!(got, expected(n));
    }
}
