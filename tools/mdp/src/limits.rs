//! Bounds of the numeric flags, shared by every subcommand so that flags meaning the same thing
//! accept the same values. A value out of bounds (zero where zero means nothing, NaN, infinite,
//! negative, past the documented maximum, or overflowing what it feeds) is an error naming the
//! flag; `main` exits with status 2.

use std::fmt::Display;
use std::time::Duration;

use anyhow::{bail, Result};

/// Longest `--duration`/`--latency-secs`: one year, in seconds.
pub(crate) const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;
/// Longest wait flag (`--timeout-s`, `--accept-timeout-s`): one day, in seconds.
pub(crate) const MAX_WAIT_S: u64 = 24 * 3600;
/// Widest bar window (`--bar-ms`, `--bars-ms`): 31 days, in milliseconds.
pub(crate) const MAX_BAR_MS: u64 = 31 * 24 * 3600 * 1000;
/// Most ticks a command produces, sends or measures (`--ticks`): 10^10 (640 GB of records).
pub(crate) const MAX_TICKS: u64 = 10_000_000_000;
/// Fastest paced rate (`--rate`, `--latency-rate`): 10^9 ticks/s.
pub(crate) const MAX_RATE: u64 = 1_000_000_000;
/// Most ring slots (`mdp bench --ring`): 2^24 (1 GiB of 64-byte ticks).
pub(crate) const MAX_RING: usize = 1 << 24;
/// Largest chunk (`mdp bench --chunk`).
pub(crate) const MAX_CHUNK: usize = 1 << 16;
/// Most repetitions (`mdp bench --runs`).
pub(crate) const MAX_RUNS: usize = 1_000;

/// A positive, finite number of seconds up to `max`, as a `Duration`.
///
/// # Errors
/// NaN, infinite, zero, negative or above `max`, naming `flag`.
pub(crate) fn seconds(flag: &str, v: f64, max: f64) -> Result<Duration> {
    if v.is_nan() || v.is_infinite() || v <= 0.0 || v > max {
        bail!("{flag} {v}: expected a positive number of seconds, at most {max}");
    }
    Ok(Duration::from_secs_f64(v))
}

/// `v` within `min..=max`.
///
/// # Errors
/// Out of bounds, naming `flag` and the bounds.
pub(crate) fn within<T: PartialOrd + Display + Copy>(
    flag: &str,
    v: T,
    min: T,
    max: T,
) -> Result<T> {
    if v < min || v > max {
        bail!("{flag} {v}: must be {min} to {max}");
    }
    Ok(v)
}

/// A bar window in milliseconds (`--bar-ms`/`--bars-ms`), 1 ms to [`MAX_BAR_MS`].
///
/// # Errors
/// As [`within`].
pub(crate) fn bar_window(flag: &str, ms: u64) -> Result<Duration> {
    within(flag, ms, 1, MAX_BAR_MS).map(Duration::from_millis)
}

/// A wait in whole seconds, 1 s to [`MAX_WAIT_S`].
///
/// # Errors
/// As [`within`].
pub(crate) fn wait(flag: &str, s: u64) -> Result<Duration> {
    within(flag, s, 1, MAX_WAIT_S).map(Duration::from_secs)
}

/// A tick count, 1 to [`MAX_TICKS`].
///
/// # Errors
/// As [`within`].
pub(crate) fn ticks(flag: &str, n: u64) -> Result<u64> {
    within(flag, n, 1, MAX_TICKS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuses_nan_infinite_negative_zero_and_overflowing() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            1e19,
            1e20,
        ] {
            let e = seconds("--duration", v, MAX_SECONDS).unwrap_err();
            assert!(e.to_string().starts_with("--duration"), "{v}: {e}");
        }
        assert_eq!(
            seconds("--duration", 1.5, MAX_SECONDS).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(seconds("--duration", MAX_SECONDS, MAX_SECONDS).is_ok());
    }

    #[test]
    fn bounds_are_inclusive_and_errors_name_the_flag() {
        assert!(bar_window("--bars-ms", 0).is_err());
        assert!(bar_window("--bars-ms", MAX_BAR_MS + 1).is_err());
        assert!(bar_window("--bars-ms", MAX_BAR_MS).is_ok());
        let e = ticks("--ticks", 0).unwrap_err().to_string();
        assert!(e.contains("--ticks 0") && e.contains("10000000000"), "{e}");
        assert!(wait("--timeout-s", u64::MAX).is_err());
    }
}
