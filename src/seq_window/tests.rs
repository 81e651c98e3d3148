use std::collections::{BTreeSet, HashSet};

use proptest::prelude::*;

use super::*;

#[test]
fn each_seq_is_new_once_then_duplicate() {
    let mut w = SeqWindow::new(8);
    assert_eq!(w.arrive(10), Arrival::New { gap: false });
    assert_eq!(w.arrive(11), Arrival::New { gap: false });
    assert_eq!(w.arrive(10), Arrival::Duplicate);
    assert_eq!(w.duplicates, 1);
}

#[test]
fn a_seq_nobody_carried_is_a_gap_once_the_window_passes_it() {
    let mut w = SeqWindow::new(4);
    for s in [1, 2, 4, 5] {
        assert!(matches!(w.arrive(s), Arrival::New { gap: false }));
    }
    // 3 is missing; 6 moves the base to 3, still undecided; 7 moves it past 3.
    assert_eq!(w.arrive(6), Arrival::New { gap: false });
    assert_eq!(w.arrive(7), Arrival::New { gap: true });
    assert_eq!(w.gaps, 1);
    assert_eq!(w.arrive(3), Arrival::Late);
    assert_eq!(w.late, 1);
}

#[test]
fn a_jump_far_ahead_counts_every_skipped_seq_without_scanning_them() {
    let mut w = SeqWindow::new(64);
    w.arrive(0);
    assert_eq!(w.arrive(1_000_000), Arrival::New { gap: true });
    assert_eq!(w.gaps, 1_000_000 - 64);
    w.flush();
    assert_eq!(w.gaps, 1_000_000 - 1);
}

#[test]
fn before_anything_is_decided_a_feed_slightly_behind_the_first_one_is_not_late() {
    let mut w = SeqWindow::new(8);
    w.arrive(5);
    assert_eq!(w.arrive(3), Arrival::New { gap: false });
    assert_eq!(w.arrive(4), Arrival::New { gap: false });
    w.arrive(12); // base moves to 5: seqs 3..=4 decided
    assert_eq!(w.arrive(2), Arrival::Late);
    assert_eq!(w.gaps, 0);
}

#[test]
fn sequence_numbers_wrap() {
    let mut w = SeqWindow::new(16);
    w.arrive(u32::MAX - 1);
    assert_eq!(w.arrive(u32::MAX), Arrival::New { gap: false });
    assert_eq!(w.arrive(0), Arrival::New { gap: false });
    assert_eq!(w.arrive(u32::MAX), Arrival::Duplicate);
    assert_eq!(w.gaps, 0);
}

#[test]
fn arbitrate_window_not_a_power_of_two_took_a_seq_after_wrap_around_for_a_duplicate() {
    // The router's window had `width` rounded up to whole words and indexed it `seq % size`.
    // With 960 bits, 2^32 − 256 and 0 (256 apart) shared slot 0, so 0 was dropped as a
    // duplicate of a seq it had never seen. Slots are now `seq & (2^k − 1)`, distinct across
    // the wrap. (The 255 numbers between are still inside the window: not yet gaps.)
    for width in [960, 1_000, 40_000] {
        let mut w = SeqWindow::new(width);
        let first = 0u32.wrapping_sub(256);
        assert_eq!(w.arrive(first), Arrival::New { gap: false }, "{width}");
        assert_eq!(w.arrive(0), Arrival::New { gap: false }, "{width}");
        assert_eq!((w.duplicates, w.gaps), (0, 0), "{width}: not yet decided");
    }
}

#[test]
fn sliding_the_window_forgets_slots_that_leave_it() {
    // Seq 1 is seen; after the mark moves to W, seq 1 is still remembered; the slot it used is
    // then reused by 1 + W, which must count as new.
    let w = 1024;
    let mut win = SeqWindow::new(w);
    assert!(matches!(win.arrive(1), Arrival::New { .. }));
    assert!(matches!(win.arrive(w), Arrival::New { .. }));
    assert_eq!(win.arrive(1), Arrival::Duplicate, "still inside the window");
    assert!(matches!(win.arrive(1 + w), Arrival::New { .. }));
    assert_eq!(win.arrive(1 + w), Arrival::Duplicate);
    assert_eq!(win.arrive(1), Arrival::Late);
}

#[test]
fn restart_at_decides_everything_before_it() {
    let mut w = SeqWindow::new(8);
    w.arrive(100);
    w.restart_at(50);
    assert_eq!(w.arrive(49), Arrival::Late, "before the restart point");
    assert_eq!(w.arrive(50), Arrival::New { gap: false });
    assert_eq!(
        w.arrive(100),
        Arrival::New { gap: true },
        "the window forgot 100"
    );
    assert_eq!(w.gaps, 100 - 8 - 50);
}

#[test]
fn reset_accepts_a_restarted_sequence() {
    let mut w = SeqWindow::new(1024);
    w.arrive(5_000);
    assert_eq!(w.arrive(1), Arrival::Late, "a restart looks too old");
    w.reset();
    assert_eq!(w.arrive(1), Arrival::New { gap: false });
    assert_eq!(w.arrive(2), Arrival::New { gap: false });
    assert_eq!(w.late, 1);
}

#[test]
fn resize_decides_the_old_window_first() {
    let mut w = SeqWindow::new(16);
    for s in [1, 3, 5] {
        w.arrive(s);
    }
    w.resize(4);
    assert_eq!((w.width, w.gaps), (4, 2), "2 and 4 given up");
    assert_eq!(w.arrive(5), Arrival::Late);
    assert_eq!(
        w.arrive(10),
        Arrival::New { gap: true },
        "6..=6 left the new window"
    );
    assert_eq!(w.gaps, 3);
}

#[test]
fn agrees_with_a_reference_model_on_a_jittery_stream() {
    // Reference: remember every seq; a window or more behind the highest is too old,
    // otherwise new iff never seen. Seqs stay far from u32 wrap-around.
    const W: u32 = 1024;
    let mut model_seen = HashSet::new();
    let mut model_hwm: Option<u32> = None;
    let mut win = SeqWindow::new(W);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut base = 10_000u32;
    let mut counts = [0u32; 3];
    let steps: u32 = if cfg!(miri) { 300 } else { 20_000 };
    for step in 0..steps {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly small steps forward, sometimes big jumps, often re-sends from behind.
        base += match x % 10 {
            0 => (x >> 8) as u32 % 3_000,
            1..=5 => 1,
            _ => 0,
        };
        let back = if x % 3 == 0 { 1_500 } else { 8 };
        let seq = base - (x >> 20) as u32 % back;
        let want = match model_hwm {
            Some(h) if seq <= h && h - seq >= W => 2,
            _ if model_seen.contains(&seq) => 1,
            _ => 0,
        };
        if want == 0 {
            model_seen.insert(seq);
            model_hwm = Some(model_hwm.map_or(seq, |h| h.max(seq)));
        }
        let got = match win.arrive(seq) {
            Arrival::New { .. } => 0,
            Arrival::Duplicate => 1,
            Arrival::Late => 2,
        };
        assert_eq!(got, want, "step {step}: seq {seq}");
        counts[want] += 1;
    }
    assert!(
        counts.iter().all(|&n| n > steps / 100),
        "every verdict exercised: {counts:?}"
    );
}

/// The specification as sets, over unwrapped `u64` sequence numbers: every seq ever taken
/// is remembered, and the decided prefix is one number.
#[derive(Debug)]
struct Model {
    width: u64,
    seen: BTreeSet<u64>,
    /// Start of the stream (lowest seq taken while nothing was decided).
    start: Option<u64>,
    high: u64,
    /// Everything below this is decided (delivered or a gap).
    decided_below: Option<u64>,
    gaps: u64,
    duplicates: u64,
    late: u64,
}

impl Model {
    fn new(width: u32) -> Model {
        Model {
            width: u64::from(width),
            seen: BTreeSet::new(),
            start: None,
            high: 0,
            decided_below: None,
            gaps: 0,
            duplicates: 0,
            late: 0,
        }
    }

    /// Decide `[decided_below or start, to)`: count the numbers in it nobody took.
    fn decide(&mut self, to: u64) -> bool {
        let from = self.decided_below.or(self.start).unwrap_or(to);
        if to <= from {
            return false;
        }
        let missing = (to - from) - self.seen.range(from..to).count() as u64;
        self.gaps += missing;
        self.decided_below = Some(to);
        missing > 0
    }

    fn arrive(&mut self, s: u64) -> Arrival {
        if self.start.is_none() && self.decided_below.is_none() {
            self.start = Some(s);
            self.high = s;
        }
        let too_old = s + self.width <= self.high;
        if too_old || self.decided_below.is_some_and(|d| s < d) {
            self.late += 1;
            return Arrival::Late;
        }
        if !self.seen.insert(s) {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        if self.decided_below.is_none() {
            self.start = Some(self.start.map_or(s, |st| st.min(s)));
        }
        self.high = self.high.max(s);
        let gap = match (self.high + 1).checked_sub(self.width) {
            Some(frontier) => self.decide(frontier),
            None => false,
        };
        Arrival::New { gap }
    }

    fn flush(&mut self) {
        if self.start.is_some() || self.decided_below.is_some() {
            self.decide(self.high + 1);
        }
    }

    fn restart_at(&mut self, next: u64) {
        self.seen.clear();
        self.decided_below = Some(next);
        self.high = next - 1;
    }

    fn reset(&mut self) {
        self.seen.clear();
        self.start = None;
        self.decided_below = None;
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Arrival of the model's highest seq plus this.
    Arrive(i64),
    Flush,
    /// Restart at the model's highest seq + 1 plus this.
    RestartAt(i64),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (-40i64..=4).prop_map(Op::Arrive),
        3 => (-3_000i64..=3_000).prop_map(Op::Arrive),
        1 => Just(Op::Flush),
        1 => (-40i64..=40).prop_map(Op::RestartAt),
        1 => Just(Op::Reset),
    ]
}

/// Where the model's sequence numbers start (room to go behind it).
const START: u64 = 1 << 20;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        ..ProptestConfig::default()
    })]

    /// Every verdict and counter equals the reference model's, for widths that are and are not
    /// powers of two, with the stream placed across `u32` wrap-around or not.
    #[test]
    fn agrees_with_the_set_model(
        width in prop::sample::select(&[1u32, 2, 3, 63, 64, 65, 100, 960, 1_024][..]),
        wrap_after in prop_oneof![0u64..5_000, Just(1u64 << 31)],
        ops in prop::collection::vec(op(), 1..400),
    ) {
        // u32 seq = model seq + offset: the stream crosses 2^32 about `wrap_after` in.
        let offset = (1u64 << 32) - START - wrap_after;
        let to32 = |s: u64| (s + offset) as u32;
        let mut model = Model::new(width);
        let mut win = SeqWindow::new(width);
        for (i, op) in ops.iter().enumerate() {
            let high = if model.start.is_some() || model.decided_below.is_some() {
                model.high
            } else {
                START
            };
            match *op {
                Op::Arrive(d) => {
                    let s = high.saturating_add_signed(d);
                    prop_assert_eq!(win.arrive(to32(s)), model.arrive(s), "op {}: seq {}", i, s);
                }
                Op::Flush => {
                    win.flush();
                    model.flush();
                }
                Op::RestartAt(d) => {
                    let next = (high + 1).saturating_add_signed(d).max(1);
                    win.restart_at(to32(next));
                    model.restart_at(next);
                }
                Op::Reset => {
                    win.reset();
                    model.reset();
                }
            }
            prop_assert_eq!(
                (win.gaps, win.duplicates, win.late),
                (model.gaps, model.duplicates, model.late),
                "op {}: {:?}", i, op
            );
        }
    }
}
