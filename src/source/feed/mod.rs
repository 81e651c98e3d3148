//! Network feed: [`TcpFeedSource`] reads ticks from a TCP stream through mio;
//! [`TcpFeedPublisher`] is the matching sender for tests and demos.
//!
//! # Wire format
//!
//! One TCP connection carries one stream:
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | magic `MDPF` |
//! | 4..6 | protocol version, u16 little-endian (1) |
//! | 6..8 | frame size, u16 little-endian (64) |
//! | 8.. | frames: each a 64-byte [`Tick::encode`] record, back to back |
//!
//! # Contract
//!
//! - **Symbol ids on the wire are ids of the pipeline's [`SymbolTable`]**. The source interns
//!   [`TcpFeedConfig::symbols`] into the table at construction, in order, and accepts only
//!   those ids: the publisher must use the same table (or intern the same names in the same
//!   order into a fresh one). Any other id is bad data.
//! - `ts_recv` is overwritten with the `now_ns` of the poll that delivered the tick; every other
//!   field is kept as sent.
//! - Frames may be split or coalesced anywhere by TCP. Bad data (wrong header, invalid kind or
//!   flags, unknown symbol) is a non-retryable [`SourceError::Data`] naming the byte offset in
//!   the connection's stream (the first byte of the bad frame; the header is offset 0). Good
//!   ticks read before the bad frame are delivered first; the error comes from the next poll.
//!   The source then drops the connection and stays [`SourceStatus::Failed`] (later polls
//!   return `NotRunning`).
//! - End of stream, a reset or a failed connect is a retryable [`SourceError::Disconnected`]
//!   (status `Disconnected`); [`TcpFeedSource::last_end`] then tells a clean end (in order,
//!   between frames) from a truncated stream (reset, or cut inside a frame), with the stream
//!   offset. Later polls return `Pending` until the reconnect back-off has
//!   passed (measured with `now_ns`, never slept), then connect again; each successful
//!   reconnect counts in [`SourceHealth::reconnects`](crate::SourceHealth::reconnects). A new
//!   connection is a new stream (header again, offsets from 0); ticks that were in flight on the
//!   old one are lost.
//! - `poll` never blocks: it polls mio with a zero timeout and reads until `WouldBlock` or
//!   until the output buffer is full. Nothing is allocated per tick; the read buffer is
//!   allocated once at construction.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use market_data_pipeline::source::feed::{TcpFeedConfig, TcpFeedPublisher, TcpFeedSource};
//! use market_data_pipeline::{Price, SourcePoll, SymbolTable, Tick, TickSource};
//!
//! let table = Arc::new(SymbolTable::new());
//! let mut publisher = TcpFeedPublisher::bind("127.0.0.1:0").unwrap();
//! let addr = publisher.local_addr().unwrap();
//! let mut source =
//!     TcpFeedSource::new(TcpFeedConfig::new(addr, &["AAPL"]), table.clone()).unwrap();
//! source.start(0).unwrap();
//!
//! let aapl = table.get("AAPL").unwrap();
//! let sender = std::thread::spawn(move || {
//!     publisher.accept(Duration::from_secs(10)).unwrap();
//!     let ticks: Vec<Tick> = (1..=10)
//!         .map(|i| Tick { seq: i, ..Tick::trade(aapl, 0, Price::from_units(100), 10) })
//!         .collect();
//!     publisher.send(&ticks).unwrap();
//!     publisher // keep the connection open until the reader is done
//! });
//!
//! let mut got = Vec::new();
//! let mut buf = [Tick::default(); 16];
//! for now in 1..=10_000u64 {
//!     match source.poll(now, &mut buf).unwrap() {
//!         SourcePoll::Ready(n) => got.extend_from_slice(&buf[..n]),
//!         _ => std::thread::sleep(Duration::from_millis(1)),
//!     }
//!     if got.len() == 10 {
//!         break;
//!     }
//! }
//! assert_eq!(got.iter().map(|t| t.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
//! drop(sender.join().unwrap());
//! ```

pub mod frame;
mod publisher;
mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::duration_ns;
use crate::error::{ConfigError, SourceError};
use crate::source::{Capabilities, SourceCore, SourcePoll, SourceStatus, TickSource};
use crate::symbol::SymbolTable;
use crate::tick::{Tick, TICK_BYTES};

pub use frame::FrameDecoder;
pub use publisher::TcpFeedPublisher;

use tcp::{Link, ReadOutcome};

/// Largest read buffer a config may ask for (64 MiB).
pub const MAX_READ_BUFFER: usize = 64 << 20;

/// Reads per `poll` at most (each up to the read buffer), so one poll stays short.
const MAX_READS_PER_POLL: usize = 8;

/// How a connection's stream ended (see [`TcpFeedSource::last_end`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    /// Bytes received on the connection, header included: the stream offset of the end.
    pub offset: u64,
    /// Bytes of an incomplete header or frame at the end (0: the stream ended between frames).
    pub partial: usize,
    /// Whether the whole hello header had arrived.
    pub header: bool,
    /// `None` when the peer closed in order (end of stream); the error when the connection
    /// failed (reset, aborted…).
    pub failure: Option<String>,
}

impl StreamEnd {
    /// True unless the peer closed in order after the header, on a frame boundary: a reset, a
    /// stream cut inside a frame or inside the header is truncated.
    pub fn is_truncated(&self) -> bool {
        self.failure.is_some() || self.partial > 0 || !self.header
    }

    /// Stream offset of the first byte of the incomplete frame (or header) at the end.
    pub fn frame_offset(&self) -> u64 {
        self.offset - self.partial as u64
    }
}

/// Configuration of a [`TcpFeedSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFeedConfig {
    /// Source name (errors, stats).
    pub name: String,
    /// Address of the publisher.
    pub addr: SocketAddr,
    /// Symbols the feed carries, interned in this order (see the module contract).
    pub symbols: Vec<String>,
    /// Wait after a disconnect before connecting again.
    pub reconnect_backoff: Duration,
    /// A connect not completed within this is a disconnect.
    pub connect_timeout: Duration,
    /// Declared staleness bound for routers.
    pub staleness_bound: Option<Duration>,
    /// Read buffer size in bytes (one frame to [`MAX_READ_BUFFER`]).
    pub read_buffer: usize,
}

impl TcpFeedConfig {
    /// A config for `addr` carrying `symbols`, otherwise defaults (back-off 100 ms, connect
    /// timeout 2 s, 64 KiB read buffer).
    pub fn new<S: AsRef<str>>(addr: SocketAddr, symbols: &[S]) -> TcpFeedConfig {
        TcpFeedConfig {
            name: "tcp".into(),
            addr,
            symbols: symbols.iter().map(|s| s.as_ref().to_string()).collect(),
            reconnect_backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            staleness_bound: None,
            read_buffer: 64 * 1024,
        }
    }

    /// Check the configuration (field names in errors).
    ///
    /// # Errors
    /// No symbols, a zero connect timeout, or a read buffer smaller than one frame or larger
    /// than [`MAX_READ_BUFFER`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.symbols.is_empty() {
            return Err(ConfigError::new("tcp.symbols", "no symbols configured"));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "tcp.connect_timeout",
                "must be greater than 0",
            ));
        }
        if !(TICK_BYTES..=MAX_READ_BUFFER).contains(&self.read_buffer) {
            return Err(ConfigError::new(
                "tcp.read_buffer",
                format!("must be {TICK_BYTES} to {MAX_READ_BUFFER} bytes"),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle,
    Connecting { deadline: u64 },
    Connected,
    Backoff { until: u64 },
    Failed,
    Closed,
}

/// A [`TickSource`] reading the feed protocol from a TCP publisher. See the module docs.
#[derive(Debug)]
pub struct TcpFeedSource {
    /// Name, symbols, health and capabilities (from the configuration); the table its
    /// symbols are interned in. The status comes from `mode`.
    core: SourceCore,
    cfg: TcpFeedConfig,
    link: Link,
    dec: FrameDecoder,
    rbuf: Box<[u8]>,
    rpos: usize,
    rlen: usize,
    mode: Mode,
    /// A disconnect to report on the next poll (after the ticks read before it).
    pending: Option<String>,
    /// How the last connection ended (cleared by the next connect).
    last_end: Option<StreamEnd>,
    ever_connected: bool,
}

impl TcpFeedSource {
    /// A source for `cfg`, interning its symbols into `table` (in order). Does not connect
    /// yet: [`TickSource::start`] does.
    ///
    /// # Errors
    /// `NoSymbols`, an invalid config or symbol name (`Config`), or a poller that cannot be
    /// created (`Failed`).
    pub fn new(cfg: TcpFeedConfig, table: Arc<SymbolTable>) -> Result<TcpFeedSource, SourceError> {
        let bad = |error: ConfigError| SourceError::Config {
            source_name: cfg.name.clone(),
            error,
        };
        if cfg.symbols.is_empty() {
            return Err(SourceError::NoSymbols {
                source_name: cfg.name.clone(),
            });
        }
        cfg.validate().map_err(bad)?;
        let mut ids = Vec::with_capacity(cfg.symbols.len());
        for (i, s) in cfg.symbols.iter().enumerate() {
            let id = table
                .intern(s)
                .map_err(|e| bad(ConfigError::new(format!("tcp.symbols[{i}]"), e.to_string())))?;
            ids.push(id.0);
        }
        let link = Link::new().map_err(|e| SourceError::Failed {
            source_name: cfg.name.clone(),
            reason: format!("cannot create poller: {e}"),
        })?;
        let capabilities = Capabilities {
            trades: true,
            quotes: true,
            replay: false,
            request_based: false,
            max_rate: None,
            staleness_bound: cfg.staleness_bound,
            shared_sequence: false,
            queued: false,
        };
        Ok(TcpFeedSource {
            core: SourceCore::new(cfg.name.clone(), &cfg.symbols, capabilities)
                .with_symbol_table(table),
            link,
            dec: FrameDecoder::new(ids),
            rbuf: vec![0u8; cfg.read_buffer].into_boxed_slice(),
            rpos: 0,
            rlen: 0,
            mode: Mode::Idle,
            pending: None,
            last_end: None,
            ever_connected: false,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TcpFeedConfig {
        &self.cfg
    }

    /// How the last connection ended, once a poll has read its end (end of stream or a failed
    /// read) and until the next connect: tells a clean end (between frames) from a truncated
    /// stream, with the stream offsets. `None` while connected, and when a connect failed.
    pub fn last_end(&self) -> Option<&StreamEnd> {
        self.last_end.as_ref()
    }

    fn record_end(&mut self, failure: Option<String>) {
        let unread = self.rlen - self.rpos;
        self.last_end = Some(StreamEnd {
            offset: self.dec.offset() + unread as u64,
            partial: self.dec.partial() + unread,
            header: self.dec.header_done(),
            failure,
        });
    }

    fn begin_connect(&mut self, now_ns: u64) {
        self.last_end = None;
        self.rpos = 0;
        self.rlen = 0;
        self.dec.reset();
        match self.link.connect(self.cfg.addr) {
            Ok(()) => {
                self.mode = Mode::Connecting {
                    deadline: now_ns.saturating_add(duration_ns(self.cfg.connect_timeout)),
                };
            }
            Err(e) => {
                self.mode = Mode::Connecting { deadline: now_ns };
                self.pending = Some(format!("connect to {}: {e}", self.cfg.addr));
            }
        }
    }

    fn disconnect(&mut self, now_ns: u64, reason: String) -> SourceError {
        self.link.close();
        self.rpos = 0;
        self.rlen = 0;
        self.mode = Mode::Backoff {
            until: now_ns.saturating_add(duration_ns(self.cfg.reconnect_backoff)),
        };
        self.core.health.errors += 1;
        SourceError::Disconnected {
            source_name: self.cfg.name.clone(),
            reason,
        }
    }

    fn end_reason(&self, what: &str) -> String {
        let held = self.dec.partial() + (self.rlen - self.rpos);
        if held > 0 {
            format!(
                "{what} from {} mid-frame at byte offset {}",
                self.cfg.addr,
                self.dec.offset()
            )
        } else {
            format!(
                "{what} from {} at byte offset {}",
                self.cfg.addr,
                self.dec.offset()
            )
        }
    }

    /// Decode buffered bytes and read more, until `out` is full, the socket is drained, or the
    /// read budget is spent. Returns ticks written.
    fn read_into(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<usize, SourceError> {
        let mut n = 0;
        for _ in 0..MAX_READS_PER_POLL {
            if self.rpos < self.rlen {
                if let Ok(d) =
                    self.dec
                        .decode(&self.rbuf[self.rpos..self.rlen], now_ns, &mut out[n..])
                {
                    self.rpos += d.consumed;
                    n += d.ticks;
                }
            }
            if let Some(error) = self.dec.error() {
                if n > 0 {
                    break; // deliver the good ticks; the error is reported next poll
                }
                let error = error.clone();
                self.link.close();
                self.mode = Mode::Failed;
                self.core.health.errors += 1;
                return Err(SourceError::Data {
                    source_name: self.cfg.name.clone(),
                    error,
                });
            }
            if self.rpos < self.rlen {
                break; // `out` is full
            }
            match self.link.read(&mut self.rbuf) {
                ReadOutcome::Data(k) => {
                    self.rpos = 0;
                    self.rlen = k;
                }
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Eof => {
                    self.record_end(None);
                    self.pending = Some(self.end_reason("end of stream"));
                    break;
                }
                ReadOutcome::Failed(e) => {
                    self.record_end(Some(e.to_string()));
                    self.pending = Some(self.end_reason(&format!("connection failed ({e})")));
                    break;
                }
            }
        }
        // Bytes read on the last round are decoded on the next poll.
        Ok(n)
    }
}

impl TickSource for TcpFeedSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, now_ns: u64) -> Result<(), SourceError> {
        match self.mode {
            Mode::Idle => {
                self.core.health.last_tick_ns = Some(now_ns);
                self.begin_connect(now_ns);
                Ok(())
            }
            Mode::Closed => Err(SourceError::NotRunning {
                source_name: self.cfg.name.clone(),
                state: "closed",
            }),
            _ => Ok(()),
        }
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        loop {
            match self.mode {
                Mode::Idle => {
                    return Err(SourceError::NotRunning {
                        source_name: self.cfg.name.clone(),
                        state: "not started",
                    })
                }
                Mode::Closed => return Ok(SourcePoll::Ended),
                Mode::Failed => {
                    return Err(SourceError::NotRunning {
                        source_name: self.cfg.name.clone(),
                        state: "failed on bad data",
                    })
                }
                Mode::Backoff { until } => {
                    if now_ns < until {
                        return Ok(SourcePoll::Pending);
                    }
                    self.begin_connect(now_ns);
                }
                Mode::Connecting { deadline } => {
                    if let Some(reason) = self.pending.take() {
                        return Err(self.disconnect(now_ns, reason));
                    }
                    match self.link.poll_connect() {
                        Ok(true) => {
                            self.mode = Mode::Connected;
                            if self.ever_connected {
                                self.core.health.reconnects += 1;
                            }
                            self.ever_connected = true;
                        }
                        Ok(false) if now_ns >= deadline => {
                            let reason = format!("connect to {} timed out", self.cfg.addr);
                            return Err(self.disconnect(now_ns, reason));
                        }
                        Ok(false) => return Ok(SourcePoll::Pending),
                        Err(e) => {
                            let reason = format!("connect to {}: {e}", self.cfg.addr);
                            return Err(self.disconnect(now_ns, reason));
                        }
                    }
                }
                Mode::Connected => {
                    if let Some(reason) = self.pending.take() {
                        return Err(self.disconnect(now_ns, reason));
                    }
                    let n = self.read_into(now_ns, out)?;
                    if n == 0 {
                        if let Some(reason) = self.pending.take() {
                            return Err(self.disconnect(now_ns, reason));
                        }
                        return Ok(SourcePoll::Pending);
                    }
                    self.core.produced(n, now_ns);
                    return Ok(SourcePoll::Ready(n));
                }
            }
        }
    }

    fn close(&mut self) {
        self.link.close();
        self.pending = None;
        self.mode = Mode::Closed;
    }

    fn status(&self) -> SourceStatus {
        match self.mode {
            Mode::Idle => SourceStatus::Idle,
            Mode::Connected => SourceStatus::Running,
            Mode::Connecting { .. } | Mode::Backoff { .. } => SourceStatus::Disconnected,
            Mode::Failed => SourceStatus::Failed,
            Mode::Closed => SourceStatus::Closed,
        }
    }
}
