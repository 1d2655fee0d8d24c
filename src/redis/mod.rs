//! The Redis Streams backend (feature `redis`): the same topics across many
//! servers, with replay by `Last-Event-ID` on any of them.
//!
//! Every topic is one Redis stream, `<key prefix>{<topic>}`:
//!
//! - publishing is a script around `XADD … MAXLEN ~ <history> *`
//!   ([`RedisStreams::append`]); the entry id Redis assigns (`<ms>-<seq>`, a
//!   [`StreamId`]) with the topic's epoch is the event's position, the same
//!   on every server;
//! - each server follows a topic that has local subscribers with one reader
//!   task ([`RedisStreams::spawn_reader`], blocking `XREAD` on a dedicated
//!   connection), encodes each entry once and fans it out locally;
//! - a reconnecting client's `Last-Event-ID` is replayed with paged `XRANGE`
//!   ([`RedisStreams::replay`]), which also tells whether Redis still held
//!   every missed event, so a gap can be reported instead of skipped.
//!
//! # Keys: one hash tag per topic
//!
//! A topic's keys are `<prefix>{<topic>}` (the stream),
//! `<prefix>{<topic>}:epoch`, `<prefix>{<topic>}:seq` (the counter that
//! numbers its entries) and `<prefix>{<topic>}:idem:<key>` (remembered
//! idempotency keys). `{…}` is a Redis Cluster hash tag: every key of a
//! topic lives in one slot, so each script touches one shard. Braces and `%`
//! in a topic are percent-escaped inside the tag; the prefix may hold no
//! brace (see [`RedisConfig::key_prefix`]).
//!
//! # Epochs
//!
//! Redis stream ids are time based, so after a data loss an old id still
//! *looks* valid. Each topic therefore has an epoch (a random token, see
//! [`Epoch`](crate::engine::Epoch)) stored next to its stream:
//!
//! - the publish script mints it (from a token the client sends) when it
//!   creates the stream, and mints a new one when the stream is gone (Redis
//!   restarted without persistence, the key was deleted): a recreated stream
//!   is a new history, and ids of the old one resume as "history lost";
//! - a topic nobody published to yet gets its epoch stored by
//!   [`Engine::epoch`](crate::engine::Engine::epoch), with an expiry
//!   ([`RedisConfig::empty_epoch_ttl`]), and the publish that creates its
//!   stream keeps that one (and drops the expiry): a position taken while the
//!   topic was empty (`<epoch>.0-0`) still names its history. An epoch
//!   without an expiry and no stream means the stream was lost after it had
//!   events, so the next publish mints a new one as above. Reads never store
//!   an epoch (a `Last-Event-ID` is any client's data);
//! - every entry carries its epoch and its number within the epoch, so a
//!   reader notices a recreated stream (another epoch) or a rewound one (a
//!   number that does not follow, as after a failover to a replica that
//!   lacked the tail, which a cluster connection may hide by retrying on the
//!   new master) and reports [`Delivery::Gap`];
//! - a reader that finds its stream rewound re-mints the epoch with a
//!   compare-and-set (many servers seeing one rewind mint once), so resumes
//!   with ids of the lost tail get a gap too. A *resume* never re-mints: its
//!   id is client data, and a forged id from the future must not reset
//!   every subscriber's history; it gets its own gap instead
//!   ([`Replay::is_complete`] is `false` when the requested entry is missing
//!   although nothing up to it was trimmed).
//!
//! What no id scheme can see: with asynchronous replication, entries a
//! master acknowledged and lost in a failover before any reader of this
//! backend saw them are gone for everyone; a client that resumes from an id
//! *before* them while no server follows the topic (so nobody re-minted)
//! gets the surviving and the new events without a gap. `WAIT`-style
//! synchronous replication is the only cure and is not done here.
//!
//! # Idempotent publish
//!
//! [`RedisStreams::append`] takes an optional
//! [`IdempotencyKey`](crate::engine::IdempotencyKey). One Lua script (sent
//! with `EVALSHA`, loaded on `NOSCRIPT`) checks the key, `XADD`s, and
//! remembers key → (id, epoch) with an expiry of
//! [`RedisConfig::idempotency_window`] (default 5 minutes), atomically: a
//! publish whose reply was lost (Redis stored the entry, the client got an
//! error) is retried with the same key and answers the original id,
//! storing nothing. Remembered keys are bounded by the publish rate times
//! the window and expire by themselves.
//!
//! # Redis Cluster
//!
//! [`RedisConfig::cluster`] selects a cluster by configuration alone;
//! publishing and replay go through redis-rs's async cluster client, which
//! routes by slot and follows `MOVED`, `ASK` and failovers. The blocking
//! per-topic reader gets a cluster connection of its own rather than a
//! connection pinned to the node that owns the slot: the client library
//! already re-resolves the slot's owner after a failover or a resharding,
//! which a pinned connection would have to re-implement (and get wrong in
//! the window where both nodes claim the slot); the cost is a connection per
//! master instead of one per followed topic, and only topics with local
//! subscribers are followed.
//!
//! # Bounded reads and saturated settings
//!
//! Replay is paged: [`RedisStreams::replay_page`] reads at most `limit`
//! entries (`XRANGE … COUNT`) together with the stream's trim state and
//! epoch in one script, so the gap check is exact for every page;
//! [`RedisStreams::replay`] reads pages up to the newest id at its start.
//! Every duration of [`RedisConfig`] is saturated where it is set (1 ms ..=
//! [`MAX_DURATION`]), so no configuration value can overflow a deadline.
//!
//! Most apps use this backend through a [`Hub`](crate::Hub):
//! `HubConfig::new().redis(RedisConfig::new(url)?).build()` (see
//! [`HubConfig::redis`](crate::HubConfig::redis)), which makes a
//! [`RedisEngine`], this backend's [`Engine`](crate::engine::Engine); the
//! other types here are the plumbing it is built on, usable directly.
//!
//! Redis 6.2 or newer is required (the publishing connection speaks RESP3,
//! so it hears at once when Redis drops it and reconnects before the next
//! command; replay pages use exclusive ranges). Redis 7 or newer gives exact
//! gap detection (`entries-added`, `max-deleted-entry-id`); older servers
//! fall back to comparing with the first retained entry.
//!
//! ```no_run
//! # async fn run() -> Result<(), tower_sse::Error> {
//! use std::ops::ControlFlow;
//! use tower_sse::redis::{Delivery, RedisConfig, RedisStreams};
//! use tower_sse::Event;
//!
//! let config = RedisConfig::new("redis://:secret@127.0.0.1:6379/0")?.history(500);
//! let streams = RedisStreams::connect(config).await?;
//!
//! let from = streams.last_id("news").await?;
//! let _reader = streams.spawn_reader("news", from, |delivery| {
//!     if let Delivery::Events(events) = delivery {
//!         for event in events {
//!             // hand `event.encoded()` to every local subscriber
//!         }
//!     }
//!     ControlFlow::Continue(())
//! });
//! streams.publish("news", &Event::new().data("hello")).await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "rmcp")]
mod commands;
mod config;
mod connection;
mod engine;
mod entry;
mod keys;
mod reader;
mod script;
mod store;
mod stream_id;

#[cfg(feature = "rmcp")]
pub(crate) use commands::{LazyCommands, Request};
pub use config::{RedisConfig, MAX_DURATION};
pub(crate) use connection::Connection;
pub use engine::RedisEngine;
pub use entry::StoredEvent;
pub(crate) use reader::Backoff;
pub use reader::{Delivery, TopicReader};
pub use store::{RedisStreams, Replay, REPLAY_PAGE};
pub use stream_id::StreamId;
