//! Ticks across hosts through Redis Streams: [`RedisStreamSink`] appends chunks of 64-byte
//! ticks, one stream entry per chunk; [`RedisStreamSource`] reads them back in order, resumes
//! after a reconnection from the last entry it handed out (no loss, no duplicate), and reports
//! the ticks a trimmed stream lost.
//!
//! # Entries
//!
//! Entry `k` (1-based, the sink's count) has the explicit ID `k-1` and two fields: `i`, the
//! index of its first tick in the stream (decimal), and `t`, the ticks' 64-byte records back to
//! back. Explicit IDs make the sink's retries idempotent: an entry written before a lost reply
//! is refused as "equal or smaller" when retried, and counted once. One sink per stream.
//!
//! # Bounds
//!
//! The stream is kept to about `max_len` entries (`XADD … MAXLEN ~`); a reader that falls
//! further behind loses the trimmed entries, and the source counts them
//! ([`RedisStreamSource::lost`]) from the gap in `i`. An entry whose `t` is not a whole number
//! of records, or whose `i` is missing, is a data error naming the stream and the entry ID.

use std::time::Duration;

use market_data_pipeline::error::{SinkError, SourceError};
use market_data_pipeline::sink::Sink;
use market_data_pipeline::source::SourceCore;
use market_data_pipeline::{Capabilities, Record, SourcePoll, SourceStatus, Tick, TickSource};
use redis::Value;

/// Ticks per stream entry (at most).
pub const DEFAULT_CHUNK_TICKS: usize = 256;

fn connect(url: &str, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(url)?.get_connection_with_timeout(timeout)?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    Ok(c)
}

/// Appends ticks to a Redis stream, a chunk per entry (see the module docs).
pub struct RedisStreamSink {
    url: String,
    stream: String,
    max_len: u64,
    chunk: usize,
    timeout: Duration,
    con: Option<redis::Connection>,
    /// Entries written (the next entry's ID is `entries + 1`).
    entries: u64,
    /// Ticks written.
    ticks: u64,
    buf: Vec<u8>,
    /// Reconnections made.
    pub reconnects: u64,
}

impl std::fmt::Debug for RedisStreamSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamSink")
            .field("stream", &self.stream)
            .field("entries", &self.entries)
            .finish()
    }
}

fn sink_err(stream: &str, what: &str, e: &dyn std::fmt::Display) -> SinkError {
    SinkError::Failed {
        sink: "redis_stream",
        message: format!("stream {stream}: {what}: {e}"),
    }
}

impl RedisStreamSink {
    /// A sink appending to `stream` at `url`, keeping about `max_len` entries; continues after
    /// the stream's last entry.
    ///
    /// # Errors
    /// The connection or the read of the stream's last entry failed.
    pub fn open(url: &str, stream: &str, max_len: u64) -> Result<RedisStreamSink, SinkError> {
        let timeout = Duration::from_secs(2);
        let mut con = connect(url, timeout).map_err(|e| sink_err(stream, "connect", &e))?;
        let (entries, ticks) =
            last_entry(&mut con, stream).map_err(|e| sink_err(stream, "last entry", &e))?;
        Ok(RedisStreamSink {
            url: url.into(),
            stream: stream.into(),
            max_len: max_len.max(1),
            chunk: DEFAULT_CHUNK_TICKS,
            timeout,
            con: Some(con),
            entries,
            ticks,
            buf: Vec::with_capacity(DEFAULT_CHUNK_TICKS * 64),
            reconnects: 0,
        })
    }

    /// Ticks per entry (1 ..= 65536).
    pub fn chunk_ticks(mut self, n: usize) -> RedisStreamSink {
        self.chunk = n.clamp(1, 65_536);
        self.buf = Vec::with_capacity(self.chunk * 64);
        self
    }

    /// Ticks written so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Cut the connection (tests: a forced reconnection).
    pub fn disconnect(&mut self) {
        self.con = None;
    }

    /// One XADD of `ticks` as entry `entry` (its first tick is number `first`).
    fn xadd(&self, cmd: &mut redis::Cmd, entry: u64, first: u64, bytes: &[u8]) {
        cmd.arg(&self.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg(format!("{entry}-1"))
            .arg("i")
            .arg(first)
            .arg("t")
            .arg(bytes);
    }

    /// Append `ticks` as entries of `chunk` ticks, pipelined (one round trip). After a failure
    /// the entries are sent again one by one: those already written are refused as "equal or
    /// smaller" and counted once.
    fn append_all(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        self.buf.clear();
        for t in ticks {
            self.buf.extend_from_slice(&t.encode());
        }
        let mut pipe = redis::pipe();
        let (mut entry, mut first) = (self.entries, self.ticks);
        for part in self.buf.chunks(self.chunk * 64) {
            entry += 1;
            let mut cmd = redis::cmd("XADD");
            self.xadd(&mut cmd, entry, first, part);
            pipe.add_command(cmd).ignore();
            first += (part.len() / 64) as u64;
        }
        let sent = match self.con.as_mut() {
            Some(con) => pipe.query::<()>(con).is_ok(),
            None => false,
        };
        if !sent {
            self.con = None;
            let (mut entry, mut first) = (self.entries, self.ticks);
            let bytes = std::mem::take(&mut self.buf);
            let result = bytes.chunks(self.chunk * 64).try_for_each(|part| {
                entry += 1;
                let r = self.append_one(entry, first, part);
                first += (part.len() / 64) as u64;
                r
            });
            self.buf = bytes;
            result?;
        }
        self.entries = entry;
        self.ticks = first;
        Ok(())
    }

    /// One entry, reconnecting (at most three times) on connection errors.
    fn append_one(&mut self, entry: u64, first: u64, bytes: &[u8]) -> Result<(), SinkError> {
        let mut cmd = redis::cmd("XADD");
        self.xadd(&mut cmd, entry, first, bytes);
        let mut tries = 0;
        loop {
            if self.con.is_none() {
                self.con = Some(
                    connect(&self.url, self.timeout)
                        .map_err(|e| sink_err(&self.stream, "reconnect", &e))?,
                );
                self.reconnects += 1;
            }
            let con = self.con.as_mut().expect("connected above");
            match cmd.query::<Value>(con) {
                Ok(_) => return Ok(()),
                // Written before a lost reply: written once.
                Err(e) if e.to_string().contains("equal or smaller") => return Ok(()),
                Err(e)
                    if tries < 3
                        && (e.is_io_error() || e.is_timeout() || e.is_connection_dropped()) =>
                {
                    tries += 1;
                    self.con = None;
                }
                Err(e) => return Err(sink_err(&self.stream, "XADD", &e)),
            }
        }
    }
}

/// The stream's last entry: (its number, the index after its last tick); (0, 0) when empty.
fn last_entry(con: &mut redis::Connection, stream: &str) -> redis::RedisResult<(u64, u64)> {
    let v: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(con)?;
    let entries = parse_entries(&v).unwrap_or_default();
    Ok(match entries.first() {
        Some(e) => (e.number, e.first + (e.ticks.len() / 64) as u64),
        None => (0, 0),
    })
}

impl Sink for RedisStreamSink {
    fn name(&self) -> &'static str {
        "redis_stream"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let mut piece: Vec<Tick> = Vec::with_capacity(batch.len());
        for r in batch {
            if let Record::Tick(t) = r {
                piece.push(*t);
            }
        }
        self.append_all(&piece)
    }

    fn accepts_ticks(&self) -> bool {
        true
    }

    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        // At most 64 entries per round trip.
        for part in ticks.chunks(self.chunk * 64) {
            self.append_all(part)?;
        }
        Ok(())
    }
}

/// One decoded stream entry.
struct Entry {
    id: String,
    number: u64,
    first: u64,
    ticks: Vec<u8>,
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// `[[id, [field, value, …]], …]` → entries; `None` for a reply of another shape.
fn parse_entries(v: &Value) -> Option<Vec<Entry>> {
    let Value::Array(items) = v else { return None };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else {
            return None;
        };
        let [id, Value::Array(fields)] = &pair[..] else {
            return None;
        };
        let id = String::from_utf8_lossy(bulk(id)?).into_owned();
        let number = id.split('-').next()?.parse().ok()?;
        let (mut first, mut ticks) = (None, None);
        for kv in fields.chunks_exact(2) {
            match bulk(&kv[0])? {
                b"i" => first = std::str::from_utf8(bulk(&kv[1])?).ok()?.parse().ok(),
                b"t" => ticks = Some(bulk(&kv[1])?.to_vec()),
                _ => {}
            }
        }
        out.push(Entry {
            id,
            number,
            first: first?,
            ticks: ticks?,
        });
    }
    Some(out)
}

/// Reads a Redis stream written by [`RedisStreamSink`], in order, resuming by ID.
pub struct RedisStreamSource {
    core: SourceCore,
    url: String,
    stream: String,
    count: usize,
    timeout: Duration,
    con: Option<redis::Connection>,
    /// The last entry handed out completely (resume point).
    last_id: String,
    /// The index of the next tick expected.
    next_index: u64,
    /// Decoded ticks of the current batch of entries, not handed out yet.
    pending: Vec<Tick>,
    at: usize,
    /// The last entry of `pending` (becomes `last_id` when it is all handed out).
    pending_last: Option<String>,
    lost: u64,
    gaps: u64,
    stop_at: Option<u64>,
}

impl std::fmt::Debug for RedisStreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamSource")
            .field("stream", &self.stream)
            .field("last_id", &self.last_id)
            .finish()
    }
}

impl RedisStreamSource {
    /// A source reading `stream` at `url` from its beginning (`start_id` "0") or after
    /// `start_id`.
    pub fn new(name: &str, url: &str, stream: &str, start_id: &str) -> RedisStreamSource {
        RedisStreamSource {
            core: SourceCore::new(
                name,
                &[stream],
                Capabilities {
                    trades: true,
                    quotes: true,
                    ..Default::default()
                },
            ),
            url: url.into(),
            stream: stream.into(),
            count: 64,
            timeout: Duration::from_secs(2),
            con: None,
            last_id: start_id.into(),
            next_index: 0,
            pending: Vec::with_capacity(64 * DEFAULT_CHUNK_TICKS),
            at: 0,
            pending_last: None,
            lost: 0,
            gaps: 0,
            stop_at: None,
        }
    }

    /// End the stream after `n` ticks (tests, benchmarks).
    pub fn max_ticks(mut self, n: u64) -> RedisStreamSource {
        self.stop_at = Some(n);
        self
    }

    /// Ticks lost to trimming (seen as gaps in the entries' indices).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Gaps seen.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// The ID to resume after.
    pub fn last_id(&self) -> &str {
        &self.last_id
    }

    /// Cut the connection (tests: a forced reconnection).
    pub fn disconnect(&mut self) {
        self.con = None;
    }

    fn err(&self, reason: String) -> SourceError {
        SourceError::Failed {
            source_name: self.core.name.clone(),
            reason,
        }
    }

    /// Read the next entries after `last_id` into `pending`.
    fn fetch(&mut self) -> Result<bool, SourceError> {
        if self.con.is_none() {
            match connect(&self.url, self.timeout) {
                Ok(c) => {
                    self.con = Some(c);
                    self.core.health.reconnects += 1;
                }
                Err(e) => {
                    self.core.status = SourceStatus::Disconnected;
                    return Err(SourceError::Disconnected {
                        source_name: self.core.name.clone(),
                        reason: format!("stream {}: {e}", self.stream),
                    });
                }
            }
        }
        let con = self.con.as_mut().expect("connected above");
        let reply: redis::RedisResult<Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(self.count)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(&self.last_id)
            .query(con);
        let v = match reply {
            Ok(v) => v,
            Err(e) => {
                self.con = None;
                self.core.status = SourceStatus::Disconnected;
                return Err(SourceError::Disconnected {
                    source_name: self.core.name.clone(),
                    reason: format!("stream {}: {e}", self.stream),
                });
            }
        };
        self.core.status = SourceStatus::Running;
        // Nil: nothing new. Otherwise [[stream, entries]] (RESP2) or a map (RESP3).
        let entries = match &v {
            Value::Nil => return Ok(false),
            Value::Array(streams) => match streams.first() {
                Some(Value::Array(kv)) if kv.len() == 2 => parse_entries(&kv[1]),
                _ => None,
            },
            Value::Map(m) => m.first().and_then(|(_, e)| parse_entries(e)),
            _ => None,
        };
        let Some(entries) = entries else {
            return Err(self.err(format!(
                "stream {}: unexpected XREAD reply {v:?}",
                self.stream
            )));
        };
        self.pending.clear();
        self.at = 0;
        for e in &entries {
            if e.ticks.len() % 64 != 0 {
                return Err(self.err(format!(
                    "stream {} entry {}: {} bytes is not a whole number of 64-byte ticks",
                    self.stream,
                    e.id,
                    e.ticks.len()
                )));
            }
            if e.first > self.next_index {
                // Trimmed before we read it.
                self.lost += e.first - self.next_index;
                self.gaps += 1;
            }
            let mut skip = self.next_index.saturating_sub(e.first) as usize;
            for rec in e.ticks.chunks_exact(64) {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let rec: &[u8; 64] = rec.try_into().expect("chunks of 64");
                let t = Tick::decode(rec)
                    .map_err(|d| self.err(format!("stream {} entry {}: {d}", self.stream, e.id)))?;
                self.pending.push(t);
            }
            self.next_index = self.next_index.max(e.first + (e.ticks.len() / 64) as u64);
        }
        self.pending_last = entries.last().map(|e| e.id.clone());
        Ok(!entries.is_empty())
    }
}

impl TickSource for RedisStreamSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.core.status = SourceStatus::Running;
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if let Some(stop) = self.stop_at {
            if self.core.health.produced >= stop {
                self.core.status = SourceStatus::Ended;
                return Ok(SourcePoll::Ended);
            }
        }
        if self.at == self.pending.len() {
            if let Some(id) = self.pending_last.take() {
                self.last_id = id;
            }
            if !self.fetch()? {
                return Ok(SourcePoll::Pending);
            }
        }
        let mut n = (self.pending.len() - self.at).min(out.len());
        if let Some(stop) = self.stop_at {
            n = n.min(usize::try_from(stop - self.core.health.produced).unwrap_or(usize::MAX));
        }
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.core.produced(n, now_ns);
        Ok(SourcePoll::Ready(n))
    }

    fn close(&mut self) {
        self.con = None;
        self.core.status = SourceStatus::Closed;
    }
}

/// The registry factory of kind `redis_stream`: parameters `url`, `stream` (required),
/// `start_id` (default `"0"`: from the beginning; `"$"`: only new entries), `max_ticks`.
///
/// ```toml
/// [providers.remote]
/// kind = "redis_stream"
/// symbols = ["AAPL"]
/// url = "redis://127.0.0.1:6379"
/// stream = "ticks:nasdaq"
/// ```
///
/// # Errors
/// Unknown or mistyped parameters, a missing `url` or `stream`, named by TOML key.
pub fn build(
    spec: &market_data_pipeline::registry::SourceSpec,
    _ctx: &market_data_pipeline::registry::SourceContext,
) -> Result<Box<dyn TickSource>, market_data_pipeline::registry::RegistryError> {
    use market_data_pipeline::error::ConfigError;
    let p = spec.params();
    p.only(&["url", "stream", "start_id", "max_ticks"])?;
    let url = p
        .str("url")?
        .ok_or_else(|| ConfigError::new(spec.key("url"), "required"))?;
    if redis::Client::open(url).is_err() {
        return Err(ConfigError::new(spec.key("url"), "not a Redis URL").into());
    }
    let stream = p
        .str("stream")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConfigError::new(spec.key("stream"), "required"))?;
    let start = p.str("start_id")?.unwrap_or("0");
    let mut src = RedisStreamSource::new(&spec.name, url, stream, start);
    if let Some(n) = p.u64("max_ticks")? {
        src = src.max_ticks(n);
    }
    Ok(Box::new(src))
}

market_data_pipeline::register_source_provider!("redis_stream", build);
