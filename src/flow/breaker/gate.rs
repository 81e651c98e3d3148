//! The seed's gate and names: `is_open()` (which hands out the HALF_OPEN probe), the query
//! that only looks (`peek_is_open`), and the original's `get_state()` strings.

use super::{BreakerState, CircuitBreaker};

impl CircuitBreaker {
    /// The seed's gate: `true` when a call must not go ahead now. CLOSED: `false`. OPEN (the
    /// timeout not passed): `true`. HALF_OPEN: hands out the probe — `false` for the caller
    /// that takes a free probe slot, which it then holds until it reports with
    /// [`record_success`](Self::record_success) or [`record_failure`](Self::record_failure)
    /// (or until [`reset`](Self::reset)); `true` for everyone else meanwhile. So the seed's
    /// loop is safe as written:
    ///
    /// ```
    /// use market_data_pipeline::flow::{BreakerState, CircuitBreaker};
    /// use market_data_pipeline::ManualClock;
    /// use std::time::Duration;
    /// let clock = ManualClock::shared(0);
    /// let breaker = CircuitBreaker::with_clock(1, Duration::from_secs(60), clock.clone()).unwrap();
    /// breaker.record_failure(); // open
    /// clock.advance(Duration::from_secs(60)); // half-open
    /// assert!(!breaker.is_open()); // this caller is the probe
    /// assert!(breaker.is_open()); // nobody else while it runs
    /// breaker.record_success(); // the probe succeeded: closed
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// ```
    ///
    /// To look without taking the probe, use [`peek_is_open`](Self::peek_is_open) or
    /// [`state`](Self::state).
    pub fn is_open(&self) -> bool {
        match self.allow() {
            Ok(permit) => {
                // The outcome comes through the bare record_* calls, as in the seed.
                permit.detach();
                false
            }
            Err(_) => true,
        }
    }

    /// Whether calls are refused outright now (OPEN and the timeout not passed). Never changes
    /// the state (a HALF_OPEN breaker reads `false` here, probe taken or not).
    pub fn peek_is_open(&self) -> bool {
        self.state() == BreakerState::Open
    }

    /// The original's `get_state()`: the state as its lower-case name (`"closed"`, `"open"`,
    /// `"half_open"`). Never changes the state.
    pub fn get_state(&self) -> &'static str {
        self.state().as_str()
    }
}
