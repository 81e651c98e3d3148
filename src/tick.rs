//! The tick: one 64-byte cache line, `Copy`, fixed-point prices, interned symbol.

use crate::price::Price;
use crate::symbol::SymbolId;

/// What a tick carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TickKind {
    /// A trade: `price` and `size` are set.
    #[default]
    Trade = 1,
    /// A quote: `bid`, `ask`, `bid_size`, `ask_size` are set.
    Quote = 2,
    /// Both a trade and the quote after it.
    Both = 3,
}

impl TickKind {
    /// Decode from the wire/file byte.
    #[inline]
    pub const fn from_u8(b: u8) -> Option<TickKind> {
        match b {
            1 => Some(TickKind::Trade),
            2 => Some(TickKind::Quote),
            3 => Some(TickKind::Both),
            _ => None,
        }
    }

    /// True for kinds that carry a trade.
    #[inline]
    pub const fn has_trade(self) -> bool {
        matches!(self, TickKind::Trade | TickKind::Both)
    }

    /// True for kinds that carry a quote.
    #[inline]
    pub const fn has_quote(self) -> bool {
        matches!(self, TickKind::Quote | TickKind::Both)
    }

    /// Lower-case name (`trade`, `quote`, `both`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TickKind::Trade => "trade",
            TickKind::Quote => "quote",
            TickKind::Both => "both",
        }
    }
}

/// Bits of [`Tick::flags`].
pub mod flags {
    /// First tick delivered after a router switched sources.
    pub const FIRST_AFTER_SWITCH: u8 = 1 << 0;
    /// A sequence gap precedes this tick (ticks were missed upstream).
    pub const GAP_BEFORE: u8 = 1 << 1;
    /// The tick was replayed from a file.
    pub const REPLAYED: u8 = 1 << 2;
    /// The tick is synthetic.
    pub const SYNTHETIC: u8 = 1 << 3;
    /// All bits that have a meaning; others must be zero in files.
    pub const KNOWN: u8 = FIRST_AFTER_SWITCH | GAP_BEFORE | REPLAYED | SYNTHETIC;
}

/// One market-data event. Exactly 64 bytes, one cache line.
///
/// Layout (little-endian in files): `ts_event u64, ts_recv u64, price i64, bid i64, ask i64,
/// seq u32, size u32, bid_size u32, ask_size u32, symbol u32, source u16, kind u8, flags u8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct Tick {
    /// Exchange (event) timestamp, ns.
    pub ts_event: u64,
    /// Local receive timestamp, ns, from the engine's [`Clock`](crate::Clock).
    pub ts_recv: u64,
    /// Trade price.
    pub price: Price,
    /// Best bid.
    pub bid: Price,
    /// Best ask.
    pub ask: Price,
    /// Per-source sequence number.
    pub seq: u32,
    /// Trade size.
    pub size: u32,
    /// Bid size.
    pub bid_size: u32,
    /// Ask size.
    pub ask_size: u32,
    /// Interned symbol.
    pub symbol: SymbolId,
    /// Source id (the router's index of the source, or a file's source id).
    pub source: u16,
    /// Trade, quote or both.
    pub kind: TickKind,
    /// [`flags`] bits.
    pub flags: u8,
}

const _: () = assert!(std::mem::size_of::<Tick>() == 64);
const _: () = assert!(std::mem::align_of::<Tick>() == 64);

/// Size of one encoded tick record.
pub const TICK_BYTES: usize = 64;

/// Why 64 bytes do not decode to a [`Tick`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TickDecodeError {
    /// The kind byte is not 1, 2 or 3.
    #[error("invalid tick kind byte {0}")]
    BadKind(u8),
    /// Flag bits outside [`flags::KNOWN`].
    #[error("unknown flag bits {0:#04x}")]
    BadFlags(u8),
}

#[inline]
fn u64_at(b: &[u8; 64], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn u32_at(b: &[u8; 64], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl Tick {
    /// Encode as the 64-byte little-endian record used by tick files and frames.
    #[inline]
    pub fn encode(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&self.ts_event.to_le_bytes());
        b[8..16].copy_from_slice(&self.ts_recv.to_le_bytes());
        b[16..24].copy_from_slice(&self.price.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.bid.0.to_le_bytes());
        b[32..40].copy_from_slice(&self.ask.0.to_le_bytes());
        b[40..44].copy_from_slice(&self.seq.to_le_bytes());
        b[44..48].copy_from_slice(&self.size.to_le_bytes());
        b[48..52].copy_from_slice(&self.bid_size.to_le_bytes());
        b[52..56].copy_from_slice(&self.ask_size.to_le_bytes());
        b[56..60].copy_from_slice(&self.symbol.0.to_le_bytes());
        b[60..62].copy_from_slice(&self.source.to_le_bytes());
        b[62] = self.kind as u8;
        b[63] = self.flags;
        b
    }

    /// Decode a 64-byte record, validating the kind and flag bytes.
    #[inline]
    pub fn decode(b: &[u8; 64]) -> Result<Tick, TickDecodeError> {
        let kind = TickKind::from_u8(b[62]).ok_or(TickDecodeError::BadKind(b[62]))?;
        if b[63] & !flags::KNOWN != 0 {
            return Err(TickDecodeError::BadFlags(b[63]));
        }
        Ok(Tick {
            ts_event: u64_at(b, 0),
            ts_recv: u64_at(b, 8),
            price: Price(u64_at(b, 16) as i64),
            bid: Price(u64_at(b, 24) as i64),
            ask: Price(u64_at(b, 32) as i64),
            seq: u32_at(b, 40),
            size: u32_at(b, 44),
            bid_size: u32_at(b, 48),
            ask_size: u32_at(b, 52),
            symbol: SymbolId(u32_at(b, 56)),
            source: u16::from_le_bytes([b[60], b[61]]),
            kind,
            flags: b[63],
        })
    }

    /// A trade tick.
    pub fn trade(symbol: SymbolId, ts_event: u64, price: Price, size: u32) -> Tick {
        Tick {
            ts_event,
            ts_recv: ts_event,
            price,
            size,
            symbol,
            kind: TickKind::Trade,
            ..Tick::default()
        }
    }

    /// A quote tick.
    pub fn quote(
        symbol: SymbolId,
        ts_event: u64,
        bid: Price,
        ask: Price,
        bid_size: u32,
        ask_size: u32,
    ) -> Tick {
        Tick {
            ts_event,
            ts_recv: ts_event,
            bid,
            ask,
            bid_size,
            ask_size,
            symbol,
            kind: TickKind::Quote,
            ..Tick::default()
        }
    }

    /// Mid price of the quote (rounded toward negative infinity), or the trade price.
    #[inline]
    pub fn mid(&self) -> Price {
        if self.kind.has_quote() {
            Price(((self.bid.0 as i128 + self.ask.0 as i128).div_euclid(2)) as i64)
        } else {
            self.price
        }
    }

    /// A cheap checksum of the payload, for self-checking stress tests.
    #[inline]
    pub fn checksum(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for w in [
            self.ts_event,
            self.price.0 as u64,
            self.bid.0 as u64,
            self.ask.0 as u64,
            ((self.seq as u64) << 32) | self.size as u64,
            ((self.symbol.0 as u64) << 16) | self.source as u64,
        ] {
            h = (h ^ w).wrapping_mul(0x100_0000_01b3);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Tick>(), 64);
        assert_eq!(std::mem::align_of::<Tick>(), 64);
    }

    #[test]
    fn encode_decode_round_trip() {
        let t = Tick {
            ts_event: 1,
            ts_recv: 2,
            price: Price(-3),
            bid: Price(4),
            ask: Price(5),
            seq: 6,
            size: 7,
            bid_size: 8,
            ask_size: 9,
            symbol: SymbolId(10),
            source: 11,
            kind: TickKind::Both,
            flags: flags::REPLAYED | flags::GAP_BEFORE,
        };
        assert_eq!(Tick::decode(&t.encode()), Ok(t));
    }

    #[test]
    fn decode_rejects_bad_kind_and_flags() {
        let mut b = Tick::default().encode();
        b[62] = 9;
        assert_eq!(Tick::decode(&b), Err(TickDecodeError::BadKind(9)));
        let mut b = Tick::default().encode();
        b[63] = 0x80;
        assert_eq!(Tick::decode(&b), Err(TickDecodeError::BadFlags(0x80)));
    }
}
