//! One topic of the [`MemoryEngine`](super::MemoryEngine): its epoch, the
//! offsets it issued, its history ring and the sinks following it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::history::History;
use crate::engine::{Epoch, Offset, Page, Position, Record, Sink};
use crate::event::Event;

#[derive(Debug)]
pub(super) struct MemoryTopic {
    state: Mutex<State>,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) epoch: Epoch,
    /// The newest offset issued in this epoch.
    pub(super) head: Offset,
    pub(super) history: History,
    /// The hubs following the topic, each with its token.
    pub(super) sinks: Vec<(u64, Sink)>,
    /// The last publish, or the last follower leaving.
    pub(super) last_used: Instant,
    /// Set when the engine dropped the topic from its map; a caller that
    /// raced with that retries on the topic that replaced it.
    pub(super) removed: bool,
}

impl MemoryTopic {
    pub(super) fn new(history: History, now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                epoch: Epoch::mint(),
                head: Offset::ZERO,
                history,
                sinks: Vec::new(),
                last_used: now,
                removed: false,
            }),
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // Nothing that can panic runs under this lock; recover regardless.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Assigns the next offset, encodes once (keeping an app id), stores,
    /// then delivers to every follower, all under the topic lock: "stored
    /// before delivered", and every follower sees offset order.
    pub(super) fn append(&mut self, event: Event, now: Instant) -> Record {
        self.head = self.head.next();
        let record = Record::encode_keeping_id(Position::new(self.epoch, self.head), event);
        self.history.prune(now);
        self.history.push(record.clone(), now);
        self.last_used = now;
        self.sinks
            .retain(|(_, sink)| sink.deliver(&record).is_continue());
        record
    }

    pub(super) fn read(&mut self, after: Offset, limit: usize, now: Instant) -> Page {
        self.history.prune(now);
        let page = Page::new(self.epoch, self.history.read(after, limit))
            .with_head(self.head)
            .with_floor(self.history.floor());
        match self.history.newest_id(self.head) {
            Some(id) => page.with_head_id(id),
            None => page,
        }
    }

    /// Whether the engine may drop this topic now.
    pub(super) fn is_idle(&mut self, now: Instant, idle_timeout: std::time::Duration) -> bool {
        self.history.prune(now);
        self.sinks.is_empty() && now.saturating_duration_since(self.last_used) >= idle_timeout
    }
}
