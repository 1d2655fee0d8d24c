//! Interpreting complete lines (HTML Living Standard, 9.2.6): fields,
//! comments and dispatch. Line splitting lives in `parser.rs`.

use std::{borrow::Cow, collections::VecDeque, time::Duration};

use memchr::memchr;

use super::item::{Item, MessageEvent};
use crate::{Error, ErrorKind};

/// The spec's data, event type and last event ID buffers, plus the queue of
/// items read so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Interpreter {
    data: String,
    event_type: String,
    /// The spec's "last event ID buffer": set by `id` fields.
    id_buffer: String,
    /// The event source's "last event ID string": set on dispatch.
    last_event_id: String,
    retry: Option<Duration>,
    queue: VecDeque<Item>,
    /// A dispatched event handed back by its reader (see `recycle`): its
    /// buffers become the next event's, so a steady stream allocates nothing.
    spare: Option<MessageEvent>,
}

impl Interpreter {
    /// Bytes held in the data and event type buffers.
    pub(super) fn held(&self) -> usize {
        self.data.len() + self.event_type.len()
    }

    pub(super) fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    pub(super) fn retry(&self) -> Option<Duration> {
        self.retry
    }

    pub(super) fn has_items(&self) -> bool {
        !self.queue.is_empty()
    }

    pub(super) fn pop(&mut self) -> Option<Item> {
        self.queue.pop_front()
    }

    /// Whether an event handed back waits to be reused.
    #[cfg(test)]
    pub(super) fn has_spare(&self) -> bool {
        self.spare.is_some()
    }

    /// Takes back an event this interpreter dispatched, to reuse its buffers.
    pub(super) fn recycle(&mut self, event: MessageEvent) {
        self.spare = Some(event);
    }

    /// Interprets one complete line (without its line ending). Fails, and
    /// changes nothing, if the data and event type buffers would then hold
    /// more than `limit` bytes.
    pub(super) fn line(&mut self, line: &[u8], limit: usize) -> Result<(), Error> {
        let Some((&first, after_first)) = line.split_first() else {
            self.dispatch();
            return Ok(());
        };
        if first == b':' {
            let text = decode(strip_space(after_first)).into_owned();
            self.queue.push_back(Item::Comment(text));
            return Ok(());
        }
        let (name, value) = match memchr(b':', line) {
            Some(colon) => (&line[..colon], strip_space(&line[colon + 1..])),
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                let value = decode(value);
                if self.held().saturating_add(value.len() + 1) > limit {
                    return Err(Error::new(ErrorKind::BufferFull));
                }
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"event" => {
                let value = decode(value);
                if self.data.len().saturating_add(value.len()) > limit {
                    return Err(Error::new(ErrorKind::BufferFull));
                }
                self.event_type.clear();
                self.event_type.push_str(&value);
            }
            // A NUL byte can only be U+0000 in UTF-8, so checking bytes is exact.
            b"id" if memchr(0, value).is_none() => {
                self.id_buffer.clear();
                self.id_buffer.push_str(&decode(value));
            }
            b"retry" => {
                if let Some(retry) = parse_retry(value) {
                    self.retry = Some(retry);
                    self.queue.push_back(Item::Retry(retry));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts from `id` as the last event id, as if an `id` field and a blank
    /// line had been read (whatever its length: ids are not buffered data).
    pub(super) fn set_last_event_id(&mut self, id: &str) {
        self.id_buffer.clear();
        self.id_buffer.push_str(id);
        self.last_event_id.clone_from(&self.id_buffer);
    }

    /// The end of the stream: an event without its blank line is dropped,
    /// together with any `id` it set.
    pub(super) fn end_of_stream(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
    }

    fn dispatch(&mut self) {
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        if let Some(mut event) = self.spare.take() {
            // Swap buffers with the recycled event: no allocation, no copy.
            self.data.pop(); // the final LF
            event.data.clear();
            std::mem::swap(&mut event.data, &mut self.data);
            event.event_type.clear();
            if self.event_type.is_empty() {
                event.event_type.push_str(MessageEvent::DEFAULT_TYPE);
            } else {
                std::mem::swap(&mut event.event_type, &mut self.event_type);
            }
            event.last_event_id.clone_from(&self.last_event_id);
            self.queue.push_back(Item::Event(event));
            return;
        }
        let data = self
            .data
            .strip_suffix('\n')
            .unwrap_or(&self.data)
            .to_owned();
        self.data.clear();
        let event_type = if self.event_type.is_empty() {
            MessageEvent::DEFAULT_TYPE.to_owned()
        } else {
            std::mem::take(&mut self.event_type)
        };
        self.queue.push_back(Item::Event(MessageEvent {
            event_type,
            data,
            last_event_id: self.last_event_id.clone(),
        }));
    }
}

/// Removes exactly one leading U+0020 SPACE (never a tab).
fn strip_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

/// UTF-8 decoding with U+FFFD for invalid sequences; borrows when valid.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` checks ASCII a word at a time; the lossy decoder walks
    // chunk by chunk, so it only runs on input that is not valid UTF-8.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A `retry` value: one or more ASCII digits, decimal milliseconds. Anything
/// else, including a number too large for a `u64`, is ignored.
fn parse_retry(value: &[u8]) -> Option<Duration> {
    if value.is_empty() {
        return None;
    }
    let mut millis: u64 = 0;
    for &byte in value {
        if !byte.is_ascii_digit() {
            return None;
        }
        millis = millis
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    Some(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&[u8]]) -> (Interpreter, Vec<Item>) {
        let mut interpreter = Interpreter::default();
        for line in lines {
            interpreter.line(line, usize::MAX).unwrap();
        }
        let items = std::iter::from_fn(|| interpreter.pop()).collect();
        (interpreter, items)
    }

    #[test]
    fn retry_accepts_digits_with_leading_zeros() {
        assert_eq!(parse_retry(b"03000"), Some(Duration::from_millis(3000)));
        assert_eq!(parse_retry(b"0"), Some(Duration::ZERO));
    }

    #[test]
    fn retry_rejects_empty_signed_spaced_and_suffixed_values() {
        for bogus in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1000x",
            b"1.5",
            b"\xd9\xa1",
        ] {
            assert_eq!(parse_retry(bogus), None, "{bogus:?}");
        }
    }

    #[test]
    fn retry_too_large_for_u64_is_ignored_without_panicking() {
        assert_eq!(
            parse_retry(b"18446744073709551615"),
            Some(Duration::from_millis(u64::MAX))
        );
        assert_eq!(parse_retry(b"18446744073709551616"), None);
        assert_eq!(parse_retry(&[b'9'; 400]), None);
    }

    #[test]
    fn only_one_space_is_stripped_and_never_a_tab() {
        assert_eq!(strip_space(b"  x"), b" x");
        assert_eq!(strip_space(b"\tx"), b"\tx");
        assert_eq!(strip_space(b""), b"");
    }

    #[test]
    fn id_with_nul_leaves_the_previous_id_in_place() {
        let (interpreter, items) = run(&[b"id: 1", b"data: a", b"", b"id: x\0y", b"data: b", b""]);
        let ids: Vec<_> = items
            .iter()
            .filter_map(Item::as_event)
            .map(|e| e.last_event_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "1"]);
        assert_eq!(interpreter.last_event_id(), "1");
    }

    #[test]
    fn blank_line_without_data_sets_the_id_but_fires_nothing() {
        let (interpreter, items) = run(&[b"event: t", b"id: 9", b""]);
        assert!(items.is_empty());
        assert_eq!(interpreter.last_event_id(), "9");
        assert_eq!(interpreter.held(), 0, "the event type is reset too");
    }

    #[test]
    fn end_of_stream_forgets_an_undispatched_id() {
        let (mut interpreter, _) = run(&[b"id: 1", b"", b"id: 2", b"data: x"]);
        interpreter.end_of_stream();
        interpreter.line(b"data: y", usize::MAX).unwrap();
        interpreter.line(b"", usize::MAX).unwrap();
        let event = interpreter.pop().and_then(Item::into_event).unwrap();
        assert_eq!(event.data, "y");
        assert_eq!(event.last_event_id, "1");
    }

    #[test]
    fn data_over_the_limit_fails_and_keeps_the_buffer_unchanged() {
        let mut interpreter = Interpreter::default();
        interpreter.line(b"data: abc", 4).unwrap();
        let err = interpreter.line(b"data: d", 4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
        assert_eq!(interpreter.held(), 4);
        let err = interpreter.line(b"event: e", 4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
    }

    #[test]
    fn invalid_utf8_in_a_value_becomes_replacement_characters() {
        let (_, items) = run(&[b"data: a\xffb", b"event: \xc3", b""]);
        assert_eq!(
            items,
            [Item::Event(
                MessageEvent::new("a\u{fffd}b").with_event_type("\u{fffd}")
            )]
        );
    }
}
