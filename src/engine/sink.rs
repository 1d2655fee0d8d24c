//! [`Sink`]: where an engine hands the events of a followed topic, and
//! [`Follow`]: the handle that keeps the following alive.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use super::position::Offset;
use super::record::Record;
use crate::event::EncodedEvent;

/// What a [`Sink`] delivers into: a hub's local fan-out of one topic. The
/// hub implements it; engines only see [`Sink`].
pub(crate) trait Deliver: Send + Sync {
    /// Hands one encoded event at `offset` to every local subscriber;
    /// `false` when nobody can receive any more (closed).
    fn deliver(&self, offset: Offset, event: EncodedEvent) -> bool;
    /// Delivers a `lagged` gap event placed just before `next`, then `next`.
    fn deliver_after_gap(&self, next: &Record) -> bool;
    /// The topic's history was recreated: end the local subscriptions.
    fn reset(&self);
}

/// The hub's side of following one topic: an engine calls
/// [`Sink::deliver`] with every event stored on the topic, in offset order,
/// from the moment [`Engine::follow`](super::Engine::follow) returned.
///
/// Delivering is cheap and never blocks: the event goes into one bounded
/// ring shared by the topic's subscribers (the hub's slow-consumer policy
/// applies there). An engine that delivers from inside `append` (the
/// in-memory one does, under its topic lock) may call it while holding locks
/// of its own: the sink takes only the ring's lock.
///
/// A sink holds the hub weakly: once the hub stops following the topic (or is
/// dropped), [`Sink::deliver`] returns `Break` and the engine should stop.
#[derive(Clone)]
pub struct Sink {
    target: Weak<dyn Deliver>,
    /// Events were missed before the next delivery.
    missed: Arc<AtomicBool>,
}

impl Sink {
    pub(crate) fn new(target: Weak<dyn Deliver>) -> Self {
        Self {
            target,
            missed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Hands `record` to every local subscriber of the topic (a clone of its
    /// shared bytes each, taken when they read it). `Break` once nobody
    /// follows the topic any more: stop calling.
    pub fn deliver(&self, record: &Record) -> ControlFlow<()> {
        let Some(target) = self.target.upgrade() else {
            return ControlFlow::Break(());
        };
        let delivered = if self.missed.swap(false, Ordering::AcqRel) {
            target.deliver_after_gap(record)
        } else {
            target.deliver(record.offset(), record.encoded().clone())
        };
        if delivered {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// Says that events stored on the topic could not be delivered (say, the
    /// engine's reader lost its connection and they were trimmed meanwhile):
    /// the next [`Sink::deliver`] is preceded by a [gap event](crate::GAP_EVENT_TYPE)
    /// with data `lagged`. Never a silent skip.
    pub fn missed(&self) {
        self.missed.store(true, Ordering::Release);
    }

    /// Says that the topic's history was lost and recreated under a new
    /// epoch: the local subscriptions end (after what they buffered), their
    /// browsers reconnect, and the hub answers their now foreign ids with a
    /// `reset` gap event.
    pub fn reset(&self) {
        if let Some(target) = self.target.upgrade() {
            target.reset();
        }
    }

    /// Whether nobody follows the topic any more.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.target.strong_count() == 0
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A running [`Engine::follow`](super::Engine::follow): the engine keeps
/// delivering to the sink while this handle lives; dropping it stops that
/// (the engine's guard is dropped: it unregisters the sink, aborts a reader
/// task, …).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use tower_sse::engine::Follow;
///
/// struct Stop(Arc<AtomicBool>);
/// impl Drop for Stop {
///     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst) }
/// }
///
/// let stopped = Arc::new(AtomicBool::new(false));
/// let follow = Follow::new(Stop(Arc::clone(&stopped)));
/// drop(follow);
/// assert!(stopped.load(Ordering::SeqCst));
/// ```
#[must_use = "following stops when the handle is dropped"]
pub struct Follow {
    _guard: Box<dyn Send + Sync>,
}

impl Follow {
    /// A handle whose drop drops `guard`.
    pub fn new<G>(guard: G) -> Self
    where
        G: Send + Sync + 'static,
    {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follow").finish_non_exhaustive()
    }
}
