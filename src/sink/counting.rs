//! `CountingSink`: counts what arrives, readable live from other threads.

use std::sync::Arc;

use super::Sink;
use crate::error::SinkError;
use crate::record::Record;
use crate::sync::{AtomicU64, Ordering};
use crate::tick::Tick;

/// Order-independent checksum of `ticks`: the wrapping sum of [`Tick::checksum`]. A producer
/// computes it over what it sent and compares with [`CountSnapshot::checksum`].
pub fn tick_checksum<'a>(ticks: impl IntoIterator<Item = &'a Tick>) -> u64 {
    ticks
        .into_iter()
        .fold(0u64, |acc, t| acc.wrapping_add(t.checksum()))
}

/// A consistent copy of the counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountSnapshot {
    /// Batches written.
    pub batches: u64,
    /// Records written.
    pub records: u64,
    /// Of which ticks.
    pub ticks: u64,
    /// Of which bars.
    pub bars: u64,
    /// [`tick_checksum`] of the ticks written.
    pub checksum: u64,
}

/// The live counts of a [`CountingSink`], shared by `Arc`.
///
/// The sink is the only writer; it publishes once per batch with `Relaxed` stores. Each value
/// read is exact as of some batch, but values read one after another mid-run may come from
/// adjacent batches. Once the writer's thread has been joined (or the sink handed back), all
/// values are final and mutually consistent.
#[derive(Debug, Default)]
pub struct SinkCounts {
    batches: AtomicU64,
    records: AtomicU64,
    ticks: AtomicU64,
    bars: AtomicU64,
    checksum: AtomicU64,
}

impl SinkCounts {
    /// Batches written.
    pub fn batches(&self) -> u64 {
        // Relaxed: a monitoring read of a single-writer counter; nothing else depends on it.
        self.batches.load(Ordering::Relaxed)
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Ticks written.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Bars written.
    pub fn bars(&self) -> u64 {
        self.bars.load(Ordering::Relaxed)
    }

    /// Checksum of the ticks written.
    pub fn checksum(&self) -> u64 {
        self.checksum.load(Ordering::Relaxed)
    }

    /// All values (see the type docs for when they are mutually consistent).
    pub fn snapshot(&self) -> CountSnapshot {
        CountSnapshot {
            batches: self.batches(),
            records: self.records(),
            ticks: self.ticks(),
            bars: self.bars(),
            checksum: self.checksum(),
        }
    }

    fn publish(&self, c: &CountSnapshot) {
        // Relaxed: single writer; readers want each value, not an ordering between them (a
        // thread join gives the final, consistent view).
        self.batches.store(c.batches, Ordering::Relaxed);
        self.records.store(c.records, Ordering::Relaxed);
        self.ticks.store(c.ticks, Ordering::Relaxed);
        self.bars.store(c.bars, Ordering::Relaxed);
        self.checksum.store(c.checksum, Ordering::Relaxed);
    }
}

/// Counts records, ticks and bars and keeps a checksum of the ticks; another thread reads the
/// counts live through [`CountingSink::counts`].
///
/// ```
/// use market_data_pipeline::{CountingSink, Price, Record, Sink, SymbolId, Tick};
/// let mut sink = CountingSink::new();
/// let counts = sink.counts(); // Arc: hand it to a monitoring thread
/// let t = Tick::trade(SymbolId(0), 1, Price::from_units(1), 1);
/// sink.write(&[Record::Tick(t), Record::Tick(t)])?;
/// assert_eq!(counts.ticks(), 2);
/// assert_eq!(counts.checksum(), t.checksum().wrapping_mul(2));
/// # Ok::<(), market_data_pipeline::SinkError>(())
/// ```
#[derive(Debug, Default)]
pub struct CountingSink {
    local: CountSnapshot,
    shared: Arc<SinkCounts>,
}

impl CountingSink {
    /// A counting sink starting at zero.
    pub fn new() -> CountingSink {
        CountingSink::default()
    }

    /// The live counts.
    pub fn counts(&self) -> Arc<SinkCounts> {
        Arc::clone(&self.shared)
    }

    /// The counts as of the last batch (exact, on the writer's thread).
    pub fn snapshot(&self) -> CountSnapshot {
        self.local
    }
}

impl Sink for CountingSink {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let c = &mut self.local;
        for r in batch {
            match r {
                Record::Tick(t) => {
                    c.ticks += 1;
                    c.checksum = c.checksum.wrapping_add(t.checksum());
                }
                Record::Bar(_) => c.bars += 1,
            }
        }
        c.records += batch.len() as u64;
        c.batches += 1;
        self.shared.publish(c);
        Ok(())
    }

    fn accepts_ticks(&self) -> bool {
        true
    }

    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        let c = &mut self.local;
        for t in ticks {
            c.checksum = c.checksum.wrapping_add(t.checksum());
        }
        c.ticks += ticks.len() as u64;
        c.records += ticks.len() as u64;
        c.batches += 1;
        self.shared.publish(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Price;
    use crate::record::Bar;
    use crate::symbol::SymbolId;

    #[test]
    fn counts_ticks_bars_and_checksum_and_publishes_per_batch() {
        let ticks: Vec<Tick> = (0..10u64)
            .map(|i| Tick::trade(SymbolId(i as u32 % 3), i, Price::from_units(i as i64), 1))
            .collect();
        let mut sink = CountingSink::new();
        let counts = sink.counts();
        let mut batch: Vec<Record> = ticks.iter().copied().map(Record::Tick).collect();
        batch.push(Record::Bar(Bar::default()));
        sink.write(&batch[..4]).unwrap();
        assert_eq!(
            counts.snapshot(),
            sink.snapshot(),
            "published after each batch"
        );
        sink.write(&batch[4..]).unwrap();
        sink.close().unwrap();
        let want = CountSnapshot {
            batches: 2,
            records: 11,
            ticks: 10,
            bars: 1,
            checksum: tick_checksum(&ticks),
        };
        assert_eq!(sink.snapshot(), want);
        assert_eq!(counts.snapshot(), want);
    }

    #[test]
    fn checksum_is_order_independent_and_sensitive_to_content() {
        let a = Tick::trade(SymbolId(0), 1, Price::from_units(1), 1);
        let b = Tick::trade(SymbolId(0), 2, Price::from_units(1), 1);
        assert_eq!(tick_checksum(&[a, b]), tick_checksum(&[b, a]));
        assert_ne!(tick_checksum(&[a, a]), tick_checksum(&[a, b]));
    }

    #[test]
    fn another_thread_reads_final_counts_after_join() {
        let mut sink = CountingSink::new();
        let counts = sink.counts();
        let t = Tick::trade(SymbolId(0), 1, Price::from_units(1), 1);
        let writer = std::thread::spawn(move || {
            for _ in 0..100 {
                sink.write(&[Record::Tick(t); 5]).unwrap();
            }
        });
        writer.join().unwrap();
        assert_eq!(
            (counts.batches(), counts.records(), counts.ticks()),
            (100, 500, 500)
        );
    }
}
