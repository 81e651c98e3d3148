//! `mdp feed`: the TCP feed demo — `serve` publishes synthetic ticks to one subscriber,
//! `read` subscribes with a `TcpFeedSource` and checks what arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use market_data_pipeline::source::feed::{
    StreamEnd, TcpFeedConfig, TcpFeedPublisher, TcpFeedSource,
};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{MonotonicClock, SourcePoll, SymbolTable, Tick, TickSource};

use crate::{limits, signal};

/// Options of `mdp feed`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FeedArgs {
    #[command(subcommand)]
    pub cmd: FeedCmd,
}

/// `mdp feed serve` / `mdp feed read`.
#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum FeedCmd {
    /// Publish synthetic ticks to the first subscriber, then hang up.
    Serve(ServeArgs),
    /// Subscribe to a publisher and count (and sequence-check) what arrives.
    Read(ReadArgs),
}

/// Options of `mdp feed serve`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: the OS chooses; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Ticks to send (1 to 10^10).
    #[arg(long, default_value_t = 1_000_000)]
    pub ticks: u64,
    /// Symbols, in table order (the reader must list the same, in the same order).
    #[arg(long, default_value = "AAPL,MSFT,GOOG", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Seconds to wait for a subscriber (1 to 86400).
    #[arg(long, default_value_t = 60)]
    pub accept_timeout_s: u64,
}

/// Options of `mdp feed read`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReadArgs {
    /// Publisher address.
    pub addr: SocketAddr,
    /// Symbols, in the publisher's table order.
    #[arg(long, default_value = "AAPL,MSFT,GOOG", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Stop after exactly this many ticks (1 to 10^10; default: until the publisher hangs up).
    #[arg(long)]
    pub ticks: Option<u64>,
    /// Give up after this many seconds (1 to 86400).
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Accept a stream that ends truncated (reset, or cut inside a frame) as the end of the
    /// feed: warn and exit 0 instead of failing.
    #[arg(long)]
    pub allow_truncated: bool,
}

/// How often the waits look at the signal flag.
const POLL: Duration = Duration::from_millis(100);

pub(crate) fn run(a: &FeedArgs) -> Result<()> {
    match &a.cmd {
        FeedCmd::Serve(s) => serve(s),
        FeedCmd::Read(r) => read(r),
    }
}

fn serve(a: &ServeArgs) -> Result<()> {
    limits::ticks("--ticks", a.ticks)?;
    let accept_timeout = limits::wait("--accept-timeout-s", a.accept_timeout_s)?;
    let table = Arc::new(SymbolTable::new());
    let mut src = SyntheticSource::new(
        SyntheticConfig {
            max_ticks: Some(a.ticks),
            ..SyntheticConfig::new(&a.symbols)
        },
        table,
    )?;
    let mut publisher =
        TcpFeedPublisher::bind(a.addr).with_context(|| format!("binding {}", a.addr))?;
    println!("listening on {}", publisher.local_addr()?);
    let peer = accept(&mut publisher, accept_timeout)?;
    println!("subscriber {peer}");
    let clock = MonotonicClock::shared();
    src.start(clock.now_ns())?;
    let mut buf = vec![Tick::default(); 1024];
    let started = Instant::now();
    let mut sent = 0u64;
    let mut interrupted = None;
    while let SourcePoll::Ready(n) = src.poll(clock.now_ns(), &mut buf)? {
        if let Some(sig) = signal::requested() {
            signal::announce(sig, "hanging up between frames");
            interrupted = Some(sig);
            break;
        }
        publisher.send(&buf[..n]).context("sending")?;
        sent += n as u64;
    }
    publisher.disconnect();
    report("sent", sent, started.elapsed());
    if let Some(signal) = interrupted {
        return Err(signal::interrupted(
            signal,
            format!("sent {sent} of {} ticks", a.ticks),
        ));
    }
    Ok(())
}

/// Wait up to `timeout` for a subscriber, in short slices so that a signal is seen.
fn accept(publisher: &mut TcpFeedPublisher, timeout: Duration) -> Result<SocketAddr> {
    let deadline = Instant::now() + timeout;
    loop {
        signal::check(|| "no subscriber connected".into())?;
        let left = deadline.saturating_duration_since(Instant::now());
        match publisher.accept(left.min(POLL)) {
            Ok(peer) => return Ok(peer),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut && !left.is_zero() => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("waiting {} s for a subscriber", timeout.as_secs()))
            }
        }
    }
}

fn read(a: &ReadArgs) -> Result<()> {
    let want = match a.ticks {
        Some(n) => limits::ticks("--ticks", n)?,
        None => u64::MAX,
    };
    let timeout = limits::wait("--timeout-s", a.timeout_s)?;
    let table = Arc::new(SymbolTable::new());
    let mut src = TcpFeedSource::new(
        TcpFeedConfig {
            name: "feed".into(),
            ..TcpFeedConfig::new(a.addr, &a.symbols)
        },
        table,
    )?;
    let clock = MonotonicClock::shared();
    src.start(clock.now_ns())?;
    let mut buf = vec![Tick::default(); 1024];
    let (mut got, mut gaps, mut last_seq) = (0u64, 0u64, 0u32);
    let mut started = None;
    let deadline = Instant::now() + timeout;
    let mut interrupted = None;
    let mut truncated = None;
    while got < want {
        if let Some(sig) = signal::requested() {
            signal::announce(sig, "closing the connection");
            interrupted = Some(sig);
            break;
        }
        if Instant::now() > deadline {
            bail!("timed out after {} s with {got} ticks", a.timeout_s);
        }
        // Never read past --ticks: the poll gets room for exactly what is still wanted.
        let room = buf
            .len()
            .min(usize::try_from(want - got).unwrap_or(usize::MAX));
        match src.poll(clock.now_ns(), &mut buf[..room]) {
            Ok(SourcePoll::Ready(n)) => {
                started.get_or_insert_with(Instant::now);
                for t in &buf[..n] {
                    if t.seq != last_seq.wrapping_add(1) {
                        gaps += 1;
                    }
                    last_seq = t.seq;
                }
                got += n as u64;
            }
            Ok(SourcePoll::Pending) => std::thread::yield_now(),
            Ok(SourcePoll::Ended) => break,
            Err(e) if e.is_retryable() => match src.last_end() {
                // The connection was up and has ended.
                Some(end) if end.is_truncated() => {
                    truncated = Some(truncation(end, &e.to_string()));
                    break;
                }
                // The publisher hung up between frames: the end of the feed.
                Some(_) => {
                    println!("{e}");
                    break;
                }
                // Not connected yet: the publisher may not be listening yet.
                None => std::thread::sleep(Duration::from_millis(1)),
            },
            Err(e) => return Err(e.into()),
        }
    }
    src.close();
    report(
        "received",
        got,
        started.map_or(Duration::ZERO, |s| s.elapsed()),
    );
    println!("sequence gaps: {gaps}");
    if let Some(t) = truncated {
        if !a.allow_truncated {
            bail!("{t} (--allow-truncated accepts this)");
        }
        println!("warning: {t}; accepted (--allow-truncated)");
    }
    if gaps > 0 {
        bail!("{gaps} sequence gaps");
    }
    if let Some(signal) = interrupted {
        return Err(signal::interrupted(
            signal,
            format!("received {got} ticks before stopping"),
        ));
    }
    Ok(())
}

/// What to say about a truncated stream.
fn truncation(end: &StreamEnd, error: &str) -> String {
    let how = match &end.failure {
        Some(f) => format!("the connection failed ({f})"),
        None => "the publisher hung up".into(),
    };
    if end.partial > 0 {
        let unit = if end.header { "frame" } else { "header" };
        format!(
            "truncated stream: {how} inside the {unit} at byte offset {} ({} bytes of it \
             arrived; the stream ends at byte offset {}): {error}",
            end.frame_offset(),
            end.partial,
            end.offset
        )
    } else if !end.header {
        format!(
            "truncated stream: {how} before the header (byte offset {})",
            end.offset
        )
    } else {
        format!(
            "truncated stream: {how} at byte offset {}: {error}",
            end.offset
        )
    }
}

fn report(what: &str, n: u64, took: Duration) {
    let rate = n as f64 / took.as_secs_f64().max(1e-9);
    println!(
        "{what} {n} ticks in {took:.2?} ({:.2} M ticks/s)",
        rate / 1e6
    );
}
