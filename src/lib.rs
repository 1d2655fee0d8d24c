//! Server-Sent Events for every hyper-based server.
//!
//! `tower-sse` turns any [`Stream`](futures_core::Stream) of typed events into a
//! spec-exact `text/event-stream` body ([`EventStream`]), validates every field so
//! that runtime data can never break the wire format, and ships a conformant
//! incremental parser ([`parse`]) for clients and tests.
//!
//! The pieces:
//!
//! - [`Event`], [`EventType`], [`EventId`]: the event model and its exact WHATWG
//!   encoding; [`EncodedEvent`] for encode-once sharing.
//! - [`IntoEvent`] and [`Json`]: your own types as events; [`EventStream`]: any
//!   stream of them as an `http_body::Body` and a complete response.
//! - [`SseLayer`]: a tower layer for axum routers, hyper services and any tower
//!   stack: headers, keep-alive, retry hint, [`LastEventId`], connection limit,
//!   maximum lifetime, graceful [`Shutdown`], [`SseMetrics`].
//! - [`Hub`]: topics with history replay from `Last-Event-ID`, epoch-named
//!   ids, gap events, idempotent publish, encode-once fan-out and a
//!   [`SlowConsumer`] policy; stored by an [`engine`]: in memory, on Redis
//!   Streams with the `redis` feature, or your own.
//! - [`resumable`]: resumable response streams (AI answers, MCP tool calls)
//!   that a client resumes with `Last-Event-ID` on any node.
//! - [`multi`]: many topics on one connection with one resumable cursor and
//!   per-topic authorization ([`multi::Multiplexer`]).
//! - [`parse`]: the browser's parsing algorithm, for Rust clients and tests.
//! - [`relay`]: an upstream event stream re-served spec-exact, reconnecting
//!   with `Last-Event-ID` (gateways, LLM proxies).
//!
//! ```
//! use futures_util::stream;
//! use http_body_util::BodyExt;
//! use tower_sse::{Event, EventStream, EventType, IntoEvent};
//!
//! // Your own event type.
//! #[derive(serde::Serialize)]
//! struct Vote { yes: u32, no: u32 }
//!
//! impl IntoEvent for Vote {
//!     fn into_event(self) -> Result<Event, tower_sse::Error> {
//!         Event::new().event(EventType::from_static("tally")).json_data(&self)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
//! let votes = stream::iter([Vote { yes: 1, no: 0 }, Vote { yes: 1, no: 1 }]);
//! // A complete `http::Response` for hyper; with the `axum` feature an
//! // `EventStream` is also an axum `IntoResponse`.
//! let response = EventStream::new(votes).into_http_response();
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//!
//! let body = response.into_body().collect().await?.to_bytes();
//! let events = tower_sse::parse::parse_events(&body)?;
//! assert_eq!(events[1].event_type, "tally");
//! assert_eq!(events[1].data, r#"{"yes":1,"no":1}"#);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `json` (default): [`Event::json_data`] and [`Json`].
//! - `axum`: `IntoResponse` for [`EventStream`] (on `axum-core` only).
//! - `redis`: the Redis Streams backend in [`redis`].
//! - `derive`: `#[derive(IntoEvent)]` for typed enums and structs (implies `json`).
//! - `metrics`: the standard metrics through the `metrics` facade.
//! - `rmcp`: `HubEventStore` and `HubSessionStore`, rmcp's Streamable HTTP
//!   event and session stores on a hub (module `mcp`; needs Rust 1.88).

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
mod readme {}

mod body;
mod channel;
#[cfg(feature = "derive")]
#[doc(hidden)]
pub mod __private {
    //! Not a public API: what `#[derive(IntoEvent)]` expands to.
    pub use crate::derive::*;
}
#[cfg(feature = "derive")]
mod derive;
mod end_hint;
pub mod engine;
mod error;
mod event;
mod field;
mod into_event;
mod last_event_id;
pub mod layer;
#[cfg(feature = "rmcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "rmcp")))]
pub mod mcp;
mod metrics;
pub mod multi;
pub mod parse;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
pub mod relay;
mod response;
pub mod resumable;
mod shutdown;

pub use body::EventStream;
pub use channel::{Hub, HubConfig, PublishOptions, SlowConsumer, Subscription, GAP_EVENT_TYPE};
pub use error::{BoxError, Error, ErrorKind};
pub use event::{EncodedEvent, Event};
pub use field::{Comment, EventId, EventType};
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use into_event::Json;
pub use into_event::{EventItem, IntoEvent};
pub use last_event_id::LastEventId;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use last_event_id::MissingLastEventId;
pub use layer::{OverCapacity, SseLayer};
pub use metrics::{names as metric_names, SseMetrics, SseMetricsSnapshot};
pub use response::TEXT_EVENT_STREAM;
pub use shutdown::Shutdown;
#[doc = include_str!("docs/derive.md")]
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use tower_sse_macros::IntoEvent;
