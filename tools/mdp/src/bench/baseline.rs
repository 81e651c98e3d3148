//! The baselines of `mdp bench`: a bare rtrb chunk ring and a crossbeam channel carrying the
//! same 64-byte ticks between the same two pinned threads as the pipeline, with the same
//! per-tick work at both ends.
//!
//! Fair by construction (DESIGN.md §6): the producer polls the same `SyntheticSource` (same
//! configuration, so the same generator and pacing) that the pipeline runs, into a chunk
//! buffer; the consumer hands each chunk to a [`BaselineSink`]: the pipeline's sink stage's
//! work per batch (a `CountingSink`'s checksum of every tick, then one clock read and the
//! latency recorded per run of equal `ts_recv`, then the delivered and batch counters
//! published). What is left between the two is the engine: its stages, operator, batcher and
//! bookkeeping.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use market_data_pipeline::benchkit::BaselineSink;
use market_data_pipeline::pipeline::LatencySummary;
use market_data_pipeline::source::SyntheticSource;
use market_data_pipeline::tick::{flags, TICK_BYTES};
use market_data_pipeline::{
    Clock, IdleStrategy, MonotonicClock, SourcePoll, Tick, TickFile, TickSource,
};

use super::{BenchArgs, RunResult};
use crate::signal;

/// Pin the calling thread to `core` (best effort, as the pipeline's default).
pub(super) fn pin(core: usize) {
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

/// Whether a signal asked the benchmark to stop (one relaxed load; the baselines check it once
/// per chunk, as the pipeline's source checks its stop flag).
pub(super) fn stopping() -> bool {
    signal::requested().is_some()
}

/// Where a baseline's producer puts its chunks.
trait Outlet {
    /// Ticks it takes now without waiting.
    fn room(&self) -> usize;
    /// Take `ticks` (at most `room()` of them).
    fn push(&mut self, ticks: &[Tick]);
}

impl Outlet for rtrb::Producer<Tick> {
    fn room(&self) -> usize {
        self.slots()
    }

    fn push(&mut self, ticks: &[Tick]) {
        if let Ok(wc) = self.write_chunk_uninit(ticks.len()) {
            wc.fill_from_iter(ticks.iter().copied());
        }
    }
}

impl Outlet for crossbeam::channel::Sender<Tick> {
    /// A full channel blocks the sender instead: always room for a chunk.
    fn room(&self) -> usize {
        usize::MAX
    }

    fn push(&mut self, ticks: &[Tick]) {
        for t in ticks {
            let _ = self.send(*t);
        }
    }
}

/// The producer's work, the same as the pipeline's source stage: poll `source` into a chunk
/// buffer, then hand the chunk to `out`. Stops at `n` ticks, when the source ends or when a
/// signal asks; returns the ticks sent.
fn produce(
    mut source: SyntheticSource,
    n: u64,
    chunk: usize,
    strategy: IdleStrategy,
    out: &mut impl Outlet,
) -> Result<u64> {
    let clock = MonotonicClock;
    source.start(clock.now_ns())?;
    let mut buf = vec![Tick::default(); chunk];
    let (mut sent, mut rounds) = (0u64, 0u32);
    while sent < n && !stopping() {
        let free = out.room().min(chunk);
        if free == 0 {
            idle(strategy, &mut rounds);
            continue;
        }
        match source.poll(clock.now_ns(), &mut buf[..free])? {
            SourcePoll::Ready(k) => {
                rounds = 0;
                out.push(&buf[..k]);
                sent += k as u64;
            }
            SourcePoll::Pending => idle(strategy, &mut rounds),
            SourcePoll::Ended => break,
        }
    }
    Ok(sent)
}

/// What a baseline run measured, or `None` when a signal stopped it.
type Measured = Option<(RunResult, Histogram<u64>)>;

/// Check a baseline's counts, then summarise it.
fn finish(
    name: &str,
    n: u64,
    sent: u64,
    work: BaselineSink,
    elapsed: Duration,
) -> Result<Measured> {
    if sent < n && stopping() {
        return Ok(None);
    }
    if sent != n || work.counted() != n || work.delivered() != n {
        bail!(
            "{name}: {n} ticks asked, {sent} sent, {} counted, {} delivered",
            work.counted(),
            work.delivered()
        );
    }
    let lat = LatencySummary::of(work.histogram());
    Ok(Some((
        RunResult::new(n, elapsed, lat),
        work.into_histogram(),
    )))
}

/// The baseline: `source` through a bare rtrb ring moved in chunks (`write_chunk_uninit` from
/// the poll buffer, `read_chunk` at the consumer), with the pipeline's per-tick work at both
/// ends (see the module docs). `None` when a signal stopped it.
pub(super) fn bare_ring(
    a: &BenchArgs,
    source: SyntheticSource,
    n: u64,
    strategy: IdleStrategy,
) -> Result<Measured> {
    let (mut tx, rx) = rtrb::RingBuffer::<Tick>::new(a.dedicated_ring());
    let chunk = a.chunk;
    measure(
        "bare ring",
        a,
        n,
        move || produce(source, n, chunk, strategy, &mut tx),
        ring_consumer(rx, chunk, strategy),
    )
}

/// The consumer of a bare rtrb ring: reads chunks until the producer is gone and all it sent
/// was read, and does the sink work on each chunk (a chunk that wraps the ring is two batches).
fn ring_consumer(
    mut rx: rtrb::Consumer<Tick>,
    chunk: usize,
    strategy: IdleStrategy,
) -> impl FnOnce(&MonotonicClock, &mut BaselineSink) + Send + 'static {
    move |clock, work| {
        let mut rounds = 0u32;
        loop {
            let k = rx.slots().min(chunk);
            if k == 0 {
                // The producer is gone (done, stopped or failed) and all it sent was read.
                if rx.is_abandoned() && rx.slots() == 0 {
                    break;
                }
                idle(strategy, &mut rounds);
                continue;
            }
            rounds = 0;
            let Ok(rc) = rx.read_chunk(k) else { continue };
            let (x, y) = rc.as_slices();
            work.deliver(clock, x);
            work.deliver(clock, y);
            rc.commit_all();
        }
    }
}

/// The baseline of `mdp bench --replay`: the records of a mapped tick file copied straight
/// from the mapping into a bare rtrb ring's write chunks, each decoded with [`Tick::decode`]
/// (the least that turns 64 bytes into a `Tick` without `unsafe`: kind and flag bytes checked)
/// and stamped as the replay stamps it (`ts_recv` = the clock read once per chunk, the replay
/// flag); the consumer does the same sink work as [`bare_ring`]'s. No symbol check, pacing,
/// filters or loops: what is left between the two is the engine. A bad record fails the run.
/// `None` when a signal stopped it.
pub(super) fn bare_mmap_ring(
    a: &BenchArgs,
    file: TickFile,
    strategy: IdleStrategy,
) -> Result<Measured> {
    let (n, chunk) = (file.len(), a.chunk);
    let (mut tx, rx) = rtrb::RingBuffer::<Tick>::new(a.dedicated_ring());
    let produce = move || -> Result<u64> {
        let clock = MonotonicClock;
        let bytes = file.record_bytes();
        let records = bytes.len() / TICK_BYTES;
        let (mut sent, mut rounds) = (0usize, 0u32);
        while sent < records && !stopping() {
            let free = tx.slots().min(chunk).min(records - sent);
            if free == 0 {
                idle(strategy, &mut rounds);
                continue;
            }
            rounds = 0;
            let now = clock.now_ns();
            let Ok(wc) = tx.write_chunk_uninit(free) else {
                continue;
            };
            let raw = &bytes[sent * TICK_BYTES..(sent + free) * TICK_BYTES];
            let filled = wc.fill_from_iter(raw.chunks_exact(TICK_BYTES).map_while(|raw| {
                let mut t = Tick::decode(raw.try_into().ok()?).ok()?;
                t.ts_recv = now;
                t.flags |= flags::REPLAYED;
                Some(t)
            }));
            sent += filled;
            if filled < free {
                bail!(
                    "bad record at byte offset {}",
                    TickFile::record_offset(sent as u64)
                );
            }
        }
        Ok(sent as u64)
    };
    measure(
        "bare mmap ring",
        a,
        n,
        produce,
        ring_consumer(rx, chunk, strategy),
    )
}

/// A bounded crossbeam channel of ticks, one `send` per tick (how channels are normally
/// used); the consumer takes what is there (up to a chunk) and does the same sink work per
/// chunk as the ring's. `None` when a signal stopped it.
pub(super) fn crossbeam_channel(
    a: &BenchArgs,
    source: SyntheticSource,
    n: u64,
    strategy: IdleStrategy,
) -> Result<Measured> {
    let (mut tx, rx) = crossbeam::channel::bounded::<Tick>(a.dedicated_ring());
    let chunk = a.chunk;
    measure(
        "crossbeam channel",
        a,
        n,
        move || produce(source, n, chunk, strategy, &mut tx),
        move |clock, work| {
            let mut buf = Vec::with_capacity(chunk);
            while let Ok(first) = rx.recv() {
                buf.push(first);
                while buf.len() < chunk {
                    match rx.try_recv() {
                        Ok(t) => buf.push(t),
                        Err(_) => break,
                    }
                }
                work.deliver(clock, &buf);
                buf.clear();
            }
        },
    )
}

/// One baseline measurement: `produce` (pinned on the producer core) sends and gives how many
/// ticks it sent; `consume` (pinned on the consumer core) reads until the producer is gone and
/// does the sink work. Every baseline shares this scaffolding; only the payload, the transport
/// and its consumer loop differ.
fn measure<P, C>(name: &str, a: &BenchArgs, n: u64, produce: P, consume: C) -> Result<Measured>
where
    P: FnOnce() -> Result<u64> + Send + 'static,
    C: FnOnce(&MonotonicClock, &mut BaselineSink) + Send + 'static,
{
    let (pc, cc) = (a.producer_core, a.consumer_core);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        pin(pc);
        produce()
    });
    let consumer = thread::spawn(move || {
        pin(cc);
        let mut work = BaselineSink::new();
        consume(&MonotonicClock, &mut work);
        work
    });
    let sent = producer.join().expect("producer")?;
    let work = consumer.join().expect("consumer");
    finish(name, n, sent, work, start.elapsed())
}
