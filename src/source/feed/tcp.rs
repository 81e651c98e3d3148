//! The only module that touches sockets on the data path: a mio `TcpStream` registered with a
//! `Poll` that is always polled with a zero timeout.
//!
//! # Contract
//!
//! - Nothing here blocks: connect is non-blocking, `Poll::poll` gets `Some(Duration::ZERO)`,
//!   reads stop at `WouldBlock`.
//! - Readiness is edge-triggered (mio), so the link remembers "readable" and keeps reading until
//!   the OS says `WouldBlock`; only then does it ask `Poll` for new events.
//! - Spurious events are expected: a writable event during connect is confirmed with
//!   `take_error` and `peer_addr` before the link counts as connected.
//! - No allocation after [`Link::new`]: the `Events` buffer is preallocated.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const STREAM: Token = Token(0);
const EVENTS: usize = 8;

/// What one [`Link::read`] produced.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    /// This many bytes were read into the buffer.
    Data(usize),
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed the connection in order.
    Eof,
    /// The connection failed (reset, aborted…).
    Failed(io::Error),
}

/// One outgoing TCP connection and its poller.
#[derive(Debug)]
pub(super) struct Link {
    poll: Poll,
    events: Events,
    stream: Option<TcpStream>,
    readable: bool,
}

impl Link {
    /// A link with no connection; allocates the poller and its event buffer.
    pub(super) fn new() -> io::Result<Link> {
        Ok(Link {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS),
            stream: None,
            readable: false,
        })
    }

    /// Start a non-blocking connect to `addr` (dropping any previous connection).
    pub(super) fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        self.close();
        let mut s = TcpStream::connect(addr)?;
        self.poll
            .registry()
            .register(&mut s, STREAM, Interest::READABLE | Interest::WRITABLE)?;
        self.stream = Some(s);
        Ok(())
    }

    /// Drop the connection, if any.
    pub(super) fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            // Deregistering a socket we are about to drop cannot fail in a way we could act on.
            let _ = self.poll.registry().deregister(&mut s);
        }
        self.readable = false;
    }

    /// Collect ready events without waiting; true if our stream had one.
    fn poll_events(&mut self) -> io::Result<bool> {
        match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
        }
        Ok(self.events.iter().any(|e| e.token() == STREAM))
    }

    /// Whether a pending connect has completed: `Ok(true)` connected, `Ok(false)` not yet.
    pub(super) fn poll_connect(&mut self) -> io::Result<bool> {
        if !self.poll_events()? {
            return Ok(false);
        }
        let Some(s) = self.stream.as_ref() else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no connection"));
        };
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => {
                // Data may have arrived with the same batch of events: try a read first.
                self.readable = true;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read what is available into `buf` (never blocks).
    pub(super) fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        if !self.readable {
            match self.poll_events() {
                Ok(true) => self.readable = true,
                Ok(false) => return ReadOutcome::WouldBlock,
                Err(e) => return ReadOutcome::Failed(e),
            }
        }
        let Some(s) = self.stream.as_mut() else {
            return ReadOutcome::Failed(io::Error::new(
                io::ErrorKind::NotConnected,
                "no connection",
            ));
        };
        match s.read(buf) {
            Ok(0) => ReadOutcome::Eof,
            Ok(n) => ReadOutcome::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                ReadOutcome::WouldBlock
            }
            // Interrupted: still readable, try again on the next poll.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadOutcome::WouldBlock,
            Err(e) => ReadOutcome::Failed(e),
        }
    }
}
