//! A relay: an upstream event stream, re-served spec-exact to a client.
//!
//! Gateways (LLM proxies above all) read an upstream `text/event-stream`
//! and serve it to their own clients. Copying bytes or lines by hand breaks
//! on CR-only line endings, CRLF split across chunks, a byte order mark,
//! comments mid-event and partial lines. A [`Relay`] reads the upstream with
//! [`parse::EventReader`](crate::parse::EventReader), exactly as a browser
//! would, and re-encodes every event, so the client sees the very events
//! (type, data, last event id) a browser reading the upstream would see:
//!
//! - comments (keep-alives) are [dropped or forwarded as comments](Comments),
//!   never as data, and never inside an event;
//! - `retry:` hints are forwarded;
//! - on a failure it reconnects with the last event id it read, which the
//!   `connect` closure sends upstream as `Last-Event-ID`
//!   ([`LastEventId::to_header_value`](crate::LastEventId::to_header_value));
//! - when it gives up, the client gets one documented terminal event,
//!   [`sse-upstream-error`](UPSTREAM_ERROR_EVENT_TYPE) with a short message
//!   (or your own, [`Relay::on_error`]), and the stream ends cleanly; the
//!   full error is logged at `WARN`;
//! - when the client leaves, hyper drops the response body and with it the
//!   upstream request: the upstream connection closes at once.
//!
//! ```
//! use http::Response;
//! use http_body_util::{BodyExt, Full};
//! use tower_sse::relay::{Comments, Relay};
//! use tower_sse::{EventStream, LastEventId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
//! // A real gateway makes an HTTP request here (hyper, reqwest, ...), with
//! // the `Last-Event-ID` header set from `last_event_id`.
//! let connect = |last_event_id: Option<&LastEventId>| {
//!     assert_eq!(last_event_id.map(LastEventId::as_str), Some("6"));
//!     let upstream = Response::builder()
//!         .header("content-type", "text/event-stream")
//!         .body(Full::new(bytes::Bytes::from_static(
//!             b"\xEF\xBB\xBF: keep-alive\r\nid: 7\revent: delta\ndata: Hel\r\n\r\ndata:lo\n\n",
//!         )))
//!         .unwrap();
//!     std::future::ready(Ok::<_, std::io::Error>(upstream))
//! };
//! let relay = Relay::new(connect).comments(Comments::Drop);
//! let client_id = LastEventId::new("6").ok();
//! let body = EventStream::new(relay.stream(client_id));
//!
//! let bytes = body.collect().await?.to_bytes();
//! assert_eq!(&bytes[..], b"event: delta\nid: 7\ndata: Hel\n\ndata: lo\n\n");
//! # Ok(()) }
//! ```
//!
//! Serve the [`EventStream`](crate::EventStream) behind an
//! [`SseLayer`](crate::SseLayer) for headers and the relay's own
//! keep-alives. `tests/relay.rs` runs it end to end in front of a real
//! hyper upstream with hostile framing, and in front of the `live_updates`
//! example (resumed through the relay, and across the example's restart).

mod config;
mod error;
mod item;
mod stream;

pub use self::config::{Comments, Relay, UPSTREAM_ERROR_EVENT_TYPE};
pub use self::error::{UpstreamError, UpstreamErrorKind};
pub use self::item::Relayed;
pub use self::stream::RelayStream;
