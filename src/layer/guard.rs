//! [`StreamGuard`]: holds a stream's slot, counts it, and logs its close.

use std::fmt;
use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::Span;

use crate::metrics::SseMetrics;

/// Why a stream ended, as logged in the close event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The body was dropped before it ended: the client went away.
    ClientGone,
    /// The inner body ended.
    Ended,
    /// The shutdown signal ended it.
    Shutdown,
    /// `max_duration` ended it.
    MaxDuration,
    /// The inner body failed.
    Error,
    /// The hub dropped the subscriber for falling behind.
    SlowConsumer,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientGone => "client_gone",
            Self::Ended => "ended",
            Self::Shutdown => "shutdown",
            Self::MaxDuration => "max_duration",
            Self::Error => "error",
            Self::SlowConsumer => "slow_consumer",
        }
    }
}

/// One open stream: releases its slot in [`SseMetrics`] when dropped.
pub(crate) struct StreamGuard {
    metrics: SseMetrics,
    span: Span,
    opened: Instant,
    events: u64,
    bytes: u64,
    reason: Option<EndReason>,
}

impl StreamGuard {
    /// Takes over a slot already taken with `SseMetrics::try_open`.
    pub(crate) fn new(metrics: SseMetrics, version: http::Version) -> Self {
        let span = tracing::debug_span!(
            "sse.stream",
            version = ?version,
            duration_ms = tracing::field::Empty,
            events = tracing::field::Empty,
            bytes = tracing::field::Empty,
            reason = tracing::field::Empty,
        );
        tracing::debug!(parent: &span, "sse stream opened");
        Self {
            metrics,
            span,
            opened: Instant::now(),
            events: 0,
            bytes: 0,
            reason: None,
        }
    }

    /// Records a frame sent to the client.
    pub(crate) fn sent(&mut self, bytes: usize, events: u64) {
        let bytes = bytes as u64;
        self.bytes += bytes;
        self.events += events;
        let c = self.metrics.counters();
        SseMetrics::add(&c.bytes, bytes);
        SseMetrics::add(&c.events, events);
        crate::metrics::facade::sent(bytes, events);
    }

    /// Records a keep-alive of `bytes` bytes.
    pub(crate) fn keep_alive(&mut self, bytes: usize) {
        self.sent(bytes, 0);
        self.metrics
            .counters()
            .keep_alives
            .fetch_add(1, Ordering::Relaxed);
        crate::metrics::facade::keep_alive();
    }

    /// Records why the stream ended (the first reason wins).
    pub(crate) fn end(&mut self, reason: EndReason) {
        self.reason.get_or_insert(reason);
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.close();
        let reason = self.reason.unwrap_or(EndReason::ClientGone).as_str();
        let elapsed = self.opened.elapsed();
        crate::metrics::facade::stream_ended(reason, elapsed);
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.span.record("duration_ms", duration_ms);
        self.span.record("events", self.events);
        self.span.record("bytes", self.bytes);
        self.span.record("reason", reason);
        tracing::debug!(
            parent: &self.span,
            duration_ms,
            events = self.events,
            bytes = self.bytes,
            reason,
            "sse stream closed"
        );
    }
}

impl fmt::Debug for StreamGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamGuard")
            .field("events", &self.events)
            .field("bytes", &self.bytes)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_releases_the_slot_and_keeps_the_totals() {
        let metrics = SseMetrics::default();
        assert!(metrics.try_open(Some(1)));
        let mut guard = StreamGuard::new(metrics.clone(), http::Version::HTTP_11);
        guard.sent(10, 2);
        guard.keep_alive(2);
        guard.end(EndReason::Ended);
        guard.end(EndReason::Error);
        assert_eq!(guard.reason, Some(EndReason::Ended));
        assert_eq!(metrics.open_streams(), 1);
        drop(guard);
        let s = metrics.snapshot();
        assert_eq!(
            (s.open_streams, s.bytes, s.events, s.keep_alives),
            (0, 12, 2, 1)
        );
    }
}
