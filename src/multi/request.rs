//! [`MultiRequest`]: which topics a multi-topic subscription asks for, from
//! where, and for whom.

use super::authorize::Subscriber;
use super::multiplexer::Multiplexer;

/// What to subscribe to: the topics, the cursor the browser sent back, and
/// the [`Subscriber`].
///
/// Topics the cursor knows resume where it says; topics it does not know
/// (added since) start live, or from the id given with
/// [`MultiRequest::topic_from`]; topics it knows but the request does not name
/// are dropped.
///
/// ```
/// use tower_sse::multi::{MultiRequest, Subscriber};
///
/// let request = MultiRequest::new(["rooms/1", "rooms/2"])
///     .topic_from("rooms/3", "0") // its whole history, if the cursor does not know it
///     .last_event_id(Some("AQ..."))
///     .subscriber(Subscriber::new("ann"));
/// assert_eq!(request.topics().collect::<Vec<_>>(), ["rooms/1", "rooms/2", "rooms/3"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MultiRequest {
    pub(crate) topics: Vec<(String, Option<String>)>,
    /// More topics were offered than any multiplexer accepts.
    pub(crate) overflow: bool,
    pub(crate) last_event_id: Option<String>,
    /// An id was sent that is no cursor at all (refused by the layer, or
    /// unreadable): every topic gets a gap.
    pub(crate) cursor_invalid: bool,
    pub(crate) subscriber: Subscriber,
}

impl MultiRequest {
    /// A request for `topics`, starting live unless the cursor knows them.
    /// Reads at most [`Multiplexer::MAX_TOPICS`] + 1 of them, so a huge list
    /// costs nothing more before it is refused.
    #[must_use]
    pub fn new<I, T>(topics: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut request = Self::default();
        // One past the limit is enough to know it was passed.
        for topic in topics.into_iter().take(Multiplexer::MAX_TOPICS + 1) {
            request = request.push(topic.into(), None);
        }
        request
    }

    fn push(mut self, topic: String, from: Option<String>) -> Self {
        if self.topics.len() < Multiplexer::MAX_TOPICS {
            self.topics.push((topic, from));
        } else {
            self.overflow = true;
        }
        self
    }

    /// Adds a topic that, when the cursor does not know it, starts after the
    /// event with id `from` (`"0"`: from the start of its history).
    #[must_use]
    pub fn topic_from(self, topic: impl Into<String>, from: impl Into<String>) -> Self {
        self.push(topic.into(), Some(from.into()))
    }

    /// The cursor the browser sent (`Last-Event-ID`, or a `lastEventId` query
    /// parameter); `None` or empty: a fresh subscription.
    #[must_use]
    pub fn last_event_id<S>(mut self, id: Option<S>) -> Self
    where
        S: Into<String>,
    {
        self.last_event_id = id.map(Into::into).filter(|id| !id.is_empty());
        self
    }

    /// Who subscribes (default: [`Subscriber::anonymous`]).
    #[must_use]
    pub fn subscriber(mut self, subscriber: Subscriber) -> Self {
        self.subscriber = subscriber;
        self
    }

    /// The requested topics, in order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(|(t, _)| t.as_str())
    }
}
