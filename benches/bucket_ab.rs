//! The token bucket check against governor's, **interleaved**: the two contenders run in short
//! alternating slices (order A B B A in every round), so both see the same share of the vCPUs,
//! the same neighbours and the same placement. On a shared 2-vCPU guest, criterion's
//! row-after-row timing of the same pair moves by up to 2.7× between runs (PERF.md §3): the
//! scheduler, not the check, decides it. Here each round gives one ratio of two adjacent
//! measurements; the report is the median and quartiles of those ratios.
//!
//! Rows (time frozen on both sides, so every check takes the admission path and succeeds):
//! - governor `check()` on a `FakeRelativeClock` (an `Arc` and one atomic load per read);
//! - `TokenBucket::try_acquire_at(clock.now_ns(), 1)` on a `ManualClock` (the same: one
//!   atomic load through an `Arc`), the like-for-like row of `benches/flow.rs`.
//!
//! 1 thread: one thread runs `SLICE_1` checks per slice. 2 threads: two threads, pinned to
//! cores 0 and 1 when the host allows it, start each slice together at a barrier, each runs
//! `SLICE_2` checks on the one shared bucket, and the slice's time is from the first barrier to
//! the second one (wall time per pair of concurrent checks).
//!
//! Run: `cargo bench --bench bucket_ab` (`BUCKET_AB_ROUNDS`, default 200).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use market_data_pipeline::flow::TokenBucket;
use market_data_pipeline::{Clock, ManualClock};

#[path = "support/governor.rs"]
mod governor_setup;
use governor_setup::{governor, ours_on, Governor};

const SLICE_1: u64 = 50_000;
const SLICE_2: u64 = 50_000;

/// The two contenders, both with their time frozen.
struct Contenders {
    gov: Governor,
    clock: Arc<ManualClock>,
    bucket: TokenBucket,
}

impl Contenders {
    fn new() -> Contenders {
        let clock = ManualClock::shared(0);
        let bucket = ours_on(clock.clone());
        Contenders {
            gov: governor(),
            clock,
            bucket,
        }
    }

    /// `n` checks of contender `which` (0 governor, 1 ours); how many were admitted.
    #[inline(never)]
    fn run(&self, which: usize, n: u64) -> u64 {
        let mut ok = 0u64;
        if which == 0 {
            for _ in 0..n {
                ok += u64::from(black_box(&self.gov).check().is_ok());
            }
        } else {
            for _ in 0..n {
                let b = black_box(&self.bucket);
                ok += u64::from(b.try_acquire_at(self.clock.now_ns(), 1).is_ok());
            }
        }
        ok
    }
}

/// ABBA order of round `r`: which contender goes first.
fn order(r: usize) -> [usize; 4] {
    if r % 2 == 0 {
        [0, 1, 1, 0]
    } else {
        [1, 0, 0, 1]
    }
}

/// Per round: (governor ns per check, ours ns per check), each the mean of its two slices.
fn one_thread(rounds: usize) -> Vec<(f64, f64)> {
    let c = Contenders::new();
    let mut admitted = 0u64;
    // Warm both paths.
    admitted += c.run(0, SLICE_1) + c.run(1, SLICE_1);
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let mut ns = [0f64; 2];
        for which in order(r) {
            let t = Instant::now();
            admitted += c.run(which, SLICE_1);
            ns[which] += t.elapsed().as_nanos() as f64 / SLICE_1 as f64 / 2.0;
        }
        out.push((ns[0], ns[1]));
    }
    let expected = SLICE_1 * 2 * (1 + 2 * rounds as u64);
    assert_eq!(
        admitted, expected,
        "a frozen, never-empty bucket refused a check"
    );
    out
}

fn two_threads(rounds: usize) -> Vec<(f64, f64)> {
    let c = Contenders::new();
    let barrier = Barrier::new(2);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pinned = cores.len() >= 2;
    let (times, admitted) = std::thread::scope(|s| {
        let worker = |id: usize, record: bool| {
            let c = &c;
            let barrier = &barrier;
            let core = cores.get(id).copied();
            move || {
                if let (true, Some(core)) = (pinned, core) {
                    core_affinity::set_for_current(core);
                }
                let mut admitted = c.run(0, SLICE_2) + c.run(1, SLICE_2);
                let mut times = Vec::with_capacity(if record { rounds } else { 0 });
                for r in 0..rounds {
                    let mut ns = [0f64; 2];
                    for which in order(r) {
                        barrier.wait();
                        let t = Instant::now();
                        admitted += c.run(which, SLICE_2);
                        barrier.wait();
                        ns[which] += t.elapsed().as_nanos() as f64 / SLICE_2 as f64 / 2.0;
                    }
                    if record {
                        times.push((ns[0], ns[1]));
                    }
                }
                (times, admitted)
            }
        };
        let other = s.spawn(worker(1, false));
        let (times, mine) = worker(0, true)();
        let (_, theirs) = other.join().expect("bench thread panicked");
        (times, mine + theirs)
    });
    let expected = 2 * SLICE_2 * 2 * (1 + 2 * rounds as u64);
    assert_eq!(
        admitted, expected,
        "a frozen, never-empty bucket refused a check"
    );
    if !pinned {
        println!("(2 threads: fewer than two cores visible, threads not pinned)");
    }
    times
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn report(label: &str, rows: &[(f64, f64)]) {
    let mut ratios: Vec<f64> = rows.iter().map(|&(g, o)| o / g).collect();
    ratios.sort_by(f64::total_cmp);
    let mut gov: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let mut ours: Vec<f64> = rows.iter().map(|r| r.1).collect();
    gov.sort_by(f64::total_cmp);
    ours.sort_by(f64::total_cmp);
    let below = ratios.iter().filter(|&&r| r < 1.0).count();
    println!(
        "{label:<9} rounds {:>4}  ours/governor median {:.3} (p25 {:.3}, p75 {:.3}; {below} of {} rounds below 1)  governor median {:.2} ns, ours {:.2} ns",
        rows.len(),
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75),
        ratios.len(),
        quantile(&gov, 0.5),
        quantile(&ours, 0.5),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once with few rounds.
    let testing = !std::env::args().any(|a| a == "--bench");
    let rounds = match std::env::var("BUCKET_AB_ROUNDS") {
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("BUCKET_AB_ROUNDS={v:?}: expected a positive integer");
                std::process::exit(2);
            }
        },
        Err(_) if testing => 2,
        Err(_) => 200,
    };
    println!("token bucket check vs governor, interleaved ABBA slices ({rounds} rounds)");
    report("1 thread", &one_thread(rounds));
    report("2 threads", &two_threads(rounds));
}
