//! `CircuitBreaker`: CLOSED / OPEN / HALF_OPEN in one atomic word.
//!
//! # Contract
//! - `threshold` consecutive failures open it; a success in between resets the count.
//! - OPEN refuses every call until `timeout` has passed; then it is HALF_OPEN and
//!   [`allow`](CircuitBreaker::allow) hands out at most `half_open_max_probes` probe permits at
//!   once. `successes_to_close` probe successes close it; one probe failure re-opens it for a
//!   full `timeout`.
//! - [`peek_is_open`](CircuitBreaker::peek_is_open), [`state`](CircuitBreaker::state),
//!   [`get_state`](CircuitBreaker::get_state) and [`stats`](CircuitBreaker::stats) never change
//!   the state.
//! - [`is_open`](CircuitBreaker::is_open) is the seed's gate: `false` means "go ahead". In
//!   HALF_OPEN it hands out the probe — the first caller gets `false` and holds the probe slot
//!   until its `record_success` / `record_failure`; everyone else gets `true` meanwhile — so
//!   the seed's loop (`if breaker.is_open() {…} … record_success/record_failure`) lets one
//!   probe through, as written. A caller that asks `is_open()` must report the outcome; to
//!   look without taking the probe, use `peek_is_open` or `state`.
//! - Outcomes carried by a [`Permit`] apply only to the state the permit was issued in (a late
//!   failure of a call admitted before a trip cannot re-trip it). The bare
//!   [`record_failure`](CircuitBreaker::record_failure) /
//!   [`record_success`](CircuitBreaker::record_success) of the seed apply to the current state;
//!   they cannot limit the number of HALF_OPEN probes — use `allow` for that. In HALF_OPEN a
//!   bare success is taken as the outcome of an outstanding probe and frees a slot, so mixing
//!   bare calls with probe permits can let more probes out than configured.
//!
//! The closed path (`allow` + `Permit::success` with no failure pending) is two loads and no
//! store.

mod builder;
mod error;
mod gate;
mod shared;
mod word;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use builder::checked_rules;
pub use builder::CircuitBreakerBuilder;
pub use error::CircuitBreakerOpen;
pub use shared::{SharedBreaker, SharedBreakerStatus};
use word::{Origin, Rules, Word};

use crate::clock::{duration_ns, MonotonicClock, Seconds, SharedClock};
use crate::error::ConfigError;
use crate::sync::{AtomicU64, Ordering};

/// The state of a [`CircuitBreaker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls are refused until the timeout ends.
    Open,
    /// A limited number of probe calls pass; their outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The original's lower-case name: `closed`, `open`, `half_open` (what
    /// [`CircuitBreaker::get_state`] returns).
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
        })
    }
}

/// A snapshot of a breaker: state, counters of each transition, time of the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerStats {
    /// The state (an OPEN breaker whose timeout has passed reads HALF_OPEN).
    pub state: BreakerState,
    /// Consecutive failures counted while CLOSED.
    pub consecutive_failures: u32,
    /// Probe permits outstanding while HALF_OPEN.
    pub probes_in_flight: u32,
    /// Transitions into OPEN (trips and re-opens).
    pub opened: u64,
    /// Transitions into HALF_OPEN.
    pub half_opened: u64,
    /// Transitions into CLOSED (recoveries and resets).
    pub closed: u64,
    /// Clock reading (ns) of the last transition, if any.
    pub last_transition_ns: Option<u64>,
}

/// A circuit breaker whose state lives in atomics; share it by reference or `Arc`.
///
/// The seed's usage, line for line:
///
/// ```
/// use market_data_pipeline::flow::{CircuitBreaker, CircuitBreakerOpen};
/// use std::time::Duration;
///
/// # fn connect() -> Result<(), std::io::Error> { Ok(()) }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = CircuitBreaker::new(5, Duration::from_secs(60))?; // open after 5 failures, 60 s
///
/// // Check state (in HALF_OPEN, a `false` here is the one probe: report its outcome below)
/// if breaker.is_open() {
///     return Err(CircuitBreakerOpen::new("IBKR").into());
/// }
/// // Record failures
/// if let Err(e) = connect() {
///     breaker.record_failure();
///     return Err(e.into());
/// }
/// // Record success
/// breaker.record_success();
/// // Manual reset
/// breaker.reset();
/// # Ok(()) }
/// ```
///
/// The permit form (what a router uses per source), which also limits HALF_OPEN probes:
///
/// ```
/// use market_data_pipeline::flow::{BreakerState, CircuitBreaker};
/// use market_data_pipeline::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::shared(0);
/// let breaker = CircuitBreaker::builder(2, Duration::from_secs(1)).name("polygon")
///     .clock(clock.clone()).build().unwrap();
/// breaker.allow().unwrap().failure();
/// breaker.allow().unwrap().failure(); // the second consecutive failure trips it
/// let refused = breaker.allow().unwrap_err();
/// assert_eq!(&*refused.breaker, "polygon");
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.allow().unwrap(); // the one probe
/// assert!(breaker.allow().is_err()); // no second one while it runs
/// probe.success();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
pub struct CircuitBreaker {
    /// The packed [`Word`].
    word: AtomicU64,
    /// Clock reading (ns) at which the current OPEN period ends.
    open_until: AtomicU64,
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
    /// Clock reading of the last transition + 1 (0: none yet).
    last_transition: AtomicU64,
    /// The packed [`Rules`] (see [`Rules::pack`]); changed live by [`set_limits`](Self::set_limits).
    rules: AtomicU64,
    /// How long an OPEN period lasts; changed live by [`set_limits`](Self::set_limits).
    timeout_ns: AtomicU64,
    name: Arc<str>,
    clock: SharedClock,
    /// Trips and probes shared with other processes, when attached.
    shared: std::sync::OnceLock<Arc<dyn SharedBreaker>>,
}

/// Where a transition comes from, and so whom it is told to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Decided here: the shared side (if any) is told.
    Here,
    /// Another host's transition (its OPEN period ends at this clock reading): not told back.
    Remote(u64),
    /// Undoing a local probe slot the shared side refused: nothing to tell.
    Silent,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl CircuitBreaker {
    /// `threshold` consecutive failures open it for `timeout` — a [`Duration`] or seconds as
    /// the seed writes them (`60.0`, `60`, `0.5`); then one probe at a time. Real monotonic
    /// clock.
    ///
    /// # Errors
    /// [`ConfigError`] naming `threshold` when it is 0 (or above 65535), or `timeout` when it
    /// is not a non-negative number of seconds.
    pub fn new(threshold: u32, timeout: impl Seconds) -> Result<CircuitBreaker, ConfigError> {
        Self::builder(threshold, timeout).build()
    }

    /// As [`new`](Self::new), reading time from `clock`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_clock(
        threshold: u32,
        timeout: impl Seconds,
        clock: SharedClock,
    ) -> Result<CircuitBreaker, ConfigError> {
        Self::builder(threshold, timeout).clock(clock).build()
    }

    /// A builder for the name, probe count, successes to close and clock.
    pub fn builder(threshold: u32, timeout: impl Seconds) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(threshold, timeout)
    }

    fn from_parts(name: Arc<str>, rules: Rules, timeout: Duration, clock: SharedClock) -> Self {
        CircuitBreaker {
            word: AtomicU64::new(Word::INITIAL.pack()),
            open_until: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            half_opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            last_transition: AtomicU64::new(0),
            rules: AtomicU64::new(rules.pack()),
            timeout_ns: AtomicU64::new(duration_ns(timeout)),
            name,
            clock,
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Share this breaker's trips and HALF_OPEN probes through `shared` from now on (see
    /// [`SharedBreaker`]). Once per breaker.
    ///
    /// # Errors
    /// [`ConfigError`] naming the breaker when a shared side is already attached.
    pub fn attach_shared(&self, shared: Arc<dyn SharedBreaker>) -> Result<(), ConfigError> {
        self.shared.set(shared).map_err(|_| {
            ConfigError::new(
                format!("breaker.{}.shared", self.name),
                "a shared breaker is already attached",
            )
        })
    }

    /// The shared side attached, if any.
    pub fn shared(&self) -> Option<&Arc<dyn SharedBreaker>> {
        self.shared.get()
    }

    /// Apply another host's trip: OPEN for `open_for` from now (a running OPEN period is never
    /// shortened; probes out here become stale). The shared side is not told.
    pub fn apply_open(&self, open_for: Duration) {
        let now = self.clock.now_ns();
        let until = now.saturating_add(duration_ns(open_for));
        let mut w = self.load();
        loop {
            let view = w.view(self.expired(w, now));
            if view.state == BreakerState::Open {
                // A running OPEN period only gets longer. Relaxed: as in `cas`.
                self.open_until.fetch_max(until, Ordering::Relaxed);
                return;
            }
            // CLOSED or HALF_OPEN (an OPEN period that ended reads so): a new OPEN period,
            // counted like a local one.
            let to = view.enter(BreakerState::Open);
            match self.cas(w, view, to, now, Source::Remote(until)) {
                Ok(()) => return,
                Err(current) => w = current,
            }
        }
    }

    /// Apply another host's recovery: CLOSED with no failures counted (probes out here become
    /// stale). The shared side is not told.
    pub fn apply_close(&self) {
        self.update_from(self.clock.now_ns(), Source::Remote(0), word::reset);
    }

    /// The rules in force. Relaxed: they are independent settings; a decision taken under
    /// the old rules just before a change is as valid as one taken under the new.
    #[inline]
    fn rules(&self) -> Rules {
        Rules::unpack(self.rules.load(Ordering::Relaxed))
    }

    /// Change the threshold, probe count and timeout live. Failures already counted stay
    /// counted (a lower threshold opens at the next failure); a running OPEN period keeps
    /// its deadline, the new timeout applies from the next opening.
    ///
    /// # Errors
    /// [`ConfigError`] naming `threshold` (not in 1–65535) or `half_open_max_probes` (not in
    /// 1–255); nothing is changed then.
    pub fn set_limits(
        &self,
        threshold: u32,
        half_open_max_probes: u32,
        timeout: Duration,
    ) -> Result<(), ConfigError> {
        let current = self.rules();
        let next = builder::checked_rules(
            threshold,
            half_open_max_probes,
            u32::from(current.successes_to_close),
        )?;
        self.rules.store(next.pack(), Ordering::Relaxed);
        self.timeout_ns
            .store(duration_ns(timeout), Ordering::Relaxed);
        Ok(())
    }

    /// The threshold, probe count and timeout in force.
    pub fn limits(&self) -> (u32, u32, Duration) {
        let r = self.rules();
        (
            u32::from(r.threshold),
            u32::from(r.max_probes),
            Duration::from_nanos(self.timeout_ns.load(Ordering::Relaxed)),
        )
    }

    /// The name errors report.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The clock this breaker reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    #[inline]
    fn load(&self) -> Word {
        // Acquire: pairs with the Release of the transition into OPEN, so that `open_until`
        // read next is at least the deadline of the OPEN period this word belongs to.
        Word::unpack(self.word.load(Ordering::Acquire))
    }

    /// Whether the breaker is CLOSED right now (one load; for callers that need no permit).
    #[inline]
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot with no data to synchronise with.
        word::is_closed(self.word.load(Ordering::Relaxed))
    }

    #[inline]
    fn expired(&self, w: Word, now_ns: u64) -> bool {
        // Relaxed: ordered by the Acquire load of the word (see `load`).
        w.state == BreakerState::Open && now_ns >= self.open_until.load(Ordering::Relaxed)
    }

    /// May a call go ahead now? A permit to report its outcome with, or the refusal.
    ///
    /// # Errors
    /// [`CircuitBreakerOpen`] while OPEN (with the time until probing) or while HALF_OPEN with
    /// every probe slot taken.
    #[inline]
    pub fn allow(&self) -> Result<Permit<'_>, CircuitBreakerOpen> {
        let w = self.load();
        if w.state == BreakerState::Closed {
            // The hot path: no clock read, no store.
            return Ok(Permit::new(self, Origin::Closed(w.epoch)));
        }
        self.allow_slow(w, self.clock.now_ns())
    }

    /// [`allow`](Self::allow) at a time already read from this breaker's clock.
    ///
    /// # Errors
    /// As [`allow`](Self::allow).
    #[inline]
    pub fn allow_at(&self, now_ns: u64) -> Result<Permit<'_>, CircuitBreakerOpen> {
        let w = self.load();
        if w.state == BreakerState::Closed {
            return Ok(Permit::new(self, Origin::Closed(w.epoch)));
        }
        self.allow_slow(w, now_ns)
    }

    #[cold]
    fn allow_slow(&self, mut w: Word, now_ns: u64) -> Result<Permit<'_>, CircuitBreakerOpen> {
        loop {
            let view = w.view(self.expired(w, now_ns));
            match word::allow(view, self.rules()) {
                Ok(None) => return Ok(Permit::new(self, Origin::Closed(view.epoch))),
                Ok(Some(new)) => match self.cas(w, view, new, now_ns, Source::Here) {
                    Ok(()) => {
                        if self.shared.get().is_none_or(|s| s.try_probe()) {
                            return Ok(Permit::new(self, Origin::Probe(new.epoch)));
                        }
                        // Every shared probe slot is out (on this host or others): give the
                        // local slot back and refuse, as a full HALF_OPEN does.
                        self.update_from(now_ns, Source::Silent, |w| {
                            word::release(w, Origin::Probe(new.epoch))
                        });
                        return Err(CircuitBreakerOpen {
                            breaker: self.name.clone(),
                            retry_after: None,
                        });
                    }
                    Err(current) => w = current,
                },
                Err(()) => {
                    let retry_after = (view.state == BreakerState::Open).then(|| {
                        // Relaxed: ordered by the Acquire load of the word.
                        let until = self.open_until.load(Ordering::Relaxed);
                        Duration::from_nanos(until.saturating_sub(now_ns))
                    });
                    return Err(CircuitBreakerOpen {
                        breaker: self.name.clone(),
                        retry_after,
                    });
                }
            }
        }
    }

    /// Compare-and-swap `from` → `to` (`view` is `from` as seen at `now_ns`); counts the
    /// transitions on success (and tells the shared side of those made [`Source::Here`]),
    /// returns the current word on failure.
    fn cas(
        &self,
        from: Word,
        view: Word,
        to: Word,
        now_ns: u64,
        source: Source,
    ) -> Result<(), Word> {
        if to.state == BreakerState::Open && view.state != BreakerState::Open {
            let until = match source {
                Source::Remote(until) => until,
                Source::Here | Source::Silent => {
                    now_ns.saturating_add(self.timeout_ns.load(Ordering::Relaxed))
                }
            };
            // Written before the CAS that publishes OPEN (whose Release carries it). A racing
            // loser may also write here; `fetch_max` keeps the latest deadline, so a running
            // OPEN period is never shortened.
            self.open_until.fetch_max(until, Ordering::Relaxed);
        }
        // AcqRel on success: Release publishes `open_until` with the OPEN word; Acquire on
        // failure: the word returned is read like `load`.
        match self.word.compare_exchange(
            from.pack(),
            to.pack(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                if view.state != from.state {
                    self.count(view.state, now_ns);
                }
                if to.state != view.state {
                    self.count(to.state, now_ns);
                }
                if source == Source::Here {
                    if let Some(shared) = self.shared.get() {
                        self.tell(&**shared, view, to);
                    }
                }
                Ok(())
            }
            Err(current) => Err(Word::unpack(current)),
        }
    }

    /// Tell the shared side of a transition made here.
    #[cold]
    fn tell(&self, shared: &dyn SharedBreaker, view: Word, to: Word) {
        use BreakerState::{Closed, HalfOpen, Open};
        match (view.state, to.state) {
            (Closed | HalfOpen, Open) => shared.opened(Duration::from_nanos(
                self.timeout_ns.load(Ordering::Relaxed),
            )),
            (Open | HalfOpen, Closed) => shared.closed(),
            (HalfOpen, HalfOpen) if to.probes < view.probes => shared.probe_released(),
            _ => {}
        }
    }

    fn count(&self, entered: BreakerState, now_ns: u64) {
        let counter = match entered {
            BreakerState::Closed => &self.closed,
            BreakerState::Open => &self.opened,
            BreakerState::HalfOpen => &self.half_opened,
        };
        // Relaxed: statistics; each transition is counted by the one thread whose CAS made it.
        counter.fetch_add(1, Ordering::Relaxed);
        // A state change (never per call): one event, by the thread that made it.
        tracing::info!(
            target: "market_data_pipeline::breaker",
            breaker = &*self.name,
            to = entered.as_str(),
            at_ns = now_ns,
            "circuit breaker transition"
        );
        self.last_transition
            .store(now_ns.saturating_add(1), Ordering::Relaxed);
    }

    /// Apply `f` to the state seen at `now_ns` until it sticks or `f` says "no change".
    fn update(&self, now_ns: u64, f: impl Fn(Word) -> Option<Word>) {
        self.update_from(now_ns, Source::Here, f);
    }

    /// [`update`](Self::update) for a transition from `source`.
    fn update_from(&self, now_ns: u64, source: Source, f: impl Fn(Word) -> Option<Word>) {
        let mut w = self.load();
        loop {
            let view = w.view(self.expired(w, now_ns));
            let Some(new) = f(view) else { return };
            match self.cas(w, view, new, now_ns, source) {
                Ok(()) => return,
                Err(current) => w = current,
            }
        }
    }

    /// Count a failure (the seed's API): CLOSED counts it toward the threshold, HALF_OPEN
    /// re-opens, OPEN ignores it.
    pub fn record_failure(&self) {
        self.record_failure_at(self.clock.now_ns());
    }

    /// [`record_failure`](Self::record_failure) at a time already read.
    pub fn record_failure_at(&self, now_ns: u64) {
        self.update(now_ns, |w| word::failure(w, Origin::Bare, self.rules()));
    }

    /// Count a success (the seed's API): CLOSED clears the failure count, HALF_OPEN counts it
    /// toward closing (and frees the slot of a detached probe, if one is out).
    #[inline]
    pub fn record_success(&self) {
        // Relaxed: nothing to change, so nothing to order.
        if word::is_clean_closed(self.word.load(Ordering::Relaxed)) {
            return; // The hot path: nothing to change.
        }
        self.update(self.clock.now_ns(), |w| {
            word::success(w, Origin::Bare, self.rules())
        });
    }

    /// Back to CLOSED with no failures counted.
    pub fn reset(&self) {
        self.update(self.clock.now_ns(), word::reset);
    }

    #[inline]
    fn finish(&self, origin: Origin, outcome: Outcome, now_ns: Option<u64>) {
        if outcome == Outcome::Success
            && matches!(origin, Origin::Closed(_))
            // Relaxed: nothing to change, so nothing to order.
            && word::is_clean_closed(self.word.load(Ordering::Relaxed))
        {
            return; // The closed hot path: CLOSED with no failures counted.
        }
        self.finish_slow(origin, outcome, now_ns);
    }

    #[cold]
    fn finish_slow(&self, origin: Origin, outcome: Outcome, now_ns: Option<u64>) {
        let now = now_ns.unwrap_or_else(|| self.clock.now_ns());
        match outcome {
            Outcome::Success => self.update(now, |w| word::success(w, origin, self.rules())),
            Outcome::Failure => self.update(now, |w| word::failure(w, origin, self.rules())),
            Outcome::Abandoned => self.update(now, |w| word::release(w, origin)),
        }
    }

    /// The state at `now_ns`, without changing it.
    pub fn state_at(&self, now_ns: u64) -> BreakerState {
        let w = self.load();
        w.view(self.expired(w, now_ns)).state
    }

    /// The state now, without changing it (an OPEN breaker whose timeout passed is HALF_OPEN).
    pub fn state(&self) -> BreakerState {
        self.state_at(self.clock.now_ns())
    }

    /// State, counters and the time of the last transition, without changing anything.
    pub fn stats(&self) -> BreakerStats {
        let now = self.clock.now_ns();
        let w = self.load();
        let view = w.view(self.expired(w, now));
        // Relaxed: statistics, no ordering with the word needed.
        let last = self.last_transition.load(Ordering::Relaxed);
        BreakerStats {
            state: view.state,
            consecutive_failures: u32::from(view.failures),
            probes_in_flight: u32::from(view.probes),
            opened: self.opened.load(Ordering::Relaxed),
            half_opened: self.half_opened.load(Ordering::Relaxed) + u64::from(view != w),
            closed: self.closed.load(Ordering::Relaxed),
            last_transition_ns: last.checked_sub(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Abandoned,
}

/// Leave to make one call through a [`CircuitBreaker`]; report how it went with
/// [`success`](Permit::success) or [`failure`](Permit::failure). Dropping it unreported frees
/// a HALF_OPEN probe slot without counting either way.
#[must_use = "report the call's outcome with success() or failure()"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    origin: Origin,
    done: bool,
}

impl<'a> Permit<'a> {
    fn new(breaker: &'a CircuitBreaker, origin: Origin) -> Self {
        Permit {
            breaker,
            origin,
            done: false,
        }
    }

    /// Whether this permit is a HALF_OPEN probe.
    pub fn is_probe(&self) -> bool {
        matches!(self.origin, Origin::Probe(_))
    }

    /// The call succeeded.
    #[inline]
    pub fn success(mut self) {
        self.done = true;
        self.breaker.finish(self.origin, Outcome::Success, None);
    }

    /// The call failed.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.finish(self.origin, Outcome::Failure, None);
    }

    /// Keep the probe slot (if this is a probe) and report the outcome later with the bare
    /// [`CircuitBreaker::record_success`] / [`CircuitBreaker::record_failure`], which act on
    /// the outstanding probe. The slot stays taken until one of them (or `reset`) is called.
    pub fn detach(mut self) {
        self.done = true;
    }

    /// The call failed, at a time already read from the breaker's clock.
    pub fn failure_at(mut self, now_ns: u64) {
        self.done = true;
        self.breaker
            .finish(self.origin, Outcome::Failure, Some(now_ns));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.is_probe() {
            self.breaker.finish(self.origin, Outcome::Abandoned, None);
        }
    }
}

impl Default for CircuitBreaker {
    /// The seed's defaults: threshold 5, timeout 60 s, real clock.
    fn default() -> Self {
        CircuitBreaker::from_parts(
            Arc::from("circuit-breaker"),
            Rules {
                threshold: 5,
                max_probes: 1,
                successes_to_close: 1,
            },
            Duration::from_secs(60),
            MonotonicClock::shared(),
        )
    }
}
