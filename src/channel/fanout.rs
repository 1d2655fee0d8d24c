//! The local fan-out machinery: delivers already-encoded events to every
//! subscriber of one topic in this process.
//!
//! This half knows nothing about where events come from: the topic's
//! [`Sink`](crate::engine::Sink) calls [`Fanout::deliver`] for every event
//! its engine stored (the in-memory engine under its own lock after storing,
//! Redis from its reader task), in offset order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::engine::Offset;
use crate::event::EncodedEvent;

/// One event on its way to the subscribers: its position and its wire bytes.
/// Cloning it is one reference-count bump.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) offset: Offset,
    pub(crate) event: EncodedEvent,
}

/// A live receiver handed to a [`Subscription`](super::Subscription).
pub(crate) type LiveReceiver = broadcast::Receiver<Delivery>;

/// Per-topic fan-out: one bounded broadcast ring shared by all subscribers.
///
/// A hub creates it when the topic gets its first local subscriber and drops
/// it with the last one (tokio allocates the whole ring up front), so topics
/// that are only published to cost no ring.
#[derive(Debug)]
pub(crate) struct Fanout {
    /// `None` once closed; dropping the only sender ends every receiver after
    /// the events it still buffers.
    sender: Mutex<Option<broadcast::Sender<Delivery>>>,
    subscribers: AtomicUsize,
}

impl Fanout {
    pub(crate) fn new(buffer: usize) -> Self {
        let (sender, _) = broadcast::channel(buffer.max(1));
        Self {
            sender: Mutex::new(Some(sender)),
            subscribers: AtomicUsize::new(0),
        }
    }

    fn sender(&self) -> MutexGuard<'_, Option<broadcast::Sender<Delivery>>> {
        // Nothing panics while the lock is held, so poisoning cannot happen;
        // recover anyway rather than propagate a panic.
        self.sender.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `event` to every current subscriber: one `Bytes` clone each, at
    /// the time each one reads it. Returns `false` when the fan-out is closed.
    pub(crate) fn deliver(&self, offset: Offset, event: EncodedEvent) -> bool {
        match &*self.sender() {
            Some(sender) => {
                // An error only means there is no receiver right now.
                let _ = sender.send(Delivery { offset, event });
                true
            }
            None => false,
        }
    }

    /// A receiver of every event delivered from now on, or `None` when closed.
    /// The caller counts it with [`Fanout::add_subscriber`].
    pub(crate) fn receiver(&self) -> Option<LiveReceiver> {
        self.sender().as_ref().map(broadcast::Sender::subscribe)
    }

    pub(crate) fn add_subscriber(&self) {
        self.subscribers.fetch_add(1, Ordering::AcqRel);
    }

    /// Returns the number of subscribers left.
    pub(crate) fn remove_subscriber(&self) -> usize {
        self.subscribers.fetch_sub(1, Ordering::AcqRel) - 1
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// Ends every subscription once it has read what it already buffers.
    pub(crate) fn close(&self) {
        self.sender().take();
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.sender().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn delivered_events_share_their_bytes() {
        let fanout = Fanout::new(4);
        let mut a = fanout.receiver().unwrap();
        let mut b = fanout.receiver().unwrap();
        let event = Event::new().data("x").encode();
        assert!(fanout.deliver(Offset::from(1), event.clone()));
        let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!(a.offset, Offset::from(1));
        assert_eq!(a.event.as_bytes().as_ptr(), event.as_bytes().as_ptr());
        assert_eq!(b.event.as_bytes().as_ptr(), event.as_bytes().as_ptr());
    }

    #[test]
    fn close_ends_receivers_after_their_buffered_events() {
        let fanout = Fanout::new(4);
        let mut rx = fanout.receiver().unwrap();
        fanout.deliver(Offset::from(1), Event::new().data("x").encode());
        fanout.close();
        assert!(fanout.is_closed());
        assert!(!fanout.deliver(Offset::from(2), Event::new().data("y").encode()));
        assert!(fanout.receiver().is_none());
        assert_eq!(rx.try_recv().unwrap().offset, Offset::from(1));
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }
}
