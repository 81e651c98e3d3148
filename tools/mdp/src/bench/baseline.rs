//! The baselines of `mdp bench`: a bare rtrb chunk ring and a crossbeam channel carrying the
//! same 64-byte ticks between the same two pinned threads as the pipeline, with the same
//! per-tick work at the consumer.

use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use market_data_pipeline::pipeline::LatencySummary;
use market_data_pipeline::{Clock, IdleStrategy, MonotonicClock, Pacer, Tick, TickKind};

use super::{BenchArgs, RunResult};
use crate::signal;

fn pin(core: usize) {
    if let Some(id) = core_affinity::get_core_ids().and_then(|v| v.get(core).copied()) {
        core_affinity::set_for_current(id);
    }
}

fn idle(strategy: IdleStrategy, rounds: &mut u32) {
    match strategy {
        IdleStrategy::BusySpin => std::hint::spin_loop(),
        _ => {
            *rounds += 1;
            if *rounds < 64 {
                std::hint::spin_loop()
            } else if *rounds < 96 {
                thread::yield_now()
            } else {
                thread::park_timeout(Duration::from_micros(50))
            }
        }
    }
}

fn template() -> Tick {
    Tick {
        kind: TickKind::Quote,
        bid: market_data_pipeline::Price::from_units(100),
        ask: market_data_pipeline::Price::from_units(101),
        bid_size: 100,
        ask_size: 100,
        ..Tick::default()
    }
}

/// Whether a signal asked the benchmark to stop (one relaxed load; the baselines check it once
/// per chunk, as the pipeline's source checks its stop flag).
pub(super) fn stopping() -> bool {
    signal::requested().is_some()
}

/// The baseline: a bare rtrb ring moved in chunks, stamping `ts_recv` once per chunk and
/// measuring `now − ts_recv` per tick at the consumer, once per chunk read. `None` when a
/// signal stopped it.
pub(super) fn bare_ring(
    a: &BenchArgs,
    n: u64,
    rate: Option<u64>,
    strategy: IdleStrategy,
) -> Option<(RunResult, Histogram<u64>)> {
    let (mut tx, mut rx) = rtrb::RingBuffer::<Tick>::new(a.ring);
    let clock = MonotonicClock;
    let (chunk, pc, cc) = (a.chunk, a.producer_core, a.consumer_core);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        pin(pc);
        let mut pacer = rate.map(|r| Pacer::new(r, chunk as u64).expect("rate > 0"));
        let tmpl = template();
        let (mut sent, mut rounds) = (0u64, 0u32);
        while sent < n && !stopping() {
            let now = clock.now_ns();
            let mut k = (n - sent).min(chunk as u64);
            if let Some(p) = pacer.as_mut() {
                k = p.take_up_to(now, k);
            }
            let k = (k as usize).min(tx.slots());
            if k == 0 {
                idle(strategy, &mut rounds);
                continue;
            }
            rounds = 0;
            let Ok(wc) = tx.write_chunk_uninit(k) else {
                continue;
            };
            let base = sent as u32;
            wc.fill_from_iter((0..k as u32).map(|i| Tick {
                seq: base.wrapping_add(i),
                ts_recv: now,
                ts_event: now,
                ..tmpl
            }));
            sent += k as u64;
        }
    });
    let consumer = thread::spawn(move || {
        pin(cc);
        let mut hist = market_data_pipeline::pipeline::stats::latency_histogram();
        let (mut got, mut rounds, mut check) = (0u64, 0u32, 0u64);
        while got < n {
            let k = rx.slots().min(chunk);
            if k == 0 {
                // A producer stopped by a signal is gone; what it sent was read.
                if rx.is_abandoned() && rx.slots() == 0 {
                    break;
                }
                idle(strategy, &mut rounds);
                continue;
            }
            rounds = 0;
            let Ok(rc) = rx.read_chunk(k) else { continue };
            let now = clock.now_ns();
            let (x, y) = rc.as_slices();
            for t in x.iter().chain(y) {
                hist.saturating_record(now.saturating_sub(t.ts_recv).max(1));
                check = check.wrapping_add(t.seq as u64);
            }
            rc.commit_all();
            got += k as u64;
        }
        (hist, check, got)
    });
    producer.join().expect("producer");
    let (hist, check, got) = consumer.join().expect("consumer");
    let elapsed = start.elapsed();
    if got < n {
        return None;
    }
    // Correctness before timing: every sequence number arrived once.
    let expect = (0..n).fold(0u64, |s, i| s.wrapping_add(i as u32 as u64));
    assert_eq!(check, expect, "bare ring lost or duplicated ticks");
    Some((RunResult::new(n, elapsed, LatencySummary::of(&hist)), hist))
}

/// A bounded crossbeam channel, one tick per send (how channels are normally used). `None`
/// when a signal stopped it.
pub(super) fn crossbeam_channel(a: &BenchArgs, n: u64) -> Option<RunResult> {
    let (tx, rx) = crossbeam::channel::bounded::<Tick>(a.ring);
    let (pc, cc) = (a.producer_core, a.consumer_core);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        pin(pc);
        let tmpl = template();
        for base in (0..n).step_by(256) {
            if stopping() {
                break;
            }
            for i in base..(base + 256).min(n) {
                let _ = tx.send(Tick {
                    seq: i as u32,
                    ..tmpl
                });
            }
        }
    });
    let consumer = thread::spawn(move || {
        pin(cc);
        let mut got = 0u64;
        while rx.recv().is_ok() {
            got += 1;
        }
        got
    });
    producer.join().expect("producer");
    let got = consumer.join().expect("consumer");
    if got < n && stopping() {
        return None;
    }
    assert_eq!(got, n, "crossbeam channel lost ticks");
    Some(RunResult::new(
        n,
        start.elapsed(),
        LatencySummary::default(),
    ))
}
