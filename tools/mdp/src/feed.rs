//! `mdp feed`: the TCP feed demo — `serve` publishes synthetic ticks to one subscriber,
//! `read` subscribes with a `TcpFeedSource` and checks what arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use market_data_pipeline::source::feed::{TcpFeedConfig, TcpFeedPublisher, TcpFeedSource};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{MonotonicClock, SourcePoll, SymbolTable, Tick, TickSource};

/// Options of `mdp feed`.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    #[command(subcommand)]
    pub cmd: FeedCmd,
}

/// `mdp feed serve` / `mdp feed read`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FeedCmd {
    /// Publish synthetic ticks to the first subscriber, then hang up.
    Serve(ServeArgs),
    /// Subscribe to a publisher and count (and sequence-check) what arrives.
    Read(ReadArgs),
}

/// Options of `mdp feed serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: the OS chooses; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Ticks to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub ticks: u64,
    /// Symbols, in table order (the reader must list the same, in the same order).
    #[arg(long, default_value = "AAPL,MSFT,GOOG", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Seconds to wait for a subscriber.
    #[arg(long, default_value_t = 60)]
    pub accept_timeout_s: u64,
}

/// Options of `mdp feed read`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Publisher address.
    pub addr: SocketAddr,
    /// Symbols, in the publisher's table order.
    #[arg(long, default_value = "AAPL,MSFT,GOOG", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Stop after this many ticks (default: until the publisher hangs up).
    #[arg(long)]
    pub ticks: Option<u64>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
}

pub fn run(a: &FeedArgs) -> Result<()> {
    match &a.cmd {
        FeedCmd::Serve(s) => serve(s),
        FeedCmd::Read(r) => read(r),
    }
}

fn serve(a: &ServeArgs) -> Result<()> {
    if a.ticks == 0 {
        bail!("--ticks must be greater than 0");
    }
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
    let peer = publisher
        .accept(Duration::from_secs(a.accept_timeout_s))
        .context("waiting for a subscriber")?;
    println!("subscriber {peer}");
    let clock = MonotonicClock::shared();
    src.start(clock.now_ns())?;
    let mut buf = vec![Tick::default(); 1024];
    let started = Instant::now();
    let mut sent = 0u64;
    while let SourcePoll::Ready(n) = src.poll(clock.now_ns(), &mut buf)? {
        publisher.send(&buf[..n]).context("sending")?;
        sent += n as u64;
    }
    publisher.disconnect();
    report("sent", sent, started.elapsed());
    Ok(())
}

fn read(a: &ReadArgs) -> Result<()> {
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
    let deadline = Instant::now() + Duration::from_secs(a.timeout_s);
    let want = a.ticks.unwrap_or(u64::MAX);
    while got < want {
        if Instant::now() > deadline {
            bail!("timed out after {} s with {got} ticks", a.timeout_s);
        }
        match src.poll(clock.now_ns(), &mut buf) {
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
            // The demo publisher hangs up when it is done.
            Err(e) if got > 0 && e.is_retryable() => {
                println!("{e}");
                break;
            }
            Err(e) if e.is_retryable() => std::thread::sleep(Duration::from_millis(1)),
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
    if gaps > 0 {
        bail!("{gaps} sequence gaps");
    }
    Ok(())
}

fn report(what: &str, n: u64, took: Duration) {
    let rate = n as f64 / took.as_secs_f64().max(1e-9);
    println!(
        "{what} {n} ticks in {took:.2?} ({:.2} M ticks/s)",
        rate / 1e6
    );
}
