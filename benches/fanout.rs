//! One provider fanned out to 8 subscribers against one producer writing the same ticks to 8
//! bare rtrb rings, in the same run, on the same cores, with the same per-tick consumer work.
//!
//! Both sides: one producer thread generating ticks with the same `SyntheticSource` (chunks
//! of 256), 8 consumer threads each summing a checksum over every tick (`seq ^ price`), all
//! lossless (`Block` for the fan-out; the bare producer waits for room in each ring in turn),
//! rings of 16384 ticks. The producer is pinned to core 0 and consumer `i` to core `i % cores`
//! on both sides; waiting is the library's default idle strategy (spin → yield → park) on
//! both sides, so 9 threads share the cores fairly. The fan-out side is the hub stepped in a
//! loop (the runner the runtime uses) and each consumer polls its [`Subscriber`] (which
//! copies the ticks into the consumer's buffer); the bare consumers read the ring's chunk in
//! place (no copy).
//!
//! Runs alternate (bare, fan-out) `RUNS` times (default 7; `FANOUT_BENCH_RUNS`), each moving
//! `FANOUT_BENCH_TICKS` ticks (default 4M) to every subscriber; prints each run, the medians
//! and the ratio of the medians (fan-out ÷ bare, ticks/s produced). Checksums of both sides
//! are compared before anything is reported.
//!
//! Run: `cargo bench --bench fanout`

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use market_data_pipeline::exec::{Step, Task};
use market_data_pipeline::fanout::{FanoutHub, HubConfig, SubscriberConfig};
use market_data_pipeline::pin::{available_cores, pin_current, CoreChoice};
use market_data_pipeline::ring::Backpressure;
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    IdleStrategy, Idler, ManualClock, SourcePoll, SymbolTable, Tick, TickSource,
};

const SUBSCRIBERS: usize = 8;
const CHUNK: usize = 256;
const RING: usize = 16_384;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn source(n: u64) -> SyntheticSource {
    let cfg = SyntheticConfig {
        max_ticks: Some(n),
        ..SyntheticConfig::new(&["AAPL", "MSFT", "GOOG", "AMZN"])
    };
    SyntheticSource::new(cfg, Arc::new(SymbolTable::new())).unwrap()
}

#[inline]
fn work(sum: &mut u64, ticks: &[Tick]) {
    for t in ticks {
        *sum = sum.wrapping_add(u64::from(t.seq) ^ t.price.raw() as u64);
    }
}

fn pin(core: usize) {
    let _ = pin_current(CoreChoice::Core(core % available_cores().max(1)));
}

/// One producer, 8 bare rings. Returns (seconds, checksum of consumer 0).
fn bare(n: u64) -> (f64, u64) {
    let mut txs = Vec::new();
    let mut consumers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let (tx, mut rx) = rtrb::RingBuffer::<Tick>::new(RING);
        txs.push(tx);
        consumers.push(thread::spawn(move || {
            pin(i);
            let mut idler = Idler::new(IdleStrategy::default());
            let mut sum = 0u64;
            loop {
                let k = rx.slots();
                if k == 0 {
                    if rx.is_abandoned() && rx.slots() == 0 {
                        return sum;
                    }
                    idler.idle();
                    continue;
                }
                idler.reset();
                let chunk = rx.read_chunk(k).unwrap();
                let (a, b) = chunk.as_slices();
                work(&mut sum, a);
                work(&mut sum, b);
                chunk.commit_all();
            }
        }));
    }
    let start = Instant::now();
    let producer = thread::spawn(move || {
        pin(0);
        let mut src = source(n);
        src.start(0).unwrap();
        let mut buf = vec![Tick::default(); CHUNK];
        let mut idler = Idler::new(IdleStrategy::default());
        while let Ok(SourcePoll::Ready(k)) = src.poll(0, &mut buf) {
            let mut pos = [0usize; SUBSCRIBERS];
            loop {
                let mut all = true;
                for (tx, p) in txs.iter_mut().zip(pos.iter_mut()) {
                    let (done, _) = tx.push_partial_slice(&buf[*p..k]);
                    *p += done.len();
                    all &= *p == k;
                }
                if all {
                    idler.reset();
                    break;
                }
                idler.idle();
            }
        }
    });
    producer.join().unwrap();
    let sums: Vec<u64> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    assert!(sums.iter().all(|&s| s == sums[0]));
    (secs, sums[0])
}

/// One provider fanned out to 8 subscribers. Returns (seconds, checksum of subscriber 0).
fn fanout(n: u64) -> (f64, u64) {
    let config = HubConfig {
        chunk_size: CHUNK,
        keep_open: false,
    };
    let mut hub = FanoutHub::new(Box::new(source(n)), config, ManualClock::shared(0)).unwrap();
    let h = hub.handle();
    let consumers: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| {
            let sub_config = SubscriberConfig::all()
                .capacity(RING)
                .backpressure(Backpressure::Block);
            let mut sub = h.subscribe(sub_config).unwrap();
            thread::spawn(move || {
                pin(i);
                let mut idler = Idler::new(IdleStrategy::default());
                let mut buf = vec![Tick::default(); CHUNK];
                let mut sum = 0u64;
                loop {
                    match sub.poll(0, &mut buf).unwrap() {
                        SourcePoll::Ready(k) => {
                            idler.reset();
                            work(&mut sum, &buf[..k]);
                        }
                        SourcePoll::Pending => idler.idle(),
                        SourcePoll::Ended => return (sum, sub.counters().snapshot()),
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    let producer = thread::spawn(move || {
        pin(0);
        let mut idler = Idler::new(IdleStrategy::default());
        loop {
            match hub.step() {
                Step::Progress => idler.reset(),
                Step::Idle => idler.idle(),
                Step::Done => break,
            }
        }
    });
    producer.join().unwrap();
    let results: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    for (sum, stats) in &results {
        assert_eq!(*sum, results[0].0);
        assert_eq!((stats.offered, stats.popped, stats.dropped), (n, n, 0));
    }
    (secs, results[0].0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick {
        1
    } else {
        env("FANOUT_BENCH_RUNS", 7) as usize
    };
    let n = if quick {
        100_000
    } else {
        env("FANOUT_BENCH_TICKS", 4_000_000)
    };
    println!(
        "fanout: {SUBSCRIBERS} subscribers, {n} ticks each, chunk {CHUNK}, rings {RING}, {} cores",
        available_cores()
    );
    let (mut bare_rates, mut fan_rates) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let (b_secs, b_sum) = bare(n);
        let (f_secs, f_sum) = fanout(n);
        assert_eq!(b_sum, f_sum, "both sides consumed the same ticks");
        let (b, f) = (n as f64 / b_secs, n as f64 / f_secs);
        println!(
            "run {run}: bare 8 rings {:.1} M ticks/s, fan-out {:.1} M ticks/s, ratio {:.2}",
            b / 1e6,
            f / 1e6,
            f / b
        );
        bare_rates.push(b);
        fan_rates.push(f);
    }
    let (b, f) = (median(&mut bare_rates), median(&mut fan_rates));
    println!(
        "median of {runs}: bare {:.1} M ticks/s, fan-out {:.1} M ticks/s, fan-out / bare {:.2}",
        b / 1e6,
        f / 1e6,
        f / b
    );
}
