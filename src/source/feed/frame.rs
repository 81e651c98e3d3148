//! The pure framing state machine of the feed protocol: bytes in, validated ticks out.
//!
//! No I/O and no allocation on the success path. The decoder keeps at most one partial unit
//! (header or frame) between calls, so input may be split or coalesced anywhere.
//!
//! # Contract
//!
//! - A stream starts with the [`HEADER_LEN`]-byte hello header (see [`super`]), then carries
//!   [`TICK_BYTES`]-byte frames back to back.
//! - Offsets count bytes from the start of the stream (the first header byte is offset 0). A
//!   bad frame is reported at the offset of its **first byte**; a bad header at offset 0.
//! - Ticks decoded before a bad unit are never lost: a call that meets bad data after decoding
//!   some ticks returns them (`Ok`), and the error comes from the next call. From then on the
//!   decoder is poisoned ([`FrameDecoder::error`]): every call returns the same error until
//!   [`FrameDecoder::reset`].

use crate::error::{DataError, DataErrorKind, DataLocation};
use crate::tick::{Tick, TICK_BYTES};

/// The four magic bytes that open a feed stream.
pub const MAGIC: [u8; 4] = *b"MDPF";
/// The protocol version this build speaks.
pub const VERSION: u16 = 1;
/// Length of the hello header: magic, version (u16 LE), frame size (u16 LE).
pub const HEADER_LEN: usize = 8;

/// The hello header a publisher sends before its first frame.
pub const fn header() -> [u8; HEADER_LEN] {
    let v = VERSION.to_le_bytes();
    let r = (TICK_BYTES as u16).to_le_bytes();
    [
        MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1], r[0], r[1],
    ]
}

/// What one [`FrameDecoder::decode`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes consumed (the rest did not fit in `out`; pass them again).
    pub consumed: usize,
    /// Ticks written to the front of `out`.
    pub ticks: usize,
}

/// Incremental decoder of one feed stream. See the module docs.
///
/// ```
/// use market_data_pipeline::source::feed::frame::{header, FrameDecoder};
/// use market_data_pipeline::{Tick, SymbolId, Price};
///
/// let mut wire = header().to_vec();
/// wire.extend_from_slice(&Tick::trade(SymbolId(0), 5, Price::from_units(10), 100).encode());
/// let mut dec = FrameDecoder::new(Vec::new());
/// let mut out = [Tick::default(); 4];
/// // Split anywhere: the first call sees half a frame, the second the rest.
/// let a = dec.decode(&wire[..40], 99, &mut out).unwrap();
/// assert_eq!((a.consumed, a.ticks), (40, 0));
/// let b = dec.decode(&wire[40..], 99, &mut out).unwrap();
/// assert_eq!(b.ticks, 1);
/// assert_eq!(out[0].ts_recv, 99);
/// ```
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    stage: [u8; TICK_BYTES],
    staged: usize,
    /// Bytes of complete units (header, frames) consumed so far.
    offset: u64,
    header_done: bool,
    /// Sorted symbol ids allowed on the wire; empty = any.
    known: Vec<u32>,
    poisoned: Option<DataError>,
}

impl FrameDecoder {
    /// A decoder expecting a header first. `known_symbols` (any order) restricts the symbol ids
    /// accepted; empty accepts every id.
    pub fn new(mut known_symbols: Vec<u32>) -> FrameDecoder {
        known_symbols.sort_unstable();
        known_symbols.dedup();
        FrameDecoder {
            stage: [0; TICK_BYTES],
            staged: 0,
            offset: 0,
            header_done: false,
            known: known_symbols,
            poisoned: None,
        }
    }

    /// Start over for a new stream (a new connection): header expected, offset 0.
    pub fn reset(&mut self) {
        self.staged = 0;
        self.offset = 0;
        self.header_done = false;
        self.poisoned = None;
    }

    /// Stream bytes consumed so far, including a partial unit held between calls.
    pub fn offset(&self) -> u64 {
        self.offset + self.staged as u64
    }

    /// Whether the hello header has been read.
    pub fn header_done(&self) -> bool {
        self.header_done
    }

    /// Bytes of a partial header or frame held since the last call.
    pub fn partial(&self) -> usize {
        self.staged
    }

    /// The error that poisoned the decoder, if any.
    pub fn error(&self) -> Option<&DataError> {
        self.poisoned.as_ref()
    }

    /// Decode as much of `input` as fits in `out`, stamping `ts_recv` on every tick.
    ///
    /// # Errors
    /// When no tick was decoded by this call, a [`DataError`] at the byte offset of the bad header (`BadMagic`,
    /// `UnsupportedVersion`, `BadRecordSize`) or frame (`BadRecord`, `UnknownSymbol`).
    pub fn decode(
        &mut self,
        input: &[u8],
        ts_recv: u64,
        out: &mut [Tick],
    ) -> Result<Decoded, DataError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let mut i = 0;
        let mut n = 0;
        loop {
            let need = if self.header_done {
                TICK_BYTES
            } else {
                HEADER_LEN
            };
            if self.header_done && n == out.len() {
                break;
            }
            let left = input.len() - i;
            let unit: [u8; TICK_BYTES];
            if self.staged == 0 && left >= need {
                let mut u = [0u8; TICK_BYTES];
                u[..need].copy_from_slice(&input[i..i + need]);
                unit = u;
                i += need;
            } else {
                let take = (need - self.staged).min(left);
                if take == 0 {
                    break;
                }
                self.stage[self.staged..self.staged + take].copy_from_slice(&input[i..i + take]);
                self.staged += take;
                i += take;
                if self.staged < need {
                    break;
                }
                unit = self.stage;
                self.staged = 0;
            }
            let at = self.offset;
            self.offset += need as u64;
            let res = if self.header_done {
                self.frame(&unit, ts_recv).map(|t| {
                    out[n] = t;
                    n += 1;
                })
            } else {
                check_header(&unit[..HEADER_LEN]).map(|()| self.header_done = true)
            };
            if let Err(kind) = res {
                let e = DataError::new(DataLocation::Offset(at), kind);
                self.poisoned = Some(e.clone());
                if n > 0 {
                    break; // deliver the good ticks first; the error comes next call
                }
                return Err(e);
            }
        }
        Ok(Decoded {
            consumed: i,
            ticks: n,
        })
    }

    #[inline]
    fn frame(&self, b: &[u8; TICK_BYTES], ts_recv: u64) -> Result<Tick, DataErrorKind> {
        let mut t = Tick::decode(b).map_err(DataErrorKind::BadRecord)?;
        if !self.known.is_empty() && self.known.binary_search(&t.symbol.0).is_err() {
            return Err(DataErrorKind::UnknownSymbol(t.symbol.0));
        }
        t.ts_recv = ts_recv;
        Ok(t)
    }
}

fn check_header(h: &[u8]) -> Result<(), DataErrorKind> {
    if h[..4] != MAGIC {
        return Err(DataErrorKind::BadMagic {
            found: h[..4].to_vec(),
        });
    }
    let version = u16::from_le_bytes([h[4], h[5]]);
    if version != VERSION {
        return Err(DataErrorKind::UnsupportedVersion {
            found: version.into(),
            supported: VERSION.into(),
        });
    }
    let size = u16::from_le_bytes([h[6], h[7]]);
    if usize::from(size) != TICK_BYTES {
        return Err(DataErrorKind::BadRecordSize { found: size.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
