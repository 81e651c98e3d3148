//! The coordination thread's calls that carry a budget's limits: leases (normal and from the
//! reserve), give-backs, and live limit changes with their adoption by every host.
//!
//! Every call names the limits version the host admits under. Once a change is stored in
//! Redis (`SET_LIMITS`), a lease asked under an older version is refused and answered with
//! the new spec: the host adopts it, empties its pools (giving their tokens back under the new
//! limits) and leases again. So after a change, a host spends at most the tokens it held in
//! its pools at that moment under the old limits, then only tokens leased under the new ones.

use std::sync::atomic::Ordering;
use std::time::Duration;

use market_data_pipeline::flow::{BucketLimits, ProviderLimits};

use crate::budget::{Params, RedisBudget};
use crate::scripts::Scripts;

/// What one lease asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ask {
    pub want: u64,
    pub min: u64,
    pub floor: u64,
    /// Charge `want` without checking (the resync after a degraded spell).
    pub force: bool,
    /// The reserve may be leased.
    pub high: bool,
    pub max_wait: Duration,
}

/// Lease under the limits in force here; a stale version is adopted and the lease asked
/// again once. Returns `(granted, wait_us)`.
pub(crate) fn lease(
    scripts: &Scripts,
    c: &mut redis::Connection,
    b: &RedisBudget,
    ask: Ask,
) -> redis::RedisResult<(u64, u64)> {
    for _ in 0..2 {
        let p = b.params();
        let mut s = scripts.lease.prepare_invoke();
        s.key(&b.params_key);
        for k in &b.keys {
            s.key(k);
        }
        s.arg(ask.want)
            .arg(ask.min)
            .arg(u8::from(ask.force))
            .arg(ask.floor)
            .arg(u64::try_from(ask.max_wait.as_micros()).unwrap_or(u64::MAX))
            .arg(p.version)
            .arg(u8::from(ask.high))
            .arg(p.spec())
            .arg(u8::from(p.scale <= 0.0));
        for w in &p.windows {
            s.arg(p.interval_in_force(w)).arg(w.capacity).arg(w.reserve);
        }
        let (grant, wait_us, _now, version, spec): (u64, u64, u64, u64, String) = s.invoke(c)?;
        b.round_trips.fetch_add(1, Ordering::Relaxed);
        if version <= p.version {
            return Ok((grant, wait_us));
        }
        let next = Params::parse(version, &spec, b.keys.len()).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "bad limits in Redis",
                format!("{}: {e}", b.params_key),
            ))
        })?;
        adopt(scripts, c, b, &next)?;
        show_adopted(b, &p, &next);
    }
    Ok((0, 0))
}

/// Another host's change, adopted here: let the provider's handle show it (its `limits()`
/// and `state().scale`) without handing it back to the shared budget. A tenant's budget has
/// no such handle. The change was validated where it was made and parsed here, so the handle
/// refusing it would be a bug; the budget admits under it either way.
fn show_adopted(b: &RedisBudget, before: &Params, next: &Params) {
    if b.tenant.is_some() {
        return;
    }
    if next.windows != before.windows {
        if let Some(limits) = adopted_limits(b, next) {
            let _ = b.handle.apply_remote_limits(&limits);
        }
    }
    if next.scale != before.scale {
        let _ = b.handle.apply_remote_scale(next.scale);
    }
}

/// The handle's limits with the windows of `next` (a window the change left alone keeps its
/// exact registered form; the rest, breaker and cooldown settings, and the reserve's share
/// are not part of the shared spec and stay as they are here).
fn adopted_limits(b: &RedisBudget, next: &Params) -> Option<ProviderLimits> {
    let mut limits = b.handle.limits();
    let here = Params::windows_of(&b.provider, &limits).ok()?;
    if here.len() != next.windows.len() {
        return None;
    }
    let (w0, h0) = (&next.windows[0], &here[0]);
    if w0 != h0 {
        limits.capacity = w0.capacity;
        limits.refill_rate = ((1e6 / w0.interval_us).round() as u64).max(1);
    }
    for ((l, w), h) in limits
        .windows
        .iter_mut()
        .zip(&next.windows[1..])
        .zip(&here[1..])
    {
        if w != h {
            let period =
                Duration::from_nanos((w.capacity as f64 * w.interval_us * 1e3).round() as u64);
            *l = BucketLimits::per_period(w.capacity, period).ok()?;
        }
    }
    Some(limits)
}

/// Give `n` unspent tokens back under the limits in force here (dropped if they are stale,
/// or while suspended: fewer admissions, never more).
pub(crate) fn give_back(
    scripts: &Scripts,
    c: &mut redis::Connection,
    b: &RedisBudget,
    n: u64,
) -> redis::RedisResult<()> {
    let p = b.params();
    if p.scale > 0.0 {
        let mut s = scripts.give_back.prepare_invoke();
        s.key(&b.params_key);
        for k in &b.keys {
            s.key(k);
        }
        s.arg(n).arg(p.version);
        for w in &p.windows {
            s.arg(p.interval_in_force(w));
        }
        let _: u64 = s.invoke(c)?;
        b.round_trips.fetch_add(1, Ordering::Relaxed);
    }
    b.returned.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

/// Admit under `next` from now on: install it, empty the pools and give their tokens back
/// under it.
fn adopt(
    scripts: &Scripts,
    c: &mut redis::Connection,
    b: &RedisBudget,
    next: &Params,
) -> redis::RedisResult<()> {
    b.install(next);
    let left = b.drain_all();
    b.spent_at_adopt.store(
        b.granted
            .load(Ordering::Relaxed)
            .saturating_sub(b.returned.load(Ordering::Relaxed))
            .saturating_sub(left),
        Ordering::Release,
    );
    if left > 0 {
        give_back(scripts, c, b, left)?;
    }
    Ok(())
}

/// Store the live change queued here in Redis (atomically re-expressing every window) and
/// adopt it. A change that cannot be stored stays queued (the connection is retried).
pub(crate) fn push_limits(
    scripts: &Scripts,
    c: &mut redis::Connection,
    b: &RedisBudget,
) -> redis::RedisResult<()> {
    let Some(mut next) = b.take_pending() else {
        return Ok(());
    };
    let current = b.params();
    let mut s = scripts.set_limits.prepare_invoke();
    s.key(&b.params_key);
    for k in &b.keys {
        s.key(k);
    }
    s.arg(next.spec()).arg(current.spec()).arg(current.version);
    let stored: redis::RedisResult<(u64, u64)> = s.invoke(c);
    let (version, _now) = match stored {
        Ok(v) => v,
        Err(e) => {
            b.requeue(next);
            return Err(e);
        }
    };
    b.round_trips.fetch_add(1, Ordering::Relaxed);
    next.version = version;
    adopt(scripts, c, b, &next)
}

/// What a lease from the reserve came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum High {
    /// No high-priority request lacked tokens.
    Idle,
    Granted,
    /// Nothing granted: ask again after this.
    Wait(Duration),
}

/// A high-priority request lacks tokens: lease what it needs, the reserve allowed.
pub(crate) fn lease_high(
    scripts: &Scripts,
    c: &mut redis::Connection,
    b: &RedisBudget,
    max_wait: Duration,
) -> redis::RedisResult<High> {
    let need = b.want_high.load(Ordering::Acquire).min(b.capacity());
    if need == 0 {
        return Ok(High::Idle);
    }
    let ask = Ask {
        want: need,
        min: need,
        floor: need,
        force: false,
        high: true,
        max_wait,
    };
    let (grant, wait_us) = lease(scripts, c, b, ask)?;
    if grant > 0 {
        b.granted.fetch_add(grant, Ordering::Relaxed);
        b.fill_high(grant);
        b.want_high.store(0, Ordering::Release);
        Ok(High::Granted)
    } else {
        Ok(High::Wait(Duration::from_micros(wait_us.max(50))))
    }
}
