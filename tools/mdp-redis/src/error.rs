//! `CoordError`: what can go wrong setting coordination up.

use std::fmt;

/// An error of the coordination layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordError {
    /// Invalid settings: the field and why.
    Config(String),
    /// Redis refused, timed out or answered something unexpected (what was being done, and
    /// the server's or the client's message).
    Redis(String),
}

impl fmt::Display for CoordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoordError::Config(m) => write!(f, "coordination settings: {m}"),
            CoordError::Redis(m) => write!(f, "redis: {m}"),
        }
    }
}

impl std::error::Error for CoordError {}

/// `CoordError::Redis` for `what` failing with `e`.
pub(crate) fn redis_err(what: &str, e: &redis::RedisError) -> CoordError {
    CoordError::Redis(format!("{what}: {e}"))
}
