//! Property tests for the parser: no panics, a bounded buffer, and chunk
//! split invariance.

use proptest::prelude::*;
use tower_sse::{
    parse::{Item, MessageEvent, Parser},
    ErrorKind,
};

/// What one parse produced: the items, and how it ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Item>,
    last_event_id: String,
    retry: Option<std::time::Duration>,
    failed: bool,
}

/// Cuts `input` at the given points (taken modulo its length, in any order).
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

/// Feeds the chunks to `parser`, checking the buffer bound after each one.
fn run(mut parser: Parser, cap: usize, chunks: &[&[u8]]) -> Outcome {
    let mut failed = false;
    for chunk in chunks {
        match parser.feed(chunk) {
            Ok(()) => assert!(!failed, "a failed parser accepted more input"),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::BufferFull);
                failed = true;
            }
        }
        assert!(
            parser.buffered_len() <= cap,
            "holds {} bytes, limit {cap}",
            parser.buffered_len()
        );
    }
    parser.finish();
    Outcome {
        items: std::iter::from_fn(|| parser.next_item()).collect(),
        last_event_id: parser.last_event_id().to_owned(),
        retry: parser.retry(),
        failed,
    }
}

/// A deliberately naive reading of the spec: decode the whole stream, strip
/// one BOM, split into lines, interpret. No chunks, no limits.
fn reference(input: &[u8]) -> Outcome {
    let decoded = String::from_utf8_lossy(input);
    let mut rest = decoded.strip_prefix('\u{feff}').unwrap_or(&decoded);
    let mut lines = Vec::new();
    while let Some(end) = rest.find(['\r', '\n']) {
        lines.push(&rest[..end]);
        let ending = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + ending..];
    }
    let (mut data, mut event_type, mut id_buffer) = (String::new(), String::new(), String::new());
    let (mut last_event_id, mut retry, mut items) = (String::new(), None, Vec::new());
    for line in lines {
        if line.is_empty() {
            last_event_id.clone_from(&id_buffer);
            if !data.is_empty() {
                data.pop();
                let event_type = if event_type.is_empty() {
                    "message"
                } else {
                    &event_type
                };
                items.push(Item::Event(
                    MessageEvent::new(data.as_str())
                        .with_event_type(event_type)
                        .with_last_event_id(last_event_id.as_str()),
                ));
            }
            data.clear();
            event_type.clear();
        } else if let Some(text) = line.strip_prefix(':') {
            items.push(Item::Comment(
                text.strip_prefix(' ').unwrap_or(text).to_owned(),
            ));
        } else {
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "event" => event_type = value.to_owned(),
                "id" if !value.contains('\0') => id_buffer = value.to_owned(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    if let Ok(millis) = value.parse::<u64>() {
                        let delay = std::time::Duration::from_millis(millis);
                        retry = Some(delay);
                        items.push(Item::Retry(delay));
                    }
                }
                _ => {}
            }
        }
    }
    Outcome {
        items,
        last_event_id,
        retry,
        failed: false,
    }
}

/// Pieces of event streams, weighted toward what exercises the parser.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop_oneof![Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"\r\n".to_vec())],
        2 => Just(b":".to_vec()),
        2 => Just(b" ".to_vec()),
        3 => prop_oneof![
            Just(b"data".to_vec()),
            Just(b"id".to_vec()),
            Just(b"event".to_vec()),
            Just(b"retry".to_vec()),
        ],
        1 => Just(b"\xEF\xBB\xBF".to_vec()),
        1 => prop_oneof![
            Just("\u{e9}".as_bytes().to_vec()),
            Just("\u{2026}".as_bytes().to_vec()),
            Just("\u{1F600}".as_bytes().to_vec()),
        ],
        1 => Just(b"\0".to_vec()),
        2 => "[0-9]{1,3}".prop_map(String::into_bytes),
        2 => "[a-z]{1,4}".prop_map(String::into_bytes),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..48).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_under_the_limit(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        cap in 0usize..64,
    ) {
        run(Parser::new().max_buffered(cap), cap, &split(&input, &cuts));
    }

    #[test]
    fn event_streams_never_panic_and_stay_under_the_limit(
        input in stream_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        cap in 0usize..32,
    ) {
        run(Parser::new().max_buffered(cap), cap, &split(&input, &cuts));
    }

    #[test]
    fn splitting_the_input_anywhere_changes_nothing(
        input in stream_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 1..12),
    ) {
        let cap = Parser::DEFAULT_MAX_BUFFERED;
        let whole = run(Parser::new(), cap, &[&input]);
        prop_assert!(!whole.failed);
        let chunked = run(Parser::new(), cap, &split(&input, &cuts));
        prop_assert_eq!(&chunked, &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(Parser::new(), cap, &bytes), whole);
    }

    #[test]
    fn chunked_parsing_matches_a_naive_reading_of_the_spec(
        input in stream_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let cap = Parser::DEFAULT_MAX_BUFFERED;
        prop_assert_eq!(run(Parser::new(), cap, &split(&input, &cuts)), reference(&input));
    }

    #[test]
    fn a_line_longer_than_a_small_limit_is_buffer_full(
        prefix in stream_bytes(),
        cap in 1usize..32,
        extra in 1usize..64,
        kind in prop_oneof![Just("data:"), Just(":"), Just("id:"), Just("x")],
        terminated in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = prefix;
        input.push(b'\n');
        input.extend_from_slice(kind.as_bytes());
        input.extend(std::iter::repeat(b'y').take(cap + extra));
        if terminated {
            input.push(b'\n');
        }
        let outcome = run(Parser::new().max_buffered(cap), cap, &split(&input, &cuts));
        prop_assert!(outcome.failed);
    }
}
