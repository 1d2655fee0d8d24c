//! Parsing `text/event-stream` bodies, the way a browser's `EventSource` does.
//!
//! The parser follows the WHATWG HTML Living Standard, sections 9.2.5
//! (parsing an event stream) and 9.2.6 (interpreting an event stream):
//!
//! - the stream is UTF-8, decoded one complete line at a time, with invalid
//!   sequences replaced by U+FFFD; one leading byte order mark is skipped;
//! - lines end with CRLF, LF or CR, and a CRLF split across two chunks is
//!   still one line ending;
//! - a blank line dispatches the event being built, lines starting with `:`
//!   are comments, and `name: value` lines set fields (one space after the
//!   colon is dropped); `retry` takes ASCII digits only, and a value that
//!   overflows a `u64` of milliseconds is ignored rather than saturated;
//! - an event left without its blank line at the end of the stream is
//!   discarded.
//!
//! [`Parser`] is the incremental, sans-I/O core; [`EventReader`] drives it
//! over any [`http_body::Body`] as a [`Stream`](futures_core::Stream); and
//! [`parse`] / [`parse_events`] handle a complete byte string.
//!
//! ```
//! use tower_sse::parse::{parse_events, MessageEvent};
//!
//! let events = parse_events(b": test stream\n\ndata: first event\nid: 1\n\n").unwrap();
//! assert_eq!(events, [MessageEvent::new("first event").with_last_event_id("1")]);
//! ```

mod interpret;
mod item;
mod lines;
mod parser;
mod reader;

pub use item::{Item, MessageEvent};
pub use parser::{parse, parse_events, Parser};
pub use reader::EventReader;
