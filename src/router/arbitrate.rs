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
    ///
    /// Each tick is judged where the source holds it ([`TickSource::poll_visit`]: a fan-out
    /// subscriber's ring, read in place): the first arrival of a `seq` is copied once, into
    /// `out`; a duplicate is not copied at all.
    ///
    /// [`TickSource::poll_visit`]: crate::source::TickSource::poll_visit
    pub(super) fn poll_arbitrate(&mut self, now_ns: u64, out: &mut [Tick]) -> SourcePoll {
        let n = self.slots.len();
        let hold = self.tuning.hold_down_ns;
        let staleness = self.tuning.staleness_ns;
        let mut w = 0;
        // The rotation's start, kept below `n` without a division per source.
        let start = if self.cursor < n {
            self.cursor
        } else {
            self.cursor.checked_rem(n).unwrap_or(0)
        };
        let mut next = start;
        for _ in 0..n {
            if w == out.len() {
                break;
            }
            let i = next;
            next = if next + 1 == n { 0 } else { next + 1 };
            let slot = &mut self.slots[i];
            // An empty feed is as quiet as its poll would have been, without the gate's
            // permit and the poll's layers: only a feed in service can go stale, and only a
            // usable one is judged (what a quiet poll of it would have done).
            if slot.nothing_waiting() {
                if slot.in_service
                    && slot.stale(now_ns, staleness)
                    && slot.usable(now_ns, hold, true)
                {
                    slot.mark_stale(now_ns);
                    self.leave(now_ns, i, SwitchReason::Stale);
                }
                continue;
            }
            if !slot.usable(now_ns, hold, true) {
                continue;
            }
            let room = (out.len() - w).min(self.scratch.len());
            // A source back in service: its first new tick is the first after a switch
            // (recorded below once the poll has shown data).
            let rejoin = !self.slots[i].in_service;
            let mut flag = self.flag_next || rejoin;
            let mut flagged = false;
            let before = w;
            let mut read = 0usize;
            let window = &mut self.window;
            let polled =
                self.slots[i].poll_visit(now_ns, &mut self.scratch[..room], |ticks: &[Tick]| {
                    read += ticks.len();
                    for t in ticks {
                        // A source hands over at most `room` ticks; one that hands over more
                        // has the excess counted as discarded, not written past `out`.
                        if w == out.len() {
                            break;
                        }
                        if let Arrival::New { gap } = window.arrive(t.seq) {
                            let mut t = *t;
                            if gap {
                                t.flags |= flags::GAP_BEFORE;
                            }
                            if flag {
                                flag = false;
                                flagged = true;
                                t.flags |= flags::FIRST_AFTER_SWITCH;
                            }
                            out[w] = t;
                            w += 1;
                        }
                    }
                });
            match polled {
                SlotPoll::Data(_) => {
                    if rejoin {
                        self.slots[i].in_service = true;
                        self.slots[i].counters.selected += 1;
                        self.record(now_ns, None, Some(i), SwitchReason::FailBack);
                    }
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
            if flagged {
                self.flag_next = false;
            }
            // Whatever the outcome, every tick read is delivered or discarded.
            let c = &mut self.slots[i].counters;
            c.delivered += (w - before) as u64;
            c.discarded += (read - (w - before)) as u64;
        }
        // One further each poll.
        self.cursor = if start + 1 >= n { 0 } else { start + 1 };
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
