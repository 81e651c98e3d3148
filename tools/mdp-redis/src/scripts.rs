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
/// `KEYS`: the budget's limits hash, then the windows' TAT keys. `ARGV`: `want`, `min`,
/// `force` (1: charge `want` without checking — the resync after a degraded spell), `floor`,
/// `max_wait_us`, the caller's limits `version`, `high` (1: the reserve may be leased), the
/// caller's limits `spec`, `suspended` (1: scale 0, nothing is granted), then `T` (µs, scale
/// applied), `C` and `K` (reserve) per window. Below `min`, at least `floor` tokens are still
/// granted when `min` would take longer than `max_wait_us` to come (the tail of a slow window
/// is not left stranded).
///
/// Limits: the hash holds the version `v` and `spec` of the last live change. A caller with an
/// older version is granted nothing and gets the current `spec` back (it adopts it and asks
/// again): once a change is stored, no lease is granted under the old limits. A caller with a
/// newer version (the server lost its state) stores its own.
///
/// Reserve: unless `high`, a window is leased only down to `K` tokens, so normal-priority
/// leases of all hosts together never take the last `K` tokens of any window.
///
/// Returns `{granted, wait_us, now_us, version, spec}`; `wait_us` is when `min` (or `floor`)
/// tokens are available when nothing was granted; `spec` is empty unless the caller's
/// version is stale.
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hv = tonumber(ARGV[6])
local pv = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') or 0
if pv > hv then
  return {0, 0, now, pv, redis.call('HGET', KEYS[1], 'spec') or ''}
end
if pv < hv then
  redis.call('HSET', KEYS[1], 'v', hv, 'spec', ARGV[8])
end
local want = tonumber(ARGV[1])
local min = tonumber(ARGV[2])
local force = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local high = tonumber(ARGV[7])
if tonumber(ARGV[9]) == 1 and force ~= 1 then
  return {0, max_wait, now, hv, ''}
end
local grant = want
local wait = 0
local tats = {}
local floor_wait = 0
for i = 2, #KEYS do
  local j = i - 1
  local T = tonumber(ARGV[7 + 3 * j])
  local cap = tonumber(ARGV[8 + 3 * j])
  local keep = 0
  if high ~= 1 then keep = tonumber(ARGV[9 + 3 * j]) end
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  tats[i] = tat
  local fneed = tat + (floor + keep) * T - cap * T - now
  if fneed > floor_wait then floor_wait = fneed end
  local avail = math.floor((now + cap * T - tat) / T + 1e-6) - keep
  if avail < 0 then avail = 0 end
  if avail < grant then grant = avail end
  local need = tat + (min + keep) * T - cap * T - now
  if need > wait then wait = need end
end
if force == 1 then
  grant = want
elseif grant < min then
  if wait <= max_wait or grant < floor then
    if wait > max_wait then wait = floor_wait end
    return {0, math.ceil(wait), now, hv, ''}
  end
end
for i = 2, #KEYS do
  local j = i - 1
  local T = tonumber(ARGV[7 + 3 * j])
  local cap = tonumber(ARGV[8 + 3 * j])
  local tat = tats[i] + grant * T
  if tat > now + cap * T then tat = now + cap * T end
  redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {grant, 0, now, hv, ''}
";

/// Give `k` unspent leased tokens back to every window (never more than a full bucket).
///
/// `KEYS`: the limits hash, then the windows' TAT keys. `ARGV`: `k`, the caller's limits
/// `version`, then `T` (µs, scale applied) per window. Tokens leased under other limits than
/// the stored ones are not given back (dropped: fewer admissions, never more). Returns
/// `now_us`.
const RETURN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pv = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') or 0
if pv ~= tonumber(ARGV[2]) then return now end
local k = tonumber(ARGV[1])
for i = 2, #KEYS do
  local T = tonumber(ARGV[1 + i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat > now then
    tat = tat - k * T
    if tat < now then tat = now end
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end
return now
";

/// A live change of a budget's limits, atomic for every host: each window keeps the tokens
/// it has now (capped at the new capacity, as a local bucket's `set_limits`), re-expressed in
/// the new limits; the version is raised, so that no lease is granted under the old limits
/// after this (see `LEASE`).
///
/// `KEYS`: the limits hash, then the windows' TAT keys. `ARGV`: the new `spec`, the caller's
/// current `spec` (the old limits when none is stored), the caller's `version`. A spec is
/// `scale;T,C,K;T,C,K…` (`T` µs per token at scale 1). At scale 0 (suspended) the tokens a
/// window holds are kept in the hash (`a<i>`) and nothing refills. Returns
/// `{version, now_us}`.
const SET_LIMITS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function parse(spec)
  local s = nil
  local w = {}
  for part in string.gmatch(spec, '[^;]+') do
    if s == nil then
      s = tonumber(part)
    else
      local T, C = string.match(part, '^([^,]+),([^,]+),[^,]+$')
      w[#w + 1] = {tonumber(T), tonumber(C)}
    end
  end
  return s, w
end
local hv = tonumber(ARGV[3])
local pv = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') or 0
local old = ARGV[2]
local stored = redis.call('HGET', KEYS[1], 'spec')
if stored and pv >= hv then old = stored end
if pv < hv then pv = hv end
local os, ow = parse(old)
local ns, nw = parse(ARGV[1])
if os == nil or ns == nil or #ow ~= #KEYS - 1 or #nw ~= #KEYS - 1 then
  return redis.error_reply('mdp: limits spec does not match the windows')
end
for i = 2, #KEYS do
  local j = i - 1
  local oT, oC, nT, nC = ow[j][1], ow[j][2], nw[j][1], nw[j][2]
  local a
  if os == 0 then
    a = tonumber(redis.call('HGET', KEYS[1], 'a' .. j) or '') or oC
  else
    oT = oT / os
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
    if tat < now then tat = now end
    a = (now + oC * oT - tat) / oT
  end
  if a > nC then a = nC end
  if a < 0 then a = 0 end
  if ns == 0 then
    redis.call('HSET', KEYS[1], 'a' .. j, string.format('%.6f', a))
  else
    nT = nT / ns
    local tat = now + (nC - a) * nT
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end
redis.call('HSET', KEYS[1], 'v', pv + 1, 'spec', ARGV[1])
return {pv + 1, now}
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

/// Open a shared breaker: raise its OPEN deadline (never lowered), drop every probe slot and
/// publish the time remaining.
///
/// `KEYS`: the breaker's deadline key (µs of Redis time), its probe slots' sorted set. `ARGV`:
/// the OPEN period (µs), channel, provider, member. Publishes `provider \t open \t
/// remaining_us \t member`; returns `remaining_us`.
const TRIP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local deadline = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur > deadline then deadline = cur end
redis.call('SET', KEYS[1], string.format('%.0f', deadline), 'PX', math.ceil((deadline - now) / 1000) + 1000)
redis.call('DEL', KEYS[2])
local remaining = string.format('%.0f', deadline - now)
redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\topen\t' .. remaining .. '\t' .. ARGV[4])
return deadline - now
";

/// Close a shared breaker unless another host's OPEN period is running: drop the deadline and
/// every probe slot, publish `provider \t close \t 0 \t member`.
///
/// `KEYS` and `ARGV`: as [`TRIP`] (the period, `ARGV[1]`, is not used). Returns 1 when closed,
/// 0 when an OPEN period runs (the close is dropped: that host's trip reaches this one too).
const CLOSE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur > now then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\tclose\t0\t' .. ARGV[4])
return 1
";

/// Claim one HALF_OPEN probe slot of a shared breaker: granted while fewer than `max` unexpired
/// slots are held over all hosts and no OPEN period runs.
///
/// `KEYS`: as [`TRIP`]. `ARGV`: `max`, the slot's TTL (ms), the slot's id. A slot not released
/// expires after its TTL unless renewed ([`RENEW`]; its holder died or stopped renewing). Returns `{granted, retry_ms}`: `retry_ms`
/// is the OPEN period left when one runs, 0 otherwise.
const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur > now then return {0, math.ceil((cur - now) / 1000)} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return {0, 0} end
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 1000)
return {1, 0}
";

/// Renew probe slots a host holds: each slot of `ARGV[2..]` still in the set and not expired
/// gets `now + ttl` as its expiry; an expired or dropped one is not brought back (its
/// exclusivity is lost: another host may hold the slot now).
///
/// `KEYS[1]`: the breaker's probe slots. `ARGV`: the TTL (ms), then the slots' ids (unique to
/// their holder). Returns one flag per id: 1 renewed, 0 gone.
const RENEW: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local out = {}
local any = false
for i = 2, #ARGV do
  local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]))
  if score and score > now_ms then
    redis.call('ZADD', KEYS[1], 'XX', now_ms + ttl, ARGV[i])
    out[#out + 1] = 1
    any = true
  else
    out[#out + 1] = 0
  end
end
if any and redis.call('PTTL', KEYS[1]) < ttl + 1000 then
  redis.call('PEXPIRE', KEYS[1], ttl + 1000)
end
return out
";

/// The OPEN period left of a shared breaker (µs, 0 when none runs). `KEYS[1]`: its deadline.
const OPEN_LEFT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur > now then return cur - now end
return 0
";

/// The scripts, hashed once.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub lease: Script,
    pub give_back: Script,
    pub set_limits: Script,
    pub heartbeat: Script,
    pub cooldown: Script,
    pub cooldowns: Script,
    pub trip: Script,
    pub close: Script,
    pub claim: Script,
    pub renew: Script,
    pub open_left: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            lease: Script::new(LEASE),
            give_back: Script::new(RETURN),
            set_limits: Script::new(SET_LIMITS),
            heartbeat: Script::new(HEARTBEAT),
            cooldown: Script::new(COOLDOWN),
            cooldowns: Script::new(COOLDOWNS),
            trip: Script::new(TRIP),
            close: Script::new(CLOSE),
            claim: Script::new(CLAIM),
            renew: Script::new(RENEW),
            open_left: Script::new(OPEN_LEFT),
        }
    }
}
