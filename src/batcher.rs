//! `HybridBatcher`: records into batches by size or by age, whichever comes first.
//!
//! The batcher sits between the operator and the sink in one stage and hands batches to the
//! sink synchronously. It never drops anything: when the buffer reaches `max_rows` the batch is
//! written there and then, however large the burst (the original queued batches behind a
//! bound of 8 with batches of 500, and bursts silently lost bars). Age is measured from the
//! oldest buffered record with the `now_ns` the stage loop passes in, so a quiet stream still
//! flushes when the loop calls [`HybridBatcher::poll_age`] while idle.
//!
//! # Sink errors
//!
//! When the sink refuses a batch, the batch stays buffered (a later `push`, `poll_age` or
//! `flush` offers it again), the call returns the error, and the records of that call not yet
//! buffered are counted as `rejected`. So at all times
//! `records_in == rows + buffered() + rejected`.

use std::time::Duration;

use crate::error::{BatcherError, ConfigError, SinkError};
use crate::record::Record;
use crate::sink::Sink;
use crate::tick::Tick;

/// Counters of a [`HybridBatcher`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatcherStats {
    /// Records handed to `push`.
    pub records_in: u64,
    /// Records the sink accepted.
    pub rows: u64,
    /// Batches the sink accepted.
    pub batches: u64,
    /// Batches written because `max_rows` was reached.
    pub flushes_rows: u64,
    /// Batches written because the oldest record reached `max_age`.
    pub flushes_age: u64,
    /// Batches written by `flush` (end of stream).
    pub flushes_end: u64,
    /// Batches written by `end_of_batch` (the stage caught up with its input).
    pub flushes_caught_up: u64,
    /// Writes the sink refused.
    pub sink_errors: u64,
    /// Records of a `push` not buffered because the sink refused a batch during that call.
    pub rejected: u64,
}

/// Why a batch was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Rows,
    Age,
    End,
    CaughtUp,
}

/// Size-or-age batching with synchronous hand-off to a [`Sink`]. See the
/// [module docs](self).
///
/// The buffer is reserved to `max_rows` once; pushing copies records into it and never
/// allocates.
///
/// ```
/// use market_data_pipeline::{HybridBatcher, NullSink, Price, Record, SymbolId, Tick};
/// use std::time::Duration;
///
/// let mut batcher = HybridBatcher::new(2, Duration::from_millis(250))?;
/// let mut sink = NullSink::new();
/// let r = Record::Tick(Tick::trade(SymbolId(0), 1, Price::from_units(1), 1));
/// batcher.push(&[r, r, r], 0, &mut sink)?; // one batch of 2 written, 1 buffered
/// assert_eq!((batcher.stats().batches, batcher.buffered()), (1, 1));
/// assert!(batcher.poll_age(250_000_000, &mut sink)?); // quiet for 250 ms: written
/// batcher.flush(&mut sink)?; // end of stream (nothing left)
/// assert_eq!(batcher.stats().rows, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HybridBatcher {
    buf: Vec<Record>,
    max_rows: usize,
    max_age: Duration,
    /// `max_age` in ns, exact (an age beyond `u64::MAX` ns is never reached).
    max_age_ns: u128,
    /// `now_ns` when the oldest buffered record arrived (meaningful when `buf` is not empty).
    oldest_ns: u64,
    stats: BatcherStats,
}

impl HybridBatcher {
    /// Default rows per batch (the seed's original value).
    pub const DEFAULT_MAX_ROWS: usize = 500;
    /// Default age at which a partial batch is written (the seed's original value).
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_millis(250);
    /// Largest `max_rows` accepted (the buffer is reserved up front).
    pub const MAX_ROWS_LIMIT: usize = 1 << 20;

    /// A batcher writing every `max_rows` records, or when the oldest buffered record is
    /// `max_age` old.
    ///
    /// # Errors
    ///
    /// [`BatcherError::Config`] naming `batcher.max_rows` (zero, or above
    /// [`MAX_ROWS_LIMIT`](Self::MAX_ROWS_LIMIT)) or `batcher.max_age` (zero).
    pub fn new(max_rows: usize, max_age: Duration) -> Result<HybridBatcher, BatcherError> {
        let bad =
            |field: &str, reason: String| BatcherError::Config(ConfigError::new(field, reason));
        if max_rows == 0 {
            return Err(bad("batcher.max_rows", "must be greater than 0".into()));
        }
        if max_rows > Self::MAX_ROWS_LIMIT {
            return Err(bad(
                "batcher.max_rows",
                format!("must be at most {}", Self::MAX_ROWS_LIMIT),
            ));
        }
        if max_age.is_zero() {
            return Err(bad("batcher.max_age", "must be greater than 0".into()));
        }
        Ok(HybridBatcher::with_valid(max_rows, max_age))
    }

    /// Construct from values already checked.
    fn with_valid(max_rows: usize, max_age: Duration) -> HybridBatcher {
        HybridBatcher {
            buf: Vec::with_capacity(max_rows),
            max_rows,
            max_age,
            max_age_ns: max_age.as_nanos(),
            oldest_ns: 0,
            stats: BatcherStats::default(),
        }
    }

    /// Rows per batch.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Age at which a partial batch is written.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Records buffered, not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Counters.
    pub fn stats(&self) -> BatcherStats {
        self.stats
    }

    /// When the buffered records will be due by age (`None` when nothing is buffered): the
    /// stage loop may sleep until then. A deadline past the clock's range reads as
    /// `u64::MAX`; the records are then due by size or at the end, never early by age.
    pub fn deadline_ns(&self) -> Option<u64> {
        let age = u64::try_from(self.max_age_ns).unwrap_or(u64::MAX);
        (!self.buf.is_empty()).then(|| self.oldest_ns.saturating_add(age))
    }

    /// Whether the buffer is `max_age` old at `now_ns`: its age compared exactly, so a buffer
    /// started near the end of the clock's range is not written early, and a `now_ns` before
    /// the buffer started (a clock that went back) is age 0.
    #[inline]
    fn is_due(&self, now_ns: u64) -> bool {
        !self.buf.is_empty()
            && now_ns
                .checked_sub(self.oldest_ns)
                .is_some_and(|age| u128::from(age) >= self.max_age_ns)
    }

    fn emit(&mut self, sink: &mut dyn Sink, cause: Cause) -> Result<(), SinkError> {
        if let Err(e) = sink.write(&self.buf) {
            self.stats.sink_errors += 1;
            return Err(e);
        }
        self.count(self.buf.len(), cause);
        self.buf.clear();
        Ok(())
    }

    /// Write a full batch straight from the caller's slice (the buffer is empty), without
    /// copying it. A refused batch is buffered, as if it had been copied first.
    fn emit_direct(
        &mut self,
        batch: &[Record],
        sink: &mut dyn Sink,
        now_ns: u64,
    ) -> Result<(), SinkError> {
        if let Err(e) = sink.write(batch) {
            self.stats.sink_errors += 1;
            self.oldest_ns = now_ns;
            self.buf.extend_from_slice(batch);
            return Err(e);
        }
        self.count(batch.len(), Cause::Rows);
        Ok(())
    }

    fn count(&mut self, rows: usize, cause: Cause) {
        self.stats.batches += 1;
        self.stats.rows += rows as u64;
        match cause {
            Cause::Rows => self.stats.flushes_rows += 1,
            Cause::Age => self.stats.flushes_age += 1,
            Cause::End => self.stats.flushes_end += 1,
            Cause::CaughtUp => self.stats.flushes_caught_up += 1,
        }
    }

    /// Buffer `records` that arrived at `now_ns`, writing a batch each time `max_rows` is
    /// reached (several times for a large burst). A buffer already due by age is written
    /// first, on its own.
    ///
    /// # Errors
    ///
    /// The sink's error; see the [module docs](self#sink-errors) for what is kept.
    pub fn push(
        &mut self,
        records: &[Record],
        now_ns: u64,
        sink: &mut dyn Sink,
    ) -> Result<(), SinkError> {
        self.stats.records_in += records.len() as u64;
        let mut rest = records;
        if self.is_due(now_ns) {
            if let Err(e) = self.emit(sink, Cause::Age) {
                self.stats.rejected += rest.len() as u64;
                return Err(e);
            }
        }
        loop {
            // Whole batches pass straight through when nothing is buffered: no copy.
            while self.buf.is_empty() && rest.len() >= self.max_rows {
                let (batch, tail) = rest.split_at(self.max_rows);
                if let Err(e) = self.emit_direct(batch, sink, now_ns) {
                    self.stats.rejected += tail.len() as u64;
                    return Err(e);
                }
                rest = tail;
            }
            if self.buf.is_empty() && !rest.is_empty() {
                self.oldest_ns = now_ns;
            }
            let take = (self.max_rows - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == self.max_rows {
                if let Err(e) = self.emit(sink, Cause::Rows) {
                    self.stats.rejected += rest.len() as u64;
                    return Err(e);
                }
            }
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Buffer ticks as records (a passthrough stage: one copy, no intermediate vector),
    /// writing a batch each time `max_rows` is reached. Same contract as [`push`](Self::push).
    ///
    /// # Errors
    ///
    /// The sink's error; see the [module docs](self#sink-errors) for what is kept.
    pub fn push_ticks(
        &mut self,
        ticks: &[Tick],
        now_ns: u64,
        sink: &mut dyn Sink,
    ) -> Result<(), SinkError> {
        self.stats.records_in += ticks.len() as u64;
        let mut rest = ticks;
        if self.is_due(now_ns) {
            if let Err(e) = self.emit(sink, Cause::Age) {
                self.stats.rejected += rest.len() as u64;
                return Err(e);
            }
        }
        // Whole batches go to a sink that takes ticks straight from the caller's slice (the
        // ring's memory): no copy, no records built. Only when nothing is buffered, so order
        // holds.
        if sink.accepts_ticks() {
            while self.buf.is_empty() && rest.len() >= self.max_rows {
                let (batch, tail) = rest.split_at(self.max_rows);
                if let Err(e) = sink.write_ticks(batch) {
                    self.stats.sink_errors += 1;
                    self.stats.rejected += tail.len() as u64;
                    // The refused batch stays buffered, as if it had been copied first.
                    self.oldest_ns = now_ns;
                    self.buf.extend(batch.iter().copied().map(Record::Tick));
                    return Err(e);
                }
                self.count(batch.len(), Cause::Rows);
                rest = tail;
            }
        }
        while !rest.is_empty() {
            if self.buf.is_empty() {
                self.oldest_ns = now_ns;
            }
            let take = (self.max_rows - self.buf.len()).min(rest.len());
            self.buf
                .extend(rest[..take].iter().copied().map(Record::Tick));
            rest = &rest[take..];
            if self.buf.len() == self.max_rows {
                if let Err(e) = self.emit(sink, Cause::Rows) {
                    self.stats.rejected += rest.len() as u64;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Write the buffer if its oldest record is `max_age` old at `now_ns`. The stage loop calls
    /// this while idle too. Returns whether a batch was written.
    ///
    /// # Errors
    ///
    /// The sink's error (the batch stays buffered).
    pub fn poll_age(&mut self, now_ns: u64, sink: &mut dyn Sink) -> Result<bool, SinkError> {
        if !self.is_due(now_ns) {
            return Ok(false);
        }
        self.emit(sink, Cause::Age)?;
        Ok(true)
    }

    /// End of stream: write what is buffered, then [`Sink::flush`] the sink. Closing the sink
    /// is the stage's job.
    ///
    /// # Errors
    ///
    /// The sink's error (a refused batch stays buffered).
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<(), SinkError> {
        if !self.buf.is_empty() {
            self.emit(sink, Cause::End)?;
        }
        sink.flush()
    }

    /// The stage has caught up with its input (the disruptor's `end_of_batch`): write what is
    /// buffered as one batch now, without asking the sink to flush to the OS. Under load the
    /// stage rarely catches up, so batches stay large; when it is idle, nothing waits for
    /// `max_age`.
    ///
    /// # Errors
    ///
    /// The sink's error (a refused batch stays buffered).
    pub fn end_of_batch(&mut self, sink: &mut dyn Sink) -> Result<(), SinkError> {
        if !self.buf.is_empty() {
            self.emit(sink, Cause::CaughtUp)?;
        }
        Ok(())
    }
}

impl Default for HybridBatcher {
    /// [`DEFAULT_MAX_ROWS`](Self::DEFAULT_MAX_ROWS) rows or
    /// [`DEFAULT_MAX_AGE`](Self::DEFAULT_MAX_AGE), whichever comes first.
    fn default() -> HybridBatcher {
        // The defaults are valid constants (non-zero, below the limit).
        HybridBatcher::with_valid(Self::DEFAULT_MAX_ROWS, Self::DEFAULT_MAX_AGE)
    }
}

#[cfg(test)]
mod tests;
