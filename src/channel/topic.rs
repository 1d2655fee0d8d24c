//! One topic: its local [`Fanout`] and the in-memory source of its events
//! (id assignment, encoding and the history ring).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::config::HubConfig;
use super::fanout::{Fanout, LiveReceiver, Seq};
use super::history::{History, Replay};
use crate::error::{Error, ErrorKind};
use crate::event::{EncodedEvent, Event};
use crate::field::EventId;

/// The outcome of [`Topic::publish`].
#[derive(Debug)]
pub(crate) enum Published {
    /// Published (or failed for good).
    Done(Result<EventId, Error>),
    /// The topic was reclaimed meanwhile: retry with the event on its successor.
    Reclaimed(Event),
}

impl Published {
    #[cfg(test)]
    fn id(self) -> EventId {
        match self {
            Self::Done(Ok(id)) => id,
            other => panic!("not published: {other:?}"),
        }
    }
}

/// A topic of a [`Hub`](super::Hub).
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) fanout: Fanout,
    log: Mutex<Log>,
    /// With Redis: this server following the topic's stream.
    #[cfg(feature = "redis")]
    follow: Mutex<Option<super::redis_source::Follow>>,
}

#[derive(Debug)]
pub(crate) struct Log {
    pub(crate) history: History,
    /// Set when the hub removed this topic from its map; a publisher that
    /// raced with the removal retries on the topic that replaced it.
    pub(crate) reclaimed: bool,
}

impl Topic {
    pub(crate) fn new(config: &HubConfig) -> Self {
        Self {
            fanout: Fanout::new(config.buffer_len()),
            log: Mutex::new(Log {
                history: History::new(config.history_len(), config.max_age_limit()),
                reclaimed: false,
            }),
            #[cfg(feature = "redis")]
            follow: Mutex::new(None),
        }
    }

    /// Ends delivery to this topic's subscribers (after what they buffer)
    /// and stops following its stream.
    pub(crate) fn close(&self) {
        self.fanout.close();
        #[cfg(feature = "redis")]
        self.stop_following();
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        // Nothing that can panic runs under this lock; recover regardless.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Assigns the next position (and id, unless the event has a non-empty
    /// one), encodes once, stores in the history, then delivers. Storing
    /// before delivering is what makes subscribe-then-read-history lossless.
    ///
    /// Hands the event back when the topic was reclaimed meanwhile (the caller
    /// retries on the topic that replaced it).
    pub(crate) fn publish(&self, seq: &AtomicU64, event: Event) -> Published {
        // Events with their own id are encoded before taking the lock.
        let own = event
            .event_id()
            .filter(|id| !id.as_str().is_empty())
            .map(|id| (id.clone(), event.encode()));
        let mut log = self.log();
        if log.reclaimed {
            return Published::Reclaimed(event);
        }
        let next = seq.fetch_add(1, Ordering::Relaxed) + 1;
        let (id, encoded): (EventId, EncodedEvent) = match own {
            Some(own) => own,
            None => {
                let id = EventId::from(next);
                (id.clone(), event.id(id).encode())
            }
        };
        let now = Instant::now();
        log.history.prune(now);
        log.history
            .push(Seq::from(next), id.clone(), encoded.clone(), now);
        Published::Done(if self.fanout.deliver(Seq::from(next), encoded) {
            Ok(id)
        } else {
            Err(Error::new(ErrorKind::Closed))
        })
    }

    #[cfg(feature = "redis")]
    pub(crate) fn start_following(&self, follow: Option<super::redis_source::Follow>) {
        *self.follow.lock().unwrap_or_else(PoisonError::into_inner) = follow;
    }

    #[cfg(feature = "redis")]
    pub(crate) fn stop_following(&self) {
        let follow = self
            .follow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(follow);
    }

    /// Where this server's reader of the topic starts, once known; `None`
    /// when it does not follow the topic.
    #[cfg(feature = "redis")]
    pub(crate) fn position(&self) -> Option<super::redis_source::Position> {
        self.follow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(super::redis_source::Follow::position)
    }

    /// Takes the live receiver first, then reads the history after
    /// `last_event_id`. Both happen under the log lock here, so the cut is
    /// exact; the subscription still de-duplicates by position.
    pub(crate) fn subscribe(&self, last_event_id: Option<&str>) -> (Option<LiveReceiver>, Replay) {
        let mut log = self.log();
        let live = self.fanout.receiver();
        let replay = match last_event_id {
            Some(id) if !id.is_empty() => {
                log.history.prune(Instant::now());
                log.history.replay_after(id)
            }
            _ => Replay::none(),
        };
        (live, replay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_numbers_events_but_keeps_the_apps_own_ids() {
        let topic = Topic::new(&HubConfig::new());
        let seq = AtomicU64::new(0);
        let (mut rx, _) = topic.subscribe(None);
        let rx = rx.as_mut().unwrap();
        assert_eq!(topic.publish(&seq, Event::new().data("a")).id(), "1");
        let own = Event::new().try_id("m-9").unwrap().data("b");
        assert_eq!(topic.publish(&seq, own).id(), "m-9");
        let empty = Event::new().try_id("").unwrap().data("c");
        assert_eq!(topic.publish(&seq, empty).id(), "3");
        let wire: Vec<_> = (0..3).map(|_| rx.try_recv().unwrap().event).collect();
        assert_eq!(wire[0].as_bytes(), &b"id: 1\ndata: a\n\n"[..]);
        assert_eq!(wire[1].as_bytes(), &b"id: m-9\ndata: b\n\n"[..]);
        assert_eq!(wire[2].as_bytes(), &b"id: 3\ndata: c\n\n"[..]);
    }

    #[test]
    fn replay_after_an_app_id_finds_it_by_its_position() {
        let topic = Topic::new(&HubConfig::new());
        let seq = AtomicU64::new(0);
        for id in ["x", "y", "z"] {
            let event = Event::new().try_id(id).unwrap().data(id);
            topic.publish(&seq, event).id();
        }
        let (_, replay) = topic.subscribe(Some("x"));
        assert_eq!(replay.events.len(), 2);
        assert_eq!(replay.through, Some(3));
    }
}
