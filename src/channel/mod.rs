//! Fan-out channels: a [`Hub`] of topics with `Last-Event-ID` replay,
//! encode-once broadcast and an explicit slow-consumer policy.
//!
//! # Guarantees
//!
//! - **Encode once.** [`Hub::publish`] converts and encodes an event once; every
//!   subscriber receives a clone of the same [`EncodedEvent`](crate::EncodedEvent)
//!   (one reference-count bump), which [`EventStream`](crate::EventStream) sends
//!   without copying.
//! - **Ids name their history.** Events get `<epoch>.<offset>` ids (see
//!   below); a `Last-Event-ID` from another epoch (a restart, a lost Redis
//!   stream) gets a `reset` gap, never a silent skip. App-supplied ids are
//!   kept in memory; next to each stored event the engine keeps its offset,
//!   which is what ordering and de-duplication use.
//! - **Idempotent publish.** [`Hub::publish_with`] with an idempotency key:
//!   a retry within the window returns the first id and stores nothing.
//! - **Replay without loss or duplicates.** [`Hub::subscribe_from`] follows
//!   the topic and takes the live receiver *first*, then reads the history
//!   after `Last-Event-ID` in pages, and the [`Subscription`] drops live
//!   events at or before the last replayed offset. Engines store an event
//!   *before* delivering it. Together these make every event appear exactly
//!   once at the seam, whatever publishers do meanwhile.
//! - **Gaps are announced.** If the id is older than the history or unknown, the
//!   subscription starts with a [`GAP_EVENT_TYPE`] event; a subscriber skipped
//!   under [`SlowConsumer::SkipWithGap`] gets one mid-stream. Never a silent skip.
//! - **Bounded memory.** At most [`HubConfig::max_topics`] topics (past it,
//!   [`ErrorKind::TooManyTopics`](crate::ErrorKind::TooManyTopics)); idle
//!   in-memory topics expire after [`HubConfig::idle_timeout`]. A topic with
//!   local subscribers has one broadcast ring of [`HubConfig::buffer`] events
//!   shared by all of them (allocated with the first subscriber, dropped with
//!   the last), plus the engine's history (allocated as it fills). A subscriber that never reads costs its receiver and nothing
//!   more; when it falls a full buffer behind, [`SlowConsumer`] decides: end
//!   its stream (default; the browser reconnects and replays from history) or
//!   skip with a gap event.
//! - **Release.** Dropping a [`Subscription`] (hyper drops the body when the
//!   client goes away) unsubscribes at once; the last one releases the
//!   topic's ring and stops following it. [`Hub::subscribers`] and
//!   [`Hub::topics`] show it.
//! - **Shutdown.** [`Hub::close`] ends every stream cleanly, so servers that wait
//!   for open bodies can finish.
//!
//! # Why one shared ring per topic
//!
//! A per-subscriber queue costs one push (and a lock) per subscriber per event
//! on the publisher's side, and a stuck subscriber pins up to a full queue of
//! its own. A single `tokio::sync::broadcast` ring per topic costs the publisher
//! one slot write and one wake-up pass, each subscriber clones the event when
//! it reads it, and stuck subscribers pin nothing beyond the ring: memory is
//! bounded by `buffer` per topic whatever the number of subscribers. Falling
//! behind is detected exactly (`Lagged`) and mapped to the policy. A
//! subscription reads ready events without allocating and reuses one boxed
//! future for waiting.
//!
//! # One seam for every engine
//!
//! Where events are stored is an [`Engine`](crate::engine::Engine)
//! ([`engine`](crate::engine) module): the in-memory one by default, Redis
//! Streams, or your own, picked by [`HubConfig`] alone. This module holds
//! what every engine shares and none of them reimplements:
//!
//! - `hub.rs`: [`Hub`], every public method of it; the map of topics with
//!   local subscribers (bounded by [`HubConfig::max_topics`]).
//! - `topic.rs`: one followed topic: its ring and the engine's `Follow`; the
//!   engine's [`Sink`](crate::engine::Sink) delivers into it.
//! - `fanout.rs`: the broadcast ring, created with the first local
//!   subscriber and dropped with the last.
//! - `resume.rs`: `Last-Event-ID` to pages, with the epoch rules (`reset`,
//!   `unknown-id`).
//! - `subscription.rs`: replay, then live; de-duplication by offset; the
//!   slow-consumer policy and `lagged` gaps.
//! - `gap.rs`, `config.rs`, `publish.rs` ([`PublishOptions`]).
//!
//! # Event ids
//!
//! Ids the hub's engines assign are `<epoch>.<offset>`, e.g. `k3x9q2ab.42`:
//! the epoch names the topic's history (minted when it is created: per process
//! start in memory, stored next to the stream in Redis), the offset orders
//! events in it. See [`engine::Position`](crate::engine::Position) for the
//! exact format (at most 58 bytes) and [`GAP_EVENT_TYPE`] for what a
//! resume with a foreign, old or garbage id gets.

mod config;
mod fanout;
mod gap;
pub(crate) mod header;
mod hub;
mod publish;
mod resume;
mod subscription;
mod topic;

pub use config::{HubConfig, SlowConsumer};
pub(crate) use fanout::Delivery;
pub use gap::GAP_EVENT_TYPE;
pub use hub::Hub;
pub use publish::PublishOptions;
pub use subscription::Subscription;
