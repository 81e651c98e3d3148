//! Issue 7, failure 12: `mdp feed read` printed "disconnected … mid-frame" and exited 0 when the
//! stream was cut inside a frame or reset. A truncated stream is now a failure naming the stream
//! offset, unless `--allow-truncated`; a clean end between frames is still success; and
//! `--ticks N` stops at exactly N. The publisher here is a plain socket scripted byte by byte.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{fresh_dir, run, Ended};
use market_data_pipeline::source::feed::frame::header;
use market_data_pipeline::{Price, SymbolId, Tick};

/// How the scripted publisher ends its stream.
#[derive(Clone, Copy)]
enum End {
    /// Orderly close (FIN).
    Close,
    /// Reset (SO_LINGER 0, then close: RST).
    Reset,
}

/// `n` valid frames for a reader whose table holds AAPL as id 0, sequence 1..=n.
fn frames(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| {
            Tick {
                seq: i,
                ..Tick::trade(SymbolId(0), 1, Price::from_units(100), 10)
            }
            .encode()
        })
        .collect()
}

/// A scripted publisher: every connection gets `bytes`, then the end `end`, until the test's
/// reader is done (a reader that reconnects gets the same script again).
struct Publisher {
    addr: String,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(bytes: Vec<u8>, end: End) -> Publisher {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < common::BOUND {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                // The reader may stop early (--ticks) and close: a failed write is its doing.
                let _ = s.write_all(&bytes);
                if let End::Reset = end {
                    reset_on_close(&s);
                }
                drop(s);
            }
        });
        Publisher {
            addr,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reset_on_close(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket we own, with a valid `linger` of the size passed.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

fn with_header(body: &[u8]) -> Vec<u8> {
    let mut v = header().to_vec();
    v.extend_from_slice(body);
    v
}

fn read(addr: &str, extra: &[&str]) -> Ended {
    let dir = fresh_dir("feed-read");
    let mut args = vec![
        "feed",
        "read",
        addr,
        "--symbols",
        "AAPL",
        "--timeout-s",
        "30",
    ];
    args.extend_from_slice(extra);
    run(&args, &dir)
}

#[test]
fn feed_read_of_a_stream_cut_mid_frame_fails_naming_the_offset() {
    let mut body = frames(2);
    body.extend_from_slice(&frames(3)[128..138]); // 10 bytes of the third frame
    let p = Publisher::start(with_header(&body), End::Close);
    let e = read(&p.addr, &[]);
    assert_eq!(e.code(), Some(2), "{}{}", e.stdout, e.stderr);
    // Header 8 + 2 frames of 64: the cut frame starts at 136, the stream ends at 146.
    assert!(e.stderr.contains("truncated stream"), "{}", e.stderr);
    assert!(
        e.stderr.contains("frame at byte offset 136"),
        "{}",
        e.stderr
    );
    assert!(e.stderr.contains("ends at byte offset 146"), "{}", e.stderr);
    assert!(e.stderr.contains("--allow-truncated"), "{}", e.stderr);
    assert!(e.stdout.contains("received 2 ticks"), "{}", e.stdout);
}

#[test]
fn feed_read_of_a_stream_cut_mid_frame_is_accepted_with_allow_truncated() {
    let mut body = frames(2);
    body.extend_from_slice(&[0u8; 10]);
    let p = Publisher::start(with_header(&body), End::Close);
    let e = read(&p.addr, &["--allow-truncated"]);
    assert_eq!(e.code(), Some(0), "{}{}", e.stdout, e.stderr);
    assert!(e.stdout.contains("received 2 ticks"), "{}", e.stdout);
    assert!(
        e.stdout.contains("warning: truncated stream"),
        "{}",
        e.stdout
    );
}

#[test]
fn feed_read_of_a_reset_stream_fails() {
    let p = Publisher::start(with_header(&frames(2)), End::Reset);
    let e = read(&p.addr, &[]);
    assert_eq!(e.code(), Some(2), "{}{}", e.stdout, e.stderr);
    assert!(e.stderr.contains("truncated stream"), "{}", e.stderr);
    assert!(e.stderr.contains("connection failed"), "{}", e.stderr);
}

#[test]
fn feed_read_of_a_stream_cut_inside_the_header_fails() {
    let p = Publisher::start(header()[..5].to_vec(), End::Close);
    let e = read(&p.addr, &[]);
    assert_eq!(e.code(), Some(2), "{}{}", e.stdout, e.stderr);
    assert!(
        e.stderr.contains("inside the header at byte offset 0"),
        "{}",
        e.stderr
    );
}

#[test]
fn feed_read_of_a_stream_closed_between_frames_succeeds() {
    let p = Publisher::start(with_header(&frames(5)), End::Close);
    let e = read(&p.addr, &[]);
    assert_eq!(e.code(), Some(0), "{}{}", e.stdout, e.stderr);
    assert!(e.stdout.contains("received 5 ticks"), "{}", e.stdout);
    assert!(e.stdout.contains("sequence gaps: 0"), "{}", e.stdout);
}

/// `feed read --ticks N` reported more than N (it read whole polls of up to 1024 ticks).
#[test]
fn feed_read_ticks_n_stops_at_exactly_n() {
    for n in [1u32, 100, 1023, 1025, 3000] {
        let p = Publisher::start(with_header(&frames(5000)), End::Close);
        let e = read(&p.addr, &["--ticks", &n.to_string()]);
        assert_eq!(e.code(), Some(0), "{n}: {}{}", e.stdout, e.stderr);
        assert!(
            e.stdout.contains(&format!("received {n} ticks")),
            "{n}: {}",
            e.stdout
        );
    }
}
