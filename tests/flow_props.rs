//! Property tests: the token bucket and the circuit breaker against small sequential
//! reference models, driven by a manual clock.

use std::time::Duration;

use market_data_pipeline::flow::{BreakerState, BucketLimits, CircuitBreaker, Permit, TokenBucket};
use market_data_pipeline::{Clock, ManualClock, PacingError};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Token bucket. Reference: the classic refill-on-read bucket in exact integer arithmetic
// (tokens × 10⁹), which is what GCRA must be equivalent to when the rate divides the clock.

#[derive(Debug)]
struct RefBucket {
    capacity: u128,
    rate: u128,
    /// Tokens × 10⁹.
    tokens_n: u128,
    last_ns: u64,
}

const NANOS: u128 = 1_000_000_000;

impl RefBucket {
    fn refill(&mut self, now: u64) {
        let add = u128::from(now - self.last_ns) * self.rate;
        self.tokens_n = (self.tokens_n + add).min(self.capacity * NANOS);
        self.last_ns = now;
    }

    fn try_acquire(&mut self, now: u64, n: u64) -> Result<(), PacingError> {
        self.refill(now);
        let n = u128::from(n);
        if n > self.capacity {
            return Err(PacingError::ExceedsCapacity {
                requested: n as u64,
                capacity: self.capacity as u64,
            });
        }
        if self.tokens_n >= n * NANOS {
            self.tokens_n -= n * NANOS;
            Ok(())
        } else {
            let wait = (n * NANOS - self.tokens_n).div_ceil(self.rate);
            Err(PacingError::RateLimited {
                retry_after: Duration::from_nanos(wait as u64),
            })
        }
    }

    fn available(&mut self, now: u64) -> u64 {
        self.refill(now);
        (self.tokens_n / NANOS) as u64
    }
}

#[derive(Debug, Clone)]
enum BucketOp {
    Advance(u64),
    Acquire(u64),
    TakeUpTo(u64),
}

fn bucket_op(capacity: u64) -> impl Strategy<Value = BucketOp> {
    prop_oneof![
        (0u64..2_000_000_000).prop_map(BucketOp::Advance),
        (0u64..1_000).prop_map(BucketOp::Advance),
        (0..=capacity + 1).prop_map(BucketOp::Acquire),
        (0..=capacity + 1).prop_map(BucketOp::TakeUpTo),
    ]
}

/// Rates that divide 64·10⁹ units per second, so that the interval is exact.
const EXACT_RATES: [u64; 8] = [1, 3_200, 10, 125, 1_000, 64_000, 1_000_000, 2_000_000_000];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bucket_matches_the_reference_model(
        capacity in 1u64..20,
        rate in proptest::sample::select(&EXACT_RATES[..]),
        ops in (1u64..20).prop_flat_map(|c| proptest::collection::vec(bucket_op(c), 1..60)),
    ) {
        let clock = ManualClock::shared(5_000);
        let bucket = TokenBucket::with_clock(BucketLimits::new(capacity, rate).unwrap(), clock.clone());
        let mut model = RefBucket { capacity: capacity.into(), rate: rate.into(), tokens_n: u128::from(capacity) * NANOS, last_ns: 5_000 };
        for op in ops {
            let now = clock.now_ns();
            match op {
                BucketOp::Advance(ns) => clock.advance_ns(ns),
                BucketOp::Acquire(n) => {
                    let want = if n == 0 { Ok(()) } else { model.try_acquire(now, n) };
                    prop_assert_eq!(bucket.try_acquire(n), want);
                }
                BucketOp::TakeUpTo(n) => {
                    let have = model.available(now).min(n);
                    if have > 0 { model.try_acquire(now, have).unwrap(); }
                    prop_assert_eq!(bucket.take_up_to_at(now, n), have);
                }
            }
            let now = clock.now_ns();
            prop_assert_eq!(bucket.available_at(now), model.available(now));
        }
    }

    /// For any rate (exact or not): never more than capacity + ⌊rate·t⌋.
    #[test]
    fn bucket_never_admits_more_than_burst_plus_rate_times_t(
        capacity in 1u64..1_000,
        rate in 1u64..5_000_000_000,
        steps in proptest::collection::vec((0u64..50_000_000, 1u64..10), 1..200),
    ) {
        let clock = ManualClock::shared(0);
        let bucket = TokenBucket::with_clock(BucketLimits::new(capacity, rate).unwrap(), clock.clone());
        let mut admitted: u128 = 0;
        for (dt, n) in steps {
            clock.advance_ns(dt);
            let n = n.min(capacity);
            if bucket.try_acquire(n).is_ok() { admitted += u128::from(n); }
            let t = u128::from(clock.now_ns());
            prop_assert!(admitted <= u128::from(capacity) + u128::from(rate) * t / NANOS);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Live changes. Reference: the same bucket in exact arithmetic (tokens × 2·10⁹, so that half
// rates stay whole), whose tokens are kept across a change (capped at the new capacity) and
// refilled at the effective rate in force. While suspended (scale 0) it refuses everything and
// keeps refilling at the last rate, as the bucket does.

#[derive(Debug)]
struct RefLive {
    capacity: u128,
    /// Tokens × 2·10⁹ added per ns: rate × 2 × scale.
    refill: u128,
    suspended: bool,
    /// Tokens × 2·10⁹.
    tokens_n: u128,
    last_ns: u64,
}

const HALF_NANOS: u128 = 2 * NANOS;

impl RefLive {
    fn refill(&mut self, now: u64) {
        let add = u128::from(now - self.last_ns) * self.refill;
        self.tokens_n = (self.tokens_n + add).min(self.capacity * HALF_NANOS);
        self.last_ns = now;
    }

    fn tokens(&mut self, now: u64) -> u64 {
        self.refill(now);
        (self.tokens_n / HALF_NANOS) as u64
    }

    /// New effective limits at `now`: tokens kept, capped.
    fn apply(&mut self, now: u64, capacity: u64, refill: u64) {
        self.refill(now);
        self.capacity = capacity.into();
        self.refill = refill.into();
        self.tokens_n = self.tokens_n.min(self.capacity * HALF_NANOS);
    }
}

#[derive(Debug, Clone)]
enum LiveOp {
    Advance(u64),
    Acquire(u64),
    SetLimits(u64, u64),
    /// 0, ½ or 1.
    SetScale(u8),
}

/// Rates whose interval is exact at scale 1 and ½, slow enough (≥ 10⁶ units per token) that
/// the unit a re-expression may round away stays far below a token.
const LIVE_RATES: [u64; 6] = [1, 3_200, 10, 125, 1_000, 64_000];

fn live_op() -> impl Strategy<Value = LiveOp> {
    prop_oneof![
        (0u64..2_000_000_000).prop_map(LiveOp::Advance),
        (0u64..1_000).prop_map(LiveOp::Advance),
        (0u64..22).prop_map(LiveOp::Acquire),
        (1u64..20, proptest::sample::select(&LIVE_RATES[..]))
            .prop_map(|(c, r)| LiveOp::SetLimits(c, r)),
        (0u8..3).prop_map(LiveOp::SetScale),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Across live `set_limits` / `set_scale`: the bucket admits only what the exact model
    /// holds, never shows more tokens than it, and (a re-expression rounds down less than one
    /// unit) never a whole token fewer.
    #[test]
    fn live_changes_keep_the_tokens_and_never_admit_more_than_the_model(
        capacity in 1u64..20,
        rate in proptest::sample::select(&LIVE_RATES[..]),
        ops in proptest::collection::vec(live_op(), 1..60),
    ) {
        let clock = ManualClock::shared(5_000);
        let bucket = TokenBucket::with_clock(BucketLimits::new(capacity, rate).unwrap(), clock.clone());
        let mut model = RefLive {
            capacity: capacity.into(),
            refill: u128::from(rate) * 2,
            suspended: false,
            tokens_n: u128::from(capacity) * HALF_NANOS,
            last_ns: 5_000,
        };
        let (mut capacity, mut rate, mut scale) = (capacity, rate, 2u8);
        for op in ops {
            let now = clock.now_ns();
            match op {
                LiveOp::Advance(ns) => clock.advance_ns(ns),
                LiveOp::Acquire(n) => {
                    let have = model.tokens(now);
                    match bucket.try_acquire(n) {
                        Ok(()) => {
                            prop_assert!(!model.suspended || n == 0, "admitted while suspended");
                            prop_assert!(have >= n, "admitted {} with {} in the model", n, have);
                            model.tokens_n -= u128::from(n) * HALF_NANOS;
                        }
                        Err(PacingError::Suspended) => prop_assert!(model.suspended),
                        Err(PacingError::ExceedsCapacity { requested, capacity }) => {
                            prop_assert_eq!(requested, n);
                            prop_assert!(u128::from(n) > model.capacity && u128::from(capacity) == model.capacity);
                        }
                        Err(PacingError::RateLimited { retry_after }) => {
                            prop_assert!(!model.suspended && have <= n && !retry_after.is_zero());
                        }
                        Err(other) => prop_assert!(false, "unexpected error {}", other),
                    }
                }
                LiveOp::SetLimits(c, r) => {
                    bucket.set_limits(BucketLimits::new(c, r).unwrap());
                    (capacity, rate) = (c, r);
                    // While suspended the bucket keeps the last limits until it resumes.
                    if !model.suspended {
                        model.apply(now, capacity, rate * u64::from(scale));
                    }
                }
                LiveOp::SetScale(s) => {
                    bucket.set_scale(f64::from(s) / 2.0).unwrap();
                    model.suspended = s == 0;
                    if s != 0 {
                        scale = s;
                        model.apply(now, capacity, rate * u64::from(scale));
                    }
                }
            }
            let now = clock.now_ns();
            let (have, model_has) = (bucket.available_at(now), model.tokens(now));
            if model.suspended {
                prop_assert_eq!(have, 0);
            } else {
                prop_assert!(have <= model_has, "bucket {} > model {}", have, model_has);
                prop_assert!(have + 1 >= model_has, "bucket {} ≪ model {}", have, model_has);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker. Reference: the contract of DESIGN.md §4 as a plain state machine. A
// "generation" stands for "the period a permit was issued in": outcomes of older periods do
// nothing.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Closed(u64),
    Probe(u64),
}

#[derive(Debug)]
struct RefBreaker {
    state: BreakerState,
    failures: u32,
    probes: u32,
    successes: u32,
    generation: u64,
    open_until: u64,
    threshold: u32,
    timeout: u64,
    max_probes: u32,
    to_close: u32,
    opened: u64,
}

impl RefBreaker {
    fn enter(&mut self, s: BreakerState, now: u64) {
        self.state = s;
        self.generation += 1;
        self.failures = 0;
        self.probes = 0;
        self.successes = 0;
        if s == BreakerState::Open {
            self.opened += 1;
            self.open_until = now + self.timeout;
        }
    }
    fn tick(&mut self, now: u64) {
        if self.state == BreakerState::Open && now >= self.open_until {
            self.enter(BreakerState::HalfOpen, now);
        }
    }
    fn allow(&mut self, now: u64) -> Option<Kind> {
        self.tick(now);
        match self.state {
            BreakerState::Closed => Some(Kind::Closed(self.generation)),
            BreakerState::HalfOpen if self.probes < self.max_probes => {
                self.probes += 1;
                Some(Kind::Probe(self.generation))
            }
            _ => None,
        }
    }
    fn current(&self, k: Option<Kind>) -> bool {
        match k {
            None => true, // bare record_* calls
            Some(Kind::Closed(g)) => self.state == BreakerState::Closed && g == self.generation,
            Some(Kind::Probe(g)) => self.state == BreakerState::HalfOpen && g == self.generation,
        }
    }
    fn success(&mut self, k: Option<Kind>, now: u64) {
        self.tick(now);
        if !self.current(k) {
            return;
        }
        match self.state {
            BreakerState::Closed => self.failures = 0,
            BreakerState::HalfOpen => {
                self.successes += 1;
                self.probes = self.probes.saturating_sub(1);
                if self.successes >= self.to_close {
                    self.enter(BreakerState::Closed, now);
                }
            }
            BreakerState::Open => {}
        }
    }
    fn failure(&mut self, k: Option<Kind>, now: u64) {
        self.tick(now);
        if !self.current(k) {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.failures += 1;
                if self.failures >= self.threshold {
                    self.enter(BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen => self.enter(BreakerState::Open, now),
            BreakerState::Open => {}
        }
    }
    fn abandon(&mut self, k: Kind, now: u64) {
        self.tick(now);
        // Saturating: a bare success may already have freed this probe's slot.
        if matches!(k, Kind::Probe(_)) && self.current(Some(k)) {
            self.probes = self.probes.saturating_sub(1);
        }
    }
    fn view(&self, now: u64) -> BreakerState {
        if self.state == BreakerState::Open && now >= self.open_until {
            BreakerState::HalfOpen
        } else {
            self.state
        }
    }
}

#[derive(Debug, Clone)]
enum BreakerOp {
    Advance(u64),
    Allow,
    PermitSuccess(usize),
    PermitFailure(usize),
    PermitDrop(usize),
    RecordFailure,
    RecordSuccess,
    Reset,
}

fn breaker_op() -> impl Strategy<Value = BreakerOp> {
    prop_oneof![
        2 => (0u64..150).prop_map(BreakerOp::Advance),
        3 => Just(BreakerOp::Allow),
        2 => any::<usize>().prop_map(BreakerOp::PermitSuccess),
        2 => any::<usize>().prop_map(BreakerOp::PermitFailure),
        1 => any::<usize>().prop_map(BreakerOp::PermitDrop),
        3 => Just(BreakerOp::RecordFailure),
        1 => Just(BreakerOp::RecordSuccess),
        1 => Just(BreakerOp::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_the_reference_model(
        threshold in 1u32..4,
        max_probes in 1u32..3,
        to_close in 1u32..3,
        ops in proptest::collection::vec(breaker_op(), 1..80),
    ) {
        let timeout = 100;
        let clock = ManualClock::shared(0);
        let breaker = CircuitBreaker::builder(threshold, Duration::from_nanos(timeout))
            .half_open_max_probes(max_probes)
            .successes_to_close(to_close)
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut model = RefBreaker {
            state: BreakerState::Closed, failures: 0, probes: 0, successes: 0, generation: 0,
            open_until: 0, threshold, timeout, max_probes, to_close, opened: 0,
        };
        let mut permits: Vec<(Permit<'_>, Kind)> = Vec::new();
        for op in ops {
            let now = clock.now_ns();
            match op {
                BreakerOp::Advance(ns) => clock.advance_ns(ns),
                BreakerOp::Allow => {
                    let want = model.allow(now);
                    match breaker.allow() {
                        Ok(p) => {
                            let kind = want.expect("model refused, breaker admitted");
                            prop_assert_eq!(p.is_probe(), matches!(kind, Kind::Probe(_)));
                            permits.push((p, kind));
                        }
                        Err(_) => prop_assert_eq!(want, None),
                    }
                }
                BreakerOp::PermitSuccess(i) | BreakerOp::PermitFailure(i) | BreakerOp::PermitDrop(i)
                    if !permits.is_empty() =>
                {
                    let (p, kind) = permits.swap_remove(i % permits.len());
                    match op {
                        BreakerOp::PermitSuccess(_) => { model.success(Some(kind), now); p.success(); }
                        BreakerOp::PermitFailure(_) => { model.failure(Some(kind), now); p.failure(); }
                        _ => { model.abandon(kind, now); drop(p); }
                    }
                }
                BreakerOp::RecordFailure => { model.failure(None, now); breaker.record_failure(); }
                BreakerOp::RecordSuccess => { model.success(None, now); breaker.record_success(); }
                BreakerOp::Reset => {
                    model.tick(now);
                    if model.state != BreakerState::Closed || model.failures != 0 {
                        model.enter(BreakerState::Closed, now);
                    }
                    breaker.reset();
                }
                _ => {}
            }
            let now = clock.now_ns();
            let stats = breaker.stats();
            prop_assert_eq!(stats.state, model.view(now));
            prop_assert_eq!(breaker.peek_is_open(), model.view(now) == BreakerState::Open);
            prop_assert_eq!(stats.opened, model.opened);
            if model.state == BreakerState::Closed {
                prop_assert_eq!(stats.consecutive_failures, model.failures);
            }
            if model.state == BreakerState::HalfOpen {
                prop_assert_eq!(stats.probes_in_flight, model.probes);
            }
        }
    }
}
