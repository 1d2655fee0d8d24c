//! The in-memory history ring of one topic, and [`Replay`]: what a history
//! answers to "everything after this `Last-Event-ID`".

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::fanout::Seq;
use super::gap::{gap_event, GapReason};
use crate::event::EncodedEvent;
use crate::field::EventId;

/// The answer of a history to a resume request. This is the seam a backend
/// with its own log (e.g. Redis `XRANGE`) fills in.
#[derive(Debug)]
pub(crate) struct Replay {
    /// Events to send before the live ones: the replayed events, or one gap event.
    pub(crate) events: VecDeque<EncodedEvent>,
    /// Live events at or before this position are already covered and skipped.
    pub(crate) through: Option<Seq>,
}

impl Replay {
    /// No replay: a fresh subscription.
    pub(crate) fn none() -> Self {
        Self {
            events: VecDeque::new(),
            through: None,
        }
    }
}

#[derive(Debug)]
struct Stored {
    seq: Seq,
    id: EventId,
    event: EncodedEvent,
    at: Instant,
}

/// A bounded ring of recent events, by count and optionally by age.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<Stored>,
    capacity: usize,
    max_age: Option<Duration>,
    /// The newest event no longer stored. A topic starts at `(0, "0")`, so
    /// `Last-Event-ID: 0` means "from the beginning".
    last_evicted: (Seq, EventId),
}

impl History {
    pub(crate) fn new(capacity: usize, max_age: Option<Duration>) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(64)),
            capacity,
            max_age,
            last_evicted: (0, EventId::from(0_u64)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn push(&mut self, seq: Seq, id: EventId, event: EncodedEvent, now: Instant) {
        if self.capacity == 0 {
            self.last_evicted = (seq, id);
            return;
        }
        if self.entries.len() == self.capacity {
            self.evict_oldest();
        }
        self.entries.push_back(Stored {
            seq,
            id,
            event,
            at: now,
        });
    }

    fn evict_oldest(&mut self) {
        if let Some(old) = self.entries.pop_front() {
            self.last_evicted = (old.seq, old.id);
        }
    }

    /// Drops entries older than the age limit.
    pub(crate) fn prune(&mut self, now: Instant) {
        let Some(max_age) = self.max_age else { return };
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) > max_age)
        {
            self.evict_oldest();
        }
    }

    /// The newest event, stored or evicted.
    fn newest(&self) -> (Seq, &EventId) {
        match self.entries.back() {
            Some(e) => (e.seq, &e.id),
            None => (self.last_evicted.0, &self.last_evicted.1),
        }
    }

    /// Everything after the event with id `last_id` (the newest such event
    /// when ids repeat), or a gap event when that id is not known.
    pub(crate) fn replay_after(&self, last_id: &str) -> Replay {
        let (newest_seq, newest_id) = self.newest();
        let start = match self.entries.iter().rposition(|e| e.id == last_id) {
            Some(found) => Some(found + 1),
            None if self.last_evicted.1 == last_id => Some(0),
            None => None,
        };
        let events = match start {
            Some(start) => self
                .entries
                .range(start..)
                .map(|e| e.event.clone())
                .collect(),
            None => VecDeque::from([gap_event(GapReason::UnknownId, newest_id)]),
        };
        Replay {
            events,
            through: Some(newest_seq),
        }
    }

    /// The stored events with their positions, oldest first.
    #[cfg(test)]
    fn deliveries(&self) -> Vec<super::fanout::Delivery> {
        self.entries
            .iter()
            .map(|e| super::fanout::Delivery {
                seq: e.seq,
                event: e.event.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn push(history: &mut History, seq: u64, now: Instant) {
        let event = Event::new().id(seq).data("x").encode();
        history.push(Seq::from(seq), EventId::from(seq), event, now);
    }

    fn replayed_ids(replay: &Replay) -> Vec<String> {
        replay
            .events
            .iter()
            .map(|e| super::super::gap::encoded_id(e).unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_ring_keeps_the_newest_events() {
        let now = Instant::now();
        let mut history = History::new(3, None);
        for seq in 1..=5 {
            push(&mut history, seq, now);
        }
        let seqs: Vec<_> = history.deliveries().iter().map(|d| d.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(replayed_ids(&history.replay_after("3")), ["4", "5"]);
        // The last evicted id is still a valid resume point.
        assert_eq!(replayed_ids(&history.replay_after("2")), ["3", "4", "5"]);
        assert_eq!(history.replay_after("5").through, Some(5));
    }

    #[test]
    fn an_expired_id_gets_a_gap_with_the_newest_id() {
        let mut history = History::new(3, None);
        for seq in 1..=5 {
            push(&mut history, seq, Instant::now());
        }
        let replay = history.replay_after("1");
        assert_eq!(
            replay.events[0].as_bytes(),
            &b"event: sse-gap\nid: 5\ndata: unknown-id\n\n"[..]
        );
        assert_eq!(replay.events.len(), 1);
        assert_eq!(replay.through, Some(5));
    }

    #[test]
    fn a_new_topic_resumes_from_zero_without_a_gap() {
        let history = History::new(3, None);
        assert!(history.replay_after("0").events.is_empty());
        assert_eq!(replayed_ids(&history.replay_after("9")), ["0"]);
    }

    #[test]
    fn zero_capacity_remembers_only_the_last_id() {
        let mut history = History::new(0, None);
        push(&mut history, 1, Instant::now());
        assert!(history.is_empty());
        assert!(history.replay_after("1").events.is_empty());
        assert_eq!(replayed_ids(&history.replay_after("0")), ["1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_older_than_the_age_limit_are_pruned() {
        let mut history = History::new(10, Some(Duration::from_secs(10)));
        push(&mut history, 1, Instant::now());
        tokio::time::advance(Duration::from_secs(6)).await;
        push(&mut history, 2, Instant::now());
        tokio::time::advance(Duration::from_secs(6)).await;
        history.prune(Instant::now());
        assert_eq!(history.len(), 1);
        assert_eq!(replayed_ids(&history.replay_after("1")), ["2"]);
    }
}
