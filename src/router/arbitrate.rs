//! `Arbitrate`: hot-hot feeds of one sequenced stream. Every usable source is polled; each
//! `seq` is forwarded once (first arrival wins); a `seq` that no source carried by the time the
//! stream has run `arbitrate_window` past it is reported as a gap.
//!
//! State is one sliding bitmap over `seq` (`arbitrate_window` bits, rounded up to whole words):
//! bounded, no allocation after construction, O(1) per tick (a window slide costs at most one
//! pass over the bitmap, amortised over the ticks that moved it).

use crate::source::SourcePoll;
use crate::tick::{flags, Tick};

use super::slot::SlotPoll;
use super::{SourceRouter, SwitchReason};

/// What the window says about one arriving `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// First arrival: forward it. `gap`: sequence numbers were given up as lost on the way.
    New { gap: bool },
    /// Already forwarded (inside the window).
    Duplicate,
    /// Older than the window: already forwarded or already reported as a gap.
    Late,
}

/// Sliding bitmap over sequence numbers `[base, base + width)`. Sequence numbers compare with
/// wrapping arithmetic (a `seq` up to 2^31 behind `base` is late, anything else is ahead).
#[derive(Debug)]
pub(crate) struct SeqWindow {
    bits: Vec<u64>,
    width: u32,
    /// Lowest undecided `seq`.
    base: u32,
    /// Highest `seq` seen.
    high: u32,
    started: bool,
    /// Some seqs have been decided (delivered-or-gap) and left the window.
    decided: bool,
    pub gaps: u64,
    pub duplicates: u64,
    pub late: u64,
}

impl SeqWindow {
    pub fn new(width: u32) -> SeqWindow {
        SeqWindow {
            bits: vec![0; (width as usize).div_ceil(64)],
            width,
            base: 0,
            high: 0,
            started: false,
            decided: false,
            gaps: 0,
            duplicates: 0,
            late: 0,
        }
    }

    #[inline]
    fn slot(&self, seq: u32) -> (usize, u64) {
        let cap = self.bits.len() * 64;
        let i = seq as usize % cap;
        (i / 64, 1u64 << (i % 64))
    }

    #[inline]
    fn take(&mut self, seq: u32) -> bool {
        let (w, m) = self.slot(seq);
        let was = self.bits[w] & m != 0;
        self.bits[w] &= !m;
        was
    }

    /// Decide the `seq`s in `[base, new_base)`: each one not seen is a gap. Returns whether
    /// any was.
    fn advance(&mut self, new_base: u32) -> bool {
        let dist = new_base.wrapping_sub(self.base);
        let scan = dist.min(self.width);
        let mut missing = u64::from(dist - scan); // never inside the window: never seen
        for k in 0..scan {
            if !self.take(self.base.wrapping_add(k)) {
                missing += 1;
            }
        }
        self.base = new_base;
        self.decided = true;
        self.gaps += missing;
        missing > 0
    }

    /// Register the arrival of `seq`.
    #[inline]
    pub fn arrive(&mut self, seq: u32) -> Arrival {
        if !self.started {
            self.started = true;
            self.base = seq;
            self.high = seq;
        }
        let mut d = seq.wrapping_sub(self.base);
        if d >= 1 << 31 {
            // Behind the base. Before anything has been decided the base is only the first
            // seq seen (another feed may be a little behind): widen down while the window
            // still covers the highest seq seen. Otherwise the seq has been decided: late.
            if self.decided || self.high.wrapping_sub(seq) >= self.width {
                self.late += 1;
                return Arrival::Late;
            }
            self.base = seq;
            d = 0;
        }
        let mut gap = false;
        if d >= self.width {
            gap = self.advance(seq.wrapping_sub(self.width - 1));
        }
        let (w, m) = self.slot(seq);
        if self.bits[w] & m != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.bits[w] |= m;
        if seq.wrapping_sub(self.high) < 1 << 31 {
            self.high = seq;
        }
        Arrival::New { gap }
    }

    /// Decide everything up to the highest `seq` seen (at the end of the stream).
    pub fn flush(&mut self) {
        if self.started {
            self.advance(self.high.wrapping_add(1));
        }
    }

    /// Forget the window and treat every `seq` before `next` as already decided (entering
    /// `Arbitrate` after a single-active strategy delivered up to `next - 1`).
    pub fn restart_at(&mut self, next: u32) {
        self.bits.fill(0);
        self.started = true;
        self.decided = true;
        self.base = next;
        self.high = next.wrapping_sub(1);
    }

    /// Change the width: the current window is decided first.
    pub fn resize(&mut self, width: u32) {
        self.flush();
        self.bits = vec![0; (width as usize).div_ceil(64)];
        self.width = width;
    }
}

impl SourceRouter {
    /// One poll of `Arbitrate`: poll each usable source once (starting one further each poll,
    /// so no source always wins ties), forward first arrivals into `out`.
    pub(super) fn poll_arbitrate(&mut self, now_ns: u64, out: &mut [Tick]) -> SourcePoll {
        let n = self.slots.len();
        let hold = self.tuning.hold_down_ns;
        let mut w = 0;
        for k in 0..n {
            if w == out.len() {
                break;
            }
            let i = (self.cursor + k) % n;
            if !self.slots[i].usable(now_ns, hold, true) {
                continue;
            }
            let room = (out.len() - w).min(self.scratch.len());
            match self.slots[i].poll(now_ns, &mut self.scratch[..room]) {
                SlotPoll::Data(m) => {
                    if !self.slots[i].in_service {
                        self.slots[i].in_service = true;
                        self.slots[i].counters.selected += 1;
                        self.record(now_ns, None, Some(i), SwitchReason::FailBack);
                    }
                    let before = w;
                    for t in &self.scratch[..m] {
                        if let Arrival::New { gap } = self.window.arrive(t.seq) {
                            let mut t = *t;
                            if gap {
                                t.flags |= flags::GAP_BEFORE;
                            }
                            if self.flag_next {
                                self.flag_next = false;
                                t.flags |= flags::FIRST_AFTER_SWITCH;
                            }
                            out[w] = t;
                            w += 1;
                        }
                    }
                    let c = &mut self.slots[i].counters;
                    c.delivered += (w - before) as u64;
                    c.discarded += (m - (w - before)) as u64;
                }
                SlotPoll::NotNow => {}
                SlotPoll::Quiet => {
                    let s = &self.slots[i];
                    if s.in_service && s.stale(now_ns, self.tuning.staleness_ns) {
                        self.slots[i].mark_stale(now_ns);
                        self.leave(now_ns, i, SwitchReason::Stale);
                    }
                }
                SlotPoll::Failed(why) => {
                    self.slots[i].failed_at = Some(now_ns);
                    self.leave(now_ns, i, why);
                }
            }
        }
        self.cursor = if n == 0 { 0 } else { (self.cursor + 1) % n };
        if w > 0 {
            SourcePoll::Ready(w)
        } else if self.all_done() {
            self.window.flush();
            SourcePoll::Ended
        } else {
            SourcePoll::Pending
        }
    }

    /// Take source `i` out of the hot set (recorded once).
    fn leave(&mut self, now_ns: u64, i: usize, why: SwitchReason) {
        if self.slots[i].in_service {
            self.slots[i].in_service = false;
            self.record(now_ns, Some(i), None, why);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
