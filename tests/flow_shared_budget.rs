//! The `SharedBudget` seam: a provider with a shared budget attached is admitted by it instead
//! of its local windows; cooldowns triggered locally are handed to it, applied ones are not;
//! a tenant's budget can be shared the same way; priorities and live changes reach it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use market_data_pipeline::flow::{
    BucketLimits, Priority, ProviderLimits, RateCoordinator, Request, SharedBudget,
    SharedBudgetStatus,
};
use market_data_pipeline::{CoordinatorError, ManualClock, PacingError};

/// A pool of tokens, filled by the test.
#[derive(Debug, Default)]
struct Pool {
    tokens: AtomicU64,
    cooldowns: Mutex<Vec<(String, Duration)>>,
    /// Priorities of the requests taken, and live changes heard of.
    priorities: Mutex<Vec<Priority>>,
    changes: Mutex<Vec<String>>,
}

impl SharedBudget for Pool {
    fn try_take(&self, _now_ns: u64, n: u64) -> Result<(), PacingError> {
        let mut cur = self.tokens.load(Ordering::Relaxed);
        while cur >= n {
            match self
                .tokens
                .compare_exchange(cur, cur - n, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
        Err(PacingError::RateLimited {
            retry_after: Duration::from_millis(1),
        })
    }
    fn try_take_as(&self, now_ns: u64, n: u64, priority: Priority) -> Result<(), PacingError> {
        self.priorities.lock().unwrap().push(priority);
        self.try_take(now_ns, n)
    }
    fn give_back(&self, n: u64) {
        self.tokens.fetch_add(n, Ordering::Relaxed);
    }
    fn limits_changed(&self, limits: &ProviderLimits) {
        self.changes
            .lock()
            .unwrap()
            .push(format!("limits {}/{}", limits.capacity, limits.refill_rate));
    }
    fn scale_changed(&self, scale: f64) {
        self.changes.lock().unwrap().push(format!("scale {scale}"));
    }
    fn cooldown_triggered(&self, scope: &str, duration: Duration) {
        self.cooldowns
            .lock()
            .unwrap()
            .push((scope.to_string(), duration));
    }
    fn status(&self) -> SharedBudgetStatus {
        SharedBudgetStatus {
            degraded: true,
            leased: self.tokens.load(Ordering::Relaxed),
            ..Default::default()
        }
    }
}

#[test]
fn an_attached_budget_admits_instead_of_the_local_windows() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let h = coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(2).refill_rate(1))
        .unwrap();
    let pool = Arc::new(Pool::default());
    pool.tokens.store(5, Ordering::Relaxed);
    h.attach_shared_budget(pool.clone()).unwrap();
    // Five admissions although the local window holds two: the shared budget decides.
    for _ in 0..5 {
        h.try_acquire().unwrap();
    }
    assert!(matches!(
        h.try_acquire(),
        Err(CoordinatorError::RateLimited { .. })
    ));
    assert_eq!(h.state().counters.rate_limited, 1);
    let shared = h.state().shared.unwrap();
    assert!(shared.degraded);
    assert_eq!(shared.leased, 0);
    // The local windows were never spent.
    assert_eq!(h.state().tokens, vec![2]);
}

#[test]
fn a_second_attachment_is_refused_naming_the_provider() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let h = coordinator.register_provider("ibkr").unwrap();
    h.attach_shared_budget(Arc::new(Pool::default())).unwrap();
    let e = h
        .attach_shared_budget(Arc::new(Pool::default()))
        .unwrap_err();
    assert_eq!(e.field, "providers.ibkr.shared_budget");
}

#[test]
fn triggered_cooldowns_are_shared_and_applied_ones_are_not() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let h = coordinator.register_provider("p").unwrap();
    let pool = Arc::new(Pool::default());
    pool.tokens.store(10, Ordering::Relaxed);
    h.attach_shared_budget(pool.clone()).unwrap();
    h.trigger_cooldown("md", Duration::from_secs(5)).unwrap();
    h.apply_cooldown("global", Duration::from_secs(1)).unwrap();
    assert_eq!(
        *pool.cooldowns.lock().unwrap(),
        vec![("md".to_string(), Duration::from_secs(5))]
    );
    assert!(matches!(
        h.try_acquire(),
        Err(CoordinatorError::CoolingDown { .. })
    ));
    // Never shortened by an applied one.
    h.apply_cooldown("md", Duration::from_millis(1)).unwrap();
    let md = h.scope("md").unwrap();
    assert!(h.is_cooling_down_in(md));
}

#[test]
fn a_tenant_request_refused_by_the_shared_budget_gets_its_tenant_tokens_back() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let h = coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(10).refill_rate(1))
        .unwrap();
    h.attach_shared_budget(Arc::new(Pool::default())).unwrap(); // empty
    let tenant = coordinator
        .register_tenant(
            "p",
            "t",
            market_data_pipeline::flow::BucketLimits::new(3, 1).unwrap(),
        )
        .unwrap();
    for _ in 0..10 {
        assert!(tenant.try_acquire().is_err());
    }
    // The tenant's 3 tokens are all still there.
    assert_eq!(tenant.available(), 3);
    // Likewise when the tenant's budget is shared: its tokens go back to the shared pool.
    let pool = Arc::new(Pool::default());
    pool.tokens.store(4, Ordering::Relaxed);
    tenant.attach_shared_budget(pool.clone()).unwrap();
    for _ in 0..10 {
        assert!(tenant
            .try_request_at(0, market_data_pipeline::flow::Request::cost(2))
            .is_err());
    }
    assert_eq!(pool.tokens.load(Ordering::Relaxed), 4);
}

#[test]
fn a_tenant_with_a_shared_budget_spends_it_instead_of_its_own_bucket() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(100).refill_rate(1))
        .unwrap();
    let tenant = coordinator
        .register_tenant("p", "desk", BucketLimits::new(2, 1).unwrap())
        .unwrap();
    assert_eq!((tenant.name(), tenant.limits().capacity()), ("desk", 2));
    let pool = Arc::new(Pool::default());
    pool.tokens.store(5, Ordering::Relaxed);
    tenant.attach_shared_budget(pool.clone()).unwrap();
    assert!(tenant.shared_budget().is_some());
    // Five, although the tenant's own bucket holds two: the shared budget decides.
    for _ in 0..5 {
        tenant.try_acquire().unwrap();
    }
    let e = tenant.try_acquire().unwrap_err();
    assert!(
        matches!(&e, CoordinatorError::RateLimited { window, .. } if &**window == "tenant desk"),
        "{e:?}"
    );
    assert_eq!(tenant.available(), 2);
    let again = tenant.attach_shared_budget(pool).unwrap_err();
    assert_eq!(again.field, "providers.p.tenants.desk.shared_budget");
}

#[test]
fn the_priority_and_live_changes_reach_the_shared_budget() {
    let coordinator = RateCoordinator::with_clock(ManualClock::shared(0));
    let h = coordinator.register_provider("p").unwrap();
    let pool = Arc::new(Pool::default());
    pool.tokens.store(10, Ordering::Relaxed);
    h.attach_shared_budget(pool.clone()).unwrap();
    h.try_request_at(0, Request::cost(1).priority(Priority::High))
        .unwrap();
    h.try_acquire().unwrap();
    assert_eq!(
        *pool.priorities.lock().unwrap(),
        vec![Priority::High, Priority::Normal]
    );
    assert_eq!(h.state().counters.admitted, 2);
    h.update_limits(&ProviderLimits::new().capacity(7).refill_rate(3))
        .unwrap();
    h.set_scale(0.5).unwrap();
    // Refused changes are not passed on.
    assert!(h.set_scale(2.0).is_err());
    assert!(h.update_limits(&ProviderLimits::new().capacity(0)).is_err());
    assert_eq!(
        *pool.changes.lock().unwrap(),
        vec!["limits 7/3".to_string(), "scale 0.5".to_string()]
    );
    // Changes adopted from another host show here and are not handed back to the budget.
    h.apply_remote_limits(&ProviderLimits::new().capacity(9).refill_rate(4))
        .unwrap();
    h.apply_remote_scale(0.25).unwrap();
    assert_eq!((h.limits().capacity, h.limits().refill_rate), (9, 4));
    assert_eq!(h.state().scale, 0.25);
    assert!(h.apply_remote_scale(-1.0).is_err());
    assert_eq!(pool.changes.lock().unwrap().len(), 2, "not echoed");
}
