//! `RoutingStrategy`: how a [`SourceRouter`](super::SourceRouter) picks the source it delivers.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;

/// How a router chooses among its sources. See the [module docs](super) for what each one
/// delivers and what it loses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RoutingStrategy {
    /// Priority failover in list order, with fail-back to a recovered higher-priority source
    /// after the hold-down (the seed's `"first"`).
    #[default]
    First,
    /// Rotate among the healthy sources every `round_robin_chunks` delivered chunks.
    RoundRobin,
    /// Deliver the healthy source with the lowest measured feed latency, with hysteresis.
    Fastest,
    /// Hot-hot redundant feeds of one sequenced stream: poll all, forward each `seq` once.
    Arbitrate,
}

impl RoutingStrategy {
    /// The name accepted by [`FromStr`] (`first`, `round_robin`, `fastest`, `arbitrate`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::First => "first",
            RoutingStrategy::RoundRobin => "round_robin",
            RoutingStrategy::Fastest => "fastest",
            RoutingStrategy::Arbitrate => "arbitrate",
        }
    }

    /// Every strategy, in declaration order.
    pub const ALL: [RoutingStrategy; 4] = [
        RoutingStrategy::First,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::Fastest,
        RoutingStrategy::Arbitrate,
    ];

    /// Whether one source at a time is delivered (every strategy but `Arbitrate`).
    pub const fn single_active(self) -> bool {
        !matches!(self, RoutingStrategy::Arbitrate)
    }
}

impl fmt::Display for RoutingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoutingStrategy {
    type Err = ConfigError;

    /// Parse the seed's strategy string.
    ///
    /// ```
    /// use market_data_pipeline::router::RoutingStrategy;
    /// assert_eq!("first".parse::<RoutingStrategy>().unwrap(), RoutingStrategy::First);
    /// let e = "fallback".parse::<RoutingStrategy>().unwrap_err();
    /// assert_eq!(e.field, "router.strategy");
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoutingStrategy::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ConfigError::new(
                    "router.strategy",
                    format!(
                        "unknown strategy {s:?} (known: first, round_robin, fastest, arbitrate)"
                    ),
                )
            })
    }
}

/// What [`SourceRouter::new`](super::SourceRouter::new) accepts as a strategy: a
/// [`RoutingStrategy`], or its name as in the seed (`"first"`).
pub trait IntoStrategy {
    /// The strategy.
    ///
    /// # Errors
    /// An unknown name, as [`RoutingStrategy::from_str`].
    fn into_strategy(self) -> Result<RoutingStrategy, ConfigError>;
}

impl IntoStrategy for RoutingStrategy {
    fn into_strategy(self) -> Result<RoutingStrategy, ConfigError> {
        Ok(self)
    }
}

impl IntoStrategy for &str {
    fn into_strategy(self) -> Result<RoutingStrategy, ConfigError> {
        self.parse()
    }
}
