//! [`SseMetrics`]: counters shared by every stream of one [`SseLayer`](crate::SseLayer),
//! and (with the `metrics` feature) the same figures through the standard
//! `metrics` facade: see [`names`].

pub(crate) mod facade;
pub use self::facade::names;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A cheap handle on the live counters of an [`SseLayer`](crate::SseLayer).
///
/// Clones share the counters; every read is one relaxed atomic load, so it can be
/// polled by a metrics exporter as often as needed. Counts cover event-stream
/// responses only; other responses pass through uncounted.
///
/// ```
/// use tower_sse::SseLayer;
///
/// let layer = SseLayer::new();
/// let metrics = layer.metrics();
/// assert_eq!(metrics.open_streams(), 0);
/// assert_eq!(metrics.snapshot().rejected, 0);
/// ```
#[derive(Clone, Default)]
pub struct SseMetrics {
    inner: Arc<Counters>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) open: AtomicUsize,
    pub(crate) opened: AtomicU64,
    pub(crate) events: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) keep_alives: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

/// A point-in-time copy of every counter, from [`SseMetrics::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SseMetricsSnapshot {
    /// Streams open now (body not yet dropped).
    pub open_streams: usize,
    /// Streams opened since the layer was built.
    pub opened: u64,
    /// Events sent (blank-line-terminated blocks, as a client dispatches them).
    pub events: u64,
    /// Body bytes sent, keep-alives and hints included.
    pub bytes: u64,
    /// Keep-alive comments sent.
    pub keep_alives: u64,
    /// Event-stream requests turned away because of `max_streams`.
    pub rejected: u64,
}

impl SseMetrics {
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner
    }

    /// Streams open now: counted from the response until its body is dropped.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().open_streams(), 0);
    /// ```
    #[must_use]
    pub fn open_streams(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// Streams opened in total.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().opened(), 0);
    /// ```
    #[must_use]
    pub fn opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Events sent in total, counted at the blank line that ends each one.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().events(), 0);
    /// ```
    #[must_use]
    pub fn events(&self) -> u64 {
        self.inner.events.load(Ordering::Relaxed)
    }

    /// Body bytes sent in total.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().bytes(), 0);
    /// ```
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// Keep-alive comments sent in total.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().keep_alives(), 0);
    /// ```
    #[must_use]
    pub fn keep_alives(&self) -> u64 {
        self.inner.keep_alives.load(Ordering::Relaxed)
    }

    /// Event-stream requests rejected by the connection limit.
    ///
    /// ```
    /// assert_eq!(tower_sse::SseLayer::new().metrics().rejected(), 0);
    /// ```
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// All counters at once (each read separately, so not one atomic instant).
    ///
    /// ```
    /// let snapshot = tower_sse::SseLayer::new().metrics().snapshot();
    /// assert_eq!(snapshot.open_streams, 0);
    /// assert_eq!(snapshot.keep_alives, 0);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> SseMetricsSnapshot {
        SseMetricsSnapshot {
            open_streams: self.open_streams(),
            opened: self.opened(),
            events: self.events(),
            bytes: self.bytes(),
            keep_alives: self.keep_alives(),
            rejected: self.rejected(),
        }
    }

    /// Takes one stream slot if fewer than `max` are open; `None` means no limit.
    pub(crate) fn try_open(&self, max: Option<usize>) -> bool {
        let open = &self.inner.open;
        let taken = match max {
            None => {
                open.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(max) => open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
        };
        if taken {
            self.inner.opened.fetch_add(1, Ordering::Relaxed);
            facade::stream_opened();
        } else {
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            facade::stream_rejected();
        }
        taken
    }

    /// Gives back a slot taken by [`SseMetrics::try_open`].
    pub(crate) fn close(&self) {
        self.inner.open.fetch_sub(1, Ordering::AcqRel);
        facade::stream_closed();
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for SseMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_admits_up_to_max_and_counts_rejections() {
        let metrics = SseMetrics::default();
        assert!(metrics.try_open(Some(2)));
        assert!(metrics.try_open(Some(2)));
        assert!(!metrics.try_open(Some(2)));
        metrics.close();
        assert!(metrics.try_open(Some(2)));
        let s = metrics.snapshot();
        assert_eq!((s.open_streams, s.opened, s.rejected), (2, 3, 1));
    }

    #[test]
    fn without_a_limit_every_stream_is_admitted() {
        let metrics = SseMetrics::default();
        for _ in 0..10 {
            assert!(metrics.try_open(None));
        }
        assert_eq!(metrics.open_streams(), 10);
        assert_eq!(metrics.rejected(), 0);
    }
}
