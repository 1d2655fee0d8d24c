//! The parser on arbitrary bytes at arbitrary splits: no panic, bounded
//! memory, and the same items however the input is chunked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_sse::parse::{Item, Parser};

const CAP: usize = 4096;

fn run(input: &[u8], splits: &[usize]) -> (Vec<Item>, bool) {
    let mut parser = Parser::new().max_buffered(CAP);
    let mut items = Vec::new();
    let mut failed = false;
    let mut start = 0;
    for &end in splits.iter().chain(std::iter::once(&input.len())) {
        if parser.feed(&input[start..end]).is_err() {
            failed = true;
        }
        assert!(parser.buffered_len() <= CAP, "parser buffered past its cap");
        while let Some(item) = parser.next_item() {
            items.push(item);
        }
        start = end;
    }
    parser.finish();
    while let Some(item) = parser.next_item() {
        items.push(item);
    }
    (items, failed)
}

fuzz_target!(|data: &[u8]| {
    // The first byte seeds the split points, the rest is the stream.
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let mut splits: Vec<usize> = Vec::new();
    if !input.is_empty() {
        let step = usize::from(seed % 7) + 1;
        let mut at = usize::from(seed) % input.len();
        while at < input.len() {
            splits.push(at);
            at += step + usize::from(seed >> 4);
        }
    }
    let (whole, whole_failed) = run(input, &[]);
    let (split, split_failed) = run(input, &splits);
    if !whole_failed && !split_failed {
        assert_eq!(whole, split, "chunking changed the parsed items");
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    let (bytes, bytes_failed) = run(input, &bytewise);
    if !whole_failed && !bytes_failed {
        assert_eq!(whole, bytes, "byte-by-byte parsing changed the items");
    }
});
