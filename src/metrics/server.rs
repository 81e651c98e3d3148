//! `MetricsServer`: a small blocking HTTP/1.1 responder on its own thread that answers
//! `GET /metrics` with the text a render function returns. No async runtime.
//!
//! One connection at a time, each closed after its response. A request is read for at most
//! [`MAX_REQUEST_BYTES`] and [`REQUEST_DEADLINE`]; a client that sends more or takes longer
//! gets an error status (or nothing) and is dropped, so no client can hold the thread for
//! longer than that. Stopping (or dropping) the server wakes its accept with a connection of
//! its own and joins the thread.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sync::{AtomicBool, Ordering};

/// The most a request (line and headers) may take; a longer one is answered 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The longest a client may take to send its request (then it is answered 408).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// The OpenMetrics text format's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound (in use, not local, not permitted).
    #[error("metrics server: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The server's thread could not be started.
    #[error("metrics server: cannot start its thread: {0}")]
    Spawn(std::io::Error),
}

/// A running `/metrics` responder. Stopped by [`stop`](Self::stop) or by dropping it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listen on `addr` (port 0: any free port, see [`local_addr`](Self::local_addr)) and
    /// answer `GET /metrics` with what `render` returns, on a thread named `mdp-metrics`.
    ///
    /// ```
    /// use market_data_pipeline::metrics::MetricsServer;
    /// use std::io::{Read, Write};
    /// let server = MetricsServer::start("127.0.0.1:0".parse()?, || "up 1\n# EOF\n".into())?;
    /// let mut conn = std::net::TcpStream::connect(server.local_addr())?;
    /// conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    /// let mut reply = String::new();
    /// conn.read_to_string(&mut reply)?;
    /// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
    /// assert!(reply.ends_with("up 1\n# EOF\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the address; [`ServerError::Spawn`].
    pub fn start(
        addr: SocketAddr,
        render: impl Fn() -> String + Send + 'static,
    ) -> Result<MetricsServer, ServerError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mdp-metrics".into())
            .spawn(move || serve(&listener, &flag, &render))
            .map_err(ServerError::Spawn)?;
        tracing::info!(target: "market_data_pipeline::metrics", addr = %local, "metrics server listening");
        Ok(MetricsServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port the OS chose when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop: no request is answered after this returns. Waits for a request being answered
    /// (at most [`REQUEST_DEADLINE`] plus its write). Idempotent.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        // SeqCst: the thread reads the flag after the accept that the connect below wakes, so
        // it must see this store; the connect is a syscall after it in program order, and
        // SeqCst keeps the reasoning obvious on a path taken once.
        self.stop.store(true, Ordering::SeqCst);
        let wake = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), self.addr.port())
            }
            _ => self.addr,
        };
        match TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            Ok(_) => {
                let _ = thread.join();
            }
            // Cannot wake it: leave it detached (it ends at its next connection) rather than
            // hang the caller.
            Err(e) => tracing::warn!(
                target: "market_data_pipeline::metrics",
                addr = %self.addr,
                error = %e,
                "metrics server could not be woken to stop; its thread is left detached"
            ),
        }
        tracing::info!(target: "market_data_pipeline::metrics", addr = %self.addr, "metrics server stopped");
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, render: &dyn Fn() -> String) {
    for conn in listener.incoming() {
        // SeqCst: pairs with the store in `stop`, made before the waking connect.
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else {
            // A failed accept (the peer reset first, or out of descriptors): wait a little so
            // that a lasting failure does not spin this thread, then take the next one.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = respond(&mut conn, render);
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq)]
enum Request {
    Metrics { head: bool },
    NotFound,
    BadMethod,
    Malformed,
    TooLarge,
    TimedOut,
}

fn respond(conn: &mut TcpStream, render: &dyn Fn() -> String) -> std::io::Result<()> {
    conn.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let request = read_request(conn)?;
    let (status, body) = match request {
        Request::Metrics { head } => {
            let text = render();
            return write_response(conn, "200 OK", CONTENT_TYPE, &text, head);
        }
        Request::NotFound => ("404 Not Found", "not found: try /metrics\n"),
        Request::BadMethod => ("405 Method Not Allowed", "only GET and HEAD\n"),
        Request::Malformed => ("400 Bad Request", "bad request\n"),
        Request::TooLarge => ("431 Request Header Fields Too Large", "request too large\n"),
        Request::TimedOut => ("408 Request Timeout", "request timed out\n"),
    };
    write_response(conn, status, "text/plain; charset=utf-8", body, false)
}

fn write_response(
    conn: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    head: bool,
) -> std::io::Result<()> {
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(header.as_bytes())?;
    if !head {
        conn.write_all(body.as_bytes())?;
    }
    conn.flush()
}

/// Read the request line and headers (to the blank line), bounded in size and time.
fn read_request(conn: &mut TcpStream) -> std::io::Result<Request> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            return Ok(Request::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Request::TimedOut);
        }
        conn.set_read_timeout(Some(left))?;
        match conn.read(&mut chunk) {
            Ok(0) => break, // the client closed its side: judge what came
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Request::TimedOut)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(parse_request_line(&buf))
}

fn parse_request_line(buf: &[u8]) -> Request {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let Ok(line) = std::str::from_utf8(&buf[..line_end]) else {
        return Request::Malformed;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Malformed;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Request::Malformed;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::BadMethod,
    };
    let path = target.split('?').next().unwrap_or("");
    if path == "/metrics" {
        Request::Metrics { head }
    } else {
        Request::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_judged_by_method_path_and_version() {
        let cases: [(&[u8], Request); 8] = [
            (
                b"GET /metrics HTTP/1.1\r\n\r\n",
                Request::Metrics { head: false },
            ),
            (
                b"HEAD /metrics HTTP/1.0\r\n\r\n",
                Request::Metrics { head: true },
            ),
            (
                b"GET /metrics?x=1 HTTP/1.1\r\n\r\n",
                Request::Metrics { head: false },
            ),
            (b"GET / HTTP/1.1\r\n\r\n", Request::NotFound),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", Request::NotFound),
            (b"POST /metrics HTTP/1.1\r\n\r\n", Request::BadMethod),
            (b"GET /metrics\r\n\r\n", Request::Malformed),
            (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", Request::Malformed),
        ];
        for (i, (line, want)) in cases.iter().enumerate() {
            assert_eq!(&parse_request_line(line), want, "case {i}");
        }
    }
}
