//! Many topics on one connection, resumed as a whole, with per-topic
//! authorization.
//!
//! Browsers open at most six HTTP/1.1 connections per origin, so a page that
//! follows many rooms, documents or jobs needs them on one `EventSource`, and
//! then one `Last-Event-ID` must say where *every* topic stopped. A
//! [`Multiplexer`] does that over any [`Hub`](crate::Hub):
//!
//! ```
//! use futures_util::StreamExt;
//! use tower_sse::{multi::{MultiRequest, Multiplexer}, EventStream, Hub};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let multi = Multiplexer::new(hub.clone());
//! let stream = multi.subscribe(MultiRequest::new(["rooms/1", "rooms/2"])).await?;
//! let response = EventStream::from(stream).into_http_response();
//! # drop(response); Ok(()) }
//! ```
//!
//! ```js
//! const source = new EventSource("/events?topics=rooms/1,rooms/2");
//! source.addEventListener("rooms/1", (e) => show(1, e.data));
//! source.addEventListener("rooms/2", (e) => show(2, e.data));
//! source.addEventListener("sse-gap", (e) => reload(JSON.parse(e.data).topic));
//! source.addEventListener("sse-expired", () => refreshLogin());
//! ```
//!
//! # Which topic an event belongs to: its event type
//!
//! Every event of a [`MultiSubscription`] is the hub's shared encoded event
//! (without its final blank line, and without its `event:` and `id:` lines
//! when it has no comment or `retry:` line) followed by this subscriber's
//! `event: <topic>` and `id: <cursor>` lines. Within one SSE event the last
//! `event:` and `id:` lines win, so the page listens for the topic name as
//! the event type and never parses ids, and the payload is never re-encoded.
//! The app's own event type (and id) is therefore replaced: put the kind of a
//! message in its data when a topic carries several. Topic names are
//! therefore 1 to 255 bytes without CR, LF or NUL, and must not start with
//! `sse-`, which the stream's own events use:
//!
//! - `sse-gap` with data `{"topic":"<name>","reason":"<reason>"}`: events of
//!   that topic are missing (reload its state). Reasons: the hub's own
//!   (`unknown-id`: its history no longer covers the position, `lagged`), or
//!   `invalid-cursor` (an edited or foreign cursor) and `checkpoint-lost`
//!   (the checkpoint was evicted).
//! - `sse-expired` with data `expired` and a `retry:` hint: the subscriber's
//!   expiry passed; the stream ends.
//! - the priming event, first: only an id, so nothing fires but the browser
//!   holds a cursor even if nothing is published before a reconnect.
//!
//! # One cursor for all topics, at most 128 bytes
//!
//! A topic's position is the id of the last event delivered from it (so its
//! epoch, when the hub's ids carry one). 64 independent positions do not fit
//! in 128 bytes, so the cursor names a **checkpoint**: a server-side snapshot
//! of every topic's position, saved in a [`CheckpointStore`] *before* an id
//! that names it is sent (in memory: [`MemoryCheckpoints`], bounded by bytes
//! and age; on a cluster: a store all servers read, e.g. `RedisCheckpoints`,
//! a key with a TTL), under the low 40 bits of a keyed hash of its content.
//! After the checkpoint id come **deltas** for the topics that moved since:
//! the topic's index and its new position as the suffix after the prefix it
//! shares with its checkpointed one (3 to 8 bytes for usual ids). When the
//! next delta would not fit, the subscription saves a new checkpoint and
//! starts over with none (for 64 busy topics about every dozen events; for
//! one busy topic among 64, almost never). A 48-bit `SipHash` tag under the
//! [`CursorKey`], over the subscriber's principal, every byte and the
//! snapshot's whole hash (checked against the snapshot the store returns),
//! ends the cursor; the whole is base64url: 22 characters for one busy topic
//! with hub ids. Layout in the `cursor` module.
//!
//! On reconnect: a topic the cursor knows resumes exactly after its position
//! (replay from the hub's history, then live, no duplicate at the seam); a
//! topic whose history no longer covers it gets its own `sse-gap`, the others
//! resume exactly; a topic the request adds starts live (or from
//! [`MultiRequest::topic_from`]); a topic it drops is ignored. A cursor that
//! does not verify (edited, another subscriber's, another key's) or names a
//! checkpoint that is gone gives every topic a gap, never another topic's or
//! another user's events: positions are only ever applied to the topics the
//! request names and the authorizer allowed.
//!
//! # Authorization at subscribe, at replay and over time
//!
//! [`Multiplexer::subscribe_parts`] asks the [`Authorize`] hook about every
//! topic, with the request's `http::request::Parts`, before it opens
//! anything; the hook reads what an auth layer put into the extensions, e.g.
//! a [`Subscriber`] (principal and expiry). A refusal is a [`Refusal`], an
//! HTTP answer with a one-line body (its docs list the statuses: a native
//! `EventSource` stops for good on any non-200).
//!
//! [Private events](Multiplexer::private) carry a first comment line of keyed
//! tags of their principals. A subscription compares its own tag with that
//! line in the shared bytes and, when the event is not for it, skips it;
//! when it is, sends a slice of the shared bytes without the line: no copy,
//! no allocation per subscriber. Live delivery and replay read the same
//! stored bytes, so both filter alike.
//!
//! A subscriber's expiry ends the stream with `sse-expired` and a `retry:`
//! hint ([`Multiplexer::expiry_retry`]): the page refreshes its credentials
//! (e.g. a cookie) and the browser reconnects by itself; with stale ones it
//! then gets 401 and stops.
//!
//! # Limits and cost
//!
//! At most [`Multiplexer::max_topics`] topics (default 64, at most 255), a
//! `Last-Event-ID` of at most [`Multiplexer::max_cursor_len`] bytes, a list
//! read no further than 256 entries: refused with 400 past them. A cursor
//! costs one base64 decode, one store read, two `SipHash`es (of the snapshot
//! read and of at most 128 bytes), and per topic one bounded replay from the
//! hub's history. Only topics with something to deliver are polled (each
//! hub subscription has its own waker, made once, that marks its bit in a
//! shared word; timers have one too), so a delivery costs no allocation and does not touch the
//! 63 idle topics: one topic's poll, a cursor and a copy of the event into
//! the frame (the single-topic path sends a lone event without one). The
//! cursor costs only what moved: the subscription keeps its bytes, text and
//! tag state, with the topic that moved last as the last delta, so an event
//! of the busy topic hashes and encodes just its delta and the tag (about
//! 15 bytes), written straight into the frame.
//!
//! Subscriptions in the same state share that work. A checkpoint's id is a
//! keyed hash of what it holds, so the subscriptions of one subscriber
//! (every anonymous one is the same) to the same topics, started at the same
//! positions, hold the same cursor, and every event moves them all to the
//! same next one: the first to take the step leaves it in a table of the
//! multiplexer (a slot of about 460 bytes per event of the hub's
//! [buffer](crate::HubConfig::buffer), 64 to 4,096 slots: 120 KB for the
//! default 256; taken at first use; plus the event itself, shared, when it
//! is at most 1 KiB), and the
//! others copy the cursor's bytes and the event's tail from there (in a
//! response body, reading the topic's next events straight from its hub
//! subscription while each is such a step; a run of one such event, as a
//! live stream's usual one, is sent as the shared bytes, with no copy). A step is
//! found by the subscriber, the cursor's tag, the topic and its position;
//! a busy slot or another state's step is a miss (the subscription computes
//! its own), never a wait. A cursor issued this way is byte for byte the one
//! the subscription would compute alone (a property test checks it). A
//! checkpoint's id says nothing about its content to anyone without the key.
//! `benches/multi_fanout.rs`
//! measures it against the single-topic subscription (figures in
//! `BENCHMARKS.md`).
//!
//! # Topics nobody published to yet
//!
//! A topic still empty when a cursor is taken is recorded at offset zero of
//! its epoch (`<epoch>.0`). So that this still names the topic's history
//! after its first publish, on any server, the multiplexer asks the engine
//! for the epoch of every live-started or offset-zero topic at subscribe
//! ([`Engine::epoch`](crate::engine::Engine::epoch), all at once, only for
//! the request's allowed topics), and engines keep an empty topic's epoch
//! for a bounded time: the in-memory engine as long as the topic (followed,
//! then [`idle_timeout`](crate::engine::MemoryEngine::idle_timeout)), Redis
//! as a key with an expiry
//! (`RedisConfig::empty_epoch_ttl`,
//! default one day) that the first publish keeps, without the expiry. Such
//! a cursor then resumes the topic exactly; one older than that bound gets
//! a `reset` gap for the topic (announced, never a silent skip).
//!
//! # Hooks this module would use from the hub
//!
//! It is built on public hub behaviour only: a live-started topic subscribes
//! after an id no event has, and takes its start from the gap event the hub
//! answers with (whose id is documented as the newest event). A hub method
//! returning a subscription together with its start position, and a paged
//! replay, would remove the gap round and the replay buffer.

mod audience;
mod authorize;
mod base64;
mod checkpoint;
mod cursor;
mod frames;
mod item;
mod mac;
mod multiplexer;
mod pool;
mod position;
mod ready;
#[cfg(feature = "redis")]
mod redis_checkpoints;
mod refusal;
mod request;
mod steps;
mod subscription;

pub use authorize::{AllowAll, Authorize, Subscriber};
pub use checkpoint::{CheckpointStore, MemoryCheckpoints, StoreFuture};
pub use frames::{MultiFrames, MultiRun};
pub use item::MultiEvent;
pub use mac::CursorKey;
pub use multiplexer::Multiplexer;
#[cfg(feature = "redis")]
pub use redis_checkpoints::RedisCheckpoints;
pub use refusal::{Refusal, RefusalKind};
pub use request::MultiRequest;
pub use subscription::MultiSubscription;
