//! A sink that hands records to a user thread through an SPSC edge, and the iterator that
//! thread reads them with.

use crate::error::{ConfigError, SinkError};
use crate::idle::{IdleStrategy, Idler};
use crate::record::Record;
use crate::ring::{edge, Backpressure, EdgeCounters, EdgeRx, EdgeTx};
use crate::sink::Sink;
use std::sync::Arc;

/// Sink side: writes each batch into the edge under its backpressure policy.
#[derive(Debug)]
pub struct ConsumerSink {
    tx: EdgeTx<Record>,
    idler: Idler,
}

/// User side: a blocking iterator over the records (ends when the pipeline has finished and
/// everything was read).
#[derive(Debug)]
pub struct RecordStream {
    rx: EdgeRx<Record>,
    buf: Vec<Record>,
    pos: usize,
    idler: Idler,
}

/// A connected sink and stream with `capacity` slots.
///
/// ```
/// use market_data_pipeline::sink::{consumer_sink, Sink};
/// use market_data_pipeline::ring::Backpressure;
/// use market_data_pipeline::{Record, Tick};
/// let (mut sink, stream) = consumer_sink(1024, Backpressure::Block).unwrap();
/// sink.write(&[Record::Tick(Tick::default()); 3]).unwrap();
/// drop(sink); // end of stream
/// assert_eq!(stream.count(), 3);
/// ```
///
/// # Errors
/// Zero capacity.
pub fn consumer_sink(
    capacity: usize,
    policy: Backpressure,
) -> Result<(ConsumerSink, RecordStream), ConfigError> {
    let (tx, rx) = edge(capacity, policy)?;
    Ok((
        ConsumerSink {
            tx,
            idler: Idler::new(IdleStrategy::default()),
        },
        RecordStream {
            rx,
            buf: Vec::with_capacity(256),
            pos: 0,
            idler: Idler::new(IdleStrategy::default()),
        },
    ))
}

impl ConsumerSink {
    /// Counters of the edge to the user thread (dropped/conflated under lossy policies).
    pub fn counters(&self) -> Arc<EdgeCounters> {
        self.tx.counters()
    }
}

impl Sink for ConsumerSink {
    fn name(&self) -> &'static str {
        "consumer"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.tx
            .send(batch, &mut self.idler)
            .map_err(|_| SinkError::Closed { sink: "consumer" })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        while !self.tx.flush_pending() {
            if self.tx.is_disconnected() {
                return Err(SinkError::Closed { sink: "consumer" });
            }
            self.idler.idle();
        }
        Ok(())
    }
}

impl RecordStream {
    /// Counters of the edge.
    pub fn counters(&self) -> Arc<EdgeCounters> {
        self.rx.counters()
    }

    /// Move up to `max` ready records into `out` without waiting; returns how many.
    pub fn try_recv_into(&mut self, out: &mut Vec<Record>, max: usize) -> usize {
        let mut n = 0;
        if self.pos < self.buf.len() {
            let take = (self.buf.len() - self.pos).min(max);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            n = take;
        }
        n + self.rx.read(max - n, |s| out.extend_from_slice(s))
    }

    /// The next record if one is ready now; `Err(true)` when the stream has ended,
    /// `Err(false)` when nothing is ready yet.
    pub fn try_next(&mut self) -> Result<Record, bool> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let cap = self.buf.capacity();
            let buf = &mut self.buf;
            if self.rx.read(cap, |s| buf.extend_from_slice(s)) == 0 {
                return Err(self.rx.is_finished());
            }
        }
        let r = self.buf[self.pos];
        self.pos += 1;
        Ok(r)
    }

    /// True when the producer has finished and every record was read.
    pub fn is_finished(&self) -> bool {
        self.pos == self.buf.len() && self.rx.is_finished()
    }
}

impl Iterator for RecordStream {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            match self.try_next() {
                Ok(r) => {
                    self.idler.reset();
                    return Some(r);
                }
                Err(true) => return None,
                Err(false) => self.idler.idle(),
            }
        }
    }
}
