//! `CoordinationConfig`: the `[coordination]` TOML section.

use std::time::Duration;

use serde::Deserialize;

use crate::error::CoordError;

/// How processes coordinate through Redis (`[coordination]` in a runtime's TOML file).
///
/// ```
/// use mdp_redis::CoordinationConfig;
/// let c: CoordinationConfig = toml::from_str(r#"
///     url = "redis://127.0.0.1:6379"
///     key_prefix = "desk1"
///     lease_target_ms = 20
/// "#).unwrap();
/// assert!(c.validate().is_ok());
/// assert_eq!(c.key_prefix, "desk1");
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinationConfig {
    /// The Redis URL (`redis://host:port/db`, `redis+unix:///path/to.sock`).
    pub url: String,
    /// Prefix of every key and channel (several deployments can share one server).
    pub key_prefix: String,
    /// This process's member id (default: `pid-<pid>-<start ns>`).
    pub member: Option<String>,
    /// A lease covers about this much of the process's measured demand (ms).
    pub lease_target_ms: u64,
    /// The smallest lease (tokens).
    pub lease_min: u64,
    /// The largest lease (tokens); default: a window's capacity / (2 · members), at least 1.
    pub lease_max: Option<u64>,
    /// Unspent leased tokens go back to Redis this long after the last grant (ms).
    pub lease_ttl_ms: u64,
    /// A member not heard from for this long is no longer counted (ms).
    pub membership_ttl_ms: u64,
    /// Connect, read and write timeout of every Redis call (ms).
    pub timeout_ms: u64,
    /// The longest wait between two reconnection attempts (ms).
    pub backoff_max_ms: u64,
    /// The share of each budget a process spends while Redis is unreachable, in `(0, 1]`;
    /// default: 1 / (members last known).
    pub local_share: Option<f64>,
    /// The membership assumed for the local share before Redis has been reached once.
    pub fallback_members: u64,
    /// Providers whose budgets are shared (empty: every provider of the runtime).
    pub providers: Vec<String>,
    /// Providers whose circuit breakers are shared too (opt-in; empty: none): a trip on one
    /// host opens the breaker on every host, HALF_OPEN probes are limited over all hosts.
    pub breakers: Vec<String>,
    /// A shared breaker's probe slot expires this long after its claim or its last renewal
    /// (ms; renewed every third of it while its probe is unresolved): a host that dies or is
    /// stopped holding one blocks the others' probes at most this long.
    pub probe_ttl_ms: u64,
    /// The lease of a singleton pipeline's ownership (ms): a dead or cut-off owner is replaced
    /// within about this long (plus one attempt period, a third of it).
    pub singleton_ttl_ms: u64,
    /// When set, each singleton pipeline's ticks go to the Redis stream
    /// `<key_prefix>:singleton:<tenant>/<pipeline>:ticks` (kept to about this many entries),
    /// every entry fenced by the owner's lease token: an owner fenced out cannot append one
    /// more entry, and its pipeline stops itself on the refusal. Unset: the pipelines' output
    /// is only counted.
    pub singleton_stream_max_len: Option<u64>,
}

impl Default for CoordinationConfig {
    fn default() -> Self {
        CoordinationConfig {
            url: String::new(),
            key_prefix: "mdp".into(),
            member: None,
            lease_target_ms: 20,
            lease_min: 1,
            lease_max: None,
            lease_ttl_ms: 1000,
            membership_ttl_ms: 3000,
            timeout_ms: 200,
            backoff_max_ms: 1000,
            local_share: None,
            fallback_members: 1,
            providers: Vec::new(),
            breakers: Vec::new(),
            probe_ttl_ms: 10_000,
            singleton_ttl_ms: 1000,
            singleton_stream_max_len: None,
        }
    }
}

impl CoordinationConfig {
    /// The defaults with `url`.
    pub fn new(url: impl Into<String>) -> CoordinationConfig {
        CoordinationConfig {
            url: url.into(),
            ..Default::default()
        }
    }

    /// Parse the `[coordination]` section's text (as
    /// `PipelineRuntimeSettings::coordination` keeps it) and validate it.
    ///
    /// # Errors
    /// [`CoordError::Config`] for unknown keys, wrong types and invalid values.
    pub fn from_toml(text: &str) -> Result<CoordinationConfig, CoordError> {
        let c: CoordinationConfig = toml::from_str(text).map_err(|e| {
            // Where: the line the error's span starts on (serde's message names no key for a
            // wrong type).
            let at = e
                .span()
                .and_then(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count();
                    text.lines()
                        .nth(line)
                        .map(|l| format!(" at line {} `{}`", line + 1, l.trim()))
                })
                .unwrap_or_default();
            CoordError::Config(format!("coordination{at}: {}", e.message()))
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Check every field.
    ///
    /// # Errors
    /// [`CoordError::Config`] naming the first bad field (`coordination.<field>`).
    pub fn validate(&self) -> Result<(), CoordError> {
        let bad = |f: &str, why: &str| Err(CoordError::Config(format!("coordination.{f}: {why}")));
        if self.url.is_empty() {
            return bad("url", "required");
        }
        if redis::Client::open(self.url.as_str()).is_err() {
            return bad(
                "url",
                "not a Redis URL (redis://host:port, redis+unix:///path)",
            );
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return bad("key_prefix", "must be a non-empty word");
        }
        for (f, v) in [
            ("lease_target_ms", self.lease_target_ms),
            ("lease_min", self.lease_min),
            ("lease_ttl_ms", self.lease_ttl_ms),
            ("membership_ttl_ms", self.membership_ttl_ms),
            ("timeout_ms", self.timeout_ms),
            ("backoff_max_ms", self.backoff_max_ms),
            ("fallback_members", self.fallback_members),
            ("singleton_ttl_ms", self.singleton_ttl_ms),
            ("probe_ttl_ms", self.probe_ttl_ms),
        ] {
            if v == 0 {
                return bad(f, "must be greater than 0");
            }
            if v > 86_400_000 {
                return bad(f, "must be at most 86400000");
            }
        }
        if self.singleton_ttl_ms < 30 {
            return bad("singleton_ttl_ms", "must be at least 30");
        }
        if self.singleton_stream_max_len == Some(0) {
            return bad("singleton_stream_max_len", "must be greater than 0");
        }
        if self.lease_max.is_some_and(|m| m < self.lease_min) {
            return bad("lease_max", "must be at least lease_min");
        }
        if let Some(s) = self.local_share {
            if !(s > 0.0 && s <= 1.0) {
                return bad("local_share", "must be in (0, 1]");
            }
        }
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
