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

use super::header::{scan, Header};
use crate::engine::Offset;
use crate::event::EncodedEvent;

/// One event on its way to the subscribers: its position and its wire bytes.
/// Cloning it is one reference-count bump.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) offset: Offset,
    pub(crate) event: EncodedEvent,
    /// Its header, read once for every subscriber.
    pub(crate) header: Header,
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
    ring: Mutex<Ring>,
    buffer: usize,
    subscribers: AtomicUsize,
}

/// The broadcast ring, created with the first receiver: tokio allocates
/// the whole ring up front, and a topic whose subscription is refused (or
/// never reads) should not pay for it.
#[derive(Debug)]
enum Ring {
    Unopened,
    /// Dropping the only sender ends every receiver after the events it
    /// still buffers.
    Open(broadcast::Sender<Delivery>),
    Closed,
}

impl Fanout {
    pub(crate) fn new(buffer: usize) -> Self {
        Self {
            ring: Mutex::new(Ring::Unopened),
            buffer: buffer.max(1),
            subscribers: AtomicUsize::new(0),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // Nothing panics while the lock is held, so poisoning cannot happen;
        // recover anyway rather than propagate a panic.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `event` to every current subscriber: one `Bytes` clone each, at
    /// the time each one reads it. Returns `false` when the fan-out is closed.
    pub(crate) fn deliver(&self, offset: Offset, event: EncodedEvent) -> bool {
        match &*self.ring() {
            Ring::Open(sender) => {
                // An error only means there is no receiver right now.
                let header = scan(event.as_bytes());
                let _ = sender.send(Delivery {
                    offset,
                    event,
                    header,
                });
                true
            }
            // No receiver was ever taken: nobody to deliver to.
            Ring::Unopened => true,
            Ring::Closed => false,
        }
    }

    /// A receiver of every event delivered from now on, or `None` when closed.
    /// The caller counts it with [`Fanout::add_subscriber`].
    pub(crate) fn receiver(&self) -> Option<LiveReceiver> {
        let mut ring = self.ring();
        if matches!(*ring, Ring::Unopened) {
            *ring = Ring::Open(broadcast::channel(self.buffer).0);
        }
        match &*ring {
            Ring::Open(sender) => Some(sender.subscribe()),
            _ => None,
        }
    }

    /// Whether the ring has been allocated.
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        matches!(*self.ring(), Ring::Open(_))
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
        *self.ring() = Ring::Closed;
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        matches!(*self.ring(), Ring::Closed)
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
    fn the_ring_is_allocated_with_the_first_receiver() {
        let fanout = Fanout::new(256);
        assert!(!fanout.is_allocated());
        assert!(fanout.deliver(Offset::from(1), Event::new().data("x").encode()));
        assert!(
            !fanout.is_allocated(),
            "delivering to nobody allocates nothing"
        );
        let mut rx = fanout.receiver().unwrap();
        assert!(fanout.is_allocated());
        fanout.deliver(Offset::from(2), Event::new().data("y").encode());
        assert_eq!(rx.try_recv().unwrap().offset, Offset::from(2));
        fanout.close();
        assert!(!fanout.is_allocated());
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
