//! The cross-core hop probe of `mdp bench` and the benches: how far apart two pinned cores are
//! right now.
//!
//! The host places the two vCPUs near each other (a shared cache: a cross-core SPSC hop moves
//! ~120 M ticks/s) or far apart (~34 M/s), and moves them between runs (DESIGN.md §6). A run's
//! ratios mean different things in the two regimes, so each run is probed before and after
//! and reported in its group.
//!
//! The probe is a cache-line ping-pong between one thread pinned on each core: one-way time
//! = elapsed ÷ (2 × round trips). It takes the best of a few short rounds (another process on
//! the machine can only make a round slower). A one-way hop below [`FAR_HOP_NS`] is near.

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use serde::Serialize;

use crate::pin::{pin_current, CoreChoice};
use crate::sync::{AtomicU64, Ordering};

/// One-way hops at or above this (ns) are far. DESIGN.md §6 gives ~100–450 ns per one-way rtrb
/// hop across the range; the two regimes differ ~3.5× in chunked throughput (~120 M vs ~34 M
/// ticks/s), and a bare cache-line hop splits the same way at roughly the geometric middle
/// (about 200 ns). `mdp bench` overrides it with `--far-hop-ns`.
pub const FAR_HOP_NS: u64 = 200;

/// Round trips per round.
const TRIPS: u64 = 2_000;
/// Rounds; the fastest is kept.
const ROUNDS: usize = 5;
/// Spins before a waiting side gives up a round (a peer descheduled for that long is not a
/// hop; the round is dropped). Bounds every wait.
const PATIENCE: u64 = 1 << 30;

/// Where the two cores were during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// Both probes (before and after the run) found a short hop.
    Near,
    /// Both probes found a long hop.
    Far,
    /// The probes disagree: the host moved a vCPU during the run; reported apart.
    Moved,
}

impl Regime {
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Near => "near",
            Regime::Far => "far",
            Regime::Moved => "moved",
        }
    }

    /// The regime of a run probed `before` and `after` it (one-way ns), split at `far_ns`.
    pub fn of(before: u64, after: u64, far_ns: u64) -> Regime {
        match (before >= far_ns, after >= far_ns) {
            (false, false) => Regime::Near,
            (true, true) => Regime::Far,
            _ => Regime::Moved,
        }
    }
}

/// The one-way cross-core hop (ns, best round) between `core_a` and `core_b`; `None` when no
/// round completed (`stop` said so before the first, or the first starved). `stop` is asked
/// before each round (`mdp bench`: a signal arrived).
pub fn hop_ns(core_a: usize, core_b: usize, stop: fn() -> bool) -> Option<u64> {
    let ball = Arc::new(AtomicU64::new(0));
    let peer_ball = Arc::clone(&ball);
    // The peer answers every odd value with the next even one.
    let peer = thread::spawn(move || {
        pin(core_b);
        let last = 2 * TRIPS * ROUNDS as u64;
        let mut expect = 1u64;
        while expect < last {
            let mut spins = 0u64;
            loop {
                let v = peer_ball.load(Ordering::Acquire);
                if v == u64::MAX {
                    return;
                }
                if v >= expect {
                    expect = v;
                    break;
                }
                spins += 1;
                if spins == PATIENCE {
                    return;
                }
                std::hint::spin_loop();
            }
            peer_ball.store(expect + 1, Ordering::Release);
            expect += 2;
        }
    });
    // The serving side runs on its own thread too: pinning is for the probe only.
    let server = thread::spawn(move || serve(&ball, core_a, stop));
    let best = server.join().ok().flatten();
    let _ = peer.join();
    best
}

/// The serving side of [`hop_ns`]: pinned on `core`, `ROUNDS` rounds of `TRIPS` round trips;
/// tells the peer to stop when done.
fn serve(ball: &AtomicU64, core: usize, stop: fn() -> bool) -> Option<u64> {
    pin(core);
    let mut best = None;
    let mut value = 0u64;
    'rounds: for _ in 0..ROUNDS {
        if stop() {
            break;
        }
        let start = Instant::now();
        for _ in 0..TRIPS {
            value += 1;
            ball.store(value, Ordering::Release);
            let mut spins = 0u64;
            while ball.load(Ordering::Acquire) <= value {
                spins += 1;
                if spins == PATIENCE {
                    break 'rounds;
                }
                std::hint::spin_loop();
            }
            value += 1;
        }
        let one_way = start.elapsed().as_nanos() as u64 / (2 * TRIPS);
        best = Some(best.map_or(one_way, |b: u64| b.min(one_way)));
    }
    ball.store(u64::MAX, Ordering::Release);
    best
}

/// Pin the calling thread to `core`, best effort (an unpinned probe still measures a hop).
fn pin(core: usize) {
    let _ = pin_current(CoreChoice::Core(core));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_near_or_far_only_when_both_probes_agree() {
        assert_eq!(Regime::of(80, 90, 200), Regime::Near);
        assert_eq!(Regime::of(300, 450, 200), Regime::Far);
        assert_eq!(Regime::of(80, 300, 200), Regime::Moved);
        assert_eq!(Regime::of(300, 80, 200), Regime::Moved);
        assert_eq!(
            Regime::of(200, 200, 200),
            Regime::Far,
            "the threshold is far"
        );
    }
}
