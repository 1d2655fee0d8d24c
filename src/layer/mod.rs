//! [`SseLayer`]: a tower layer that makes any event-stream response
//! production-ready (headers, keep-alive, retry hint, `Last-Event-ID`,
//! connection limit, maximum lifetime, graceful shutdown, metrics).
//!
//! The types here are the layer's plumbing; most code only names
//! [`SseLayer`], re-exported at the crate root.

mod body;
mod boundary;
mod future;
pub(crate) use self::future::is_event_stream;
mod guard;
mod jitter;
mod keep_alive;
#[allow(clippy::module_inception)]
mod layer;
mod live_stream;
mod service;

pub use self::body::SseBody;
pub use self::future::ResponseFuture;
pub use self::layer::{OverCapacity, SseLayer};
pub use self::service::SseService;
