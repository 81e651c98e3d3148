//! Tenant budgets, the high-priority reserve, weighted cost and live limit changes across
//! processes sharing one Redis: every bound is computed from the measured elapsed time.

mod common;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use market_data_pipeline::flow::{ProviderHandle, ProviderLimits, RateCoordinator};
use mdp_redis::{Coordination, CoordinationConfig};

/// Start one `mdp-share` per argument list (all at once); wait for all; their `result` lines
/// (each process must succeed).
fn run_hosts(server: &common::Server, prefix: &str, hosts: &[Vec<String>]) -> Vec<String> {
    let children: Vec<_> = hosts
        .iter()
        .map(|args| {
            Command::new(env!("CARGO_BIN_EXE_mdp-share"))
                .args(["--url", &server.url(), "--prefix", prefix])
                .args(["--threads", "2", "--report-ms", "100000"])
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn mdp-share")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out: Output = c.wait_with_output().expect("wait mdp-share");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "{stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        })
        .collect()
}

fn result_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("result"))
        .unwrap_or_else(|| panic!("no result line in {stdout:?}"))
}

/// `key` summed over the processes' `result` lines.
fn sum(outs: &[String], key: &str) -> u64 {
    outs.iter()
        .map(|out| common::field(result_line(out), key))
        .sum()
}

/// One host in this process: provider `p` (`capacity`, 1/s) shared with leases of at most
/// `lease_max`, connected.
fn host(
    server: &common::Server,
    capacity: u64,
    lease_max: u64,
) -> (
    RateCoordinator,
    ProviderHandle,
    Coordination,
    Arc<mdp_redis::RedisBudget>,
) {
    let coordinator = RateCoordinator::new();
    let h = coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(capacity).refill_rate(1))
        .unwrap();
    let mut cfg = CoordinationConfig::new(server.url());
    cfg.lease_max = Some(lease_max);
    let c = Coordination::start(cfg).unwrap();
    let b = c.share(&h).unwrap();
    common::eventually("connected", || !h.state().shared.unwrap().degraded);
    (coordinator, h, c, b)
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Three processes spend one tenant's budget (20 tokens, 200/s) at a provider whose own
/// budget is far larger: together they admit at most 20 + 200·t (+ what the local shares
/// admitted before Redis was first reached), where three unshared tenant buckets would
/// admit three times that.
#[test]
fn a_tenant_budget_holds_across_processes() {
    let Some(server) = common::Server::start("tenant") else {
        return;
    };
    let (cap, rate, k) = (20u64, 200u64, 3);
    let host = args(&format!(
        "--seconds 2 --capacity 1000 --rate 100000 --members {k} \
         --tenant desk --tenant-capacity {cap} --tenant-rate {rate}"
    ));
    let t0 = Instant::now();
    let outs = run_hosts(&server, "tenant", &vec![host; k]);
    let t = t0.elapsed().as_secs_f64();
    let (total, share) = (sum(&outs, "tokens"), sum(&outs, "tenant_share_spent"));
    let bound = cap as f64 + rate as f64 * t + share as f64;
    eprintln!("tenant: admitted {total} over {t:.2} s, bound {bound:.0} (share {share})");
    assert!(total > 0, "nothing admitted: {outs:?}");
    assert!(
        total as f64 <= bound,
        "tenant admitted {total} > bound {bound:.0} over {t:.2} s: {outs:?}"
    );
}

/// Requests of 5 tokens from three processes: the tokens (not the requests) stay within
/// capacity + rate·t (+ the local shares' admissions).
#[test]
fn weighted_cost_is_counted_across_processes() {
    let Some(server) = common::Server::start("cost") else {
        return;
    };
    let (cap, rate, k) = (50u64, 400u64, 3);
    let host = args(&format!(
        "--seconds 2 --capacity {cap} --rate {rate} --members {k} --cost 5 --lease-max 10"
    ));
    let t0 = Instant::now();
    let outs = run_hosts(&server, "cost", &vec![host; k]);
    let t = t0.elapsed().as_secs_f64();
    let (tokens, requests) = (sum(&outs, "tokens"), sum(&outs, "admitted"));
    let share = sum(&outs, "share_spent");
    let bound = cap as f64 + rate as f64 * t + share as f64;
    eprintln!("cost: {requests} requests, {tokens} tokens over {t:.2} s, bound {bound:.0}");
    assert_eq!(tokens, 5 * requests);
    assert!(requests > 0);
    assert!(
        tokens as f64 <= bound,
        "{tokens} tokens > bound {bound:.0} over {t:.2} s: {outs:?}"
    );
}

/// A provider of 100 tokens refilling at 1/s keeps 30 for high priority. First two
/// processes hammer it at normal priority: together they get at most 70 + 1·t (+ their
/// shares' admissions). Then one more normal process hammers it while another asks for 30
/// high-priority tokens: the high one gets its 30 (it stops then; it gives up after 20 s,
/// which only a broken reserve takes), and over both phases all stay within 100 + 1·t.
#[test]
fn the_high_priority_reserve_is_kept_across_processes() {
    let Some(server) = common::Server::start("reserve") else {
        return;
    };
    let (cap, rate, reserve) = (100u64, 1u64, 30u64);
    let base = format!("--capacity {cap} --rate {rate} --reserve 0.3 --members 3");
    let normal = args(&format!("{base} --seconds 2"));
    let high = args(&format!(
        "{base} --seconds 20 --priority high --target {reserve}"
    ));
    let t0 = Instant::now();
    let first = run_hosts(&server, "reserve", &[normal.clone(), normal.clone()]);
    let t1 = t0.elapsed().as_secs_f64();
    let normal_total = sum(&first, "tokens");
    let mut share = sum(&first, "share_spent");
    let normal_bound = (cap - reserve) as f64 + rate as f64 * t1 + share as f64;
    eprintln!(
        "reserve: normal priority alone {normal_total} over {t1:.2} s, bound {normal_bound:.0}"
    );
    assert!(normal_total > 0);
    assert!(
        normal_total as f64 <= normal_bound,
        "normal priority took {normal_total} > {normal_bound:.0}: the reserve was spent: {first:?}"
    );
    let second = run_hosts(&server, "reserve", &[normal, high]);
    let t = t0.elapsed().as_secs_f64();
    let high_total = common::field(result_line(&second[1]), "tokens");
    let total = normal_total + sum(&second, "tokens");
    share += sum(&second, "share_spent");
    eprintln!("reserve: then high {high_total} beside normal; {total} in all over {t:.2} s");
    assert!(
        high_total >= reserve,
        "high priority got only {high_total} of the {reserve} reserved: {second:?}"
    );
    let all_bound = cap as f64 + rate as f64 * t + share as f64;
    assert!(
        total as f64 <= all_bound,
        "{total} admitted > {all_bound:.0} over {t:.2} s"
    );
}

/// Host A changes the shared provider's limits live (from 5000/s to 100/s, capacity 50 to
/// 10; then, in a second run, scales the rate by 0.1). Host B adopts the change: what both
/// spent after adopting it stays within the new limits over the time since the change, plus
/// the tokens their pools held under the old limits (≤ 2 · lease_max); B's provider handle
/// shows the limits and the scale it adopted.
#[test]
fn a_live_limit_change_on_one_host_is_applied_by_the_others() {
    let Some(server) = common::Server::start("live") else {
        return;
    };
    let lease_max = 16u64;
    // The change, then what the handles show: capacity, refill rate, scale (%), and the rate
    // in force.
    for (run, change, shown, new_rate) in [
        (
            "limits",
            "--update-capacity 10 --update-rate 100",
            (10u64, 100u64, 100u64),
            100f64,
        ),
        ("scale", "--update-scale 0.1", (50, 5000, 10), 500.0),
    ] {
        let new_cap = shown.0;
        let base = format!("--capacity 50 --rate 5000 --members 2 --lease-max {lease_max}");
        let a = args(&format!("{base} --seconds 3 --update-at-ms 1000 {change}"));
        let b = args(&format!("{base} --seconds 3"));
        let outs = run_hosts(&server, run, &[a, b]);
        let changed_at = outs[0]
            .lines()
            .find_map(|l| l.strip_prefix("update_unix_ns="))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("A printed update_unix_ns");
        let mut after = 0;
        let mut end = 0;
        for (host, out) in ["A", "B"].iter().zip(&outs) {
            let line = result_line(out);
            assert!(
                common::field(line, "limits_version") >= 1,
                "host {host} did not adopt the change: {line}"
            );
            // A made it; B's handle shows what B adopted.
            let handle = ["capacity", "refill_rate", "scale_pct"].map(|k| common::field(line, k));
            assert_eq!(
                handle,
                [shown.0, shown.1, shown.2],
                "host {host}'s handle: {line}"
            );
            let spent = common::field(line, "spent") - common::field(line, "spent_at_adopt");
            assert!(
                spent > 0,
                "host {host} admitted nothing under the new limits: {line}"
            );
            after += spent;
            end = end.max(common::field(line, "end_unix_ns"));
        }
        let dt = (end - changed_at) as f64 / 1e9;
        let bound = new_cap as f64 + new_rate * dt + (2 * lease_max) as f64;
        eprintln!("live {run}: {after} spent after the change over {dt:.2} s, bound {bound:.0}");
        assert!(
            after as f64 <= bound,
            "{run}: {after} spent after the change > {bound:.0} over {dt:.2} s: {outs:?}"
        );
    }
}

/// Admissions through a shared budget are counted in the provider's snapshot (they were
/// not: the shared path returned before the counter).
#[test]
fn regression_shared_admissions_are_counted() {
    let Some(server) = common::Server::start("counted") else {
        return;
    };
    let coordinator = RateCoordinator::new();
    let h = coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(100).refill_rate(1))
        .unwrap();
    let c = Coordination::start(CoordinationConfig::new(server.url())).unwrap();
    c.share(&h).unwrap();
    let mut admitted = 0;
    common::eventually("5 admitted", || {
        admitted += u64::from(h.try_acquire().is_ok());
        admitted == 5
    });
    assert_eq!(h.state().counters.admitted, 5);
}

/// A change of capacity keeps the tokens the window holds, capped at the new capacity (as a
/// local bucket's `set_limits`), and a second host admits under it at once.
#[test]
fn a_live_capacity_change_keeps_the_tokens_held_capped() {
    let Some(server) = common::Server::start("capped") else {
        return;
    };
    let (_ca, a, _a, ba) = host(&server, 100, 4);
    let (_cb, b, _b, bb) = host(&server, 100, 4);
    assert_eq!(b.limits().capacity, 100, "B's registered limits");
    let t0 = Instant::now();
    // A spends 10 of 100.
    let mut n = 0;
    common::eventually("A admits 10", || {
        n += u64::from(a.try_acquire().is_ok());
        n == 10
    });
    a.update_limits(&ProviderLimits::new().capacity(20).refill_rate(1))
        .unwrap();
    common::eventually("A adopted", || ba.limits_version() == 1);
    // B, still at version 0, meets the change at its next lease.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut admitted_b = 0u64;
    while Instant::now() < deadline {
        admitted_b += u64::from(b.try_acquire().is_ok());
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(bb.limits_version(), 1, "B did not adopt the change");
    // B's own handle shows the limits it adopted (it showed its registered ones before).
    common::eventually("B's handle shows capacity 20", || {
        let l = b.limits();
        (l.capacity, l.refill_rate) == (20, 1)
    });
    assert_eq!(b.state().tokens.len(), 1);
    let t = t0.elapsed().as_secs_f64();
    // Held: 90 then (minus A's and B's pools, at most 4 each), capped at 20; 1/s refill; B's
    // old pool (≤ 4 tokens) may be spent before it adopts.
    let bound = 20.0 + t + 4.0;
    assert!(
        (admitted_b as f64) <= bound,
        "B admitted {admitted_b} > {bound:.0}"
    );
    assert!(
        admitted_b >= 16,
        "B admitted only {admitted_b} of the 20 held"
    );
}

/// `lease_min` above a provider's capacity: the coordination thread leases the capacity (it
/// used to panic in `clamp`, leaving the budget degraded for good).
#[test]
fn regression_a_lease_min_above_the_capacity_is_capped() {
    let Some(server) = common::Server::start("leasemin") else {
        return;
    };
    let coordinator = RateCoordinator::new();
    let h = coordinator
        .register_provider_with("p", ProviderLimits::new().capacity(10).refill_rate(1))
        .unwrap();
    let mut cfg = CoordinationConfig::new(server.url());
    cfg.lease_min = 1000;
    let c = Coordination::start(cfg).unwrap();
    c.share(&h).unwrap();
    let mut admitted = 0;
    common::eventually("10 admitted", || {
        admitted += u64::from(h.try_acquire().is_ok());
        admitted == 10
    });
    assert!(!h.state().shared.unwrap().degraded);
}

/// `set_scale(0)` on one host suspends the shared budget on every host (only tokens already
/// in a pool are spent) and keeps the tokens the window holds; `set_scale(1)` gives them back.
#[test]
fn a_shared_scale_of_zero_suspends_every_host_and_keeps_the_tokens() {
    let Some(server) = common::Server::start("suspend") else {
        return;
    };
    let (_ca, a, _a, ba) = host(&server, 20, 2);
    let (_cb, b, _b, bb) = host(&server, 20, 2);
    let t0 = Instant::now();
    let mut n = 0;
    common::eventually("A admits 5", || {
        n += u64::from(a.try_acquire().is_ok());
        n == 5
    });
    a.set_scale(0.0).unwrap();
    common::eventually("A adopted", || ba.limits_version() == 1);
    let mut suspended = 0u64;
    common::eventually("B adopted", || {
        suspended += u64::from(b.try_acquire().is_ok());
        bb.limits_version() == 1
    });
    for _ in 0..2000 {
        suspended += u64::from(b.try_acquire().is_ok());
        std::thread::sleep(Duration::from_micros(200));
    }
    // B's pool from before (at most lease_max) only.
    assert!(suspended <= 2, "B admitted {suspended} while suspended");
    // B's own handle shows the scale it adopted.
    common::eventually("B's handle shows scale 0", || b.state().scale == 0.0);
    a.set_scale(1.0).unwrap();
    let mut resumed = 0u64;
    common::eventually("B admits 10 after the resume", || {
        resumed += u64::from(b.try_acquire().is_ok());
        resumed >= 10
    });
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        resumed += u64::from(b.try_acquire().is_ok());
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(
        bb.limits_version(),
        2,
        "B adopted the resume, and echoed nothing back"
    );
    common::eventually("B's handle shows scale 1", || b.state().scale == 1.0);
    let t = t0.elapsed().as_secs_f64();
    // 15 held (20 − A's 5), at 1/s refill only while not suspended, plus the pools.
    let bound = 15.0 + t + 4.0;
    assert!(
        (suspended + resumed) as f64 <= bound,
        "B admitted {suspended} + {resumed} > {bound:.0}"
    );
}
