//! Quote streams: a runtime's ticks copied in bulk into the caller's buffer, polled or
//! waited for, with no allocation per call.

use std::ffi::c_char;
use std::mem::{align_of, offset_of, size_of};
use std::time::Duration;

use market_data_pipeline::runtime::QuoteStream;
use market_data_pipeline::symbol::SymbolId;
use market_data_pipeline::Tick;

use crate::args::{free_handle, handle, handle_mut, into_handle, out, put, texts};
use crate::runtime::{runtime_failure, MdpRuntime};
use crate::status::{guard, Failure, MdpStatus};

/// One market-data event: the engine's 64-byte tick, byte for byte.
///
/// Prices are fixed-point: `raw / 1e9` (`MDP_PRICE_SCALE`). Timestamps are nanoseconds.
/// `kind` is 1 trade (`price`, `size` set), 2 quote (`bid`, `ask`, sizes set) or 3 both;
/// `flags` bits are the `MDP_FLAG_*` constants. `symbol` is an id: its name comes from
/// `mdp_stream_symbol_name`.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdpTick {
    /// Exchange (event) timestamp, ns.
    pub ts_event: u64,
    /// Local receive timestamp, ns.
    pub ts_recv: u64,
    /// Trade price, fixed-point (1e-9).
    pub price: i64,
    /// Best bid, fixed-point (1e-9).
    pub bid: i64,
    /// Best ask, fixed-point (1e-9).
    pub ask: i64,
    /// Per-source sequence number.
    pub seq: u32,
    /// Trade size.
    pub size: u32,
    /// Bid size.
    pub bid_size: u32,
    /// Ask size.
    pub ask_size: u32,
    /// Interned symbol id.
    pub symbol: u32,
    /// Source id.
    pub source: u16,
    /// 1 trade, 2 quote, 3 both.
    pub kind: u8,
    /// `MDP_FLAG_*` bits.
    pub flags: u8,
}

/// Fixed-point price scale: a price of `raw` is `raw / MDP_PRICE_SCALE`.
pub const MDP_PRICE_SCALE: i64 = 1_000_000_000;
/// `MdpTick::kind`: a trade.
pub const MDP_KIND_TRADE: u8 = 1;
/// `MdpTick::kind`: a quote.
pub const MDP_KIND_QUOTE: u8 = 2;
/// `MdpTick::kind`: a trade and the quote after it.
pub const MDP_KIND_BOTH: u8 = 3;
/// `MdpTick::flags`: first tick after a router switched sources.
pub const MDP_FLAG_FIRST_AFTER_SWITCH: u8 = 1;
/// `MdpTick::flags`: ticks were missed upstream before this one.
pub const MDP_FLAG_GAP_BEFORE: u8 = 2;
/// `MdpTick::flags`: replayed from a file.
pub const MDP_FLAG_REPLAYED: u8 = 4;
/// `MdpTick::flags`: synthetic.
pub const MDP_FLAG_SYNTHETIC: u8 = 8;

// The header's constants (literals: cbindgen writes only those) are the engine's.
const _: () = {
    use market_data_pipeline::tick::{flags, TickKind};
    assert!(MDP_PRICE_SCALE == market_data_pipeline::price::PRICE_SCALE);
    assert!(MDP_KIND_TRADE == TickKind::Trade as u8);
    assert!(MDP_KIND_QUOTE == TickKind::Quote as u8);
    assert!(MDP_KIND_BOTH == TickKind::Both as u8);
    assert!(MDP_FLAG_FIRST_AFTER_SWITCH == flags::FIRST_AFTER_SWITCH);
    assert!(MDP_FLAG_GAP_BEFORE == flags::GAP_BEFORE);
    assert!(MDP_FLAG_REPLAYED == flags::REPLAYED);
    assert!(MDP_FLAG_SYNTHETIC == flags::SYNTHETIC);
};

// The copy below moves ticks byte for byte: the layouts must be the same, field by field.
const _: () = {
    assert!(size_of::<MdpTick>() == size_of::<Tick>() && size_of::<Tick>() == 64);
    assert!(align_of::<MdpTick>() == align_of::<Tick>());
    assert!(offset_of!(MdpTick, ts_event) == offset_of!(Tick, ts_event));
    assert!(offset_of!(MdpTick, ts_recv) == offset_of!(Tick, ts_recv));
    assert!(offset_of!(MdpTick, price) == offset_of!(Tick, price));
    assert!(offset_of!(MdpTick, bid) == offset_of!(Tick, bid));
    assert!(offset_of!(MdpTick, ask) == offset_of!(Tick, ask));
    assert!(offset_of!(MdpTick, seq) == offset_of!(Tick, seq));
    assert!(offset_of!(MdpTick, size) == offset_of!(Tick, size));
    assert!(offset_of!(MdpTick, bid_size) == offset_of!(Tick, bid_size));
    assert!(offset_of!(MdpTick, ask_size) == offset_of!(Tick, ask_size));
    assert!(offset_of!(MdpTick, symbol) == offset_of!(Tick, symbol));
    assert!(offset_of!(MdpTick, source) == offset_of!(Tick, source));
    assert!(offset_of!(MdpTick, kind) == offset_of!(Tick, kind));
    assert!(offset_of!(MdpTick, flags) == offset_of!(Tick, flags));
    assert!(size_of::<SymbolId>() == 4 && size_of::<market_data_pipeline::Price>() == 8);
};

/// A stream of a runtime's ticks for some symbols (one source stage on a runtime worker,
/// one ring to the reader). Listed as `quotes/stream-<n>` while open.
///
/// Ownership: made by `mdp_runtime_stream_quotes`, owned by the caller, freed once by
/// `mdp_stream_free` (which stops its pipeline and drains it). It may outlive its runtime:
/// it then ends once the buffered ticks are read.
///
/// Thread safety: exclusive; one thread at a time may use it (it may move between threads
/// between calls). Reading is the ring's single consumer.
pub struct MdpQuoteStream {
    inner: QuoteStream,
}

/// Open a quote stream of the default sources for `n_symbols` symbols. On success
/// `*out_stream` is the stream (free with `mdp_stream_free`).
///
/// Errors: `MDP_STATUS_RUNTIME` (limit reached, a source that cannot be built),
/// `MDP_STATUS_NULL_ARGUMENT` / `MDP_STATUS_INVALID_ARGUMENT` naming `symbols[i]`.
///
/// # Safety
/// `runtime` is null or a live runtime; `symbols` is null or `n_symbols` NUL-terminated
/// strings; `out_stream` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_runtime_stream_quotes(
    runtime: *const MdpRuntime,
    symbols: *const *const c_char,
    n_symbols: usize,
    out_stream: *mut *mut MdpQuoteStream,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let runtime = unsafe { handle(runtime, "runtime") }?;
        // SAFETY: per this function's contract.
        let symbols = unsafe { texts(symbols, n_symbols, "symbols") }?;
        out(out_stream, "out_stream")?;
        let inner = runtime
            .inner
            .stream_quotes(&symbols)
            .map_err(|e| runtime_failure(&e))?;
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_stream, into_handle(MdpQuoteStream { inner })) };
        Ok(MdpStatus::Ok)
    })
}

/// The status of a read of `n` ticks into a buffer of `capacity`.
fn read_status(stream: &MdpQuoteStream, n: usize, capacity: usize, waited: bool) -> MdpStatus {
    if n > 0 || capacity == 0 {
        MdpStatus::Ok
    } else if stream.inner.is_finished() {
        MdpStatus::EndOfStream
    } else if waited {
        MdpStatus::Timeout
    } else {
        MdpStatus::Ok
    }
}

/// Check a read's arguments; the stream and the copy into `buf`.
///
/// # Safety
/// As `mdp_stream_poll`.
unsafe fn reader<'a>(
    stream: *mut MdpQuoteStream,
    buf: *mut MdpTick,
    capacity: usize,
    out_n: *mut usize,
) -> Result<(&'a mut MdpQuoteStream, impl FnMut(&[Tick]) + 'a), Failure> {
    // SAFETY: per the caller's contract.
    let stream = unsafe { handle_mut(stream, "stream") }?;
    out(out_n, "out_n")?;
    if buf.is_null() && capacity > 0 {
        return Err(Failure::new(
            MdpStatus::NullArgument,
            format!("argument `buf` is null with capacity {capacity}"),
        ));
    }
    let dst = buf.cast::<u8>();
    let mut at = 0usize;
    let copy = move |s: &[Tick]| {
        // SAFETY: the engine hands at most `capacity` ticks in all, so `buf` has room for
        // them (the caller's contract: `capacity` ticks writable). Bytes are copied, so a
        // buffer of any alignment is fine; MdpTick has Tick's layout (asserted above).
        unsafe {
            std::ptr::copy_nonoverlapping(
                s.as_ptr().cast::<u8>(),
                dst.add(at * size_of::<Tick>()),
                std::mem::size_of_val(s),
            );
        }
        at += s.len();
    };
    Ok((stream, copy))
}

/// Copy up to `capacity` ready ticks into `buf` without waiting; `*out_n` is how many.
///
/// `MDP_STATUS_OK` with `*out_n` possibly 0 (nothing ready now, or `capacity` 0);
/// `MDP_STATUS_END_OF_STREAM` with `*out_n` 0 once the stream has ended and everything was
/// read. No allocation, lock or syscall.
///
/// # Safety
/// `stream` is null or a live stream used by no other call; `buf` is null (only with
/// `capacity` 0) or points to `capacity` writable `MdpTick`s, any alignment; `out_n` is
/// null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_stream_poll(
    stream: *mut MdpQuoteStream,
    buf: *mut MdpTick,
    capacity: usize,
    out_n: *mut usize,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (stream, copy) = unsafe { reader(stream, buf, capacity, out_n) }?;
        let n = stream.inner.read_chunks(capacity, copy);
        // SAFETY: checked non-null by reader; writable per the contract.
        unsafe { put(out_n, n) };
        Ok(read_status(stream, n, capacity, false))
    })
}

/// Copy up to `capacity` ticks into `buf`, first waiting up to `timeout_ms` milliseconds
/// (spin, then yield, then park) for at least one; `*out_n` is how many.
///
/// `MDP_STATUS_OK` with `*out_n >= 1` (or 0 when `capacity` is 0); `MDP_STATUS_TIMEOUT`
/// with 0 when nothing came in time; `MDP_STATUS_END_OF_STREAM` with 0 once the stream has
/// ended and everything was read. `UINT64_MAX` waits for ever. No allocation per call.
///
/// # Safety
/// As `mdp_stream_poll`.
#[no_mangle]
pub unsafe extern "C" fn mdp_stream_read(
    stream: *mut MdpQuoteStream,
    buf: *mut MdpTick,
    capacity: usize,
    timeout_ms: u64,
    out_n: *mut usize,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (stream, copy) = unsafe { reader(stream, buf, capacity, out_n) }?;
        let timeout = Duration::from_millis(timeout_ms);
        let n = stream.inner.read_chunks_timeout(capacity, timeout, copy);
        // SAFETY: checked non-null by reader; writable per the contract.
        unsafe { put(out_n, n) };
        Ok(read_status(stream, n, capacity, true))
    })
}

/// Copy the name of symbol id `symbol` (from `MdpTick::symbol`) into `buf` as a
/// NUL-terminated string; `*out_len` is its length without the NUL.
///
/// Errors: `MDP_STATUS_BUFFER_TOO_SMALL` when `capacity < *out_len + 1` (`*out_len` is then
/// the length needed; nothing is written), `MDP_STATUS_NOT_FOUND` for an unknown id.
///
/// # Safety
/// `stream` is null or a live stream used by no other call; `buf` is null (only with
/// `capacity` 0) or points to `capacity` writable bytes; `out_len` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn mdp_stream_symbol_name(
    stream: *const MdpQuoteStream,
    symbol: u32,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        out(out_len, "out_len")?;
        let name = stream
            .inner
            .symbols()
            .name(SymbolId(symbol))
            .ok_or_else(|| {
                Failure::new(MdpStatus::NotFound, format!("unknown symbol id {symbol}"))
            })?;
        // SAFETY: checked non-null above; writable per the contract.
        unsafe { put(out_len, name.len()) };
        if capacity <= name.len() {
            return Err(Failure::new(
                MdpStatus::BufferTooSmall,
                format!(
                    "symbol {symbol} needs {} bytes with its NUL; `capacity` is {capacity}",
                    name.len() + 1
                ),
            ));
        }
        if buf.is_null() {
            return Err(Failure::new(
                MdpStatus::NullArgument,
                "argument `buf` is null",
            ));
        }
        // SAFETY: buf has capacity > name.len() writable bytes (contract, checked above).
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), name.len());
            buf.add(name.len()).write(0);
        }
        Ok(MdpStatus::Ok)
    })
}

/// Stop the stream's pipeline, drain it and free the stream. Null is ignored
/// (`MDP_STATUS_OK`); `MDP_STATUS_PANIC` if freeing failed inside (a bug). Either way the
/// handle must not be used again.
///
/// # Safety
/// `stream` is null or a live stream in use by no other call; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn mdp_stream_free(stream: *mut MdpQuoteStream) -> MdpStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(stream) };
        Ok(MdpStatus::Ok)
    })
}
