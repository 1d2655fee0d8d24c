//! One topic a [`Hub`](super::Hub) has local subscribers for: its fan-out
//! ring and the engine's [`Follow`] feeding it.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::fanout::Fanout;
use super::gap::{gap_event, GapReason};
use super::hub::{HubInner, TopicKey};
use crate::engine::{Deliver, Follow, Offset, Record};
use crate::event::EncodedEvent;
use crate::metrics::facade::TopicLabel;

/// A followed topic. The hub's map holds it while it has subscribers; the
/// engine's sink holds it weakly.
pub(crate) struct Topic {
    pub(crate) key: TopicKey,
    pub(crate) fanout: Fanout,
    /// The topic label of its hub metrics.
    pub(crate) label: TopicLabel,
    hub: Weak<HubInner>,
    /// The engine following the topic for this hub; dropped (outside the
    /// hub's lock) when the topic is released or closed.
    follow: Mutex<Option<Follow>>,
}

impl Topic {
    pub(crate) fn new(key: TopicKey, buffer: usize, label: bool, hub: Weak<HubInner>) -> Self {
        Self {
            label: TopicLabel::new(&key, label),
            key,
            fanout: Fanout::new(buffer),
            hub,
            follow: Mutex::new(None),
        }
    }

    pub(crate) fn set_follow(&self, follow: Follow) {
        *self.follow.lock().unwrap_or_else(PoisonError::into_inner) = Some(follow);
    }

    /// Ends delivery to this topic's subscribers (after what they buffered)
    /// and stops following it. Call without holding the hub's topics lock.
    pub(crate) fn close(&self) {
        self.fanout.close();
        self.stop_following();
    }

    /// Stops the engine following the topic. Call without holding the hub's
    /// topics lock (an engine's guard may take locks of its own).
    pub(crate) fn stop_following(&self) {
        let follow = self
            .follow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(follow);
    }
}

impl Deliver for Topic {
    fn deliver(&self, offset: Offset, event: EncodedEvent) -> bool {
        self.fanout.deliver(offset, event)
    }

    fn deliver_after_gap(&self, next: &Record) -> bool {
        // The gap takes the id of the first event after the missed ones,
        // which follows it: state reloaded on the gap includes it.
        crate::metrics::facade::hub_gap(&self.label, GapReason::Lagged.as_str());
        let gap = gap_event(GapReason::Lagged, next.id());
        self.fanout.deliver(next.offset(), gap)
            && self.fanout.deliver(next.offset(), next.encoded().clone())
    }

    fn reset(&self) {
        tracing::warn!(
            topic = &*self.key,
            "the topic's history was recreated; ending local subscriptions"
        );
        match self.hub.upgrade() {
            Some(hub) => hub.end_topic(&self.key, self),
            None => self.fanout.close(),
        }
    }
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("key", &&*self.key)
            .field("subscribers", &self.fanout.subscribers())
            .finish_non_exhaustive()
    }
}

/// The sink an engine delivers this topic's events into.
pub(crate) fn sink_for(topic: &Arc<Topic>) -> crate::engine::Sink {
    let target: Weak<dyn Deliver> = Arc::downgrade(topic) as Weak<dyn Deliver>;
    crate::engine::Sink::new(target)
}
