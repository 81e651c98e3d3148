//! `mdp-share`: one "host" spending a provider budget shared through Redis — the process the
//! multi-process tests, the PERF measurements and the README's demo start several times.
//!
//! ```text
//! mdp-share --url redis://127.0.0.1:6379 [--prefix mdp] [--provider ibkr] [--capacity 100]
//!           [--rate 1000] [--threads 2] [--seconds 10] [--lease-max N] [--report-ms 1000]
//!           [--cooldown-at-ms MS] [--cooldown-ms MS] [--repeat N] [--every-ms MS] [--local]
//!           [--cost N] [--priority normal|high] [--reserve F] [--target N]
//!           [--tenant NAME --tenant-capacity C --tenant-rate R]
//!           [--update-at-ms MS [--update-capacity C] [--update-rate R] [--update-scale S]]
//! ```
//!
//! Every thread takes tokens as fast as it is admitted (requests of `--cost` tokens, of
//! `--priority`; with `--tenant`, through that tenant's budget, shared too). Prints
//! `progress …` lines every `--report-ms`, then one `result …` line with the totals
//! (`key=value` pairs; `tokens` = admitted · cost; `spent`, `spent_at_adopt`, `share_spent`,
//! `limits_version` of the provider's shared budget, `tenant_*` of the tenant's; `capacity`,
//! `refill_rate` and `scale_pct` as the provider's handle shows them at the end). With
//! `--target` it stops once that many requests were admitted. With `--cooldown-at-ms` it
//! triggers a cooldown at that time (and `--repeat` − 1 more, one every `--every-ms`), printing
//! `cooldown_triggered_unix_ns=…` for each; every process prints `cooldown_seen_unix_ns=…` when
//! a worker is first refused for a cooldown after an admission. With `--update-at-ms` it changes the provider's limits live at that time
//! (`update_limits` for capacity/rate, `set_scale` for the scale) and prints
//! `update_unix_ns=…` just before. `--local` spends a local bucket only (the baseline).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use market_data_pipeline::flow::{Priority, ProviderLimits, RateCoordinator, Request};
use market_data_pipeline::CoordinatorError;
use mdp_redis::{Coordination, CoordinationConfig};

#[path = "common/args.rs"]
mod args;

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mdp-share: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args = args::parse(std::env::args().skip(1), &["local", "hot-path"])?;
    let num = |k: &str, d: u64| args::num(&args, k, d);
    if args.contains_key("hot-path") {
        return hot_path(
            args.get("url").ok_or("--url is required")?,
            num("n", 10_000_000)?,
        );
    }
    let provider = args
        .get("provider")
        .cloned()
        .unwrap_or_else(|| "ibkr".into());
    let (capacity, rate, threads, seconds) = (
        num("capacity", 100)?,
        num("rate", 1000)?,
        num("threads", 2)?,
        num("seconds", 10)?,
    );
    let report = Duration::from_millis(num("report-ms", 1000)?);
    let coordinator = RateCoordinator::new();
    let mut limits = ProviderLimits::new()
        .capacity(capacity)
        .refill_rate(rate)
        .cooldown_sec(1);
    if let Some(r) = args.get("reserve") {
        limits.high_priority_reserve = r.parse().map_err(|e| format!("--reserve {r:?}: {e}"))?;
    }
    let handle = coordinator
        .register_provider_with(&provider, limits.clone())
        .map_err(|e| e.to_string())?;
    let tenant = match args.get("tenant") {
        Some(name) => {
            let l = market_data_pipeline::flow::BucketLimits::new(
                num("tenant-capacity", 10)?,
                num("tenant-rate", 10)?,
            )
            .map_err(|e| format!("--tenant-{}: {}", e.field, e.reason))?;
            Some(
                coordinator
                    .register_tenant(&provider, name, l)
                    .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let cost = num("cost", 1)?;
    let priority = match args.get("priority").map(String::as_str) {
        None | Some("normal") => Priority::Normal,
        Some("high") => Priority::High,
        Some(p) => return Err(format!("--priority {p:?}: expected normal or high")),
    };
    let request = Request::cost(cost).priority(priority);
    let target = num("target", 0)?;
    let mut budget = None;
    let mut tenant_budget = None;
    let mut coordination: Option<Coordination> = None;
    if !args.contains_key("local") {
        let mut cfg = CoordinationConfig::new(args.get("url").cloned().ok_or("--url is required")?);
        if let Some(p) = args.get("prefix") {
            cfg.key_prefix = p.clone();
        }
        cfg.fallback_members = num("members", 1)?;
        if args.contains_key("lease-max") {
            cfg.lease_max = Some(num("lease-max", 1)?);
        }
        let c = Coordination::start(cfg).map_err(|e| e.to_string())?;
        budget = Some(c.share(&handle).map_err(|e| e.to_string())?);
        if let Some(t) = tenant.as_ref() {
            tenant_budget = Some(c.share_tenant(t).map_err(|e| e.to_string())?);
        }
        coordination = Some(c);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // A cooldown is being seen (set at the first refusal, cleared at the next admission).
    let seen = Arc::new(AtomicBool::new(false));
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now();
    let start_unix = unix_ns();
    println!("start unix_ns={start_unix}");
    let workers: Vec<_> = (0..threads as usize)
        .map(|i| {
            let (h, stop, counts, seen, tenant) = (
                handle.clone(),
                stop.clone(),
                counts.clone(),
                seen.clone(),
                tenant.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let now = h.clock().now_ns();
                    let r = match tenant.as_ref() {
                        Some(t) => t.try_request_at(now, request),
                        None => h.try_request_at(now, request),
                    };
                    match r {
                        Ok(()) => {
                            n += 1;
                            if seen.load(Ordering::Relaxed) {
                                seen.store(false, Ordering::Relaxed);
                            }
                        }
                        Err(CoordinatorError::CoolingDown { remaining, .. }) => {
                            if !seen.swap(true, Ordering::Relaxed) {
                                println!("cooldown_seen_unix_ns={}", unix_ns());
                            }
                            // Not a spin (a yield loop for the whole cooldown starved this
                            // process's pusher and the other hosts on two vCPUs: the
                            // measured propagation then had a mode at the cooldown's length).
                            std::thread::sleep(
                                remaining
                                    .clamp(Duration::from_micros(50), Duration::from_millis(2)),
                            );
                        }
                        Err(CoordinatorError::RateLimited { retry_after, .. }) => {
                            // Not a spin: the coordination threads share these two cores.
                            std::thread::sleep(
                                retry_after
                                    .clamp(Duration::from_micros(50), Duration::from_millis(2)),
                            );
                        }
                        Err(_) => std::thread::yield_now(),
                    }
                    if n % 64 == 0 || target > 0 {
                        counts[i].store(n, Ordering::Relaxed);
                    }
                }
                counts[i].store(n, Ordering::Relaxed);
            })
        })
        .collect();
    let cooldown_at = args
        .get("cooldown-at-ms")
        .map(|_| num("cooldown-at-ms", 0))
        .transpose()?;
    let cooldown_ms = num("cooldown-ms", 500)?;
    let (repeat, every) = (num("repeat", 1)?, num("every-ms", 100)?);
    let mut triggered = 0u64;
    let update_at = args
        .get("update-at-ms")
        .map(|_| num("update-at-ms", 0))
        .transpose()?;
    let mut updated = false;
    let end = start + Duration::from_secs(seconds);
    let mut next_report = start + report;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        if let Some(at) = cooldown_at {
            if triggered < repeat
                && start.elapsed() >= Duration::from_millis(at + triggered * every)
            {
                triggered += 1;
                println!("cooldown_triggered_unix_ns={}", unix_ns());
                let _ = handle.trigger_cooldown("global", Duration::from_millis(cooldown_ms));
            }
        }
        if let Some(at) = update_at {
            if !updated && start.elapsed() >= Duration::from_millis(at) {
                updated = true;
                println!("update_unix_ns={}", unix_ns());
                if let Some(sc) = args.get("update-scale") {
                    let sc: f64 = sc.parse().map_err(|e| format!("--update-scale: {e}"))?;
                    handle.set_scale(sc).map_err(|e| e.to_string())?;
                }
                if args.contains_key("update-capacity") || args.contains_key("update-rate") {
                    let l = limits
                        .clone()
                        .capacity(num("update-capacity", capacity)?)
                        .refill_rate(num("update-rate", rate)?);
                    handle.update_limits(&l).map_err(|e| e.to_string())?;
                }
            }
        }
        if target > 0
            && counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u64>()
                >= target
        {
            break;
        }
        if Instant::now() >= next_report {
            next_report += report;
            let total: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            let st = handle.state();
            let sh = st.shared.unwrap_or_default();
            println!(
                "progress t_ms={} admitted={total} degraded={} leased={} lease_size={} round_trips={} members={} error={:?}",
                start.elapsed().as_millis(), sh.degraded, sh.leased, sh.lease_size, sh.round_trips, sh.members,
                coordination.as_ref().and_then(Coordination::last_error).unwrap_or_default()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed();
    let per: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = per.iter().sum();
    let sh = handle.state().shared.unwrap_or_default();
    drop(coordination); // gives unspent leased tokens back
                        // Its agent joined: what the handle shows of limits adopted from another host is final.
    let (limits, scale) = (handle.limits(), handle.state().scale);
    let of = |b: &Option<std::sync::Arc<mdp_redis::RedisBudget>>| {
        b.as_ref().map_or((0, 0, 0, 0), |b| {
            (
                b.spent(),
                b.spent_at_adopt(),
                b.share_spent(),
                b.limits_version(),
            )
        })
    };
    let (spent, at_adopt, share, version) = of(&budget);
    let (t_spent, t_at_adopt, t_share, _) = of(&tenant_budget);
    println!(
        "result admitted={total} tokens={} per_thread={} elapsed_ms={} round_trips={} lease_size={} \
         spent={spent} spent_at_adopt={at_adopt} share_spent={share} limits_version={version} \
         tenant_spent={t_spent} tenant_spent_at_adopt={t_at_adopt} tenant_share_spent={t_share} \
         capacity={} refill_rate={} scale_pct={} start_unix_ns={start_unix} end_unix_ns={}",
        total * cost,
        per.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        elapsed.as_millis(),
        sh.round_trips,
        sh.lease_size,
        limits.capacity,
        limits.refill_rate,
        (scale * 100.0).round(),
        unix_ns()
    );
    Ok(())
}

/// Amortized cost of one admission: a local provider against a Redis-backed one (same run,
/// one thread, rounds alternated), and the Redis round trips per 10^4 admissions.
fn hot_path(url: &str, n: u64) -> Result<(), String> {
    let coordinator = RateCoordinator::new();
    let big = ProviderLimits::new()
        .capacity(10_000_000)
        .refill_rate(1_000_000_000);
    let local = coordinator
        .register_provider_with("local", big.clone())
        .map_err(|e| e.to_string())?;
    let shared = coordinator
        .register_provider_with("shared", big)
        .map_err(|e| e.to_string())?;
    let mut cfg = CoordinationConfig::new(url);
    cfg.key_prefix = format!("hot{}", std::process::id());
    let c = Coordination::start(cfg).map_err(|e| e.to_string())?;
    c.share(&shared).map_err(|e| e.to_string())?;
    while shared.state().shared.is_some_and(|s| s.degraded) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let round = |h: &market_data_pipeline::flow::ProviderHandle| {
        let t = Instant::now();
        let mut ok = 0u64;
        while ok < n {
            if h.try_acquire().is_ok() {
                ok += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    let (mut l, mut r) = (Vec::new(), Vec::new());
    let trips0 = shared.state().shared.unwrap_or_default().round_trips;
    for _ in 0..5 {
        l.push(round(&local));
        r.push(round(&shared));
    }
    let trips = shared.state().shared.unwrap_or_default().round_trips - trips0;
    l.sort_by(f64::total_cmp);
    r.sort_by(f64::total_cmp);
    println!(
        "hot_path local_ns={:.2} shared_ns={:.2} ratio={:.2} round_trips_per_1e4={:.3} lease_size={} rounds={:?} {:?}",
        l[2], r[2], r[2] / l[2],
        trips as f64 * 1e4 / (5 * n) as f64,
        shared.state().shared.unwrap_or_default().lease_size, l, r
    );
    Ok(())
}
