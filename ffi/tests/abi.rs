//! The C ABI called as C calls it: statuses, messages naming the argument, null and
//! non-UTF-8 arguments, buffers of capacity 0 and huge capacities, streams to their end,
//! pipelines, JSON, providers and breakers. No sleeps and no timing assertions.

use std::ffi::{c_char, CStr};
use std::ptr;

use mdp_ffi::*;
use serde_json::Value;

fn last_error() -> String {
    // SAFETY: mdp_last_error returns this thread's NUL-terminated message.
    unsafe { CStr::from_ptr(mdp_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Take ownership of a string returned by the library.
fn take(s: *mut c_char) -> String {
    assert!(!s.is_null());
    // SAFETY: a NUL-terminated string from the library, freed once right after.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    // SAFETY: as above.
    unsafe { mdp_string_free(s) };
    text
}

struct Runtime(*mut MdpRuntime);

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: a live handle, freed once.
        unsafe { mdp_runtime_free(self.0) };
    }
}

fn start(toml: &CStr) -> Runtime {
    let mut rt = ptr::null_mut();
    // SAFETY: a NUL-terminated string and a writable out pointer.
    let status = unsafe { mdp_runtime_start_toml(toml.as_ptr(), &mut rt) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    Runtime(rt)
}

const BOUNDED: &CStr = c"max_concurrent_pipelines = 4
default_sources = [\"feed\"]
workers = 1
[providers.feed]
kind = \"synthetic\"
symbols = [\"AAPL\", \"MSFT\"]
max_ticks = 1000
[providers.api]
kind = \"synthetic\"
symbols = [\"SPY\"]
request_based = true
capacity = 3
refill_rate = 1
";

#[test]
fn null_and_non_utf8_arguments_are_errors_naming_the_argument() {
    let mut rt = ptr::null_mut();
    // SAFETY: null is what is being tested; the out pointer is writable.
    let status = unsafe { mdp_runtime_start_toml(ptr::null(), &mut rt) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `toml` is null");
    assert!(rt.is_null(), "nothing is written on failure");

    // SAFETY: a NUL-terminated string; the null out pointer is what is tested.
    let status = unsafe { mdp_runtime_start_toml(c"".as_ptr(), ptr::null_mut()) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `out_runtime` is null");

    let bad = b"workers = 1\xff\0";
    // SAFETY: NUL-terminated bytes that are not UTF-8.
    let status = unsafe { mdp_runtime_start_toml(bad.as_ptr().cast(), &mut rt) };
    assert_eq!(status, MdpStatus::InvalidArgument);
    assert!(
        last_error().starts_with("argument `toml` is not UTF-8 (invalid byte at offset 11"),
        "{}",
        last_error()
    );

    let runtime = start(BOUNDED);
    let symbols = [c"AAPL".as_ptr(), bad.as_ptr().cast::<c_char>()];
    let mut stream = ptr::null_mut();
    // SAFETY: two NUL-terminated strings, a live runtime, a writable out pointer.
    let status = unsafe { mdp_runtime_stream_quotes(runtime.0, symbols.as_ptr(), 2, &mut stream) };
    assert_eq!(status, MdpStatus::InvalidArgument);
    assert!(last_error().contains("`symbols[1]`"), "{}", last_error());
    let symbols = [c"AAPL".as_ptr(), ptr::null()];
    // SAFETY: as above, with a null entry.
    let status = unsafe { mdp_runtime_stream_quotes(runtime.0, symbols.as_ptr(), 2, &mut stream) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `symbols[1]` is null");
    // SAFETY: a null array with a nonzero count.
    let status = unsafe { mdp_runtime_stream_quotes(runtime.0, ptr::null(), 1, &mut stream) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `symbols` is null");
    // SAFETY: a null runtime.
    let status = unsafe { mdp_runtime_stream_quotes(ptr::null(), ptr::null(), 0, &mut stream) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `runtime` is null");
    assert!(stream.is_null());
}

#[test]
fn bad_settings_report_the_line_and_freeing_null_handles_does_nothing() {
    let mut rt = ptr::null_mut();
    // SAFETY: a NUL-terminated string and a writable out pointer.
    let status = unsafe { mdp_runtime_start_toml(c"workers = 2\nbogus = 1\n".as_ptr(), &mut rt) };
    assert_eq!(status, MdpStatus::Settings);
    assert!(last_error().contains("line 2"), "{}", last_error());
    // SAFETY: a path that does not exist.
    let status = unsafe { mdp_runtime_start_file(c"/nonexistent/mdp.toml".as_ptr(), &mut rt) };
    assert_eq!(status, MdpStatus::Settings);
    assert!(
        last_error().contains("/nonexistent/mdp.toml"),
        "{}",
        last_error()
    );
    // SAFETY: null is accepted by every free function.
    let freed = unsafe {
        mdp_string_free(ptr::null_mut());
        [
            mdp_runtime_free(ptr::null_mut()),
            mdp_stream_free(ptr::null_mut()),
            mdp_provider_free(ptr::null_mut()),
            mdp_breaker_free(ptr::null_mut()),
        ]
    };
    assert_eq!(freed, [MdpStatus::Ok; 4]);
}

#[test]
fn a_settings_file_starts_a_runtime() {
    let path = std::env::temp_dir().join(format!("mdp-ffi-{}.toml", std::process::id()));
    std::fs::write(&path, BOUNDED.to_bytes()).unwrap();
    let cpath = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut rt = ptr::null_mut();
    // SAFETY: a NUL-terminated path and a writable out pointer.
    let status = unsafe { mdp_runtime_start_file(cpath.as_ptr(), &mut rt) };
    std::fs::remove_file(&path).unwrap();
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    drop(Runtime(rt));
}

fn open_stream(runtime: &Runtime) -> *mut MdpQuoteStream {
    let symbols = [c"AAPL".as_ptr(), c"MSFT".as_ptr()];
    let mut stream = ptr::null_mut();
    // SAFETY: two NUL-terminated strings, a live runtime, a writable out pointer.
    let status = unsafe { mdp_runtime_stream_quotes(runtime.0, symbols.as_ptr(), 2, &mut stream) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    stream
}

#[test]
fn a_bounded_stream_is_read_to_its_end_through_zero_and_huge_capacities() {
    let runtime = start(BOUNDED);
    let stream = open_stream(&runtime);
    let mut n = usize::MAX;
    // Capacity 0 with a null buffer: nothing read, no error.
    // SAFETY: a live stream; a null buffer with capacity 0 is allowed.
    let status = unsafe { mdp_stream_poll(stream, ptr::null_mut(), 0, &mut n) };
    assert_eq!((status, n), (MdpStatus::Ok, 0));
    // SAFETY: as above, blocking form: capacity 0 returns at once.
    let status = unsafe { mdp_stream_read(stream, ptr::null_mut(), 0, u64::MAX, &mut n) };
    assert_eq!((status, n), (MdpStatus::Ok, 0));
    // A null buffer with room claimed is an error, as is a null count.
    // SAFETY: the null pointers are what is tested.
    let status = unsafe { mdp_stream_poll(stream, ptr::null_mut(), 5, &mut n) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `buf` is null with capacity 5");
    let mut buf = vec![MdpTick::default(); 2000];
    // SAFETY: as above.
    let status = unsafe { mdp_stream_poll(stream, buf.as_mut_ptr(), 4, ptr::null_mut()) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `out_n` is null");

    // A huge capacity: the stream holds 1000 ticks in all and the buffer 2000, so the
    // engine never writes past it. Bounded loop: each read returns at least one tick.
    let mut total = 0;
    let mut end = None;
    for _ in 0..=1000 {
        // SAFETY: buf has room for every tick the stream will ever hold (1000 < 2000).
        let status = unsafe {
            mdp_stream_read(
                stream,
                buf.as_mut_ptr().add(total),
                usize::MAX,
                u64::MAX,
                &mut n,
            )
        };
        match status {
            MdpStatus::Ok => total += n,
            other => {
                end = Some((other, n));
                break;
            }
        }
    }
    assert_eq!(end, Some((MdpStatus::EndOfStream, 0)));
    assert_eq!(total, 1000);
    let ticks = &buf[..total];
    assert!(ticks.windows(2).all(|w| w[0].seq < w[1].seq), "order kept");
    assert!(ticks.iter().all(|t| (1..=3).contains(&t.kind)));
    // The poll form at the end says so too.
    // SAFETY: a live stream and a writable buffer of 4.
    let status = unsafe { mdp_stream_poll(stream, buf.as_mut_ptr(), 4, &mut n) };
    assert_eq!((status, n), (MdpStatus::EndOfStream, 0));

    // Symbol names: exact fit, one byte short, unknown id.
    let mut name = [0 as c_char; 5];
    let mut len = 0;
    // SAFETY: a live stream, a 5-byte buffer, a writable length.
    let status =
        unsafe { mdp_stream_symbol_name(stream, buf[0].symbol, name.as_mut_ptr(), 5, &mut len) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    // SAFETY: the library wrote a NUL-terminated name.
    let text = unsafe { CStr::from_ptr(name.as_ptr()) }.to_str().unwrap();
    assert!(text == "AAPL" || text == "MSFT", "{text}");
    assert_eq!(len, 4);
    // SAFETY: as above with capacity 4 (no room for the NUL).
    let status =
        unsafe { mdp_stream_symbol_name(stream, buf[0].symbol, name.as_mut_ptr(), 4, &mut len) };
    assert_eq!((status, len), (MdpStatus::BufferTooSmall, 4));
    // SAFETY: as above.
    let status = unsafe { mdp_stream_symbol_name(stream, 999_999, name.as_mut_ptr(), 5, &mut len) };
    assert_eq!(status, MdpStatus::NotFound);
    assert_eq!(last_error(), "unknown symbol id 999999");
    // SAFETY: a live stream, freed once.
    assert_eq!(unsafe { mdp_stream_free(stream) }, MdpStatus::Ok);
}

#[test]
fn a_stream_buffer_of_any_alignment_receives_whole_ticks() {
    let runtime = start(BOUNDED);
    let stream = open_stream(&runtime);
    // 64-byte ticks written at an odd address: the copy is bytewise.
    let mut bytes = vec![0u8; 64 * 8 + 1];
    let dst = bytes.as_mut_ptr().wrapping_add(1).cast::<MdpTick>();
    let mut n = 0;
    // SAFETY: 8 ticks' worth of writable bytes at dst (unaligned is allowed).
    let status = unsafe { mdp_stream_read(stream, dst, 8, u64::MAX, &mut n) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    assert!((1..=8).contains(&n));
    // SAFETY: the library wrote n whole ticks there; read unaligned.
    let first = unsafe { dst.read_unaligned() };
    assert!((1..=3).contains(&first.kind));
    assert_eq!(first.seq, 1);
    // SAFETY: a live stream, freed once (before all was read: it stops and drains).
    unsafe { mdp_stream_free(stream) };
}

fn spec(tenant: &CStr, id: &CStr, max_ticks: u64) -> MdpPipelineSpec {
    MdpPipelineSpec {
        tenant_id: tenant.as_ptr(),
        pipeline_id: id.as_ptr(),
        sources: ptr::null(),
        n_sources: 0,
        symbols: ptr::null(),
        n_symbols: 0,
        max_ticks,
        bar_window_ms: 0,
        dedicated: 0,
    }
}

#[test]
fn pipelines_run_list_snapshot_and_stop_with_json_reports() {
    let runtime = start(BOUNDED);
    let mut key = ptr::null_mut();
    let s = spec(c"t", c"p", 500);
    // SAFETY: a live runtime, a spec of NUL-terminated strings, a writable out pointer.
    let status = unsafe { mdp_runtime_run_pipeline(runtime.0, &s, &mut key) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    let key = take(key);
    assert_eq!(key, "t/p");
    // SAFETY: as above; the key is not wanted.
    let status = unsafe { mdp_runtime_run_pipeline(runtime.0, &s, ptr::null_mut()) };
    assert_eq!(status, MdpStatus::Runtime);
    assert_eq!(last_error(), "pipeline t/p is already running");
    let mut bad = spec(c"t", c"q", 0);
    bad.pipeline_id = ptr::null();
    // SAFETY: a spec with a null field, which is what is tested.
    let status = unsafe { mdp_runtime_run_pipeline(runtime.0, &bad, ptr::null_mut()) };
    assert_eq!(status, MdpStatus::NullArgument);
    assert_eq!(last_error(), "argument `spec.pipeline_id` is null");

    let stream = open_stream(&runtime);
    let mut json = ptr::null_mut();
    // SAFETY: a live runtime and a writable out pointer.
    let status = unsafe { mdp_runtime_list_pipelines_json(runtime.0, &mut json) };
    assert_eq!(status, MdpStatus::Ok);
    let list: Value = serde_json::from_str(&take(json)).unwrap();
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["quotes/stream-0", "t/p"]);
    assert_eq!(list[0]["kind"], "quote_stream");

    // SAFETY: as above.
    let status = unsafe { mdp_runtime_snapshot_json(runtime.0, &mut json) };
    assert_eq!(status, MdpStatus::Ok);
    let snap: Value = serde_json::from_str(&take(json)).unwrap();
    let providers: Vec<&str> = snap["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["api", "feed"]);
    assert_eq!(snap["providers"][0]["request_based"], true);
    assert_eq!(snap["providers"][0]["state"]["breaker"]["state"], "closed");
    assert_eq!(snap["pipelines"].as_array().unwrap().len(), 2);
    assert_eq!(snap["routing_strategy"], "first");

    // A quote stream is stopped through its stream; unknown keys list the running ones.
    // SAFETY: a live runtime and NUL-terminated keys.
    let status = unsafe {
        mdp_runtime_stop_pipeline(runtime.0, c"quotes/stream-0".as_ptr(), ptr::null_mut())
    };
    assert_eq!(status, MdpStatus::Runtime);
    // SAFETY: as above.
    let status = unsafe { mdp_runtime_stop_pipeline(runtime.0, c"t/zz".as_ptr(), ptr::null_mut()) };
    assert_eq!(status, MdpStatus::NotFound);
    assert!(
        last_error().contains("quotes/stream-0, t/p"),
        "{}",
        last_error()
    );
    let mut report = ptr::null_mut();
    // SAFETY: as above, with a writable report pointer.
    let status = unsafe { mdp_runtime_stop_pipeline(runtime.0, c"t/p".as_ptr(), &mut report) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    let report: Value = serde_json::from_str(&take(report)).unwrap();
    assert_eq!(report["key"], "t/p");
    assert_eq!(report["stats"]["conserved"], true);
    assert_eq!(report["error"], Value::Null);
    // SAFETY: a live stream, freed once.
    unsafe { mdp_stream_free(stream) };
}

#[test]
fn a_stream_outlives_its_runtime_and_then_ends() {
    let runtime = start(c"");
    let stream = open_stream(&runtime);
    drop(runtime);
    let mut buf = vec![MdpTick::default(); 256];
    let mut n = 0;
    let mut end = None;
    // Bounded: what was in flight is finite (at most the stream's ring).
    for _ in 0..1_000_000 {
        // SAFETY: a live stream and a buffer of 256 ticks.
        let status = unsafe { mdp_stream_read(stream, buf.as_mut_ptr(), 256, u64::MAX, &mut n) };
        if status != MdpStatus::Ok {
            end = Some(status);
            break;
        }
    }
    assert_eq!(end, Some(MdpStatus::EndOfStream));
    // SAFETY: a live stream, freed once.
    unsafe { mdp_stream_free(stream) };
}

#[test]
fn providers_take_tokens_by_handle_and_refuse_what_never_fits() {
    let runtime = start(BOUNDED);
    let mut provider = ptr::null_mut();
    // SAFETY: a live runtime, a NUL-terminated name, a writable out pointer.
    let status = unsafe { mdp_runtime_provider(runtime.0, c"nope".as_ptr(), &mut provider) };
    assert_eq!(status, MdpStatus::NotFound);
    assert!(
        last_error().contains("registered: api, feed"),
        "{}",
        last_error()
    );
    // SAFETY: as above.
    let status = unsafe { mdp_runtime_provider(runtime.0, c"api".as_ptr(), &mut provider) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    drop(runtime); // the handle stays usable

    let mut retry = u64::MAX;
    // SAFETY: a live provider handle and a writable out pointer.
    let status = unsafe { mdp_provider_try_acquire(provider, 4, &mut retry) };
    assert_eq!((status, retry), (MdpStatus::Refused, 0));
    // SAFETY: as above.
    let status = unsafe { mdp_provider_acquire(provider, 4) };
    assert_eq!(status, MdpStatus::Refused);
    // The budget holds 3 and refills 1 a second: at most a few of ten quick tries pass, and
    // a refusal says how long to wait.
    let mut refused = None;
    for _ in 0..10 {
        // SAFETY: as above.
        let status = unsafe { mdp_provider_try_acquire(provider, 1, &mut retry) };
        if status != MdpStatus::Ok {
            refused = Some((status, retry));
            break;
        }
    }
    let (status, retry) = refused.expect("ten tokens from a budget of 3 at 1/s");
    assert_eq!(status, MdpStatus::RetryLater, "{}", last_error());
    assert!(
        retry > 0 && retry <= 1_000_000_000,
        "retry after {retry} ns"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { mdp_provider_record(provider, 1) }, MdpStatus::Ok);

    let mut breaker = ptr::null_mut();
    // SAFETY: a live provider and a writable out pointer.
    let status = unsafe { mdp_provider_breaker(provider, &mut breaker) };
    assert_eq!(status, MdpStatus::Ok);
    let mut state = MdpBreakerState::Open;
    // SAFETY: a live breaker and a writable out pointer.
    let status = unsafe { mdp_breaker_state(breaker, &mut state) };
    assert_eq!(status, MdpStatus::Ok);
    assert_eq!(state, MdpBreakerState::Closed);
    // SAFETY: live handles, each freed once.
    unsafe {
        mdp_breaker_free(breaker);
        mdp_provider_free(provider);
    }
}

#[test]
fn a_breaker_opens_after_its_threshold_and_refuses_until_its_timeout() {
    let mut breaker = ptr::null_mut();
    // SAFETY: a null name is allowed; the out pointer is writable.
    let status = unsafe { mdp_breaker_new(ptr::null(), 0, 1.0, &mut breaker) };
    assert_eq!(status, MdpStatus::InvalidArgument);
    assert!(last_error().contains("threshold"), "{}", last_error());
    // SAFETY: as above.
    let status = unsafe { mdp_breaker_new(ptr::null(), 1, f64::NAN, &mut breaker) };
    assert_eq!(status, MdpStatus::InvalidArgument);
    assert!(last_error().contains("timeout"), "{}", last_error());
    // SAFETY: a NUL-terminated name and a writable out pointer.
    let status = unsafe { mdp_breaker_new(c"db".as_ptr(), 2, 3600.0, &mut breaker) };
    assert_eq!(status, MdpStatus::Ok, "{}", last_error());
    for _ in 0..2 {
        let mut probe = 9;
        // SAFETY: a live breaker and writable out pointers.
        let status = unsafe { mdp_breaker_allow(breaker, &mut probe, ptr::null_mut()) };
        assert_eq!(status, MdpStatus::Ok);
        assert_eq!(probe, 0);
        // SAFETY: a live breaker.
        assert_eq!(unsafe { mdp_breaker_record(breaker, 0) }, MdpStatus::Ok);
    }
    let mut retry = 0;
    // SAFETY: as above.
    let status = unsafe { mdp_breaker_allow(breaker, ptr::null_mut(), &mut retry) };
    assert_eq!(status, MdpStatus::CircuitOpen);
    assert!(
        last_error().starts_with("circuit breaker db is open"),
        "{}",
        last_error()
    );
    assert!(retry > 0 && retry <= 3_600_000_000_000);
    let mut state = MdpBreakerState::Closed;
    // SAFETY: as above.
    let status = unsafe { mdp_breaker_state(breaker, &mut state) };
    assert_eq!(status, MdpStatus::Ok);
    assert_eq!(state, MdpBreakerState::Open);
    // SAFETY: a null out pointer, which is what is tested.
    let status = unsafe { mdp_breaker_state(breaker, ptr::null_mut()) };
    assert_eq!(status, MdpStatus::NullArgument);
    // SAFETY: a live breaker, freed once.
    unsafe { mdp_breaker_free(breaker) };
}

#[test]
fn handles_are_shared_across_threads_where_the_header_says_so() {
    struct Shared(*const MdpRuntime);
    // SAFETY: the header documents runtime handles as shared between threads.
    unsafe impl Sync for Shared {}
    let runtime = start(BOUNDED);
    let rt = Shared(runtime.0);
    std::thread::scope(|s| {
        for i in 0..4 {
            let rt = &rt;
            s.spawn(move || {
                let id = std::ffi::CString::new(format!("p{i}")).unwrap();
                let spec = spec(c"threads", &id, 100);
                // SAFETY: a live, shared runtime; a valid spec.
                let status = unsafe { mdp_runtime_run_pipeline(rt.0, &spec, ptr::null_mut()) };
                // At most 4 run at once: each thread's own start succeeds.
                assert_eq!(status, MdpStatus::Ok, "{}", last_error());
            });
        }
    });
    let mut json = ptr::null_mut();
    // SAFETY: a live runtime and a writable out pointer.
    let status = unsafe { mdp_runtime_list_pipelines_json(runtime.0, &mut json) };
    assert_eq!(status, MdpStatus::Ok);
    let list: Value = serde_json::from_str(&take(json)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 4);
}
