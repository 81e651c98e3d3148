//! Beyond one machine on Redis: provider budgets, cooldowns and (opt-in) breakers shared by
//! every host of one provider account.
//!
//! The library's core knows nothing of Redis: a provider admits through its local windows
//! unless a [`SharedBudget`](market_data_pipeline::flow::SharedBudget) is attached, which this
//! crate's [`Coordination::share`] does.
//!
//! # Shared budgets and their bound
//!
//! The GCRA state of every window lives in Redis and is changed only by Lua scripts reading
//! Redis's clock. A process spends tokens it leased in batches into a local atomic pool (one
//! compare-and-swap per admission); the lease size follows the process's measured demand
//! (`lease_target_ms` of it, capped at `lease_max`, by default capacity / (2 · members)), and
//! tokens unspent `lease_ttl_ms` after the last grant, or when the process stops, go back.
//!
//! **Bound.** Over any interval of length `t`, the tokens admitted by all hosts together are at
//! most `capacity + rate·t + S`, where the *lease slack* `S` is the sum over hosts of the
//! tokens they held unspent in their pools at the start of the interval (at most
//! `Σ lease_max`, and zero after `lease_ttl_ms` of no demand), plus, for every host that
//! was degraded during the interval, its local share (`share·capacity + share·rate·t_degraded`,
//! less what the resync charged back). A Redis restart without persistence forgets the
//! buckets' state: each restart may add one `capacity`. The bound holds for every window of
//! a provider (multi-window limits: a lease is granted from all windows at once) and counts
//! tokens, so a request of cost `n` counts `n` (weighted cost).
//!
//! **Tenants.** [`Coordination::share_tenant`] holds a tenant's budget in Redis the same way
//! (its own GCRA key, `<prefix>:tenant:<provider>:<tenant>:w0`, leased into its own local
//! pool), so the tenant's limit holds across every host that shares the same tenant name at
//! the same provider: the tenant admits at most `C_T + r_T·t + S_T` over all hosts, `S_T`
//! its lease slack (and degraded shares) as above. A request spends both the tenant's and the
//! provider's budget; the tenant's tokens go back to its pool when the provider refuses.
//!
//! **High-priority reserve.** A window with `high_priority_reserve` keeps
//! `K = ⌊capacity · reserve⌋` tokens: the lease script grants normal-priority leases only down
//! to `K` tokens left in Redis, so tokens leased for normal priority, over all hosts together,
//! never take a window below `K` — normal-priority requests admit at most
//! `capacity − K + rate·t + S` over any interval. A high-priority request that finds the
//! pool empty is served from a second pool, leased for just what it needs with the reserve
//! allowed; while degraded, each local share keeps its part of the reserve likewise.
//!
//! **Live changes.** `update_limits` / `set_scale` on a shared provider, on any host, are
//! stored in Redis by one script: the windows' state is re-expressed in the new limits
//! (each keeps the tokens it holds, capped at the new capacity, as a local bucket does; at
//! scale 0 nothing refills until the scale is raised) and a version is raised. From then on
//! no lease is granted under the old limits: a host asking with an older version gets the
//! new limits back, adopts them, gives its pools' tokens back under them and leases again.
//! So from the change on (time `t_c`), all hosts together admit at most
//! `C_new + rate_new·(t − t_c) + S_old`, `S_old` the tokens their pools held at `t_c` (at most
//! `Σ lease_max`), spent or given back at each host's next lease (or lease expiry). The
//! number of windows cannot change live (as locally). An adopting host's own
//! `ProviderHandle::limits()` and `state().scale` show the adopted windows and scale once it
//! has adopted them ([`RedisBudget::limits_version`]; applied through
//! `ProviderHandle::apply_remote_limits` / `apply_remote_scale`, which do not hand the
//! change back to Redis). Only the windows and the scale are shared: a change of the
//! breaker's or the cooldown's settings, or of the reserve's share, stays on the host that
//! made it (the reserve's tokens per window are shared and enforced).
//!
//! # Singleton pipelines and ticks across hosts
//!
//! [`owner`] and [`singleton`]: a pipeline marked singleton runs on exactly one host, under a
//! Redis lease with a fencing token; with `singleton_stream_max_len` its ticks go to a Redis
//! stream through a sink that checks the token against the lease on every entry, in Redis
//! (no entry of a replaced owner after the new owner's first). [`stream`]: Redis Streams
//! sink and source (registry kind `redis_stream`), the source reading plainly or as a
//! consumer of a consumer group (pending entries re-read after a reconnection, acknowledged
//! once handed downstream, a dead consumer's claimed); its module docs state the delivery
//! guarantees.
//!
//! # Shared cooldowns and breakers
//!
//! A cooldown triggered on one host is queued for the *pusher* thread (the queue's send wakes
//! it; no round trip on the caller's thread), which runs a Lua script raising the scope's
//! deadline in Redis (never lowering it) and publishing it; every other host's listener thread
//! applies it locally. A listener that (re)subscribes first applies the cooldowns and OPEN
//! periods still running, so nothing published while it was not subscribed is lost.
//!
//! A provider's circuit breaker is shared only when asked ([`Coordination::share_breaker`], or
//! `breakers = [..]` in `[coordination]`), through the core's
//! [`SharedBreaker`](market_data_pipeline::flow::SharedBreaker) seam; the breaker itself stays
//! the local atomic word, so CLOSED admission never touches Redis.
//! - **Trip.** When it opens here (its failure threshold, or a probe's failure) the pusher runs a
//!   script that raises the breaker's OPEN deadline in Redis, drops every probe slot and
//!   publishes the OPEN period; every other host applies it (OPEN until then, never shortened).
//! - **HALF_OPEN probes across hosts.** A local probe is kept only with one of the shared probe
//!   slots: a sorted set in Redis holding at most `half_open_max_probes` unexpired slots over
//!   all hosts, claimed by a script that refuses while an OPEN period runs. The slot is claimed
//!   by the coordination thread in the background: the first call that wants a probe is refused
//!   (as a HALF_OPEN breaker with its probes out refuses) and asks for one; a later call takes it.
//! - **Outcome.** A probe's success closes the breaker here and, through a script that refuses
//!   while another host's OPEN period runs, on every host; its failure re-opens it everywhere
//!   (a trip). A probe ended without either (dropped, or one success of several) releases its
//!   slot. Every slot expires `probe_ttl_ms` after its claim or its last renewal: while a probe
//!   handed out here is unresolved, the coordination thread renews the slots this host holds
//!   every `probe_ttl_ms / 3` (a script that extends only a slot still held and unexpired), so
//!   a probe longer than the TTL keeps its exclusivity. A host that dies, is stopped, or loses
//!   Redis stops renewing and blocks the others' probes at most `probe_ttl_ms` more; a probe
//!   whose caller hangs in a live process (never resolved nor dropped) keeps its slot
//!   renewed. `successes_to_close` is counted per host.
//! - **Redis down.** The breaker acts on this host's outcomes alone (its own probe limit),
//!   reports `degraded` in [`ProviderState::shared_breaker`], and picks up a running OPEN period
//!   when Redis is back; a trip or a recovery that could not be pushed is pushed then (a trip
//!   whose OPEN period has ended meanwhile is dropped). Nothing waits for Redis.
//!
//! [`ProviderState::shared_breaker`]: market_data_pipeline::flow::ProviderState::shared_breaker
//!
//! ```no_run
//! use mdp_redis::{Coordination, CoordinationConfig};
//! use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let coordinator = RateCoordinator::new();
//! let ibkr = coordinator.register_provider_with("ibkr", ProviderLimits::new().capacity(60).refill_rate(60))?;
//! let coordination = Coordination::start(CoordinationConfig::new("redis://127.0.0.1:6379"))?;
//! coordination.share(&ibkr)?; // from now on the account's budget is shared by every host
//! coordination.share_breaker(&ibkr)?; // and its breaker's trips and probes (opt-in)
//! coordinator.acquire("ibkr")?;
//! # Ok(()) }
//! ```

mod agent;
mod breaker;
mod budget;
mod config;
mod error;
mod live;
pub mod owner;
mod scripts;
pub mod singleton;
pub mod stream;

pub use agent::Coordination;
pub use breaker::RedisBreaker;
pub use budget::RedisBudget;
pub use config::CoordinationConfig;
pub use error::CoordError;
pub use singleton::{SingletonEvent, Singletons};
