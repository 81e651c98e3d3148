//! Ticks across hosts through Redis Streams: [`RedisStreamSink`] appends chunks of 64-byte
//! ticks, one stream entry per chunk; [`RedisStreamSource`] reads them back in order, resumes
//! after a reconnection from the last entry it handed out (no loss, no duplicate), and reports
//! the ticks a trimmed stream lost. The source reads either plainly (`XREAD`, one reader sees
//! every entry) or as one consumer of a consumer group (`XREADGROUP`, the group's consumers
//! share the entries; see [Consumer groups](#consumer-groups)).
//!
//! # Entries
//!
//! Entry `k` (1-based, the sink's count) has the explicit ID `k-1` and the fields `i`, the
//! index of its first tick in the stream (decimal), and `t`, the ticks' 64-byte records back to
//! back; a fenced sink adds `token`, the fencing token it wrote under. Explicit IDs make the
//! sink's retries idempotent: an entry written before a lost reply is refused as "equal or
//! smaller" when retried, and counted once. One sink per stream (a singleton's fenced sinks
//! take turns, see below).
//!
//! # Bounds
//!
//! The stream is kept to about `max_len` entries (`XADD … MAXLEN ~`); a reader that falls
//! further behind loses the trimmed entries, and the plain source counts them
//! ([`RedisStreamSource::lost`]) from the gap in `i`. An entry whose `t` is not a whole number
//! of records, or whose `i` is missing, is a data error naming the stream and the entry ID.
//!
//! # Consumer groups
//!
//! [`RedisStreamSource::group`] makes the source one consumer (a name stable across restarts,
//! unique among the group's live consumers) of a group:
//!
//! - On every (re)connection it creates the group (`XGROUP CREATE … MKSTREAM`, from the start
//!   ID; an existing group is kept), then first re-reads **its own pending entries** (ID `0`
//!   onwards), then reads new ones (`>`).
//! - An entry is acknowledged (`XACK`) once all its ticks have been handed downstream: the
//!   acknowledgments of a batch travel in the same pipeline as the next read, ahead of it, so
//!   there is no extra round trip and a re-read never returns an entry already handed out by
//!   this process. Until a reply confirms them the IDs are kept and sent again.
//! - Every `claim_idle` (half of it between attempts) it claims, with `XAUTOCLAIM`, the
//!   group's entries pending longer than `claim_idle` — those of a consumer that died between
//!   delivery and `XACK` — and delivers them (counted by [`RedisStreamSource::claimed`]).
//!   Pending entries trimmed away are counted as gaps (their ticks are gone).
//!
//! **Delivery guarantee.** Within one process, across any number of connection cuts: every
//! entry handed to this consumer is delivered exactly once, and its own entries in stream
//! order. Across a consumer's crash (kill -9) between handing ticks downstream and the
//! `XACK`: at least once — the entries that were pending for it at the crash are delivered
//! again, by a claimer or by the same consumer name restarted; those are the only duplicates.
//! A live consumer whose downstream holds a batch longer than `claim_idle` can have it claimed
//! by another (a duplicate too): set `claim_idle` above the longest hold. Claimed entries are
//! older than the claimer's own, so across consumers there is no order.
//!
//! # Fenced sinks (singleton pipelines)
//!
//! [`RedisStreamSink::open_fenced`] appends every entry through a Lua script (`EVALSHA`) that
//! first compares the sink's fencing token with the token of the pipeline's current lease
//! ([`Ownership`](crate::owner::Ownership)) and refuses the entry (`FENCED …`) when they
//! differ. The refusal is final: the sink returns a [`SinkError`] naming it, for this and every
//! later write, so the pipeline stops itself. Since the lease changes hands only in Redis and
//! each entry is checked there, atomically, no entry of an older token follows the first entry
//! of a newer one.

use std::io::Write as _;
use std::time::{Duration, Instant};

use market_data_pipeline::error::{SinkError, SourceError};
use market_data_pipeline::sink::Sink;
use market_data_pipeline::source::SourceCore;
use market_data_pipeline::{Capabilities, Record, SourcePoll, SourceStatus, Tick, TickSource};
use redis::{Script, Value};

/// Ticks per stream entry (at most).
pub const DEFAULT_CHUNK_TICKS: usize = 256;

/// The default `claim_idle` of a consumer-group source.
pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(30);

fn connect(url: &str, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(url)?.get_connection_with_timeout(timeout)?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    Ok(c)
}

/// A stream entry ID, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// The first part.
    pub ms: u64,
    /// The second part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Parse `<ms>-<seq>` (a bare `<ms>` is `<ms>-0`).
    pub fn parse(text: &[u8]) -> Option<StreamId> {
        let s = std::str::from_utf8(text).ok()?;
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl redis::ToRedisArgs for StreamId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        // Formatted on the stack: no allocation per entry.
        let mut buf = [0u8; 41];
        let mut w = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(w, "{}-{}", self.ms, self.seq);
        let n = usize::try_from(w.position()).unwrap_or(0);
        out.write_arg(&buf[..n]);
    }
}

/// Append one entry if the token is the lease's (module docs, "Fenced sinks").
///
/// `KEYS`: the lease hash, the stream. `ARGV`: token, max_len, entry ID, `i`, `t`. Returns 1
/// (written), 0 (written before: a retry), or the error `FENCED …`.
const FENCED_XADD: &str = r"
local cur = redis.call('HGET', KEYS[1], 'token')
if cur ~= ARGV[1] then
  return redis.error_reply('FENCED token ' .. ARGV[1] .. ' is not the lease token (' ..
    (cur or 'no lease') .. ')')
end
local r = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], ARGV[3], 'i', ARGV[4],
  't', ARGV[5], 'token', ARGV[1])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'equal or smaller', 1, true) then return 0 end
  return r
end
return 1
";

/// A fenced sink's lease and token.
struct Fence {
    lease_key: String,
    token: u64,
    script: Script,
}

fn is_fenced(e: &redis::RedisError) -> bool {
    e.code() == Some("FENCED") || e.to_string().contains("FENCED")
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
    fence: Option<Fence>,
    /// Set once a fenced write was refused: every later write fails with it.
    fenced_out: Option<String>,
    /// Reconnections made.
    pub reconnects: u64,
}

impl std::fmt::Debug for RedisStreamSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamSink")
            .field("stream", &self.stream)
            .field("entries", &self.entries)
            .field("token", &self.fence.as_ref().map(|f| f.token))
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
        RedisStreamSink::open_with(url, stream, max_len, None)
    }

    /// A sink whose every entry is appended only while `token` is the token of the lease
    /// hash `lease_key` ([`Ownership::lease_key`](crate::owner::Ownership::lease_key)); the
    /// entries carry the field `token`. Open it after acquiring the lease: it continues after
    /// the stream's last entry, which no older owner can follow any more. See the module docs.
    ///
    /// # Errors
    /// The connection, loading the script or the read of the stream's last entry failed.
    pub fn open_fenced(
        url: &str,
        stream: &str,
        max_len: u64,
        lease_key: &str,
        token: u64,
    ) -> Result<RedisStreamSink, SinkError> {
        let fence = Fence {
            lease_key: lease_key.into(),
            token,
            script: Script::new(FENCED_XADD),
        };
        RedisStreamSink::open_with(url, stream, max_len, Some(fence))
    }

    fn open_with(
        url: &str,
        stream: &str,
        max_len: u64,
        fence: Option<Fence>,
    ) -> Result<RedisStreamSink, SinkError> {
        let timeout = Duration::from_secs(2);
        let mut con = connect(url, timeout).map_err(|e| sink_err(stream, "connect", &e))?;
        if let Some(f) = &fence {
            f.script
                .load(&mut con)
                .map_err(|e| sink_err(stream, "load the fenced XADD script", &e))?;
        }
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
            fence,
            fenced_out: None,
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

    /// Entries written so far (the stream's last entry number).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The fencing token this sink writes under (a fenced sink).
    pub fn token(&self) -> Option<u64> {
        self.fence.as_ref().map(|f| f.token)
    }

    /// Whether a fenced write was refused (the sink has stopped for good).
    pub fn is_fenced_out(&self) -> bool {
        self.fenced_out.is_some()
    }

    /// Cut the connection (tests: a forced reconnection).
    pub fn disconnect(&mut self) {
        self.con = None;
    }

    /// The command appending entry `entry` (its first tick is number `first`): a plain `XADD`,
    /// or the fenced script's `EVALSHA`.
    fn entry_cmd(&self, entry: u64, first: u64, bytes: &[u8]) -> redis::Cmd {
        let id = StreamId { ms: entry, seq: 1 };
        match &self.fence {
            None => {
                let mut cmd = redis::cmd("XADD");
                cmd.arg(&self.stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.max_len)
                    .arg(id)
                    .arg("i")
                    .arg(first)
                    .arg("t")
                    .arg(bytes);
                cmd
            }
            Some(f) => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(f.script.get_hash())
                    .arg(2)
                    .arg(&f.lease_key)
                    .arg(&self.stream)
                    .arg(f.token)
                    .arg(self.max_len)
                    .arg(id)
                    .arg(first)
                    .arg(bytes);
                cmd
            }
        }
    }

    /// The refusal of a fenced write: remembered, so every later write fails the same way.
    fn fenced(&mut self, e: &redis::RedisError) -> SinkError {
        let message = format!(
            "stream {}: fenced out, entry {} refused: {e}; a newer owner holds the pipeline's \
             lease, this sink stops",
            self.stream,
            self.entries + 1
        );
        self.fenced_out = Some(message.clone());
        SinkError::Failed {
            sink: "redis_stream",
            message,
        }
    }

    /// Append the records in `buf` as entries of `chunk` ticks, pipelined (one round trip).
    /// After a failure the entries are sent again one by one: those already written are
    /// refused as "equal or smaller" (a fenced sink's script answers 0) and counted once.
    fn send_buf(&mut self) -> Result<(), SinkError> {
        if let Some(m) = &self.fenced_out {
            return Err(SinkError::Failed {
                sink: "redis_stream",
                message: m.clone(),
            });
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let (mut entry, mut first) = (self.entries, self.ticks);
        for part in self.buf.chunks(self.chunk * 64) {
            entry += 1;
            pipe.add_command(self.entry_cmd(entry, first, part))
                .ignore();
            first += (part.len() / 64) as u64;
        }
        let sent = match self.con.as_mut() {
            Some(con) => pipe.query::<()>(con).is_ok(),
            None => false,
        };
        if !sent {
            self.con = None;
            let bytes = std::mem::take(&mut self.buf);
            let (mut e, mut f) = (self.entries, self.ticks);
            let result = bytes.chunks(self.chunk * 64).try_for_each(|part| {
                e += 1;
                self.append_one(e, f, part)?;
                f += (part.len() / 64) as u64;
                // Written: a later refusal leaves the counts at what is in the stream.
                self.entries = e;
                self.ticks = f;
                Ok(())
            });
            self.buf = bytes;
            return result;
        }
        self.entries = entry;
        self.ticks = first;
        Ok(())
    }

    /// One entry, reconnecting (at most three times) on connection errors.
    fn append_one(&mut self, entry: u64, first: u64, bytes: &[u8]) -> Result<(), SinkError> {
        let cmd = self.entry_cmd(entry, first, bytes);
        let mut tries = 0;
        loop {
            if self.con.is_none() {
                let mut con = connect(&self.url, self.timeout)
                    .map_err(|e| sink_err(&self.stream, "reconnect", &e))?;
                if let Some(f) = &self.fence {
                    f.script
                        .load(&mut con)
                        .map_err(|e| sink_err(&self.stream, "load the fenced XADD script", &e))?;
                }
                self.con = Some(con);
                self.reconnects += 1;
            }
            let con = self.con.as_mut().expect("connected above");
            match cmd.query::<Value>(con) {
                Ok(_) => return Ok(()),
                Err(e) if is_fenced(&e) => return Err(self.fenced(&e)),
                // Written before a lost reply: written once.
                Err(e) if e.to_string().contains("equal or smaller") => return Ok(()),
                Err(e)
                    if tries < 3
                        && (e.is_io_error()
                            || e.is_timeout()
                            || e.is_connection_dropped()
                            || e.kind() == redis::ErrorKind::NoScriptError) =>
                {
                    tries += 1;
                    self.con = None;
                }
                Err(e) => {
                    let what = if self.fence.is_some() {
                        "fenced XADD"
                    } else {
                        "XADD"
                    };
                    return Err(sink_err(&self.stream, what, &e));
                }
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
    let last = match &v {
        Value::Array(items) => items.first().and_then(raw_entry),
        _ => None,
    };
    Ok(match last {
        Some(RawEntry {
            id,
            first: Some(first),
            ticks: Some(t),
            ..
        }) => (id.ms, first + (t.len() / 64) as u64),
        _ => (0, 0),
    })
}

impl Sink for RedisStreamSink {
    fn name(&self) -> &'static str {
        "redis_stream"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.buf.clear();
        for r in batch {
            if let Record::Tick(t) = r {
                self.buf.extend_from_slice(&t.encode());
            }
        }
        self.send_buf()
    }

    fn accepts_ticks(&self) -> bool {
        true
    }

    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        // At most 64 entries per round trip.
        for part in ticks.chunks(self.chunk * 64) {
            self.buf.clear();
            for t in part {
                self.buf.extend_from_slice(&t.encode());
            }
            self.send_buf()?;
        }
        Ok(())
    }
}

/// One stream entry, borrowed from the reply.
struct RawEntry<'a> {
    id: StreamId,
    /// Its fields were `nil`: deleted (trimmed) while pending in a group.
    deleted: bool,
    first: Option<u64>,
    ticks: Option<&'a [u8]>,
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// `[id, [field, value, …]]` (or `[id, nil]`, deleted) → an entry; `None` for another shape.
fn raw_entry(v: &Value) -> Option<RawEntry<'_>> {
    let Value::Array(pair) = v else { return None };
    let [id, fields] = &pair[..] else {
        return None;
    };
    let id = StreamId::parse(bulk(id)?)?;
    let mut e = RawEntry {
        id,
        deleted: false,
        first: None,
        ticks: None,
    };
    match fields {
        Value::Nil => e.deleted = true,
        Value::Array(fields) => {
            for kv in fields.chunks_exact(2) {
                match bulk(&kv[0])? {
                    b"i" => e.first = std::str::from_utf8(bulk(&kv[1])?).ok()?.parse().ok(),
                    b"t" => e.ticks = Some(bulk(&kv[1])?),
                    _ => {}
                }
            }
        }
        _ => return None,
    }
    Some(e)
}

/// The entries of an `XREAD`/`XREADGROUP` reply: `None` for nil (nothing), `Some(None)` for
/// an unexpected shape. `[[stream, entries]]` (RESP2) or a map (RESP3).
fn read_reply_entries(v: &Value) -> Option<Option<&[Value]>> {
    let entries = match v {
        Value::Nil => return None,
        Value::Array(streams) => match streams.first() {
            Some(Value::Array(kv)) if kv.len() == 2 => Some(&kv[1]),
            None => return None,
            _ => None,
        },
        Value::Map(m) => m.first().map(|(_, e)| e),
        _ => None,
    };
    Some(match entries {
        Some(Value::Array(items)) => Some(&items[..]),
        _ => None,
    })
}

/// Consumer-group reading (module docs, "Consumer groups").
#[derive(Debug)]
struct Group {
    name: String,
    consumer: String,
    /// Where the group starts when this source creates it.
    start: String,
    /// Pending entries of other consumers idle this long are claimed; zero: never.
    claim_idle: Duration,
    /// `Some(after)`: re-reading this consumer's own pending entries after `after` (after a
    /// (re)connection); `None`: reading new entries (`>`).
    reread: Option<StreamId>,
    claim_cursor: StreamId,
    next_claim: Instant,
    /// The last read was a claim (the next one reads new entries).
    claimed_last: bool,
    /// Ticks delivered from claimed entries.
    claimed: u64,
    /// Entries re-read from this consumer's pending list.
    reread_entries: u64,
}

/// Which read a group fetch makes.
#[derive(Clone, Copy)]
enum GroupRead {
    Own(StreamId),
    Claim,
    New,
}

/// Reads a Redis stream written by [`RedisStreamSink`], in order, resuming by ID; plainly or
/// as a consumer of a group ([`group`](Self::group)).
pub struct RedisStreamSource {
    core: SourceCore,
    url: String,
    stream: String,
    count: usize,
    timeout: Duration,
    con: Option<redis::Connection>,
    /// The last entry handed out completely (resume point of a plain reader).
    last_id: String,
    /// The index of the next tick expected (plain reader).
    next_index: u64,
    /// Decoded ticks of the current batch of entries, not handed out yet.
    pending: Vec<Tick>,
    at: usize,
    /// The last entry of `pending` (becomes `last_id` when it is all handed out).
    pending_last: Option<StreamId>,
    group: Option<Group>,
    /// Group: the IDs of the batch being handed out.
    batch: Vec<StreamId>,
    /// Group: entries handed out completely, not acknowledged yet (sent with the next read).
    unacked: Vec<StreamId>,
    lost: u64,
    gaps: u64,
    stop_at: Option<u64>,
}

impl std::fmt::Debug for RedisStreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamSource")
            .field("stream", &self.stream)
            .field("last_id", &self.last_id)
            .field(
                "group",
                &self.group.as_ref().map(|g| (&g.name, &g.consumer)),
            )
            .finish()
    }
}

impl RedisStreamSource {
    /// A source reading `stream` at `url` from its beginning (`start_id` "0") or after
    /// `start_id` (`"$"`: only entries added from now on). With [`group`](Self::group),
    /// `start_id` is where the group starts if this source creates it.
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
            group: None,
            batch: Vec::with_capacity(64),
            unacked: Vec::with_capacity(64),
            lost: 0,
            gaps: 0,
            stop_at: None,
        }
    }

    /// Read as `consumer` of the consumer group `group` (created if missing, from the start
    /// ID) instead of plainly; other consumers' entries pending for longer than
    /// [`DEFAULT_CLAIM_IDLE`] are claimed (see [`claim_idle`](Self::claim_idle)). The
    /// consumer name must be stable across restarts (its pending entries are re-read under
    /// it) and unique among the group's live consumers. See the module docs.
    pub fn group(mut self, group: &str, consumer: &str) -> RedisStreamSource {
        self.group = Some(Group {
            name: group.into(),
            consumer: consumer.into(),
            start: self.last_id.clone(),
            claim_idle: DEFAULT_CLAIM_IDLE,
            reread: Some(StreamId::ZERO),
            claim_cursor: StreamId::ZERO,
            next_claim: Instant::now(),
            claimed_last: false,
            claimed: 0,
            reread_entries: 0,
        });
        self
    }

    /// Claim the group's entries pending longer than `idle` (a dead consumer's); zero: never
    /// claim. Only for a group reader.
    pub fn claim_idle(mut self, idle: Duration) -> RedisStreamSource {
        if let Some(g) = self.group.as_mut() {
            g.claim_idle = idle;
        }
        self
    }

    /// Entries per read (1 ..= 1024; default 64).
    pub fn read_count(mut self, n: usize) -> RedisStreamSource {
        self.count = n.clamp(1, 1024);
        self
    }

    /// End the stream after `n` ticks (tests, benchmarks).
    pub fn max_ticks(mut self, n: u64) -> RedisStreamSource {
        self.stop_at = Some(n);
        self
    }

    /// Ticks lost to trimming (seen as gaps in the entries' indices; a plain reader).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Gaps seen: a plain reader's gaps in the entries' indices; a group reader's pending
    /// entries that had been trimmed away.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Ticks delivered from entries claimed from other consumers (a group reader).
    pub fn claimed(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.claimed)
    }

    /// Entries delivered from this consumer's own pending list (a group reader: entries it
    /// had been given but not acknowledged before a restart or a lost reply).
    pub fn reread(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.reread_entries)
    }

    /// The ID to resume after (a plain reader).
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

    fn disconnected(&mut self, what: &str, e: &dyn std::fmt::Display) -> SourceError {
        self.con = None;
        self.core.status = SourceStatus::Disconnected;
        SourceError::Disconnected {
            source_name: self.core.name.clone(),
            reason: format!("stream {}: {what}: {e}", self.stream),
        }
    }

    /// Connect if not connected; true for a new connection.
    fn ensure_connected(&mut self) -> Result<bool, SourceError> {
        if self.con.is_some() {
            return Ok(false);
        }
        match connect(&self.url, self.timeout) {
            Ok(c) => {
                self.con = Some(c);
                self.core.health.reconnects += 1;
                Ok(true)
            }
            Err(e) => Err(self.disconnected("connect", &e)),
        }
    }

    /// Read the next entries after `last_id` into `pending`.
    fn fetch(&mut self) -> Result<bool, SourceError> {
        self.ensure_connected()?;
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
            Err(e) => return Err(self.disconnected("XREAD", &e)),
        };
        self.core.status = SourceStatus::Running;
        let entries = match read_reply_entries(&v) {
            None => return Ok(false),
            Some(Some(e)) => e,
            Some(None) => {
                return Err(self.err(format!(
                    "stream {}: unexpected XREAD reply {v:?}",
                    self.stream
                )))
            }
        };
        self.pending.clear();
        self.at = 0;
        self.take_entries(entries, false)?;
        Ok(!entries.is_empty())
    }

    /// Decode `entries` into `pending` (after the ones there). A plain reader accounts the
    /// gaps in `i` and skips ticks it has had; a group reader records the IDs to acknowledge.
    fn take_entries(&mut self, entries: &[Value], group: bool) -> Result<u64, SourceError> {
        let before = self.pending.len();
        for item in entries {
            let Some(e) = raw_entry(item) else {
                return Err(self.err(format!("stream {}: unexpected entry {item:?}", self.stream)));
            };
            self.pending_last = Some(e.id);
            if group {
                self.batch.push(e.id);
            }
            if e.deleted {
                // Trimmed while pending: acknowledged (so it leaves the pending list), lost.
                self.gaps += 1;
                continue;
            }
            let (Some(first), Some(ticks)) = (e.first, e.ticks) else {
                return Err(self.err(format!(
                    "stream {} entry {}: no `i` or no `t` field",
                    self.stream, e.id
                )));
            };
            if ticks.len() % 64 != 0 {
                return Err(self.err(format!(
                    "stream {} entry {}: {} bytes is not a whole number of 64-byte ticks",
                    self.stream,
                    e.id,
                    ticks.len()
                )));
            }
            let mut skip = 0;
            if !group {
                if first > self.next_index {
                    // Trimmed before we read it.
                    self.lost += first - self.next_index;
                    self.gaps += 1;
                }
                skip = self.next_index.saturating_sub(first) as usize;
                self.next_index = self.next_index.max(first + (ticks.len() / 64) as u64);
            }
            for rec in ticks.chunks_exact(64).skip(skip) {
                let rec: &[u8; 64] = rec.try_into().expect("chunks of 64");
                let t = Tick::decode(rec)
                    .map_err(|d| self.err(format!("stream {} entry {}: {d}", self.stream, e.id)))?;
                self.pending.push(t);
            }
        }
        Ok((self.pending.len() - before) as u64)
    }

    /// A group reader's fetch: acknowledge what was handed out, then re-read own pending
    /// entries, claim idle ones, or read new ones — one pipelined round trip. True when an
    /// empty re-read or claim asks for another kind of read at once.
    fn fetch_group(&mut self) -> Result<bool, SourceError> {
        if self.ensure_connected()? {
            let g = self.group.as_mut().expect("group reader");
            g.reread = Some(StreamId::ZERO);
            let con = self.con.as_mut().expect("connected above");
            let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(&g.name)
                .arg(&g.start)
                .arg("MKSTREAM")
                .query(con);
            match created {
                Ok(_) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                    return Err(self.disconnected("XGROUP CREATE", &e));
                }
                Err(e) => {
                    self.con = None;
                    let g = self.group.as_ref().expect("group reader");
                    return Err(self.err(format!(
                        "stream {}: XGROUP CREATE {} from {}: {e}",
                        self.stream, g.name, g.start
                    )));
                }
            }
        }
        let now = Instant::now();
        let g = self.group.as_mut().expect("group reader");
        let read = match g.reread {
            Some(after) => GroupRead::Own(after),
            None if !g.claim_idle.is_zero() && !g.claimed_last && now >= g.next_claim => {
                GroupRead::Claim
            }
            None => GroupRead::New,
        };
        g.claimed_last = matches!(read, GroupRead::Claim);
        let mut pipe = redis::pipe();
        if !self.unacked.is_empty() {
            pipe.cmd("XACK")
                .arg(&self.stream)
                .arg(&g.name)
                .arg(&self.unacked[..])
                .ignore();
        }
        let count = self.count;
        let cmd = match read {
            GroupRead::Own(_) | GroupRead::New => pipe
                .cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&g.name)
                .arg(&g.consumer)
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(&self.stream),
            GroupRead::Claim => pipe
                .cmd("XAUTOCLAIM")
                .arg(&self.stream)
                .arg(&g.name)
                .arg(&g.consumer)
                .arg(u64::try_from(g.claim_idle.as_millis()).unwrap_or(u64::MAX))
                .arg(g.claim_cursor)
                .arg("COUNT")
                .arg(count),
        };
        match read {
            GroupRead::Own(after) => cmd.arg(after),
            GroupRead::New => cmd.arg(">"),
            GroupRead::Claim => cmd,
        };
        let con = self.con.as_mut().expect("connected above");
        let reply: redis::RedisResult<Vec<Value>> = pipe.query(con);
        let what = match read {
            GroupRead::Claim => "XAUTOCLAIM",
            _ => "XREADGROUP",
        };
        let mut replies = match reply {
            Ok(r) => r,
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                return Err(self.disconnected(what, &e));
            }
            // The group or the stream was deleted: the next connection creates it again.
            Err(e) if e.code() == Some("NOGROUP") => return Err(self.disconnected(what, &e)),
            Err(e) => {
                self.con = None;
                let g = self.group.as_ref().expect("group reader");
                return Err(self.err(format!(
                    "stream {} group {} consumer {}: {what}: {e}",
                    self.stream, g.name, g.consumer
                )));
            }
        };
        // Confirmed: everything handed out so far is acknowledged.
        self.unacked.clear();
        self.core.status = SourceStatus::Running;
        let v = replies.pop().unwrap_or(Value::Nil);
        self.pending.clear();
        self.at = 0;
        let unexpected = |s: &RedisStreamSource, v: &Value| {
            s.err(format!(
                "stream {}: unexpected {what} reply {v:?}",
                s.stream
            ))
        };
        match read {
            GroupRead::Own(_) | GroupRead::New => {
                let entries = match read_reply_entries(&v) {
                    None => &[][..],
                    Some(Some(e)) => e,
                    Some(None) => return Err(unexpected(self, &v)),
                };
                if let GroupRead::Own(_) = read {
                    let g = self.group.as_mut().expect("group reader");
                    match entries.last().and_then(raw_entry) {
                        // Own pending entries done: new ones from now on.
                        None => g.reread = None,
                        Some(last) => {
                            g.reread = Some(last.id);
                            g.reread_entries += entries.len() as u64;
                        }
                    }
                }
                self.take_entries(entries, true)?;
                Ok(matches!(read, GroupRead::Own(_)) && entries.is_empty())
            }
            GroupRead::Claim => {
                // [next cursor, entries, deleted IDs] (Redis 7).
                let Value::Array(parts) = &v else {
                    return Err(unexpected(self, &v));
                };
                let (Some(cursor), Some(Value::Array(entries))) = (
                    parts.first().and_then(bulk).and_then(StreamId::parse),
                    parts.get(1),
                ) else {
                    return Err(unexpected(self, &v));
                };
                if let Some(Value::Array(deleted)) = parts.get(2) {
                    self.gaps += deleted.len() as u64;
                }
                let g = self.group.as_mut().expect("group reader");
                g.claim_cursor = cursor;
                if cursor == StreamId::ZERO {
                    g.next_claim = now + (g.claim_idle / 2).max(Duration::from_millis(10));
                }
                let n = self.take_entries(entries, true)?;
                self.group.as_mut().expect("group reader").claimed += n;
                Ok(entries.is_empty())
            }
        }
    }

    /// A group reader's batch is handed out: its IDs join the acknowledgments to send.
    fn batch_done(&mut self) {
        self.unacked.extend_from_slice(&self.batch);
        self.batch.clear();
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
            self.pending.clear();
            self.at = 0;
            if self.group.is_some() {
                self.batch_done();
                // An empty re-read of own pending entries, or an empty claim, moves on to
                // the next kind of read at once (at most: re-read, claim, new).
                for _ in 0..3 {
                    if !self.fetch_group()? || !self.pending.is_empty() {
                        break;
                    }
                }
            } else {
                if let Some(id) = self.pending_last.take() {
                    self.last_id = id.to_string();
                }
                self.fetch()?;
            }
            if self.pending.is_empty() {
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
        // A group reader acknowledges what it handed out (best effort: entries left
        // unacknowledged are re-read under the same consumer name, or claimed).
        if self.group.is_some() && self.at == self.pending.len() {
            self.batch_done();
        }
        if let Some(g) = self.group.as_ref() {
            // The connection may have been cut: one new one is tried.
            for _ in 0..2 {
                if self.unacked.is_empty() {
                    break;
                }
                if self.con.is_none() {
                    self.con = connect(&self.url, self.timeout).ok();
                }
                let Some(con) = self.con.as_mut() else { break };
                let acked: redis::RedisResult<u64> = redis::cmd("XACK")
                    .arg(&self.stream)
                    .arg(&g.name)
                    .arg(&self.unacked[..])
                    .query(con);
                match acked {
                    Ok(_) => self.unacked.clear(),
                    Err(_) => self.con = None,
                }
            }
        }
        self.con = None;
        self.core.status = SourceStatus::Closed;
    }
}

/// The registry factory of kind `redis_stream`: parameters `url`, `stream` (required),
/// `start_id` (default `"0"`: from the beginning; `"$"`: only new entries), `max_ticks`, and
/// for a consumer-group reader `group`, `consumer` (required with `group`) and
/// `claim_idle_ms` (default 30000; 0: never claim).
///
/// ```toml
/// [providers.remote]
/// kind = "redis_stream"
/// symbols = ["AAPL"]
/// url = "redis://127.0.0.1:6379"
/// stream = "ticks:nasdaq"
/// group = "desk"          # optional: read as a consumer of this group
/// consumer = "host-a"     # stable across restarts, unique per live process
/// claim_idle_ms = 5000    # claim entries a dead consumer left pending this long
/// ```
///
/// # Errors
/// Unknown or mistyped parameters, a missing `url` or `stream`, `consumer` or
/// `claim_idle_ms` without `group`, `group` without `consumer`, an empty name, named by TOML
/// key.
pub fn build(
    spec: &market_data_pipeline::registry::SourceSpec,
    _ctx: &market_data_pipeline::registry::SourceContext,
) -> Result<Box<dyn TickSource>, market_data_pipeline::registry::RegistryError> {
    use market_data_pipeline::error::ConfigError;
    let p = spec.params();
    p.only(&[
        "url",
        "stream",
        "start_id",
        "max_ticks",
        "group",
        "consumer",
        "claim_idle_ms",
    ])?;
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
    if start != "$" && StreamId::parse(start.as_bytes()).is_none() {
        return Err(ConfigError::new(
            spec.key("start_id"),
            format!("{start:?} is not a stream ID (`0`, `$`, `<ms>-<seq>`)"),
        )
        .into());
    }
    let mut src = RedisStreamSource::new(&spec.name, url, stream, start);
    let (group, consumer, idle) = (p.str("group")?, p.str("consumer")?, p.u64("claim_idle_ms")?);
    for (key, v) in [("group", group), ("consumer", consumer)] {
        if v.is_some_and(|v| v.trim().is_empty()) {
            return Err(ConfigError::new(spec.key(key), "must not be empty").into());
        }
    }
    match (group, consumer) {
        (Some(g), Some(c)) => {
            src = src.group(g, c);
            if let Some(ms) = idle {
                src = src.claim_idle(Duration::from_millis(ms));
            }
        }
        (Some(_), None) => {
            return Err(ConfigError::new(
                spec.key("consumer"),
                "required with `group`: a consumer name stable across restarts and unique \
                 among the group's live processes",
            )
            .into())
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                spec.key("consumer"),
                "only for a consumer-group reader: set `group` too",
            )
            .into())
        }
        (None, None) if idle.is_some() => {
            return Err(ConfigError::new(
                spec.key("claim_idle_ms"),
                "only for a consumer-group reader: set `group` and `consumer`",
            )
            .into())
        }
        (None, None) => {}
    }
    if let Some(n) = p.u64("max_ticks")? {
        src = src.max_ticks(n);
    }
    Ok(Box::new(src))
}

market_data_pipeline::register_source_provider!("redis_stream", build);
