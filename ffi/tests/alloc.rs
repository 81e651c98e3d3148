//! Reading a quote stream through the C ABI allocates nothing per call (the header's
//! promise): `mdp_stream_read`, `mdp_stream_poll` and `mdp_stream_symbol_name`, counted on the
//! reading thread.

#[path = "../../tests/common/counting_alloc.rs"]
#[allow(dead_code)]
mod counting_alloc;

use std::ffi::c_char;
use std::ptr;

use counting_alloc::{thread_allocations, Counting};
use mdp_ffi::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn stream_reads_allocate_nothing_per_call() {
    let mut rt = ptr::null_mut();
    // SAFETY: a NUL-terminated string and a writable out pointer.
    let status = unsafe { mdp_runtime_start_toml(c"".as_ptr(), &mut rt) };
    assert_eq!(status, MdpStatus::Ok);
    let symbols = [c"AAPL".as_ptr(), c"MSFT".as_ptr()];
    let mut stream = ptr::null_mut();
    // SAFETY: a live runtime, two NUL-terminated strings, a writable out pointer.
    let status = unsafe { mdp_runtime_stream_quotes(rt, symbols.as_ptr(), 2, &mut stream) };
    assert_eq!(status, MdpStatus::Ok);
    let mut buf = vec![MdpTick::default(); 512];
    let mut name = [0 as c_char; 16];
    let (mut n, mut len, mut total) = (0usize, 0usize, 0usize);
    // SAFETY: a live stream and a buffer of 512 ticks (the first read warms up).
    let status = unsafe { mdp_stream_read(stream, buf.as_mut_ptr(), 512, u64::MAX, &mut n) };
    assert_eq!(status, MdpStatus::Ok);
    let before = thread_allocations();
    for i in 0..2000 {
        // SAFETY: as above.
        let status = unsafe { mdp_stream_read(stream, buf.as_mut_ptr(), 512, u64::MAX, &mut n) };
        assert_eq!(status, MdpStatus::Ok);
        total += n;
        // SAFETY: as above, the poll form.
        let status = unsafe { mdp_stream_poll(stream, buf.as_mut_ptr(), 512, &mut n) };
        assert_eq!(status, MdpStatus::Ok);
        total += n;
        if i % 100 == 0 {
            // SAFETY: a live stream, a 16-byte buffer, a writable length.
            let status =
                unsafe { mdp_stream_symbol_name(stream, 0, name.as_mut_ptr(), 16, &mut len) };
            assert_eq!(status, MdpStatus::Ok);
        }
    }
    let allocations = thread_allocations() - before;
    assert!(total >= 2000);
    assert_eq!(
        allocations, 0,
        "allocations while reading {total} ticks in 4000 calls"
    );
    // SAFETY: live handles, each freed once.
    unsafe {
        mdp_stream_free(stream);
        mdp_runtime_free(rt);
    }
}
