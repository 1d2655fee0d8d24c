//! The standard metrics, recorded through the [`metrics`](https://docs.rs/metrics)
//! facade when the `metrics` feature is on; without it every function here is
//! an empty inline function.
//!
//! Why `metrics` and not OpenTelemetry directly: most Rust services expose
//! Prometheus, and do it through `metrics-exporter-prometheus`; the facade
//! costs nothing until an app installs a recorder, and OpenTelemetry users
//! bridge it (`metrics-exporter-opentelemetry` and similar). Names follow
//! OpenTelemetry's conventions (dotted, units in seconds, `http.server.*`
//! style); Prometheus exporters turn the dots into underscores.

use std::sync::Arc;
use std::time::Duration;

/// Names and labels of every metric, for dashboards and tests.
pub mod names {
    /// Gauge: event streams open now (the layer's share of OpenTelemetry's
    /// `http.server.active_requests`).
    pub const ACTIVE_STREAMS: &str = "sse.server.active_streams";
    /// Histogram, seconds: how long each stream lasted, labelled with
    /// [`END_REASON`].
    pub const STREAM_DURATION: &str = "sse.server.stream.duration";
    /// Counter: events sent.
    pub const EVENTS: &str = "sse.server.events";
    /// Counter: body bytes sent, keep-alives and hints included.
    pub const BYTES: &str = "sse.server.bytes";
    /// Counter: keep-alive comments sent.
    pub const KEEP_ALIVES: &str = "sse.server.keep_alives";
    /// Counter: event-stream requests turned away by `max_streams`.
    pub const REJECTED: &str = "sse.server.rejected_streams";
    /// Label of [`STREAM_DURATION`]: `client_gone` (the client left),
    /// `ended` (the body ended), `slow_consumer` (a hub subscription dropped
    /// by [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect),
    /// seen when the subscription is polled inside the body, as
    /// `EventStream::new(subscription)` does), `shutdown`, `max_duration` or
    /// `error`.
    pub const END_REASON: &str = "sse.end_reason";

    /// Gauge: subscribers of the hub's topics, all topics together, or one
    /// series per topic (label [`TOPIC`]) with
    /// [`HubConfig::topic_metrics`](crate::HubConfig::topic_metrics).
    ///
    /// By default hub metrics carry no topic label: topic names come from
    /// clients (a chat room, a document id), and a metrics recorder keeps
    /// every label set it has seen. Per-topic counts are always available
    /// from [`Hub::subscribers`](crate::Hub::subscribers).
    pub const HUB_SUBSCRIBERS: &str = "sse.hub.subscribers";
    /// Counter: events replayed from history to reconnecting subscribers.
    pub const HUB_REPLAYED: &str = "sse.hub.replayed_events";
    /// Counter: gap events sent, labelled with [`GAP_REASON`].
    pub const HUB_GAPS: &str = "sse.hub.gaps";
    /// Label of [`HUB_GAPS`]: the gap event's data (`lagged`, `expired`, ...).
    pub const GAP_REASON: &str = "sse.gap_reason";
    /// Label of the hub metrics with
    /// [`HubConfig::topic_metrics`](crate::HubConfig::topic_metrics): the
    /// topic.
    pub const TOPIC: &str = "sse.topic";
}

/// The topic label of one topic's hub metrics: the topic's name when
/// [`HubConfig::topic_metrics`](crate::HubConfig::topic_metrics) is on.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicLabel(
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))] Option<Arc<str>>,
);

impl TopicLabel {
    pub(crate) fn new(topic: &Arc<str>, enabled: bool) -> Self {
        Self(enabled.then(|| Arc::clone(topic)))
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use super::{names, TopicLabel};
    use std::sync::Arc;
    use std::time::Duration;

    /// The topic as a label value, sharing the topic's name (no copy).
    fn topic_value(topic: &Arc<str>) -> metrics::SharedString {
        metrics::SharedString::from(Arc::clone(topic))
    }

    pub(crate) fn stream_opened() {
        metrics::gauge!(names::ACTIVE_STREAMS).increment(1.0);
    }

    pub(crate) fn stream_rejected() {
        metrics::counter!(names::REJECTED).increment(1);
    }

    pub(crate) fn stream_closed() {
        metrics::gauge!(names::ACTIVE_STREAMS).decrement(1.0);
    }

    pub(crate) fn stream_ended(reason: &'static str, duration: Duration) {
        metrics::histogram!(names::STREAM_DURATION, names::END_REASON => reason)
            .record(duration.as_secs_f64());
    }

    pub(crate) fn sent(bytes: u64, events: u64) {
        if bytes > 0 {
            metrics::counter!(names::BYTES).increment(bytes);
        }
        if events > 0 {
            metrics::counter!(names::EVENTS).increment(events);
        }
    }

    pub(crate) fn keep_alive() {
        metrics::counter!(names::KEEP_ALIVES).increment(1);
    }

    fn hub_subscribers(label: &TopicLabel) -> metrics::Gauge {
        match &label.0 {
            Some(topic) => {
                metrics::gauge!(names::HUB_SUBSCRIBERS, names::TOPIC => topic_value(topic))
            }
            None => metrics::gauge!(names::HUB_SUBSCRIBERS),
        }
    }

    pub(crate) fn hub_subscribed(label: &TopicLabel) {
        hub_subscribers(label).increment(1.0);
    }

    pub(crate) fn hub_unsubscribed(label: &TopicLabel) {
        hub_subscribers(label).decrement(1.0);
    }

    pub(crate) fn hub_replayed(label: &TopicLabel, events: u64) {
        match &label.0 {
            Some(topic) => {
                metrics::counter!(names::HUB_REPLAYED, names::TOPIC => topic_value(topic))
            }
            None => metrics::counter!(names::HUB_REPLAYED),
        }
        .increment(events);
    }

    pub(crate) fn hub_gap(label: &TopicLabel, reason: &'static str) {
        match &label.0 {
            Some(topic) => metrics::counter!(
                names::HUB_GAPS,
                names::GAP_REASON => reason,
                names::TOPIC => topic_value(topic)
            ),
            None => metrics::counter!(names::HUB_GAPS, names::GAP_REASON => reason),
        }
        .increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use super::TopicLabel;
    use std::time::Duration;

    pub(crate) fn stream_opened() {}
    pub(crate) fn stream_rejected() {}
    pub(crate) fn stream_closed() {}
    pub(crate) fn stream_ended(_reason: &'static str, _duration: Duration) {}
    pub(crate) fn sent(_bytes: u64, _events: u64) {}
    pub(crate) fn keep_alive() {}
    pub(crate) fn hub_subscribed(_label: &TopicLabel) {}
    pub(crate) fn hub_unsubscribed(_label: &TopicLabel) {}
    pub(crate) fn hub_replayed(_label: &TopicLabel, _events: u64) {}
    pub(crate) fn hub_gap(_label: &TopicLabel, _reason: &'static str) {}
}

/// A stream took a slot (the active-streams gauge goes up).
pub(crate) fn stream_opened() {
    imp::stream_opened();
}

/// A request was turned away by the connection limit.
pub(crate) fn stream_rejected() {
    imp::stream_rejected();
}

/// A stream gave its slot back (the gauge goes down).
pub(crate) fn stream_closed() {
    imp::stream_closed();
}

/// A stream ended after `duration`, for `reason` (an `EndReason` label).
pub(crate) fn stream_ended(reason: &'static str, duration: Duration) {
    imp::stream_ended(reason, duration);
}

/// A frame went out: `bytes` bytes holding `events` events.
pub(crate) fn sent(bytes: u64, events: u64) {
    imp::sent(bytes, events);
}

/// A keep-alive comment went out.
pub(crate) fn keep_alive() {
    imp::keep_alive();
}

/// A hub subscription was made.
pub(crate) fn hub_subscribed(label: &TopicLabel) {
    imp::hub_subscribed(label);
}

/// A hub subscription was dropped.
pub(crate) fn hub_unsubscribed(label: &TopicLabel) {
    imp::hub_unsubscribed(label);
}

/// `events` events were replayed from history.
pub(crate) fn hub_replayed(label: &TopicLabel, events: u64) {
    imp::hub_replayed(label, events);
}

/// A gap event with data `reason` was sent to a subscriber.
pub(crate) fn hub_gap(label: &TopicLabel, reason: &'static str) {
    imp::hub_gap(label, reason);
}
