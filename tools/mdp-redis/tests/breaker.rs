//! Shared breakers: hosts are `mdp-breaker` processes on one private Redis; a trip in one opens
//! the others, HALF_OPEN probes are counted over all of them, a killed probe holder blocks the
//! others only until its slot expires, and without Redis a breaker acts locally (degraded).

mod common;

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use market_data_pipeline::flow::{BreakerState, ProviderLimits, RateCoordinator};
use market_data_pipeline::ManualClock;
use mdp_redis::{Coordination, CoordinationConfig};

/// One `mdp-breaker` process: commands in, one answer line each.
struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    name: String,
}

impl Host {
    fn spawn(server: &common::Server, name: &str, prefix: &str, extra: &[&str]) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mdp-breaker"))
            .args(["--url", &server.url(), "--prefix", prefix])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mdp-breaker");
        let stdin = child.stdin.take().expect("stdin");
        let lines = common::stdout_lines(&mut child);
        let mut h = Host {
            child,
            stdin,
            lines,
            name: name.to_string(),
        };
        let ready = h.line();
        assert_eq!(ready, "ready degraded=false", "{name} did not reach Redis");
        h
    }

    /// The next line (bounded: a host that says nothing for 60 s is hung).
    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{}: no answer in 60 s ({e})", self.name))
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.stdin, "{c}").expect("write a command");
        self.stdin.flush().expect("flush");
        self.line()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_trip_in_one_process_opens_the_breaker_in_the_others() {
    let Some(server) = common::Server::start("breaker-trip") else {
        return;
    };
    let args = ["--timeout-ms", "600000"];
    let mut hosts: Vec<Host> = (0..3)
        .map(|i| Host::spawn(&server, &format!("host{i}"), "trip", &args))
        .collect();
    for h in &mut hosts[1..] {
        assert_eq!(h.cmd("probe"), "probe passed", "closed before the trip");
    }
    assert_eq!(hosts[0].cmd("trip"), "tripped");
    for h in &mut hosts[1..] {
        assert_eq!(h.cmd("wait-state open"), "reached open");
        assert_eq!(h.cmd("probe"), "probe refused");
        assert!(h.cmd("state").starts_with("state open degraded=false"));
    }
}

#[test]
fn half_open_probes_are_limited_over_all_processes() {
    let Some(server) = common::Server::start("breaker-probes") else {
        return;
    };
    // 2 probes over 4 hosts; slots never expire during the test.
    let args = [
        "--timeout-ms",
        "300",
        "--probes",
        "2",
        "--probe-ttl-ms",
        "600000",
    ];
    let mut hosts: Vec<Host> = (0..4)
        .map(|i| Host::spawn(&server, &format!("host{i}"), "probes", &args))
        .collect();
    assert_eq!(hosts[0].cmd("trip"), "tripped");
    for h in &mut hosts {
        assert_eq!(h.cmd("wait-state half_open"), "reached half_open");
    }
    // Every host asks in turn until 2 probes are out (bounded), then 50 more rounds: no host
    // may get a third.
    let mut granted = vec![0u32; hosts.len()];
    let mut refused = vec![0u32; hosts.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut extra_rounds = 0;
    while extra_rounds < 50 {
        for (i, h) in hosts.iter_mut().enumerate() {
            match h.cmd("probe").as_str() {
                "probe granted" => granted[i] += 1,
                "probe refused" => refused[i] += 1,
                other => panic!("host{i}: {other}"),
            }
        }
        if granted.iter().sum::<u32>() >= 2 {
            extra_rounds += 1;
        } else {
            assert!(Instant::now() < deadline, "2 probes not granted in 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("probes granted per host {granted:?}, refused {refused:?}");
    assert_eq!(
        granted.iter().sum::<u32>(),
        2,
        "granted per host {granted:?}"
    );
    assert!(refused.iter().all(|&r| r > 0), "every host was refused");
    for (i, h) in hosts.iter_mut().enumerate() {
        let state = h.cmd("state");
        assert!(
            state.starts_with("state half_open")
                && state.ends_with(&format!("held={}", granted[i])),
            "host{i}: {state}"
        );
    }
}

#[test]
fn a_probe_failure_reopens_and_a_success_closes_every_host() {
    let Some(server) = common::Server::start("breaker-outcome") else {
        return;
    };
    let args = ["--timeout-ms", "300", "--probe-ttl-ms", "600000"];
    let mut hosts: Vec<Host> = (0..3)
        .map(|i| Host::spawn(&server, &format!("host{i}"), "outcome", &args))
        .collect();
    assert_eq!(hosts[0].cmd("trip"), "tripped");
    for h in &mut hosts {
        assert_eq!(h.cmd("wait-state half_open"), "reached half_open");
    }
    let probe = hosts[1].cmd("probe-until-granted");
    assert!(probe.starts_with("probe granted"), "{probe}");
    assert_eq!(hosts[1].cmd("fail"), "ok state=open");
    // Each has opened twice: the first trip, then host1's re-opening (counted, so the check
    // does not depend on looking within the OPEN period).
    for h in [0, 2] {
        assert_eq!(hosts[h].cmd("wait-opened 2"), "opened 2", "host{h}");
    }
    for h in &mut hosts {
        assert_eq!(h.cmd("wait-state half_open"), "reached half_open");
    }
    let probe = hosts[2].cmd("probe-until-granted");
    assert!(probe.starts_with("probe granted"), "{probe}");
    assert_eq!(hosts[2].cmd("succeed"), "ok state=closed");
    for h in [0, 1] {
        assert_eq!(
            hosts[h].cmd("wait-state closed"),
            "reached closed",
            "host{h}"
        );
        assert_eq!(hosts[h].cmd("probe"), "probe passed");
    }
}

/// Hosts A and B (probe slots of `ttl_ms`), the breaker tripped and HALF_OPEN on both, A
/// holding the one probe.
fn a_probing_and_b(server: &common::Server, prefix: &str, ttl_ms: &str) -> (Host, Host) {
    let args = ["--timeout-ms", "200", "--probe-ttl-ms", ttl_ms];
    let mut a = Host::spawn(server, "a", prefix, &args);
    let mut b = Host::spawn(server, "b", prefix, &args);
    assert_eq!(a.cmd("trip"), "tripped");
    for h in [&mut a, &mut b] {
        assert_eq!(h.cmd("wait-state half_open"), "reached half_open");
    }
    let probe = a.cmd("probe-until-granted");
    assert!(probe.starts_with("probe granted"), "{probe}");
    (a, b)
}

#[test]
fn a_probe_holder_killed_blocks_the_others_only_until_its_slot_expires() {
    let Some(server) = common::Server::start("breaker-kill") else {
        return;
    };
    let (mut a, mut b) = a_probing_and_b(&server, "kill", "5000");
    // The one slot is A's: B is refused (asked at once; the slot lasts 5 s).
    assert_eq!(b.cmd("probe"), "probe refused");
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();
    let killed = Instant::now();
    // Bounded by probe-until-granted's 30 s: far past the 5 s slot.
    let probe = b.cmd("probe-until-granted");
    assert!(probe.starts_with("probe granted"), "{probe}");
    eprintln!(
        "B's probe granted {:.0} ms after A was killed (slot TTL 5000 ms)",
        killed.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(b.cmd("succeed"), "ok state=closed");
}

/// Redis's clock (ms), and the expiry (ms of that clock) of every probe slot of `key`.
fn slots(server: &common::Server, key: &str) -> (u64, Vec<u64>) {
    let mut con = redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("connect");
    let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut con).expect("TIME");
    let slots: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut con)
        .expect("ZRANGE");
    (
        s * 1000 + us / 1000,
        slots.into_iter().map(|(_, e)| e as u64).collect(),
    )
}

/// A probe held for several `probe_ttl_ms` keeps its slot (its holder renews it while the
/// probe is out), so the other host stays refused throughout; once the holder is killed, its
/// slot expires within one TTL and the other host probes.
#[test]
fn a_probe_held_past_its_ttl_keeps_its_slot_until_its_holder_dies() {
    let Some(server) = common::Server::start("breaker-renew") else {
        return;
    };
    let ttl_ms = 1500;
    let key = "renew:breaker:p:probes";
    let (mut a, mut b) = a_probing_and_b(&server, "renew", &ttl_ms.to_string());
    // Four TTLs by Redis's clock (a loaded host cannot make it shorter): B keeps asking and is
    // refused every time.
    let (start, _) = slots(&server, key);
    let mut refused = 0u32;
    loop {
        let (now, held) = slots(&server, key);
        if now >= start + 4 * ttl_ms {
            assert_eq!(held.len(), 1, "A's slot, renewed: {held:?}");
            break;
        }
        assert_eq!(
            b.cmd("probe"),
            "probe refused",
            "B probed while A's probe was out, {} ms after it began ({refused} refusals before)",
            now - start
        );
        refused += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused > 0);
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();
    // Not renewed any more: it expires within one TTL.
    let (now, held) = slots(&server, key);
    assert!(
        held.iter().all(|&e| e <= now + ttl_ms),
        "slots expire at {held:?}, now {now}, TTL {ttl_ms}"
    );
    let probe = b.cmd("probe-until-granted");
    assert!(probe.starts_with("probe granted"), "{probe}");
    assert_eq!(b.cmd("succeed"), "ok state=closed");
}

/// Redis stopped: the breaker trips, probes and recovers on local outcomes alone, reports
/// `degraded`, and nothing waits for Redis. The manual clock drives the OPEN period.
#[test]
fn without_redis_the_breaker_acts_locally_and_reports_degraded() {
    let Some(mut server) = common::Server::start("breaker-down") else {
        return;
    };
    let clock = ManualClock::shared(0);
    let coordinator = RateCoordinator::with_clock(clock.clone());
    let mut limits = ProviderLimits::new()
        .capacity(100)
        .refill_rate(100)
        .breaker_threshold(1)
        .breaker_timeout(10.0);
    limits.half_open_max_probes = 1;
    let h = coordinator.register_provider_with("p", limits).unwrap();
    let mut cfg = CoordinationConfig::new(server.url());
    cfg.timeout_ms = 100;
    let c = Coordination::start(cfg).unwrap();
    let shared = c.share_breaker(&h).unwrap();
    assert!(c.share_breaker(&h).is_err(), "shared once");
    common::eventually("connected", || !shared.is_degraded());
    server.stop();
    common::eventually("degraded", || {
        h.state().shared_breaker.is_some_and(|s| s.degraded)
    });
    let t = Instant::now();
    h.record_failure();
    assert_eq!(h.breaker().state(), BreakerState::Open);
    clock.advance(Duration::from_secs(10));
    let probe = h.breaker().allow().unwrap();
    assert!(probe.is_probe(), "the local probe");
    assert!(h.breaker().allow().is_err(), "the local limit: 1 probe");
    assert_eq!(h.state().shared_breaker.unwrap().probes_held, 1);
    probe.success();
    assert_eq!(h.breaker().state(), BreakerState::Closed);
    // Generous: a hang would be the 100 ms timeout at least, repeated; this is microseconds.
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(c.last_error().is_some());
}
