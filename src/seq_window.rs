//! `SeqWindow`: which sequence numbers of one sequenced stream have been seen, over a sliding
//! window below the highest one. [`Dedupe`](crate::Dedupe) keeps one per source; the router's
//! `Arbitrate` keeps one over the hot-hot feeds of its stream.
//!
//! The window covers the `width` sequence numbers up to the highest one seen (`high`). An
//! arriving `seq` is:
//!
//! - [`Arrival::New`] if it is ahead of `high` (the window slides up to it), or inside the
//!   window and not yet seen (out of order, e.g. from a feed that is a little behind);
//! - [`Arrival::Duplicate`] if it is inside the window and already seen;
//! - [`Arrival::Late`] if it is `width` or more behind `high`, or behind what was already
//!   decided (see below): too old to tell, so it was delivered or given up on already.
//!
//! Sequence numbers compare with serial-number arithmetic relative to `high`: a `seq` up to
//! 2^31 − 1 after it is ahead, anything else is behind, so `u32` wrap-around is just "ahead".
//!
//! **Gaps.** A `seq` is *decided* when the window slides past it; one that never arrived by
//! then is a gap ([`gaps`](SeqWindow::gaps), and `New { gap: true }` on the arrival that slid
//! the window). The stream starts at the first `seq` seen; until the window first slides, a
//! `seq` a little below that (inside the window) still extends the start down, so a second
//! feed slightly behind the first is not late. [`flush`](SeqWindow::flush) decides the rest at
//! the end of the stream; [`restart_at`](SeqWindow::restart_at) declares everything before a
//! `seq` decided (another strategy delivered it).
//!
//! **Cost.** A bitmap of `width` bits rounded up to a power of two (so slots stay distinct
//! across `u32` wrap-around), allocated once by [`new`](SeqWindow::new) and
//! [`resize`](SeqWindow::resize); O(1) per arrival plus, when the window slides, one word
//! operation per 64 sequence numbers that leave it, however far it jumps.

/// The widest window: 65 536 sequence numbers (8 KiB of bitmap).
pub(crate) const MAX_WIDTH: u32 = 1 << 16;

/// What the window says about one arriving `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// First arrival: forward it. `gap`: sequence numbers were given up as lost on the way.
    New { gap: bool },
    /// Already seen (inside the window).
    Duplicate,
    /// `width` or more behind the highest `seq`, or already decided: delivered or a gap.
    Late,
}

/// Sliding seen-set over one stream's sequence numbers. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct SeqWindow {
    /// Bit `seq & mask` says `seq` was seen; only sequence numbers inside the window are set.
    bits: Box<[u64]>,
    /// Bitmap size − 1 (the size is a power of two, at least `width`, at least 64).
    mask: u32,
    width: u32,
    /// Lowest undecided `seq`.
    base: u32,
    /// Highest `seq` seen (`base − 1` right after a flush or restart).
    high: u32,
    started: bool,
    /// The window has slid (or restarted): nothing below `base` may be taken as new.
    decided: bool,
    /// Sequence numbers decided without having arrived.
    pub gaps: u64,
    /// Arrivals of a `seq` already seen.
    pub duplicates: u64,
    /// Arrivals too old to tell.
    pub late: u64,
}

impl SeqWindow {
    /// An empty window over `width` sequence numbers.
    ///
    /// # Panics
    /// If `width` is 0 or above [`MAX_WIDTH`] (callers validate their configuration first).
    pub(crate) fn new(width: u32) -> SeqWindow {
        assert!(
            (1..=MAX_WIDTH).contains(&width),
            "sequence window width {width} outside 1..={MAX_WIDTH}"
        );
        let words = width.div_ceil(64).next_power_of_two();
        SeqWindow {
            bits: vec![0; words as usize].into_boxed_slice(),
            mask: words * 64 - 1,
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
        let i = seq & self.mask;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Clear the slots of `count` (≤ bitmap size) consecutive numbers from `first`, a word at
    /// a time; returns how many of them were set.
    fn take_range(&mut self, first: u32, count: u32) -> u32 {
        let mut bit = first & self.mask;
        let mut left = count;
        let mut seen = 0;
        while left > 0 {
            let off = bit % 64;
            let n = (64 - off).min(left);
            let range = if n == 64 {
                !0
            } else {
                ((1u64 << n) - 1) << off
            };
            let word = &mut self.bits[(bit / 64) as usize];
            seen += (*word & range).count_ones();
            *word &= !range;
            bit = (bit + n) & self.mask;
            left -= n;
        }
        seen
    }

    /// Decide the `seq`s in `[base, new_base)`: each one not seen is a gap. Returns whether
    /// any was.
    #[inline]
    fn advance(&mut self, new_base: u32) -> bool {
        let dist = new_base.wrapping_sub(self.base);
        if dist == 1 {
            // The common slide of an in-order stream: one number leaves the window.
            let (w, m) = self.slot(self.base);
            let missing = self.bits[w] & m == 0;
            self.bits[w] &= !m;
            self.base = new_base;
            self.decided = true;
            self.gaps += u64::from(missing);
            return missing;
        }
        self.advance_far(new_base, dist)
    }

    /// [`advance`](Self::advance) by `dist` > 1 (a jump, a flush): kept out of line so the
    /// one-step slide stays small enough to inline into every arrival.
    #[cold]
    #[inline(never)]
    fn advance_far(&mut self, new_base: u32, dist: u32) -> bool {
        // Only the window's own slots can be set; anything past it was never seen.
        let seen = self.take_range(self.base, dist.min(self.width));
        let missing = u64::from(dist - seen);
        self.base = new_base;
        self.decided = true;
        self.gaps += missing;
        missing > 0
    }

    /// Register the arrival of `seq`.
    #[inline(always)] // once per tick read; its slow paths are out of line
    pub(crate) fn arrive(&mut self, seq: u32) -> Arrival {
        if !self.started {
            self.started = true;
            self.base = seq;
            self.high = seq;
        }
        let mut gap = false;
        // Serial-number arithmetic: positive means ahead, even across u32 wrap-around.
        let ahead = seq.wrapping_sub(self.high) as i32;
        if ahead > 0 {
            // The window slides so that its top is `seq`.
            if seq.wrapping_sub(self.base) >= self.width {
                gap = self.advance(seq.wrapping_sub(self.width - 1));
            }
            self.high = seq;
        } else if ahead.unsigned_abs() >= self.width {
            self.late += 1;
            return Arrival::Late;
        } else if (seq.wrapping_sub(self.base) as i32) < 0 {
            // Below the start. Before anything is decided, the start is only the lowest seq
            // seen so far (another feed may be a little behind): extend it down.
            if self.decided {
                self.late += 1;
                return Arrival::Late;
            }
            self.base = seq;
        }
        let (w, m) = self.slot(seq);
        if self.bits[w] & m != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.bits[w] |= m;
        Arrival::New { gap }
    }

    /// Decide everything up to the highest `seq` seen (at the end of the stream).
    pub(crate) fn flush(&mut self) {
        if self.started {
            self.advance(self.high.wrapping_add(1));
        }
    }

    /// Forget the window and treat every `seq` before `next` as already decided (entering
    /// `Arbitrate` after a single-active strategy delivered up to `next - 1`).
    pub(crate) fn restart_at(&mut self, next: u32) {
        self.bits.fill(0);
        self.started = true;
        self.decided = true;
        self.base = next;
        self.high = next.wrapping_sub(1);
    }

    /// Forget the window: the next arrival starts the stream again (the source restarted its
    /// sequence numbers). The counters keep their totals.
    pub(crate) fn reset(&mut self) {
        self.bits.fill(0);
        self.started = false;
        self.decided = false;
    }

    /// Change the width: the current window is decided first (its gaps counted).
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub(crate) fn resize(&mut self, width: u32) {
        self.flush();
        let fresh = SeqWindow::new(width);
        self.bits = fresh.bits;
        self.mask = fresh.mask;
        self.width = width;
    }
}

#[cfg(test)]
mod tests;
