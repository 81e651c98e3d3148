//! The Lua scripts run in Redis (by `EVALSHA`, loaded again after a server restart). Every
//! script reads Redis's own clock (`TIME`, microseconds), so host clocks never matter.
//!
//! GCRA state: one key per budget window holding its theoretical arrival time (TAT, µs of
//! Redis time, a decimal string). A window with interval `T` (µs per token) and capacity `C`
//! has `⌊(now + C·T − max(TAT, now)) / T⌋` tokens available.

use redis::Script;

/// Lease up to `want` tokens from every window at once (all or nothing: the grant is the
/// smallest availability, and nothing is granted below `min`).
///
/// `KEYS`: the windows' TAT keys. `ARGV`: `want`, `min`, `force` (1: charge `want` without
/// checking — the resync after a degraded spell), `floor`, `max_wait_us`, then `T` (µs) and
/// `C` per window. Below `min`, at least `floor` tokens are still granted when `min` would
/// take longer than `max_wait_us` to come (the tail of a slow window is not left stranded).
/// Returns `{granted, wait_us, now_us}`; `wait_us` is when `min` (or `floor`) tokens are
/// available when nothing was granted.
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local want = tonumber(ARGV[1])
local min = tonumber(ARGV[2])
local force = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local grant = want
local wait = 0
local tats = {}
local floor_wait = 0
for i, key in ipairs(KEYS) do
  local T = tonumber(ARGV[4 + 2 * i])
  local cap = tonumber(ARGV[5 + 2 * i])
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  tats[i] = tat
  local fneed = tat + floor * T - cap * T - now
  if fneed > floor_wait then floor_wait = fneed end
  local avail = math.floor((now + cap * T - tat) / T + 1e-6)
  if avail < 0 then avail = 0 end
  if avail < grant then grant = avail end
  local need = tat + min * T - cap * T - now
  if need > wait then wait = need end
end
if force == 1 then
  grant = want
elseif grant < min then
  if wait <= max_wait or grant < floor then
    if wait > max_wait then wait = floor_wait end
    return {0, math.ceil(wait), now}
  end
end
for i, key in ipairs(KEYS) do
  local T = tonumber(ARGV[4 + 2 * i])
  local cap = tonumber(ARGV[5 + 2 * i])
  local tat = tats[i] + grant * T
  if tat > now + cap * T then tat = now + cap * T end
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {grant, 0, now}
";

/// Give `k` unspent leased tokens back to every window (never more than a full bucket).
///
/// `KEYS`: the windows' TAT keys. `ARGV`: `k`, then `T` (µs) per window. Returns `now_us`.
const RETURN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local k = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local T = tonumber(ARGV[1 + i])
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat > now then
    tat = tat - k * T
    if tat < now then tat = now end
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end
return now
";

/// Heartbeat of one member of a budget: `KEYS[1]` the members' sorted set, `ARGV`: member id,
/// TTL (ms). Members not seen for the TTL are dropped. Returns the number of members.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
";

/// Raise the cooldown deadline of one scope (never lowered) and publish the time remaining.
///
/// `KEYS[1]`: the provider's cooldown hash. `ARGV`: scope, duration (µs), channel, message
/// prefix. Publishes `prefix \t scope \t remaining_us`; returns `remaining_us`.
const COOLDOWN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local deadline = now + tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if cur > deadline then deadline = cur end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', deadline))
local remaining = string.format('%.0f', deadline - now)
redis.call('PUBLISH', ARGV[3], ARGV[4] .. '\t' .. ARGV[1] .. '\t' .. remaining)
return deadline - now
";

/// The running cooldowns of a provider: `KEYS[1]` its cooldown hash. Returns a flat list
/// `scope, remaining_us, …` (expired entries are deleted).
const COOLDOWNS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local d = tonumber(all[i + 1]) or 0
  if d > now then
    out[#out + 1] = all[i]
    out[#out + 1] = string.format('%.0f', d - now)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
";

/// The scripts, hashed once.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub lease: Script,
    pub give_back: Script,
    pub heartbeat: Script,
    pub cooldown: Script,
    pub cooldowns: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            lease: Script::new(LEASE),
            give_back: Script::new(RETURN),
            heartbeat: Script::new(HEARTBEAT),
            cooldown: Script::new(COOLDOWN),
            cooldowns: Script::new(COOLDOWNS),
        }
    }
}
