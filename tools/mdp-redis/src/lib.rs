//! Beyond one machine on Redis: provider budgets, cooldowns and breakers shared by every host
//! of one provider account.
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
//! buckets' state: each restart may add one `capacity`.
//!
//! ```no_run
//! use mdp_redis::{Coordination, CoordinationConfig};
//! use market_data_pipeline::flow::{ProviderLimits, RateCoordinator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let coordinator = RateCoordinator::new();
//! let ibkr = coordinator.register_provider_with("ibkr", ProviderLimits::new().capacity(60).refill_rate(60))?;
//! let coordination = Coordination::start(CoordinationConfig::new("redis://127.0.0.1:6379"))?;
//! coordination.share(&ibkr)?; // from now on the account's budget is shared by every host
//! coordinator.acquire("ibkr")?;
//! # Ok(()) }
//! ```

mod agent;
mod budget;
mod config;
mod error;
pub mod owner;
mod scripts;
pub mod singleton;
pub mod stream;

pub use agent::Coordination;
pub use budget::RedisBudget;
pub use config::CoordinationConfig;
pub use error::CoordError;
pub use singleton::{SingletonEvent, Singletons};
