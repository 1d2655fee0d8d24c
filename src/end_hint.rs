//! Why a body is about to end, told by the stream inside it to the layer
//! around it.
//!
//! A hub [`Subscription`](crate::Subscription) that drops a slow consumer
//! ends like any stream that ran out: the body just ends. The layer's close
//! reason (the `sse.stream` span and the stream-duration metric) should still
//! say `slow_consumer`. The body types in between are generic, so the hint
//! travels beside them: the layer clears a thread-local slot before it polls
//! its inner body and reads it after; a stream polled within that call
//! (synchronously, on the same thread) writes the slot. A stream polled
//! elsewhere (in another task that forwards through a channel) leaves the
//! slot empty, and the stream ends with the plain reason `ended`.

use std::cell::Cell;

/// A reason a stream can give for ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndHint {
    /// The hub dropped this subscriber for falling behind
    /// ([`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect)).
    SlowConsumer,
}

thread_local! {
    static HINT: Cell<Option<EndHint>> = const { Cell::new(None) };
}

/// Called by a stream that is about to end for `hint`.
pub(crate) fn note(hint: EndHint) {
    HINT.with(|slot| slot.set(Some(hint)));
}

/// Runs `poll` with an empty slot; returns its output and the hint written
/// during it. The slot keeps the hint, so a layer around this one sees it too.
pub(crate) fn observe<T>(poll: impl FnOnce() -> T) -> (T, Option<EndHint>) {
    HINT.with(|slot| slot.set(None));
    let out = poll();
    (out, HINT.with(Cell::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_seen_by_the_poll_it_was_written_in_and_cleared_for_the_next() {
        let ((), hint) = observe(|| note(EndHint::SlowConsumer));
        assert_eq!(hint, Some(EndHint::SlowConsumer));
        let ((), hint) = observe(|| ());
        assert_eq!(hint, None);
    }

    #[test]
    fn nested_observers_both_see_the_hint() {
        let (inner, outer) = observe(|| observe(|| note(EndHint::SlowConsumer)).1);
        assert_eq!(
            (inner, outer),
            (Some(EndHint::SlowConsumer), Some(EndHint::SlowConsumer))
        );
    }
}
