//! The incremental parser: the public face of line splitting (`lines.rs`)
//! and interpretation (`interpret.rs`), plus the one-shot `parse` helpers.

use std::time::Duration;

use super::interpret::Interpreter;
use super::item::{Item, MessageEvent};
use super::lines::LineSplitter;
use crate::{Error, ErrorKind};

/// An incremental `text/event-stream` parser.
///
/// Feed it the body in chunks of any size with [`feed`](Parser::feed), take
/// what it has read with [`next_item`](Parser::next_item), and call
/// [`finish`](Parser::finish) at the end of the body. Lines are split on
/// bytes, so chunk boundaries may fall anywhere, including inside a CRLF
/// pair, a multi-byte character or the byte order mark.
///
/// Memory is bounded: the bytes held between calls (an unfinished line, the
/// data buffer and the event type buffer) may not exceed
/// [`max_buffered`](Parser::max_buffered), and neither may any single line.
///
/// ```
/// use tower_sse::parse::{Item, MessageEvent, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(b"id: 7\r").unwrap();
/// parser.feed(b"\ndata: caf\xC3").unwrap();
/// parser.feed(b"\xA9\r\n\r\n").unwrap();
/// assert_eq!(
///     parser.next_item(),
///     Some(Item::Event(MessageEvent::new("café").with_last_event_id("7")))
/// );
/// assert_eq!(parser.next_item(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    max_buffered: usize,
    lines: LineSplitter,
    /// A limit was exceeded; every later `feed` fails.
    failed: bool,
    interpreter: Interpreter,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// The default for [`max_buffered`](Parser::max_buffered): 1 MiB.
    pub const DEFAULT_MAX_BUFFERED: usize = 1024 * 1024;

    /// A parser at the start of a stream, with the default buffer limit.
    ///
    /// ```
    /// use tower_sse::parse::Parser;
    ///
    /// let parser = Parser::new();
    /// assert_eq!(parser.last_event_id(), "");
    /// assert_eq!(parser.retry(), None);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_buffered: Self::DEFAULT_MAX_BUFFERED,
            lines: LineSplitter::default(),
            failed: false,
            interpreter: Interpreter::default(),
        }
    }

    /// Sets the most bytes the parser may hold between calls to
    /// [`feed`](Parser::feed): an unfinished line plus the data buffer plus
    /// the event type buffer. A longer line is rejected too, however it is
    /// split into chunks. Exceeding the limit makes `feed` fail with
    /// [`ErrorKind::BufferFull`].
    ///
    /// Whether a stream that comes close to the limit exceeds it can depend
    /// on where the chunks end, since an unfinished line counts as held.
    ///
    /// ```
    /// use tower_sse::{parse::Parser, ErrorKind};
    ///
    /// let mut parser = Parser::new().max_buffered(8);
    /// assert!(parser.feed(b"data: ok\n").is_ok());
    /// let err = parser.feed(b"data: too long\n").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::BufferFull);
    /// ```
    #[must_use]
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Parses the next chunk of the stream: every line it completes is
    /// interpreted, and the resulting items are queued for
    /// [`next_item`](Parser::next_item).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BufferFull`] when the buffer limit would be exceeded.
    /// Items from the lines before the offending one stay queued. The parser
    /// then stays failed: every later call returns the same kind of error.
    ///
    /// ```
    /// use tower_sse::{parse::Parser, ErrorKind};
    ///
    /// let mut parser = Parser::new().max_buffered(8);
    /// assert!(parser.feed(b"data:").is_ok());
    /// assert_eq!(parser.feed(b"12345").unwrap_err().kind(), ErrorKind::BufferFull);
    /// assert_eq!(parser.feed(b"\n").unwrap_err().kind(), ErrorKind::BufferFull);
    /// ```
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(Error::new(ErrorKind::BufferFull));
        }
        let result = self
            .lines
            .feed(chunk, &mut self.interpreter, self.max_buffered);
        self.failed = result.is_err();
        result
    }

    /// Takes the oldest item read so far, or `None` when there is none.
    ///
    /// ```
    /// use tower_sse::parse::{Item, Parser};
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b":one\n:two\n").unwrap();
    /// assert_eq!(parser.next_item(), Some(Item::Comment("one".into())));
    /// assert_eq!(parser.next_item(), Some(Item::Comment("two".into())));
    /// assert_eq!(parser.next_item(), None);
    /// ```
    pub fn next_item(&mut self) -> Option<Item> {
        self.interpreter.pop()
    }

    /// Starts from `id` as the last event id (a relay resuming for a client
    /// that came with `Last-Event-ID`).
    pub(crate) fn set_last_event_id(&mut self, id: &str) {
        self.interpreter.set_last_event_id(id);
    }

    /// Hands back an event this parser produced, so its buffers hold the
    /// next event (a relay re-encodes and drops every event: with this, a
    /// steady stream allocates nothing per event).
    pub(crate) fn recycle(&mut self, event: MessageEvent) {
        self.interpreter.recycle(event);
    }

    /// Ends the stream. A final line without a line ending is discarded, and
    /// so is an event whose blank line never came, together with any `id` it
    /// set. Queued items, the last event ID and the retry time are kept, and
    /// the parser is ready for a new stream (after a reconnection, say): a
    /// byte order mark is stripped again at its start.
    ///
    /// ```
    /// use tower_sse::parse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n").unwrap();
    /// parser.finish();
    /// assert_eq!(parser.next_item().unwrap().into_event().unwrap().data, "a");
    /// assert_eq!(parser.next_item(), None);
    /// assert_eq!(parser.last_event_id(), "1");
    /// ```
    pub fn finish(&mut self) {
        self.lines.reset();
        self.interpreter.end_of_stream();
    }

    /// The last event ID: the one the latest dispatched event carried, and
    /// the one a client sends as `Last-Event-ID` when it reconnects.
    ///
    /// ```
    /// use tower_sse::parse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 5\n").unwrap();
    /// assert_eq!(parser.last_event_id(), "", "not dispatched yet");
    /// parser.feed(b"\n").unwrap();
    /// assert_eq!(parser.last_event_id(), "5");
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.interpreter.last_event_id()
    }

    /// The latest valid `retry` time seen, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sse::parse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"retry: 2500\nretry: soon\n").unwrap();
    /// assert_eq!(parser.retry(), Some(Duration::from_millis(2500)));
    /// ```
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.interpreter.retry()
    }

    /// The bytes the parser holds between calls, the quantity that
    /// [`max_buffered`](Parser::max_buffered) bounds. For tests.
    #[doc(hidden)]
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        self.lines.held() + self.interpreter.held()
    }

    /// Whether items are queued.
    pub(crate) fn has_items(&self) -> bool {
        self.interpreter.has_items()
    }
}

/// Parses a complete stream (as [`Parser::feed`] then [`Parser::finish`]
/// with the default buffer limit) and returns every item in order.
///
/// # Errors
///
/// [`ErrorKind::BufferFull`] if a line or an event is larger than
/// [`Parser::DEFAULT_MAX_BUFFERED`]; use a [`Parser`] to choose the limit.
///
/// ```
/// use tower_sse::parse::{parse, Item, MessageEvent};
///
/// let items = parse(b"event: add\ndata: 73857293\n\ndata: cut off").unwrap();
/// assert_eq!(
///     items,
///     [Item::Event(MessageEvent::new("73857293").with_event_type("add"))]
/// );
/// ```
pub fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let mut parser = Parser::new();
    parser.feed(input)?;
    parser.finish();
    Ok(std::iter::from_fn(|| parser.next_item()).collect())
}

/// Like [`parse`], but returns only the events.
///
/// # Errors
///
/// As for [`parse`].
///
/// ```
/// use tower_sse::parse::parse_events;
///
/// let events = parse_events(b": keep-alive\ndata: YHOO\ndata: +2\ndata: 10\n\n").unwrap();
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].data, "YHOO\n+2\n10");
/// ```
pub fn parse_events(input: &[u8]) -> Result<Vec<MessageEvent>, Error> {
    Ok(parse(input)?
        .into_iter()
        .filter_map(Item::into_event)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parser: &mut Parser, chunks: &[&[u8]]) -> Vec<Item> {
        for chunk in chunks {
            parser.feed(chunk).unwrap();
        }
        parser.finish();
        std::iter::from_fn(|| parser.next_item()).collect()
    }

    #[test]
    fn recycled_events_change_nothing_that_is_read() {
        let input: &[u8] = b"event: a\nid: 1\ndata: x\ndata: y\n\ndata: long line of data\n\n\
            event: b\ndata: z\n\nid:\ndata: \n\n: note\ndata: last\n\n";
        let plain = parse(input).unwrap();
        let mut parser = Parser::new();
        let mut recycled = Vec::new();
        // A byte at a time, so every event after the first is dispatched
        // into the buffers of the one before.
        for byte in input.chunks(1) {
            parser.feed(byte).unwrap();
            while let Some(item) = parser.next_item() {
                if let Item::Event(event) = item {
                    // The event handed back before was used for this one.
                    assert!(!parser.interpreter.has_spare());
                    recycled.push(Item::Event(event.clone()));
                    parser.recycle(event);
                    assert!(parser.interpreter.has_spare());
                } else {
                    recycled.push(item);
                }
            }
        }
        assert_eq!(recycled, plain);
        assert_eq!(plain.len(), 6);
    }

    #[test]
    fn finish_discards_an_unterminated_line_and_starts_a_new_stream() {
        let mut parser = Parser::new();
        let items = feed_all(&mut parser, &[b"id: 1\ndata: a\n\nid: 2\ndata: b"]);
        assert_eq!(
            items,
            [Item::Event(MessageEvent::new("a").with_last_event_id("1"))]
        );
        assert_eq!(parser.buffered_len(), 0);
        let items = feed_all(&mut parser, &[b"\xEF\xBB\xBFdata: d\n\n"]);
        assert_eq!(
            items,
            [Item::Event(MessageEvent::new("d").with_last_event_id("1"))],
            "the BOM is stripped again and the undispatched id 2 is gone"
        );
    }

    #[test]
    fn failure_is_sticky_and_earlier_items_stay_queued() {
        let mut parser = Parser::new().max_buffered(10);
        let err = parser.feed(b"data: ok\n\n:0123456789ab\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
        let event = parser.next_item().and_then(Item::into_event).unwrap();
        assert_eq!(event.data, "ok");
        assert_eq!(parser.feed(b"").unwrap_err().kind(), ErrorKind::BufferFull);
        parser.finish();
        assert_eq!(
            parser.feed(b"\n").unwrap_err().kind(),
            ErrorKind::BufferFull
        );
    }

    #[test]
    fn held_bytes_count_the_partial_line_data_and_event_type() {
        let mut parser = Parser::new();
        parser.feed(b"data: abc\nevent: t\nda").unwrap();
        assert_eq!(
            parser.buffered_len(),
            "abc\n".len() + "t".len() + "da".len()
        );
        parser.feed(b"ta: x\n\n").unwrap();
        assert_eq!(parser.buffered_len(), 0);
    }

    #[test]
    fn data_accumulated_over_many_lines_is_limited_too() {
        let mut parser = Parser::new().max_buffered(12);
        parser.feed(b"data: abcde\ndata: fghij\n").unwrap();
        assert_eq!(parser.buffered_len(), 12);
        let err = parser.feed(b"data\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
    }

    #[test]
    fn parse_fails_on_a_line_over_the_default_limit() {
        let mut input = b"data: ".to_vec();
        input.resize(Parser::DEFAULT_MAX_BUFFERED + 1, b'x');
        input.extend_from_slice(b"\n\n");
        let err = parse(&input).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
    }
}
