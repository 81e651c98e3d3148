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
//! | `succeed`, `fail` | the outcome of the probe out: `ok state=…` |
//! | `quit` | exits |

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use market_data_pipeline::flow::{BreakerState, ProviderHandle, ProviderLimits, RateCoordinator};
use mdp_redis::{Coordination, CoordinationConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("mdp-breaker: {e}");
        std::process::exit(2);
    }
}

const BOUND: Duration = Duration::from_secs(30);

fn run() -> Result<(), String> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument {k:?}"));
        };
        let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        args.insert(name.into(), v);
    }
    let num = |k: &str, d: u64| -> Result<u64, String> {
        args.get(k).map_or(Ok(d), |v| {
            v.parse().map_err(|e| format!("--{k} {v:?}: {e}"))
        })
    };
    let provider = args.get("provider").cloned().unwrap_or_else(|| "p".into());
    let mut limits = ProviderLimits::new()
        .capacity(1_000_000)
        .refill_rate(1_000_000)
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
