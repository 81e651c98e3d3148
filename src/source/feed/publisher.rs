//! `TcpFeedPublisher`: the sending side of the feed protocol, for tests, demos and simple
//! gateways. Blocking std I/O: it is not on the engine's data path.
//!
//! # Contract
//!
//! - One subscriber at a time. [`TcpFeedPublisher::accept`] waits a bounded time for it and
//!   sends the hello header at once; [`TcpFeedPublisher::send`] writes whole frames.
//! - Writes time out (default 10 s) instead of blocking forever on a subscriber that stopped
//!   reading.
//! - Dropping the publisher (or [`TcpFeedPublisher::disconnect`]) closes the connection; the
//!   subscriber sees end of stream.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::source::feed::frame::header;
use crate::tick::{Tick, TICK_BYTES};

/// Publishes ticks to one subscriber over TCP. See the module docs.
#[derive(Debug)]
pub struct TcpFeedPublisher {
    listener: TcpListener,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    write_timeout: Duration,
    sent: u64,
}

impl TcpFeedPublisher {
    /// Listen on `addr` (`127.0.0.1:0` lets the OS choose the port).
    ///
    /// # Errors
    /// The bind error.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpFeedPublisher> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(TcpFeedPublisher {
            listener,
            conn: None,
            buf: Vec::with_capacity(256 * TICK_BYTES),
            write_timeout: Duration::from_secs(10),
            sent: 0,
        })
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Set how long one write may block before failing with `TimedOut`/`WouldBlock`.
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = timeout.max(Duration::from_millis(1));
    }

    /// Wait up to `timeout` (checked every millisecond) for a subscriber, then send the header.
    /// A previous subscriber is dropped.
    ///
    /// # Errors
    /// `TimedOut` when nobody connected in time, or the socket error.
    pub fn accept(&mut self, timeout: Duration) -> io::Result<SocketAddr> {
        self.disconnect();
        let rounds = timeout.as_millis().max(1);
        for _ in 0..rounds {
            match self.listener.accept() {
                Ok((s, peer)) => {
                    s.set_nonblocking(false)?;
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(self.write_timeout))?;
                    self.conn = Some(s);
                    self.sent = 0;
                    self.send_bytes(&header())?;
                    return Ok(peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no subscriber connected in time",
        ))
    }

    /// Send `ticks` as frames.
    ///
    /// # Errors
    /// `NotConnected` without a subscriber, or the write error (the subscriber is then dropped).
    pub fn send(&mut self, ticks: &[Tick]) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for t in ticks {
            buf.extend_from_slice(&t.encode());
        }
        let r = self.send_bytes(&buf);
        self.buf = buf;
        r
    }

    /// Send raw bytes (for tests of malformed streams).
    ///
    /// # Errors
    /// As [`TcpFeedPublisher::send`].
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(c) = self.conn.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no subscriber"));
        };
        match c.write_all(bytes) {
            Ok(()) => {
                self.sent += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.disconnect();
                Err(e)
            }
        }
    }

    /// Bytes sent to the current subscriber, header included (the stream offset).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Whether a subscriber is connected (as far as the last write knows).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Close the subscriber's connection (it sees end of stream).
    pub fn disconnect(&mut self) {
        if let Some(c) = self.conn.take() {
            // The peer may already be gone; there is nothing to do about a failed shutdown.
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}
