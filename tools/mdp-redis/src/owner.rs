//! Singleton ownership: a pipeline marked singleton runs on exactly one host at a time.
//!
//! Ownership is a Redis lease (`<prefix>:owner:<pipeline>`, a hash of `member` and `token`
//! with a TTL) and a fencing token (`<prefix>:fence:<pipeline>`, incremented on every new
//! ownership, never reset). The owner renews every `ttl / 3`; a renewal is accepted only with
//! the current token. An owner that is killed stops renewing: the lease expires and another
//! host takes over (a new, larger token) within the TTL plus one attempt period. An owner cut
//! off (SIGSTOP, partition) past the TTL finds, on its next renewal, a token that is not its
//! own — or could not renew for a whole TTL — and stops its pipeline: [`Ownership::poll`]
//! says `Lost`. Anything the pipeline writes elsewhere can carry the token, so a store can
//! refuse writes from an older one: a singleton's Redis stream sink
//! ([`RedisStreamSink::open_fenced`](crate::stream::RedisStreamSink::open_fenced)) checks it
//! against the lease on every entry.

use std::time::{Duration, Instant};

use redis::Script;

use crate::error::{redis_err, CoordError};

const ACQUIRE: &str = r"
local owner = redis.call('HGET', KEYS[1], 'member')
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
end
if owner then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'member', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
";

const RENEW: &str = r"
if redis.call('HGET', KEYS[1], 'member') == ARGV[1]
   and tonumber(redis.call('HGET', KEYS[1], 'token')) == tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

const RELEASE: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'token')) == tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
";

const FENCED_APPEND: &str = r"
if tonumber(redis.call('GET', KEYS[1])) ~= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'token', ARGV[1], 'member', ARGV[2],
  'delivered', ARGV[3])
return 1
";

/// What [`Ownership::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerEvent {
    /// Nothing changed.
    Unchanged,
    /// This host became the owner, with this fencing token: start the pipeline.
    Acquired(u64),
    /// This host is no longer the owner (fenced out, or could not renew for a whole TTL):
    /// stop the pipeline.
    Lost(u64),
}

/// One singleton pipeline's ownership as seen by one host (see the module docs). Call
/// [`poll`](Self::poll) regularly (every `ttl / 10` or so); it makes at most one round trip,
/// bounded by the connection timeout.
pub struct Ownership {
    client: redis::Client,
    con: Option<redis::Connection>,
    key: String,
    fence: String,
    member: String,
    ttl: Duration,
    timeout: Duration,
    token: Option<u64>,
    last_renewed: Instant,
    next: Instant,
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership")
            .field("key", &self.key)
            .field("token", &self.token)
            .finish()
    }
}

impl Ownership {
    /// Ownership of `pipeline` for `member`, leased for `ttl`.
    ///
    /// # Errors
    /// [`CoordError::Config`] for a bad URL or a TTL under 30 ms.
    pub fn new(
        url: &str,
        prefix: &str,
        pipeline: &str,
        member: &str,
        ttl: Duration,
    ) -> Result<Ownership, CoordError> {
        let client = redis::Client::open(url).map_err(|e| redis_err("coordination.url", &e))?;
        if ttl < Duration::from_millis(30) {
            return Err(CoordError::Config(
                "singleton lease ttl: must be at least 30 ms".into(),
            ));
        }
        Ok(Ownership {
            client,
            con: None,
            key: format!("{prefix}:owner:{pipeline}"),
            fence: format!("{prefix}:fence:{pipeline}"),
            member: member.into(),
            ttl,
            timeout: (ttl / 4).min(Duration::from_millis(500)),
            token: None,
            last_renewed: Instant::now(),
            next: Instant::now(),
        })
    }

    /// The fencing token held, if this host owns the pipeline.
    pub fn token(&self) -> Option<u64> {
        self.token
    }

    /// The lease's key (a hash of `member` and `token`): what a fenced write checks its
    /// token against ([`RedisStreamSink::open_fenced`](crate::stream::RedisStreamSink::open_fenced)).
    pub fn lease_key(&self) -> &str {
        &self.key
    }

    /// The owner recorded in Redis (member, token), if any.
    ///
    /// # Errors
    /// [`CoordError::Redis`] when Redis cannot be asked.
    pub fn owner(&mut self) -> Result<Option<(String, u64)>, CoordError> {
        let key = self.key.clone();
        let con = self.connection().map_err(|e| redis_err("owner", &e))?;
        let (m, t): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("member")
            .arg("token")
            .query(con)
            .map_err(|e| redis_err("owner", &e))?;
        Ok(m.zip(t))
    }

    fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.con.is_none() {
            let c = self.client.get_connection_with_timeout(self.timeout)?;
            c.set_read_timeout(Some(self.timeout))?;
            c.set_write_timeout(Some(self.timeout))?;
            self.con = Some(c);
        }
        Ok(self.con.as_mut().expect("connected above"))
    }

    /// Acquire or renew when due; report a change of ownership.
    pub fn poll(&mut self) -> OwnerEvent {
        let now = Instant::now();
        if let Some(token) = self.token {
            // Cut off for a whole TTL: another host may own it by now.
            if now.duration_since(self.last_renewed) >= self.ttl {
                self.token = None;
                return OwnerEvent::Lost(token);
            }
        }
        if now < self.next {
            return OwnerEvent::Unchanged;
        }
        self.next = now + self.ttl / 3;
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let (key, fence, member, held) = (
            self.key.clone(),
            self.fence.clone(),
            self.member.clone(),
            self.token,
        );
        let reply: redis::RedisResult<u64> = self.connection().and_then(|c| match held {
            Some(token) => Script::new(RENEW)
                .key(&key)
                .arg(&member)
                .arg(ttl_ms)
                .arg(token)
                .invoke(c),
            None => Script::new(ACQUIRE)
                .key(&key)
                .key(&fence)
                .arg(&member)
                .arg(ttl_ms)
                .invoke(c),
        });
        match (held, reply) {
            (Some(_), Ok(1)) => {
                self.last_renewed = now;
                OwnerEvent::Unchanged
            }
            (Some(token), Ok(_)) => {
                self.token = None;
                OwnerEvent::Lost(token)
            }
            (None, Ok(0)) => OwnerEvent::Unchanged,
            (None, Ok(token)) => {
                self.token = Some(token);
                self.last_renewed = now;
                OwnerEvent::Acquired(token)
            }
            (_, Err(_)) => {
                self.con = None;
                OwnerEvent::Unchanged
            }
        }
    }

    /// A fenced write: append `(token, member, delivered)` to the stream `stream` only if the
    /// token held is still the newest one handed out for this pipeline (a Lua check on the
    /// fencing counter). `Some(false)`: fenced out (a newer owner exists; stop at once), `None`:
    /// not the owner or Redis could not be asked.
    pub fn fenced_append(&mut self, stream: &str, delivered: u64) -> Option<bool> {
        let token = self.token?;
        let (fence, member) = (self.fence.clone(), self.member.clone());
        let reply: redis::RedisResult<u64> = self.connection().and_then(|c| {
            Script::new(FENCED_APPEND)
                .key(&fence)
                .key(stream)
                .arg(token)
                .arg(&member)
                .arg(delivered)
                .invoke(c)
        });
        match reply {
            Ok(1) => Some(true),
            Ok(_) => {
                self.token = None;
                Some(false)
            }
            Err(_) => {
                self.con = None;
                None
            }
        }
    }

    /// Give ownership up (the pipeline was stopped): another host can take it at once.
    pub fn release(&mut self) {
        if let Some(token) = self.token.take() {
            let key = self.key.clone();
            if let Ok(c) = self.connection() {
                let _: redis::RedisResult<u64> =
                    Script::new(RELEASE).key(&key).arg(token).invoke(c);
            }
        }
    }
}
