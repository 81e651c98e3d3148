//! `mdp-breaker`: one "host" whose provider breaker is shared through Redis, driven by commands
//! on stdin — the process the shared-breaker tests start several times.
//!
//! ```text
//! mdp-breaker --url URL [--prefix mdp] [--provider p] [--threshold 1] [--timeout-ms 200]
//!             [--probes 1] [--probe-ttl-ms 10000]
//! ```
//!
//! Prints `ready degraded=…` once Redis has been reached and the listener is subscribed (or
//! after 30 s without), then
//! answers each command with one line:
//!
//! | command | answer |
//! |---|---|
//! | `state` | `state closed\|open\|half_open degraded=B held=N` |
//! | `trip` | failures until the breaker opens: `tripped` |
//! | `probe` | one admission: `probe granted` (a HALF_OPEN probe, kept until `succeed` / `fail`), `probe passed` (CLOSED) or `probe refused` |
//! | `probe-until-granted` | `probe` every 2 ms until a probe is granted (30 s at most): `probe granted attempts=N` or `timeout attempts=N` |
//! | `wait-state S` | until the state is `S` (30 s at most): `reached S` or `timeout state=…` |
//! | `wait-opened N` | until the breaker has opened `N` times in all (30 s at most): `opened N` or `timeout opened=…` |
//! | `succeed`, `fail` | the outcome of the probe out: `ok state=…` |
//! | `quit` | exits |
//!
//! With `--load-seconds S` it takes no commands: `--threads` workers (default 1) spend the
//! provider's budget (shared too: `--capacity`, `--rate`) as fast as admitted for `S` seconds,
//! resolving each admission's probe as a success, and print `breaker_seen_unix_ns=…` when a
//! worker is first refused by the open breaker after an admission; with `--trip-at-ms T` the
//! process also trips its breaker at `T` (and `--repeat` − 1 more times, one every
//! `--every-ms`, each only if the breaker is CLOSED then), printing `breaker_tripped_unix_ns=…`
//! just before each — the breaker-trip propagation measurement of PERF.md §12.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use market_data_pipeline::flow::{BreakerState, ProviderHandle, ProviderLimits, RateCoordinator};
use market_data_pipeline::CoordinatorError;
use mdp_redis::{Coordination, CoordinationConfig};

#[path = "common/args.rs"]
mod args;

fn main() {
    if let Err(e) = run() {
        eprintln!("mdp-breaker: {e}");
        std::process::exit(2);
    }
}

const BOUND: Duration = Duration::from_secs(30);

fn run() -> Result<(), String> {
    let args = args::parse(std::env::args().skip(1), &[])?;
    let num = |k: &str, d: u64| args::num(&args, k, d);
    let provider = args.get("provider").cloned().unwrap_or_else(|| "p".into());
    let mut limits = ProviderLimits::new()
        .capacity(num("capacity", 1_000_000)?)
        .refill_rate(num("rate", 1_000_000)?)
        .breaker_threshold(u32::try_from(num("threshold", 1)?).map_err(|e| e.to_string())?)
        .breaker_timeout(num("timeout-ms", 200)? as f64 / 1e3);
    limits.half_open_max_probes = u32::try_from(num("probes", 1)?).map_err(|e| e.to_string())?;
    let coordinator = RateCoordinator::new();
    let h = coordinator
        .register_provider_with(&provider, limits)
        .map_err(|e| e.to_string())?;
    let mut cfg = CoordinationConfig::new(args.get("url").cloned().ok_or("--url is required")?);
    if let Some(p) = args.get("prefix") {
        cfg.key_prefix = p.clone();
    }
    cfg.probe_ttl_ms = num("probe-ttl-ms", 10_000)?;
    cfg.timeout_ms = num("timeout-redis-ms", 200)?;
    let coordination = Coordination::start(cfg).map_err(|e| e.to_string())?;
    let shared = coordination.share_breaker(&h).map_err(|e| e.to_string())?;
    let t = Instant::now();
    while (shared.is_degraded() || !coordination.is_listening()) && t.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("ready degraded={}", shared.is_degraded());
    if args.contains_key("load-seconds") {
        coordination.share(&h).map_err(|e| e.to_string())?;
        let trips = args
            .get("trip-at-ms")
            .map(|_| num("trip-at-ms", 0))
            .transpose()?
            .map(|at| Ok::<_, String>((at, num("repeat", 1)?, num("every-ms", 100)?)))
            .transpose()?;
        load(&h, num("load-seconds", 10)?, num("threads", 1)?, trips);
        drop(coordination);
        return Ok(());
    }
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let answer = match (words.next(), words.next()) {
            (Some("state"), _) => {
                let s = h.state();
                let sb = s.shared_breaker.unwrap_or_default();
                format!(
                    "state {} degraded={} held={}",
                    s.breaker.state.as_str(),
                    sb.degraded,
                    sb.probes_held
                )
            }
            (Some("trip"), _) => {
                let t = Instant::now();
                while h.breaker().state() != BreakerState::Open && t.elapsed() < BOUND {
                    h.record_failure();
                }
                "tripped".into()
            }
            (Some("probe"), _) => probe(&h).into(),
            (Some("probe-until-granted"), _) => {
                let t = Instant::now();
                let mut attempts = 0u64;
                loop {
                    attempts += 1;
                    if probe(&h) == "probe granted" {
                        break format!("probe granted attempts={attempts}");
                    }
                    if t.elapsed() >= BOUND {
                        break format!("timeout attempts={attempts}");
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            (Some("wait-state"), Some(want)) => {
                let t = Instant::now();
                loop {
                    let s = h.breaker().state().as_str();
                    if s == want {
                        break format!("reached {want}");
                    }
                    if t.elapsed() >= BOUND {
                        break format!("timeout state={s}");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (Some("wait-opened"), Some(n)) => {
                let n: u64 = n.parse().map_err(|e| format!("wait-opened {n:?}: {e}"))?;
                let t = Instant::now();
                loop {
                    let opened = h.breaker().stats().opened;
                    if opened >= n {
                        break format!("opened {n}");
                    }
                    if t.elapsed() >= BOUND {
                        break format!("timeout opened={opened}");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (Some("succeed"), _) => {
                h.record_success();
                format!("ok state={}", h.breaker().state().as_str())
            }
            (Some("fail"), _) => {
                h.record_failure();
                format!("ok state={}", h.breaker().state().as_str())
            }
            (Some("quit"), _) => break,
            _ => format!("error unknown command {line:?}"),
        };
        println!("{answer}");
    }
    drop(coordination);
    Ok(())
}

/// One admission through the provider's gate; a granted probe stays out (the bare
/// `record_success` / `record_failure` resolve it).
fn probe(h: &ProviderHandle) -> &'static str {
    let now = h.clock().now_ns();
    match h.breaker().allow_at(now) {
        Ok(p) if p.is_probe() => {
            p.detach();
            "probe granted"
        }
        Ok(p) => {
            p.success();
            "probe passed"
        }
        Err(_) => "probe refused",
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// `--load-seconds`: hungry workers, and the trips `(at_ms, repeat, every_ms)` if any.
fn load(h: &ProviderHandle, seconds: u64, threads: u64, trips: Option<(u64, u64, u64)>) {
    let stop = Arc::new(AtomicBool::new(false));
    // The breaker is being seen open (set at the first refusal, cleared at the next admission).
    let seen = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (h, stop, seen) = (h.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match h.try_acquire() {
                        Ok(()) => {
                            h.record_success(); // resolves a probe; CLOSED: one load
                            if seen.load(Ordering::Relaxed) {
                                seen.store(false, Ordering::Relaxed);
                            }
                        }
                        Err(CoordinatorError::CircuitOpen(e)) => {
                            if !seen.swap(true, Ordering::Relaxed) {
                                println!("breaker_seen_unix_ns={}", unix_ns());
                            }
                            // Not a spin, as for a cooldown in mdp-share.
                            let wait = e.retry_after.unwrap_or(Duration::from_micros(200));
                            std::thread::sleep(
                                wait.clamp(Duration::from_micros(50), Duration::from_millis(2)),
                            );
                        }
                        Err(CoordinatorError::RateLimited { retry_after, .. }) => {
                            // As mdp-share's workers: not a spin.
                            std::thread::sleep(
                                retry_after
                                    .clamp(Duration::from_micros(50), Duration::from_millis(2)),
                            );
                        }
                        Err(_) => std::thread::yield_now(),
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut done = 0u64;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        if let Some((at, repeat, every)) = trips {
            if done < repeat && start.elapsed() >= Duration::from_millis(at + done * every) {
                done += 1;
                if h.breaker().state() == BreakerState::Closed {
                    println!("breaker_tripped_unix_ns={}", unix_ns());
                    h.record_failure();
                } else {
                    println!(
                        "breaker_trip_skipped state={}",
                        h.breaker().state().as_str()
                    );
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    println!("result end_unix_ns={}", unix_ns());
}
