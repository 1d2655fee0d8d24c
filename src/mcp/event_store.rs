//! [`HubEventStore`]: rmcp's `EventStore` on a hub topic per stream.

use std::fmt;
use std::hash::Hasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::{
    EventId as McpEventId, EventStore, EventStoreError, EventStream, ServerSseMessage,
};

use crate::channel::{Hub, Subscription, GAP_EVENT_TYPE};
use crate::event::{EncodedEvent, Event};
use crate::parse::{parse, Item};
use crate::resumable::lookup::{check_resume, Refusal};
use crate::resumable::terminal::has_type;
use crate::resumable::StreamToken;

/// rmcp's `EventStore` on a [`Hub`]: each rmcp stream is a hub topic; events
/// are stored (in memory, or in Redis Streams with a Redis hub) before rmcp
/// writes them, and a resume replays the stream after `Last-Event-ID`, then
/// follows it live until the JSON-RPC response that ends a request's stream,
/// so a client resuming on another node receives what that node stores
/// meanwhile.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use futures_util::StreamExt;
/// use rmcp::model::{EmptyResult, RequestId, ServerJsonRpcMessage, ServerResult};
/// use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
/// use tower_sse::mcp::HubEventStore;
///
/// let store = HubEventStore::new(tower_sse::Hub::new());
/// let first = store.store_event("stream-1", &ServerSseMessage::retry(std::time::Duration::from_secs(1))).await?;
/// let response = ServerJsonRpcMessage::response(ServerResult::empty(()), RequestId::Number(1));
/// store.store_event("stream-1", &ServerSseMessage::from_message(response)).await?;
///
/// let replay: Vec<_> = store.replay_events_after(&first).await?.collect().await;
/// assert_eq!(replay.len(), 1);
/// assert!(replay[0].message.is_some());
/// // A made-up id never yields anything.
/// assert!(store.replay_events_after("0123/1").await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HubEventStore {
    hub: Hub,
    keys: [u64; 4],
    prefix: Arc<str>,
    ttl: Duration,
    /// On a Redis hub: sets the expiry of each stream's keys.
    #[cfg(feature = "redis")]
    expiry: Option<Arc<expiry::TopicExpiry>>,
}

impl HubEventStore {
    /// A store on `hub` with a random secret: right for one node. For
    /// several nodes set the same [`secret`](Self::secret) on each.
    #[must_use]
    pub fn new(hub: Hub) -> Self {
        let random = StreamToken::generate().to_string();
        let more = StreamToken::generate().to_string();
        Self {
            #[cfg(feature = "redis")]
            expiry: hub
                .config()
                .redis_config()
                .map(|config| Arc::new(expiry::TopicExpiry::new(config.clone()))),
            hub,
            keys: keys_from(format!("{random}{more}").as_bytes()),
            prefix: Arc::from("mcp:"),
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// The default [`HubEventStore::ttl`]: one day.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

    /// How long a stream's events stay resumable on a Redis hub: its keys
    /// expire this long after its priming event, and again after its
    /// response (values are kept between 1 second and 365 days). A stream
    /// still open after that (the standalone `GET` stream) starts a new
    /// history, and a resume from before gets nothing. On the in-memory
    /// engine the hub's [`idle_timeout`](crate::HubConfig::idle_timeout) and
    /// [`max_topics`](crate::HubConfig::max_topics) bound the streams kept.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = tower_sse::mcp::HubEventStore::new(tower_sse::Hub::new())
    ///     .ttl(Duration::from_secs(3600));
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(365 * 24 * 3600));
        self
    }

    /// The secret every node serving the same streams shares; it keys the
    /// hash from rmcp's stream ids to topic names.
    ///
    /// ```
    /// let store = tower_sse::mcp::HubEventStore::new(tower_sse::Hub::new())
    ///     .secret(b"shared by all nodes, from the environment");
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn secret(mut self, secret: &[u8]) -> Self {
        self.keys = keys_from(secret);
        self
    }

    /// The prefix of the hub topics (default `mcp:`).
    #[must_use]
    pub fn topic_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    fn token(&self, stream_id: &str) -> String {
        #[allow(deprecated)]
        let half = |k0, k1| {
            let mut hasher = std::hash::SipHasher::new_with_keys(k0, k1);
            hasher.write(stream_id.as_bytes());
            hasher.finish()
        };
        format!(
            "{:016x}{:016x}",
            half(self.keys[0], self.keys[1]),
            half(self.keys[2], self.keys[3])
        )
    }
}

/// Four `SipHash` keys from a secret of any length.
fn keys_from(secret: &[u8]) -> [u64; 4] {
    let mut keys = [0_u64; 4];
    for (i, key) in keys.iter_mut().enumerate() {
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new_with_keys(i as u64, 0x7473_652d_6d63_7031);
        hasher.write(secret);
        *key = hasher.finish();
    }
    keys
}

fn encode(event: &ServerSseMessage) -> Result<Event, EventStoreError> {
    let mut stored = Event::new();
    stored = match &event.message {
        Some(message) => stored.data(serde_json::to_string(&**message)?),
        None => stored.data(""),
    };
    if let Some(retry) = event.retry {
        stored = stored.retry(retry);
    }
    Ok(stored)
}

/// What ends the id of a request's response, so that a resume after it
/// ends at once instead of following a stream that is over.
const END_SUFFIX: &str = "/end";

/// The id rmcp sends: `<token>/<hub id>`, and `/end` after a response.
fn event_id(token: &str, hub_id: &str, ends_request: bool) -> String {
    let end = if ends_request { END_SUFFIX } else { "" };
    format!("{token}/{hub_id}{end}")
}

/// The stored event back as rmcp's message, with its full event id.
fn decode(token: &str, event: &EncodedEvent) -> Option<ServerSseMessage> {
    let (mut hub_id, mut json, mut retry) = (None, None, None);
    for item in parse(event.as_bytes()).ok()? {
        match item {
            Item::Retry(value) => retry = Some(value),
            Item::Event(parsed) => {
                hub_id = Some(parsed.last_event_id);
                if !parsed.data.is_empty() {
                    json = Some(serde_json::from_str::<ServerJsonRpcMessage>(&parsed.data).ok()?);
                }
            }
            _ => {}
        }
    }
    let hub_id = hub_id?;
    let mut message = match json {
        Some(json) => ServerSseMessage::new(String::new(), json),
        None => ServerSseMessage::priming(String::new(), retry.unwrap_or_default()),
    };
    message.event_id = Some(event_id(token, &hub_id, ends_request(&message)));
    message.retry = retry;
    Some(message)
}

/// Whether a message ends a request's stream (its response or error).
fn ends_request(message: &ServerSseMessage) -> bool {
    matches!(
        message.message.as_deref(),
        Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_))
    )
}

#[async_trait::async_trait]
impl EventStore for HubEventStore {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<McpEventId, EventStoreError> {
        let token = self.token(stream_id);
        let topic = format!("{}{token}", self.prefix);
        let id = self.hub.publish(&topic, encode(event)?).await?;
        let ends = ends_request(event);
        #[cfg(feature = "redis")]
        if let (Some(expiry), true) = (&self.expiry, ends || event.message.is_none()) {
            // The priming event starts the clock, the response restarts it:
            // two commands per request, none per event in between.
            if let Err(error) = expiry.expire(&topic, self.ttl).await {
                tracing::warn!(%error, "could not set the expiry of an MCP stream's keys");
            }
        }
        Ok(event_id(&token, id.as_str(), ends))
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let refused = || -> EventStoreError { "not an event id of this store".into() };
        let (token, hub_id) = last_event_id.split_once('/').ok_or_else(refused)?;
        let (hub_id, ended) = match hub_id.strip_suffix(END_SUFFIX) {
            Some(hub_id) => (hub_id, true),
            None => (hub_id, false),
        };
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if token.len() != 32
            || !token.bytes().all(hex)
            || hub_id.is_empty()
            || hub_id.len() > 128
            || !hub_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(refused());
        }
        let topic = format!("{}{token}", self.prefix);
        // Look the id up first (one bounded read, one Redis round trip): an
        // id that is not an event of this stream is refused before rmcp
        // opens any stream, on every engine.
        match check_resume(&self.hub, &topic, Some(hub_id)).await {
            Ok(()) => {}
            Err(Refusal::Backend(error)) => return Err(error.into()),
            Err(Refusal::UnknownId | Refusal::HistoryLost) => return Err(refused()),
        }
        if ended {
            // After the request's response: nothing more will come.
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let mut subscription = self.hub.subscribe_from(&topic, Some(hub_id))?;
        // An in-memory replay is ready now: refuse an unknown id at once.
        let first = match futures_util::FutureExt::now_or_never(futures_util::StreamExt::next(
            &mut subscription,
        )) {
            Some(Some(event)) if is_gap(&event) => return Err(refused()),
            Some(None) => return Err("the hub is closed".into()),
            Some(Some(event)) => Some(event),
            None => None,
        };
        Ok(Box::pin(Replay {
            token: token.to_owned(),
            first,
            done: false,
            subscription: Mutex::new(subscription),
        }))
    }
}

fn is_gap(event: &EncodedEvent) -> bool {
    has_type(event, GAP_EVENT_TYPE.as_str())
}

/// A replay, then live events, until a request's response or a gap (a
/// history trimmed after the look-up). The
/// subscription sits in a `Mutex` only to make the stream `Sync` (rmcp's
/// bound); it is reached with `get_mut`, never locked.
struct Replay {
    token: String,
    first: Option<EncodedEvent>,
    done: bool,
    subscription: Mutex<Subscription>,
}

impl Stream for Replay {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let event = match this.first.take() {
            Some(event) => event,
            None => {
                let subscription = this
                    .subscription
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match Pin::new(subscription).poll_next(cx) {
                    Poll::Ready(Some(event)) => event,
                    Poll::Ready(None) => {
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        };
        if is_gap(&event) {
            // Not an event of this stream (or its history is gone).
            this.done = true;
            return Poll::Ready(None);
        }
        let Some(message) = decode(&this.token, &event) else {
            // Skipping it would replay around a hole (and wait forever
            // for a response that was this event): end the replay, the
            // client resumes or retries the call.
            tracing::warn!(
                token = %this.token,
                "stored MCP event cannot be decoded; ending the replay"
            );
            this.done = true;
            return Poll::Ready(None);
        };
        this.done = ends_request(&message);
        Poll::Ready(Some(message))
    }
}

impl fmt::Debug for HubEventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubEventStore")
            .field("hub", &self.hub)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_id_maps_to_one_token_per_secret() {
        let a = HubEventStore::new(Hub::new()).secret(b"s");
        let b = HubEventStore::new(Hub::new()).secret(b"s");
        let c = HubEventStore::new(Hub::new()).secret(b"t");
        assert_eq!(a.token("x"), b.token("x"));
        assert_ne!(a.token("x"), a.token("y"));
        assert_ne!(a.token("x"), c.token("x"));
        assert_eq!(a.token("x").len(), 32);
    }
}

#[cfg(feature = "redis")]
mod expiry {
    //! The expiry of an MCP stream's keys on a Redis hub.

    use std::time::Duration;

    use crate::redis::{LazyCommands, RedisConfig, Request};

    pub(super) struct TopicExpiry(LazyCommands);

    impl TopicExpiry {
        pub(super) fn new(config: RedisConfig) -> Self {
            Self(LazyCommands::new(config))
        }

        /// Makes `topic`'s keys expire after `ttl` (whole seconds, at least 1).
        pub(super) async fn expire(&self, topic: &str, ttl: Duration) -> Result<(), String> {
            let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
            let mut pipe = redis::pipe();
            self.0.config().keys(topic).expire(&mut pipe, seconds);
            self.0
                .query::<()>(Request::Pipeline(&pipe))
                .await
                .map_err(|e| e.to_string())
        }
    }
}
