//! The original's names for coordinator calls, as documented aliases: `get_provider_state`,
//! `set_budget_scale` (which clamps), `set_global_pressure`, `is_cooling_down`.

use std::fmt;
use std::str::FromStr;

use super::{CoordinatorError, ProviderState, RateCoordinator, ScopeId};
use crate::error::ConfigError;

/// A backpressure level reported by a downstream store (the original's `"ok"`, `"soft"`,
/// `"hard"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pressure {
    /// Keeping up.
    #[default]
    Ok,
    /// Falling behind.
    Soft,
    /// Overloaded.
    Hard,
}

impl Pressure {
    /// Lower-case name (`ok`, `soft`, `hard`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Pressure::Ok => "ok",
            Pressure::Soft => "soft",
            Pressure::Hard => "hard",
        }
    }
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pressure {
    type Err = ConfigError;

    /// `ok`, `soft` or `hard`, in any case.
    fn from_str(s: &str) -> Result<Pressure, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "ok" => Ok(Pressure::Ok),
            "soft" => Ok(Pressure::Soft),
            "hard" => Ok(Pressure::Hard),
            _ => Err(ConfigError::new(
                "pressure",
                format!("unknown level {s:?} (ok, soft or hard)"),
            )),
        }
    }
}

/// The original's names.
///
/// ```
/// use market_data_pipeline::flow::{Pressure, RateCoordinator};
/// use market_data_pipeline::ManualClock;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
/// coordinator.register_provider("ibkr")?;
/// coordinator.set_budget_scale("ibkr", 1.7)?; // clamped to 1.0, as the original did
/// assert_eq!(coordinator.get_provider_state("ibkr")?.scale, 1.0);
/// coordinator.set_global_pressure("ibkr", "soft")?;
/// assert_eq!(coordinator.pressure("ibkr")?, Pressure::Soft);
/// coordinator.trigger_cooldown("ibkr", "market_data")?;
/// assert!(coordinator.is_cooling_down("ibkr", "market_data")?);
/// assert!(!coordinator.is_cooling_down("ibkr", "historical")?);
/// # Ok(()) }
/// ```
impl RateCoordinator {
    /// The original's `get_provider_state`: the same as
    /// [`provider_state`](Self::provider_state).
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn get_provider_state(&self, provider: &str) -> Result<ProviderState, CoordinatorError> {
        self.provider_state(provider)
    }

    /// The original's `set_budget_scale`: [`set_scale`](Self::set_scale) with `scale` clamped
    /// into `[0, 1]` first (as the original did) instead of refused. Returns the scale applied.
    ///
    /// # Errors
    /// `UnknownProvider`; `Config` naming `scale` for NaN, which has no place to clamp to.
    pub fn set_budget_scale(&self, provider: &str, scale: f64) -> Result<f64, CoordinatorError> {
        if scale.is_nan() {
            return Err(ConfigError::new("scale", "NaN is not a scale").into());
        }
        let clamped = scale.clamp(0.0, 1.0);
        self.set_scale(provider, clamped)?;
        Ok(clamped)
    }

    /// The original's `set_global_pressure(provider, level)`: record the backpressure level
    /// (`"ok"`, `"soft"`, `"hard"`) reported for `provider`, for monitoring
    /// ([`pressure`](Self::pressure)). Like the original it does not change the rate; act on
    /// it with [`set_budget_scale`](Self::set_budget_scale).
    ///
    /// # Errors
    /// `UnknownProvider`; `Config` naming `pressure` for an unknown level.
    pub fn set_global_pressure(&self, provider: &str, level: &str) -> Result<(), CoordinatorError> {
        let level: Pressure = level.parse()?;
        self.with(provider, |_| ())?;
        crate::sync::lock(&self.pressure).insert(provider.to_string(), level);
        Ok(())
    }

    /// The pressure level last set for `provider` (`Ok` if never set).
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn pressure(&self, provider: &str) -> Result<Pressure, CoordinatorError> {
        self.with(provider, |_| ())?;
        let map = crate::sync::lock(&self.pressure);
        Ok(map.get(provider).copied().unwrap_or_default())
    }

    /// The original's `is_cooling_down`: whether a request of `provider` in `scope` would be
    /// refused for a cooldown now (its own scope's, or the provider's global one). Does not
    /// change anything.
    ///
    /// # Errors
    /// `UnknownProvider`.
    pub fn is_cooling_down(&self, provider: &str, scope: &str) -> Result<bool, CoordinatorError> {
        self.with(provider, |h| {
            let scope = h.known_scope(scope).unwrap_or(ScopeId::GLOBAL);
            h.is_cooling_down_in(scope)
        })
    }
}
