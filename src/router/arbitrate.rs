//! `Arbitrate`: hot-hot feeds of one sequenced stream. Every usable source is polled; each
//! `seq` is forwarded once (first arrival wins); a `seq` that no source carried by the time the
//! stream has run `arbitrate_window` past it is reported as a gap.
//!
//! State is one [`SeqWindow`] of `arbitrate_window` sequence numbers: bounded, no allocation
//! after construction, O(1) per tick.

use crate::seq_window::Arrival;
use crate::source::SourcePoll;
use crate::tick::{flags, Tick};

use super::slot::SlotPoll;
use super::{SourceRouter, SwitchReason};

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
