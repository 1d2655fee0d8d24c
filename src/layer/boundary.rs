//! Where a body stands in the SSE line grammar after the bytes sent so far.
//!
//! The layer writes its own lines (keep-alives, a final event) between frames
//! of a body it did not produce. That is only safe at a line boundary, and a
//! final event only at an event boundary; this tracker knows both, and counts
//! the events a client will dispatch, in one `memchr2` pass per frame.
//!
//! Bodies the layer knows end every frame at an event boundary (an
//! [`EventStream`](crate::EventStream)) are not scanned at all: see [`Framing`].

use memchr::memchr2;

use crate::body::EventCounter;

/// How the layer learns where the body stands after each frame.
#[derive(Debug)]
pub(crate) enum Framing {
    /// A foreign body: every byte is scanned.
    Scanned(Boundary),
    /// An `EventStream`: frames end at event boundaries, and it counts its
    /// own events.
    Whole {
        counter: EventCounter,
        /// The counter's value at the last frame.
        seen: u64,
    },
}

impl Framing {
    pub(crate) fn scanned() -> Self {
        Self::Scanned(Boundary::default())
    }

    pub(crate) fn whole(counter: EventCounter) -> Self {
        let seen = counter.get();
        Self::Whole { counter, seen }
    }

    /// Feeds a frame of the body; returns how many events it completed.
    pub(crate) fn observe(&mut self, bytes: &[u8]) -> u64 {
        match self {
            Self::Scanned(boundary) => boundary.observe(bytes),
            Self::Whole { counter, seen } => {
                let now = counter.get();
                let events = now.wrapping_sub(*seen);
                *seen = now;
                events
            }
        }
    }

    /// A whole line may be written now.
    pub(crate) fn at_line(&self) -> bool {
        match self {
            Self::Scanned(boundary) => boundary.at_line(),
            Self::Whole { .. } => true,
        }
    }

    /// A whole event may be written now.
    pub(crate) fn at_event(&self) -> bool {
        match self {
            Self::Scanned(boundary) => boundary.at_event(),
            Self::Whole { .. } => true,
        }
    }
}

/// Incremental line-state of the bytes emitted so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Boundary {
    /// The current line has no bytes yet.
    line_start: bool,
    /// The last byte was `\r`: it may be the first half of a CRLF split across
    /// frames, so writing now could turn the following `\n` into a blank line.
    after_cr: bool,
    /// The current line starts with `:`.
    comment: bool,
    /// A field line was seen since the last blank line (the client is
    /// buffering an event).
    in_event: bool,
}

impl Default for Boundary {
    fn default() -> Self {
        Self {
            line_start: true,
            after_cr: false,
            comment: false,
            in_event: false,
        }
    }
}

impl Boundary {
    /// Feeds emitted bytes; returns how many events they completed.
    pub(crate) fn observe(&mut self, mut bytes: &[u8]) -> u64 {
        let mut events = 0;
        while let Some(&first) = bytes.first() {
            if self.after_cr {
                self.after_cr = false;
                if first == b'\n' {
                    // Second half of a CRLF: same line ending.
                    bytes = &bytes[1..];
                    continue;
                }
            }
            if self.line_start && first != b'\r' && first != b'\n' {
                self.comment = first == b':';
            }
            let Some(end) = memchr2(b'\r', b'\n', bytes) else {
                self.line_start = false;
                break;
            };
            if self.line_start && end == 0 {
                // A blank line dispatches the buffered event.
                if self.in_event {
                    events += 1;
                    self.in_event = false;
                }
            } else if !self.comment {
                self.in_event = true;
            }
            self.line_start = true;
            self.after_cr = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
        }
        events
    }

    /// A whole line may be written now without merging into another line.
    pub(crate) fn at_line(&self) -> bool {
        self.line_start && !self.after_cr
    }

    /// A whole event may be written now: at a line boundary with no event
    /// being buffered by the client.
    pub(crate) fn at_event(&self) -> bool {
        self.at_line() && !self.in_event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> (Boundary, u64) {
        let mut b = Boundary::default();
        let n = chunks.iter().map(|c| b.observe(c)).sum();
        (b, n)
    }

    #[test]
    fn nothing_sent_is_a_boundary() {
        let (b, n) = feed(&[]);
        assert!(b.at_event());
        assert_eq!(n, 0);
    }

    #[test]
    fn a_pause_after_a_field_line_is_a_line_but_not_an_event_boundary() {
        let (b, n) = feed(&[b"data: a\n"]);
        assert!(b.at_line());
        assert!(!b.at_event());
        assert_eq!(n, 0);
        let (b, n) = feed(&[b"data: a\n", b"data: b\n\n"]);
        assert!(b.at_event());
        assert_eq!(n, 1);
    }

    #[test]
    fn mid_line_is_no_boundary() {
        let (b, _) = feed(&[b"data: a\n\ndata: b"]);
        assert!(!b.at_line());
    }

    #[test]
    fn a_trailing_cr_is_no_boundary_until_the_next_byte() {
        let (b, _) = feed(&[b"data: a\r"]);
        assert!(!b.at_line());
        let (b, n) = feed(&[b"data: a\r", b"\n"]);
        assert!(b.at_line() && !b.at_event());
        assert_eq!(n, 0);
        let (b, n) = feed(&[b"data: a\r", b"\n\r", b"\n"]);
        assert!(b.at_event());
        assert_eq!(n, 1);
        // Lone CRs are line endings too.
        let (b, n) = feed(&[b"data: a\r", b"\r", b"x"]);
        assert_eq!(n, 1);
        assert!(!b.at_line());
    }

    #[test]
    fn comments_and_repeated_blank_lines_are_not_events() {
        let (b, n) = feed(&[b": hi\n\n\n:\n", b"retry: 5\n\n", b"data: x\n\ndata: y\n\n"]);
        assert_eq!(n, 3);
        assert!(b.at_event());
        let (b, n) = feed(&[b":", b"keep\n"]);
        assert_eq!(n, 0);
        assert!(b.at_event());
    }

    #[test]
    fn counts_are_independent_of_how_frames_are_split() {
        let wire: &[u8] = b"data: a\r\n\r\n: c\nevent: e\rdata: b\r\r:x\ndata\n\n";
        let (whole, n) = feed(&[wire]);
        for i in 0..wire.len() {
            let (b, m) = feed(&[&wire[..i], &wire[i..]]);
            assert_eq!(m, n, "split at {i}");
            assert_eq!(b.at_event(), whole.at_event());
        }
        let mut b = Boundary::default();
        let m: u64 = wire.iter().map(|byte| b.observe(&[*byte])).sum();
        assert_eq!((m, n), (3, 3));
    }

    proptest::proptest! {
        #[test]
        fn any_split_gives_the_same_state_and_event_count(
            wire in proptest::collection::vec(proptest::sample::select(b"a: \r\n".to_vec()), 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let (whole, n) = feed(&[&wire]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            let mut b = Boundary::default();
            let mut m = 0;
            let mut start = 0;
            for cut in cuts.into_iter().chain([wire.len()]) {
                m += b.observe(&wire[start..cut]);
                start = cut;
            }
            proptest::prop_assert_eq!(m, n);
            proptest::prop_assert_eq!((b.at_line(), b.at_event()), (whole.at_line(), whole.at_event()));
        }
    }
}
