//! [`Hub::publish`]: into the in-memory topics or into Redis.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::hub::{Hub, TopicKey, SWEEP_EVERY};
use super::topic::{Published, Topic};
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::field::EventId;
use crate::into_event::IntoEvent;

impl Hub {
    /// Publishes an event to `topic` and returns its id.
    ///
    /// The event is encoded once. When it has no id (or an empty one) the hub
    /// gives it the next number of a hub-wide counter (`1`, `2`, ...), so ids
    /// increase within every topic; an id of your own is kept, and replay finds
    /// it by comparing `Last-Event-ID` with the stored ids, newest first.
    /// Publishing to a topic nobody listens to only records it in the history.
    /// In memory the future completes at once.
    ///
    /// With the Redis backend (`HubConfig::redis`, feature `redis`) the event is appended to the topic's
    /// stream and its id is the one Redis assigns (an id of your own is
    /// ignored); the future completes once Redis has acknowledged it. A
    /// subscription made on this hub before publishing receives the event.
    ///
    /// # Errors
    ///
    /// When the event cannot be converted (e.g. JSON serialization fails),
    /// with [`ErrorKind::Closed`] after [`Hub::close`], and with Redis with
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails (within the
    /// configured connect and response timeouts). Such an error means the
    /// event was not acknowledged, not that it was not stored: when the
    /// connection drops after Redis received the `XADD` but before its reply,
    /// the event is stored and delivered, and a retry publishes it again under
    /// a new id. Make events idempotent in your data (e.g. carry your own
    /// sequence number) if a retry must not show twice.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, Event, Hub};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = Hub::new();
    /// assert_eq!(hub.publish("votes", "yes").await?, "1");
    /// let own_id = Event::new().try_id("v-2")?.data("no");
    /// assert_eq!(hub.publish("votes", own_id).await?, "v-2");
    /// hub.close();
    /// let err = hub.publish("votes", "yes").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Closed);
    /// # Ok(()) }
    /// ```
    pub async fn publish<E>(&self, topic: &str, event: E) -> Result<EventId, Error>
    where
        E: IntoEvent,
    {
        let event = event.into_event()?;
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Closed));
        }
        #[cfg(feature = "redis")]
        if let Some(source) = &self.inner.redis {
            // A topic this hub has just started following: let its reader
            // find its start first, so subscribe-then-publish here never misses.
            let position = self.inner.topics().get(topic).and_then(|t| t.position());
            if let Some(mut position) = position {
                let ready = position.wait_for(Option::is_some);
                let _ = tokio::time::timeout(source.patience(), ready).await;
            }
            return source.publish(topic, &event).await;
        }
        self.publish_in_memory(topic, event)
    }

    fn publish_in_memory(&self, topic: &str, event: Event) -> Result<EventId, Error> {
        let inner = &*self.inner;
        if inner.config.max_age_limit().is_some()
            && inner.publishes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1
        {
            self.reclaim();
        }
        let mut event = event;
        loop {
            let topic = {
                let mut topics = inner.topics();
                match topics.get(topic) {
                    Some(existing) => Arc::clone(existing),
                    None if inner.config.history_len() == 0 => {
                        // Nobody listens and nothing is kept: just number it.
                        let seq = inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
                        return Ok(match event.event_id() {
                            Some(id) if !id.as_str().is_empty() => id.clone(),
                            _ => EventId::from(seq),
                        });
                    }
                    None => {
                        let created = Arc::new(Topic::new(&inner.config));
                        topics.insert(TopicKey::from(topic), Arc::clone(&created));
                        created
                    }
                }
            };
            match topic.publish(&inner.seq, event) {
                Published::Done(result) => return result,
                Published::Reclaimed(returned) => event = returned,
            }
        }
    }
}
