//! The poll thread's side of the control plane: applying the commands of
//! [`RouterControl`](super::RouterControl) (add and remove sources) at the start of a poll.

use super::control::{self, Command};
use super::slot::RoutedSource;
use super::{SourceRouter, SwitchReason};

impl SourceRouter {
    /// Apply at most `COMMANDS_PER_POLL` control commands (never blocks).
    /// Apply up to [`COMMANDS_PER_POLL`](control::COMMANDS_PER_POLL) waiting commands;
    /// `false` when more may be waiting.
    pub(super) fn drain_commands(&mut self, now_ns: u64) -> bool {
        for _ in 0..control::COMMANDS_PER_POLL {
            match control::next_command(&self.commands) {
                Some(Command::Add(slot)) => self.add(now_ns, *slot),
                Some(Command::Remove(name)) => self.remove(now_ns, &name),
                None => return true,
            }
        }
        false
    }

    fn add(&mut self, now_ns: u64, mut slot: RoutedSource) {
        if self.started {
            let _ = slot.start(now_ns);
        }
        self.slots.push(slot);
        self.refresh_symbols();
        let i = self.slots.len() - 1;
        self.stats_dirty = true;
        if !self.started || !self.slots[i].usable(now_ns, 0, false) {
            return;
        }
        if self.cfg.strategy.single_active() {
            if self.active.is_none() {
                self.activate(now_ns, None, i, SwitchReason::Added);
            }
        } else {
            self.slots[i].counters.selected += 1;
            self.record(now_ns, None, Some(i), SwitchReason::Added);
        }
    }

    fn remove(&mut self, now_ns: u64, name: &str) {
        let Some(i) = self.slots.iter().position(|s| &*s.name == name) else {
            return;
        };
        let was_active = self.active == Some(i);
        let in_hot_set = !self.cfg.strategy.single_active() && self.slots[i].in_service;
        if was_active || in_hot_set {
            let to = if was_active {
                self.pick(now_ns, Some(i), true)
            } else {
                None
            };
            self.record(now_ns, Some(i), to, SwitchReason::Removed);
            if let Some(to) = to {
                self.select(now_ns, to);
            } else {
                self.active = None;
            }
        }
        let mut gone = self.slots.remove(i);
        let (c, r) = (gone.counters, &mut self.removed);
        r.count += 1;
        r.selected += c.selected;
        r.delivered += c.delivered;
        r.discarded += c.discarded;
        r.drained += c.drained;
        r.produced += gone.source.health().produced;
        r.errors += c.errors;
        gone.source.close();
        self.active = self.active.map(|a| if a > i { a - 1 } else { a });
        if self.cursor >= self.slots.len() {
            self.cursor = 0;
        }
        self.refresh_symbols();
        self.stats_dirty = true;
    }
}
