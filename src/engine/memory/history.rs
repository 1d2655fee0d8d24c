//! The in-memory history ring of one topic: recent [`Record`]s, bounded by
//! count and optionally by age. The ring allocates as it fills, not up front.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{Offset, Record};
use crate::field::EventId;

#[derive(Debug)]
struct Stored {
    record: Record,
    at: Instant,
}

/// A bounded ring of recent events.
#[derive(Debug)]
pub(super) struct History {
    entries: VecDeque<Stored>,
    capacity: usize,
    max_age: Option<Duration>,
    /// The newest event no longer stored (`None` while nothing was dropped):
    /// its offset is the floor, its id stays a valid resume point.
    last_evicted: Option<(Offset, EventId)>,
}

impl History {
    pub(super) fn new(capacity: usize, max_age: Option<Duration>) -> Self {
        Self {
            // No allocation until the first event.
            entries: VecDeque::new(),
            capacity,
            max_age,
            last_evicted: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The heap capacity of the ring, in events (for tests of laziness).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.entries.capacity()
    }

    /// The newest offset no longer stored.
    pub(super) fn floor(&self) -> Offset {
        self.last_evicted.as_ref().map_or(Offset::ZERO, |(o, _)| *o)
    }

    pub(super) fn push(&mut self, record: Record, now: Instant) {
        if self.capacity == 0 {
            self.last_evicted = Some((record.offset(), record.id().clone()));
            return;
        }
        if self.entries.len() >= self.capacity {
            self.evict_oldest();
        }
        self.entries.push_back(Stored { record, at: now });
    }

    fn evict_oldest(&mut self) {
        if let Some(old) = self.entries.pop_front() {
            self.last_evicted = Some((old.record.offset(), old.record.id().clone()));
        }
    }

    /// Drops entries older than the age limit.
    pub(super) fn prune(&mut self, now: Instant) {
        let Some(max_age) = self.max_age else { return };
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) > max_age)
        {
            self.evict_oldest();
        }
        if self.entries.is_empty() && self.entries.capacity() > 0 {
            self.entries = VecDeque::new();
        }
    }

    /// At most `limit` records after `after`, oldest first.
    pub(super) fn read(&self, after: Offset, limit: usize) -> Vec<Record> {
        let start = self.entries.partition_point(|e| e.record.offset() <= after);
        self.entries
            .range(start..)
            .take(limit)
            .map(|e| e.record.clone())
            .collect()
    }

    /// The id of the event at `offset` if it is the newest one known (stored
    /// or last dropped).
    pub(super) fn newest_id(&self, offset: Offset) -> Option<EventId> {
        match self.entries.back() {
            Some(e) => (e.record.offset() == offset).then(|| e.record.id().clone()),
            None => self
                .last_evicted
                .as_ref()
                .filter(|(o, _)| *o == offset)
                .map(|(_, id)| id.clone()),
        }
    }

    /// The offset of the newest stored (or last dropped) event with id `id`.
    pub(super) fn locate(&self, id: &str) -> Option<Offset> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.record.id() == id)
            .map(|e| e.record.offset())
            .or_else(|| {
                self.last_evicted
                    .as_ref()
                    .filter(|(_, evicted)| evicted == id)
                    .map(|(offset, _)| *offset)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Epoch, Position};
    use crate::Event;

    fn record(n: u64) -> Record {
        let epoch = Epoch::new("e").unwrap();
        Record::encode(
            Position::new(epoch, Offset::from(n)),
            Event::new().data("x"),
        )
    }

    fn offsets(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.offset().minor()).collect()
    }

    #[test]
    fn the_ring_keeps_the_newest_events_and_raises_its_floor() {
        let now = Instant::now();
        let mut history = History::new(3, None);
        assert_eq!(
            history.allocated(),
            0,
            "no allocation before the first event"
        );
        for n in 1..=5 {
            history.push(record(n), now);
        }
        assert_eq!(offsets(&history.read(Offset::ZERO, 10)), [3, 4, 5]);
        assert_eq!(offsets(&history.read(Offset::from(3), 10)), [4, 5]);
        assert_eq!(offsets(&history.read(Offset::ZERO, 2)), [3, 4]);
        assert_eq!(history.floor(), Offset::from(2));
        assert_eq!(history.locate("e.2"), Some(Offset::from(2)));
        assert_eq!(history.locate("e.1"), None);
    }

    #[test]
    fn zero_capacity_remembers_only_the_last_id() {
        let mut history = History::new(0, None);
        history.push(record(1), Instant::now());
        assert_eq!(history.len(), 0);
        assert_eq!(history.floor(), Offset::from(1));
        assert_eq!(history.allocated(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_older_than_the_age_limit_are_pruned_and_their_memory_freed() {
        let mut history = History::new(10, Some(Duration::from_secs(10)));
        history.push(record(1), Instant::now());
        tokio::time::advance(Duration::from_secs(6)).await;
        history.push(record(2), Instant::now());
        tokio::time::advance(Duration::from_secs(6)).await;
        history.prune(Instant::now());
        assert_eq!(offsets(&history.read(Offset::ZERO, 10)), [2]);
        tokio::time::advance(Duration::from_secs(6)).await;
        history.prune(Instant::now());
        assert_eq!(history.len(), 0);
        assert_eq!(history.allocated(), 0);
        assert_eq!(history.floor(), Offset::from(2));
    }

    #[test]
    fn a_huge_age_limit_does_not_overflow() {
        let mut history = History::new(10, Some(Duration::MAX));
        history.push(record(1), Instant::now());
        history.prune(Instant::now());
        assert_eq!(history.len(), 1);
    }
}
