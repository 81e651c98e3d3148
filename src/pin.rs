//! Pinning workers to cores (`core_affinity`). Declared per worker, fallible, never a panic.

use crate::error::ConfigError;

/// Where a worker runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CoreChoice {
    /// Let the OS schedule it.
    #[default]
    Unpinned,
    /// Pin to this core index (an index into the machine's core list).
    Core(usize),
}

/// What to do when pinning fails (core missing, affinity refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PinFailure {
    /// Keep running unpinned and record a warning in the stats.
    #[default]
    Warn,
    /// Fail the start of the pipeline.
    Error,
}

/// Why a worker could not be pinned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The core index is not on this machine.
    #[error("core {requested} does not exist (this machine has {available} cores)")]
    NoSuchCore {
        /// Requested index.
        requested: usize,
        /// Cores available.
        available: usize,
    },
    /// The OS refused.
    #[error("the OS refused to pin to core {0}")]
    Refused(usize),
}

/// Number of cores the process may run on (at least 1).
pub fn available_cores() -> usize {
    core_affinity::get_core_ids().map_or(1, |v| v.len().max(1))
}

/// Pin the calling thread per `choice`.
pub fn pin_current(choice: CoreChoice) -> Result<(), PinError> {
    let CoreChoice::Core(i) = choice else {
        return Ok(());
    };
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let Some(id) = ids.get(i).copied() else {
        return Err(PinError::NoSuchCore {
            requested: i,
            available: ids.len(),
        });
    };
    if core_affinity::set_for_current(id) {
        Ok(())
    } else {
        Err(PinError::Refused(i))
    }
}

/// Check a core choice against this machine without pinning (for config validation).
pub fn validate_choice(field: &str, choice: CoreChoice) -> Result<(), ConfigError> {
    match choice {
        CoreChoice::Core(i) if i >= available_cores() => Err(ConfigError::new(
            field,
            format!(
                "core {i} does not exist (this machine has {} cores)",
                available_cores()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_to_a_missing_core_is_an_error_not_a_panic() {
        let e = pin_current(CoreChoice::Core(100_000)).unwrap_err();
        assert!(matches!(
            e,
            PinError::NoSuchCore {
                requested: 100_000,
                ..
            }
        ));
        assert!(validate_choice("workers.source.core", CoreChoice::Core(100_000)).is_err());
        assert!(pin_current(CoreChoice::Unpinned).is_ok());
    }
}
