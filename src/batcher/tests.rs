use super::*;
use crate::clock::{Clock, ManualClock};
use crate::price::Price;
use crate::record::Bar;
use crate::sink::{CallbackSink, CountingSink, NullSink};
use crate::symbol::SymbolId;
use crate::tick::Tick;

const MS: u64 = 1_000_000;

fn rec(i: u64) -> Record {
    Record::Tick(Tick::trade(SymbolId(0), i, Price::from_units(1), 1))
}

fn recs(n: u64) -> Vec<Record> {
    (0..n).map(rec).collect()
}

/// A sink that records the size of each batch it is given.
fn batch_sizes_into(sizes: &mut Vec<usize>) -> impl Sink + '_ {
    CallbackSink::new(move |batch: &[Record]| {
        sizes.push(batch.len());
        Ok(())
    })
}

fn conserved(b: &HybridBatcher) -> bool {
    let s = b.stats();
    s.records_in == s.rows + b.buffered() as u64 + s.rejected
}

#[test]
fn invalid_configurations_are_config_errors_naming_the_field() {
    let age = Duration::from_millis(250);
    // (case, max_rows, max_age, field)
    let cases = [
        (1, 0, age, "batcher.max_rows"),
        (
            2,
            HybridBatcher::MAX_ROWS_LIMIT + 1,
            age,
            "batcher.max_rows",
        ),
        (3, 500, Duration::ZERO, "batcher.max_age"),
    ];
    for (case, rows, age, field) in cases {
        match HybridBatcher::new(rows, age) {
            Err(BatcherError::Config(e)) => assert_eq!(e.field, field, "case {case}"),
            Ok(_) => panic!("case {case}: accepted"),
        }
    }
}

#[test]
fn defaults_are_the_originals_500_rows_or_250_ms() {
    let b = HybridBatcher::default();
    assert_eq!(b.max_rows(), 500);
    assert_eq!(b.max_age(), Duration::from_millis(250));
    assert_eq!(b.buf.capacity(), 500);
}

#[test]
fn regression_queue_bound_below_batch_size_lost_bars_in_bursts() {
    // The original queued batches of 500 behind a bound of 8; a burst lost bars. Here a burst
    // of any size is written through in full batches, synchronously, and nothing is dropped.
    let mut b = HybridBatcher::default();
    let mut sink = CountingSink::new();
    let bars: Vec<Record> = (0..10_250u64)
        .map(|i| {
            Record::Bar(Bar {
                start_ns: i,
                ..Bar::default()
            })
        })
        .collect();
    b.push(&bars, 0, &mut sink).unwrap();
    assert_eq!(sink.snapshot().bars, 10_000);
    assert_eq!(b.stats().flushes_rows, 20);
    assert_eq!(b.buffered(), 250);
    b.flush(&mut sink).unwrap();
    assert_eq!(sink.snapshot().bars, 10_250);
    let s = b.stats();
    assert_eq!(
        (s.batches, s.flushes_end, s.rows, s.rejected),
        (21, 1, 10_250, 0)
    );
    assert!(conserved(&b));
}

#[test]
fn full_batches_are_written_the_moment_they_fill_across_calls() {
    let mut sizes = Vec::new();
    let mut sink = batch_sizes_into(&mut sizes);
    let mut b = HybridBatcher::new(4, Duration::from_secs(1)).unwrap();
    // (case, records pushed, batches written so far, buffered after)
    let cases = [
        (1, 3, 0, 3),
        (2, 1, 1, 0),
        (3, 9, 3, 1),
        (4, 0, 3, 1),
        (5, 3, 4, 0),
    ];
    for (case, n, batches, buffered) in cases {
        b.push(&recs(n), 0, &mut sink).unwrap();
        assert_eq!(b.stats().batches, batches, "case {case}");
        assert_eq!(b.buffered(), buffered, "case {case}");
    }
    drop(sink); // ends the borrow of `sizes`
    assert_eq!(sizes, vec![4, 4, 4, 4]);
}

#[test]
fn quiet_stream_flushes_by_age_measured_from_the_oldest_record() {
    let clock = ManualClock::new(1_000 * MS);
    let mut sink = CountingSink::new();
    let mut b = HybridBatcher::new(500, Duration::from_millis(250)).unwrap();
    assert_eq!(b.deadline_ns(), None);
    assert!(
        !b.poll_age(clock.now_ns(), &mut sink).unwrap(),
        "nothing buffered"
    );
    b.push(&recs(3), clock.now_ns(), &mut sink).unwrap();
    assert_eq!(b.deadline_ns(), Some(1_250 * MS));
    clock.advance_ns(200 * MS);
    b.push(&recs(2), clock.now_ns(), &mut sink).unwrap(); // does not restart the age
    clock.advance_ns(49 * MS);
    assert!(
        !b.poll_age(clock.now_ns(), &mut sink).unwrap(),
        "249 ms old"
    );
    clock.advance_ns(MS);
    assert!(b.poll_age(clock.now_ns(), &mut sink).unwrap(), "250 ms old");
    assert_eq!(sink.snapshot().records, 5);
    assert_eq!((b.stats().flushes_age, b.deadline_ns()), (1, None));
}

#[test]
fn push_onto_an_aged_buffer_writes_the_old_records_first() {
    let mut sizes = Vec::new();
    let mut sink = batch_sizes_into(&mut sizes);
    let mut b = HybridBatcher::new(10, Duration::from_millis(250)).unwrap();
    b.push(&recs(2), 0, &mut sink).unwrap();
    b.push(&recs(3), 300 * MS, &mut sink).unwrap();
    assert_eq!(b.stats().flushes_age, 1);
    assert_eq!(
        b.deadline_ns(),
        Some(550 * MS),
        "age restarts with the new oldest record"
    );
    b.flush(&mut sink).unwrap();
    drop(sink); // ends the borrow of `sizes`
    assert_eq!(sizes, vec![2, 3]);
}

#[test]
fn flush_at_end_of_stream_writes_the_partial_batch_and_flushes_the_sink() {
    let mut b = HybridBatcher::new(10, Duration::from_secs(1)).unwrap();
    let mut sink = CountingSink::new();
    b.flush(&mut sink).unwrap();
    assert_eq!(b.stats().batches, 0, "no empty batch is written");
    b.push(&recs(7), 0, &mut sink).unwrap();
    b.flush(&mut sink).unwrap();
    assert_eq!(sink.snapshot().records, 7);
    assert_eq!(b.stats().flushes_end, 1);
}

#[test]
fn refused_batch_stays_buffered_and_the_rest_is_counted_rejected() {
    let mut fail = true;
    let mut delivered = 0usize;
    let mut sink = CallbackSink::new(|batch: &[Record]| {
        if fail {
            fail = false; // fail once, then recover
            return Err(SinkError::Failed {
                sink: "flaky",
                message: "disk busy".into(),
            });
        }
        delivered += batch.len();
        Ok(())
    });
    let mut b = HybridBatcher::new(4, Duration::from_secs(1)).unwrap();
    let err = b.push(&recs(10), 0, &mut sink).unwrap_err();
    assert!(matches!(err, SinkError::Failed { .. }));
    let s = b.stats();
    assert_eq!(
        (b.buffered(), s.rejected, s.sink_errors, s.rows),
        (4, 6, 1, 0)
    );
    assert!(conserved(&b));
    // The sink recovered: the kept batch goes out first, then the new records.
    b.push(&recs(5), 0, &mut sink).unwrap();
    b.flush(&mut sink).unwrap();
    assert!(conserved(&b));
    assert_eq!(b.stats().rows, 9);
    assert_eq!(delivered, 9);
}

#[test]
fn steady_state_reuses_the_buffer_reserved_up_front() {
    let mut b = HybridBatcher::new(64, Duration::from_secs(1)).unwrap();
    let mut sink = CountingSink::new();
    let ptr = b.buf.as_ptr();
    let chunk = recs(37);
    for i in 0..100u64 {
        b.push(&chunk, i, &mut sink).unwrap();
    }
    assert_eq!(b.buf.capacity(), 64);
    assert_eq!(b.buf.as_ptr(), ptr, "never reallocated");
    assert_eq!(sink.snapshot().records + b.buffered() as u64, 3_700);
}

/// A sink that takes ticks directly and logs (kind of call, batch length, first seq).
struct TickLog {
    calls: Vec<(&'static str, usize, u32)>,
    refuse_ticks: bool,
}

impl Sink for TickLog {
    fn name(&self) -> &'static str {
        "tick-log"
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let first = match batch[0] {
            Record::Tick(t) => t.seq,
            Record::Bar(_) => u32::MAX,
        };
        self.calls.push(("records", batch.len(), first));
        Ok(())
    }
    fn accepts_ticks(&self) -> bool {
        true
    }
    fn write_ticks(&mut self, ticks: &[Tick]) -> Result<(), SinkError> {
        if self.refuse_ticks {
            return Err(SinkError::Failed {
                sink: "tick-log",
                message: "refused".into(),
            });
        }
        self.calls.push(("ticks", ticks.len(), ticks[0].seq));
        Ok(())
    }
}

fn seq_ticks(n: u32) -> Vec<Tick> {
    (0..n)
        .map(|i| Tick {
            seq: i,
            ..Tick::trade(SymbolId(0), 1, Price::from_units(1), 1)
        })
        .collect()
}

#[test]
fn whole_tick_batches_go_straight_to_a_tick_sink_and_order_holds() {
    let mut b = HybridBatcher::new(4, Duration::from_secs(1)).unwrap();
    let mut sink = TickLog {
        calls: Vec::new(),
        refuse_ticks: false,
    };
    let t = seq_ticks(11);
    // 1. Two whole batches straight from the slice, the rest (3) buffered as records.
    b.push_ticks(&t[..10], 0, &mut sink).unwrap();
    assert_eq!(sink.calls, vec![("ticks", 4, 0), ("ticks", 4, 4)]);
    assert_eq!(b.buffered(), 2);
    // 2. With rows buffered, new ticks queue behind them (no direct write jumps the queue).
    b.push_ticks(&t[10..], 0, &mut sink).unwrap();
    assert_eq!(b.buffered(), 3);
    b.flush(&mut sink).unwrap();
    assert_eq!(sink.calls.last(), Some(&("records", 3, 8)));
    assert!(conserved(&b));
    assert_eq!(b.stats().rows, 11);
}

#[test]
fn a_refused_direct_tick_batch_stays_buffered() {
    let mut b = HybridBatcher::new(4, Duration::from_secs(1)).unwrap();
    let mut sink = TickLog {
        calls: Vec::new(),
        refuse_ticks: true,
    };
    let t = seq_ticks(6);
    assert!(b.push_ticks(&t, 0, &mut sink).is_err());
    assert_eq!(b.buffered(), 4, "the refused batch is kept");
    assert_eq!(b.stats().rejected, 2);
    assert!(conserved(&b));
    // Records written later carry the kept batch first.
    b.flush(&mut sink).unwrap();
    assert_eq!(sink.calls, vec![("records", 4, 0)]);
}

#[test]
fn counting_sink_counts_ticks_the_same_either_way() {
    let t = seq_ticks(100);
    let mut a = CountingSink::new();
    let mut b = CountingSink::new();
    a.write_ticks(&t).unwrap();
    let r: Vec<Record> = t.iter().copied().map(Record::Tick).collect();
    b.write(&r).unwrap();
    let (sa, sb) = (a.snapshot(), b.snapshot());
    assert_eq!(
        (sa.ticks, sa.records, sa.checksum),
        (sb.ticks, sb.records, sb.checksum)
    );
}

#[test]
fn regression_age_near_the_end_of_the_clock_was_due_early() {
    // The deadline saturated at u64::MAX: a buffer started at MAX − 1 with a 5 ns max_age was
    // written by age at MAX, when it was 1 ns old.
    let mut b = HybridBatcher::new(10, Duration::from_nanos(5)).unwrap();
    let mut sink = NullSink::new();
    b.push(&recs(1), u64::MAX - 1, &mut sink).unwrap();
    assert!(!b.poll_age(u64::MAX, &mut sink).unwrap(), "1 ns old");
    assert_eq!(b.deadline_ns(), Some(u64::MAX));
    b.push(&recs(1), u64::MAX, &mut sink).unwrap();
    assert_eq!((b.stats().flushes_age, b.buffered()), (0, 2));
    // Exactly max_age old at the end of the range is due.
    let mut b = HybridBatcher::new(10, Duration::from_nanos(5)).unwrap();
    b.push(&recs(1), u64::MAX - 5, &mut sink).unwrap();
    assert!(b.poll_age(u64::MAX, &mut sink).unwrap());
    assert!(conserved(&b));
}

#[test]
fn ages_are_exact_across_the_whole_clock_range_table() {
    const MAX: u64 = u64::MAX;
    // (case, max_age ns, buffered at, polled at, due)
    let cases: &[(u32, Duration, u64, u64, bool)] = &[
        (1, Duration::from_nanos(1), 0, 0, false),
        (2, Duration::from_nanos(1), 0, 1, true),
        (3, Duration::from_nanos(MAX), 0, MAX - 1, false),
        (4, Duration::from_nanos(MAX), 0, MAX, true),
        (5, Duration::MAX, 0, MAX, false), // beyond the clock's range: never by age
        (6, Duration::from_nanos(10), 100, 50, false), // a clock that went back: age 0
        (7, Duration::from_nanos(1), MAX, MAX, false),
    ];
    for &(case, age, at, poll, due) in cases {
        let mut b = HybridBatcher::new(10, age).unwrap();
        let mut sink = NullSink::new();
        b.push(&recs(1), at, &mut sink).unwrap();
        assert_eq!(b.poll_age(poll, &mut sink).unwrap(), due, "case {case}");
        assert!(conserved(&b), "case {case}");
    }
}
