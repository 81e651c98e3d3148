//! How a stage waits when there is nothing to do: a strategy, not a loop in each stage.

use std::time::Duration;

/// The waiting strategy of a worker (or of a blocking `acquire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Spin on the CPU forever. For benchmarks and isolated cores only: on a shared 2-core
    /// machine it starves the other stages.
    BusySpin,
    /// Spin `spins` times, then yield `yields` times, then park for `park` per round.
    /// The default: good latency without starving a small machine.
    Backoff {
        /// Rounds of `spin_loop` before yielding.
        spins: u32,
        /// Rounds of `yield_now` before parking.
        yields: u32,
        /// How long one park lasts (the thread can be unparked earlier).
        park: Duration,
    },
}

impl Default for IdleStrategy {
    fn default() -> Self {
        IdleStrategy::Backoff {
            spins: 64,
            yields: 32,
            park: Duration::from_micros(50),
        }
    }
}

/// The per-thread state of an [`IdleStrategy`].
#[derive(Debug, Clone)]
pub struct Idler {
    strategy: IdleStrategy,
    rounds: u32,
}

impl Idler {
    /// A fresh idler.
    pub fn new(strategy: IdleStrategy) -> Idler {
        Idler {
            strategy,
            rounds: 0,
        }
    }

    /// Wait one round (escalating the longer nothing happens).
    #[inline]
    pub fn idle(&mut self) {
        // Under loom a round is a model yield (see `crate::sync::model_yield`).
        #[cfg(loom)]
        crate::sync::model_yield();
        #[cfg(not(loom))]
        self.backoff();
    }

    /// One round of the strategy: spin, yield or park.
    #[cfg(not(loom))]
    #[inline]
    fn backoff(&mut self) {
        match self.strategy {
            IdleStrategy::BusySpin => std::hint::spin_loop(),
            IdleStrategy::Backoff {
                spins,
                yields,
                park,
            } => {
                if self.rounds < spins {
                    for _ in 0..(1u32 << (self.rounds.min(6))) {
                        std::hint::spin_loop();
                    }
                } else if self.rounds < spins.saturating_add(yields) {
                    std::thread::yield_now();
                } else {
                    std::thread::park_timeout(park);
                }
                self.rounds = self.rounds.saturating_add(1);
            }
        }
    }

    /// Work arrived: the next wait starts from spinning again.
    #[inline]
    pub fn reset(&mut self) {
        self.rounds = 0;
    }

    /// The strategy.
    pub fn strategy(&self) -> IdleStrategy {
        self.strategy
    }
}
