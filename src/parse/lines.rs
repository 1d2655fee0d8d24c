//! Splitting a chunked byte stream into lines (HTML Living Standard, 9.2.5):
//! the byte order mark, the three line endings, and lines that span chunks.

use memchr::memchr2;

use super::interpret::Interpreter;
use crate::{Error, ErrorKind};

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Line splitting state carried from one chunk to the next.
#[derive(Debug, Clone)]
pub(super) struct LineSplitter {
    /// The bytes of an unfinished line.
    line: Vec<u8>,
    /// How many leading bytes of the stream matched the BOM so far, while
    /// that is still undecided; `None` once it is decided.
    bom_matched: Option<usize>,
    /// The last chunk ended with CR, so an LF starting the next chunk ends
    /// no further line.
    after_cr: bool,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self {
            line: Vec::new(),
            bom_matched: Some(0),
            after_cr: false,
        }
    }
}

impl LineSplitter {
    /// Bytes held back: the unfinished line and any partial BOM.
    pub(super) fn held(&self) -> usize {
        self.line.len() + self.bom_matched.unwrap_or(0)
    }

    /// Forgets the unfinished line; the next byte starts a new stream.
    pub(super) fn reset(&mut self) {
        self.line.clear();
        self.bom_matched = Some(0);
        self.after_cr = false;
    }

    /// Hands every line that `chunk` completes to `interpreter`, and keeps
    /// the rest. Fails if a line, or what is held afterwards (the unfinished
    /// line plus the interpreter's buffers), would exceed `limit` bytes.
    pub(super) fn feed(
        &mut self,
        chunk: &[u8],
        interpreter: &mut Interpreter,
        limit: usize,
    ) -> Result<(), Error> {
        let mut rest = self.skip_bom(chunk, limit)?;
        if self.after_cr {
            if let Some((&first, tail)) = rest.split_first() {
                self.after_cr = false;
                if first == b'\n' {
                    rest = tail;
                }
            }
        }
        while let Some(end) = memchr2(b'\r', b'\n', rest) {
            let (content, ending) = rest.split_at(end);
            let ending_len = match ending {
                [b'\r', b'\n', ..] => 2,
                [b'\r'] => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            self.complete(content, interpreter, limit)?;
            rest = &ending[ending_len..];
        }
        if !rest.is_empty() {
            let held = self.held() + interpreter.held();
            if held.saturating_add(rest.len()) > limit {
                return Err(Error::new(ErrorKind::BufferFull));
            }
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Interprets the unfinished line followed by `tail`.
    fn complete(
        &mut self,
        tail: &[u8],
        interpreter: &mut Interpreter,
        limit: usize,
    ) -> Result<(), Error> {
        if self.line.len().saturating_add(tail.len()) > limit {
            return Err(Error::new(ErrorKind::BufferFull));
        }
        if self.line.is_empty() {
            return interpreter.line(tail, limit);
        }
        self.line.extend_from_slice(tail);
        let result = interpreter.line(&self.line, limit);
        self.line.clear();
        result
    }

    /// Strips the BOM from the start of the stream, even when it arrives in
    /// pieces. Returns what remains of `chunk` to split into lines.
    fn skip_bom<'a>(&mut self, chunk: &'a [u8], limit: usize) -> Result<&'a [u8], Error> {
        let Some(matched) = self.bom_matched else {
            return Ok(chunk);
        };
        let wanted = &BOM[matched..];
        let len = wanted.len().min(chunk.len());
        if chunk[..len] == wanted[..len] {
            if matched + len == BOM.len() {
                self.bom_matched = None;
                return Ok(&chunk[len..]);
            }
            if matched + len > limit {
                return Err(Error::new(ErrorKind::BufferFull));
            }
            self.bom_matched = Some(matched + len);
            return Ok(&[]);
        }
        // Not a BOM after all: the bytes held back start the first line.
        self.bom_matched = None;
        self.line.extend_from_slice(&BOM[..matched]);
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Item;

    /// Splits `chunks` and returns the data of each event.
    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::default();
        let mut interpreter = Interpreter::default();
        for chunk in chunks {
            splitter.feed(chunk, &mut interpreter, usize::MAX).unwrap();
        }
        std::iter::from_fn(|| interpreter.pop())
            .filter_map(Item::into_event)
            .map(|e| e.data)
            .collect()
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        let chunks: [&[u8]; 4] = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"];
        assert_eq!(events(&chunks), ["a\nb"]);
    }

    #[test]
    fn cr_then_an_empty_chunk_then_lf_is_still_one_line_ending() {
        assert_eq!(events(&[b"data: a\r", b"", b"\ndata: b\n\n"]), ["a\nb"]);
    }

    #[test]
    fn cr_at_chunk_end_followed_by_another_cr_is_a_blank_line() {
        assert_eq!(events(&[b"data: a\r", b"\rdata: b\n\n"]), ["a", "b"]);
    }

    #[test]
    fn lines_of_every_ending_are_split_alike() {
        assert_eq!(events(&[b"data: a\rdata: b\ndata: c\r\n\r"]), ["a\nb\nc"]);
    }

    #[test]
    fn bom_split_in_three_chunks_is_stripped() {
        assert_eq!(events(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]), ["x"]);
    }

    #[test]
    fn partial_bom_is_kept_as_the_start_of_the_first_line() {
        let chunks: [&[u8]; 2] = [b"\xEF\xBB", b"data: x\n\ndata: y\n\n"];
        assert_eq!(events(&chunks), ["y"], "the first field name is not `data`");
    }

    #[test]
    fn bom_after_the_first_byte_is_not_stripped() {
        assert_eq!(events(&[b"\n\xEF\xBB\xBFdata: x\n\ndata: y\n\n"]), ["y"]);
    }

    #[test]
    fn reset_forgets_a_trailing_cr_and_strips_a_new_bom() {
        let mut splitter = LineSplitter::default();
        let mut interpreter = Interpreter::default();
        splitter
            .feed(b"data: x\r", &mut interpreter, usize::MAX)
            .unwrap();
        splitter.reset();
        assert_eq!(splitter.held(), 0);
        let chunk = b"\xEF\xBB\xBF\n";
        splitter.feed(chunk, &mut interpreter, usize::MAX).unwrap();
        let event = interpreter.pop().and_then(Item::into_event).unwrap();
        assert_eq!(event.data, "x", "the LF after the new BOM is a blank line");
    }

    #[test]
    fn a_line_longer_than_the_limit_fails_whole_or_split() {
        let mut interpreter = Interpreter::default();
        let line = b":0123456789\n";
        assert!(LineSplitter::default()
            .feed(line, &mut interpreter, 10)
            .is_err());
        let mut splitter = LineSplitter::default();
        splitter.feed(&line[..6], &mut interpreter, 10).unwrap();
        assert!(splitter.feed(&line[6..], &mut interpreter, 10).is_err());
        assert!(LineSplitter::default()
            .feed(line, &mut interpreter, 11)
            .is_ok());
    }

    #[test]
    fn partial_bom_counts_against_a_tiny_limit() {
        let mut splitter = LineSplitter::default();
        let mut interpreter = Interpreter::default();
        splitter.feed(b"\xEF", &mut interpreter, 1).unwrap();
        assert_eq!(splitter.held(), 1);
        let err = splitter.feed(b"\xBB", &mut interpreter, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
    }
}
