//! The Redis Streams backend (feature `redis`): the same topics across many
//! servers, with replay by `Last-Event-ID` on any of them.
//!
//! Every topic is one Redis stream, `<key prefix><topic>`:
//!
//! - publishing is `XADD … MAXLEN ~ <history> *` ([`RedisStreams::publish`]);
//!   the entry id Redis assigns (`<ms>-<seq>`, a [`StreamId`]) is the event's
//!   SSE id on every server;
//! - each server follows a topic that has local subscribers with one reader
//!   task ([`RedisStreams::spawn_reader`], blocking `XREAD` on a dedicated
//!   connection), encodes each entry once and fans it out locally;
//! - a reconnecting client's `Last-Event-ID` is replayed with an exclusive
//!   `XRANGE` ([`RedisStreams::replay`]), which also tells whether Redis still
//!   held every missed event, so a gap can be reported instead of skipped.
//!
//! Most apps use this backend through a [`Hub`](crate::Hub):
//! `HubConfig::new().redis(RedisConfig::new(url)?).build()` (see
//! [`HubConfig::redis`](crate::HubConfig::redis)), which makes a
//! [`RedisEngine`], this backend's [`Engine`](crate::engine::Engine); the
//! other types here are the plumbing it is built on, usable directly.
//!
//! Redis 6 or newer is required (the publishing connection speaks RESP3, so
//! it hears at once when Redis drops it and reconnects before the next
//! command). Redis 7 or newer gives exact gap detection (`max-deleted-entry-id`); older
//! servers fall back to comparing with the first retained entry.
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

mod config;
mod engine;
mod entry;
mod reader;
mod store;
mod stream_id;

pub use config::RedisConfig;
pub use engine::RedisEngine;
pub use entry::StoredEvent;
pub(crate) use reader::Backoff;
pub use reader::{Delivery, TopicReader};
pub use store::{RedisStreams, Replay};
pub use stream_id::StreamId;
