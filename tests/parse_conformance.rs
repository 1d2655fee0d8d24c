//! Conformance vectors: the worked examples of the HTML Living Standard,
//! 9.2.6, and the WPT `eventsource/format-*` and `event-data` tests, with
//! the bytes the WPT fixtures (`resources/message.py`, `message2.py`,
//! `last-event-id.py`, `last-event-id2.py`) actually send.
//!
//! Every vector is parsed whole, byte by byte, split at every position and,
//! when short, at every pair of positions; all must give the same items.

use std::time::Duration;

use tower_sse::parse::{Item, MessageEvent, Parser};

/// Above this many bytes a vector is not split at every pair of positions.
const PAIR_SPLIT_MAX_LEN: usize = 256;

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Item>,
    last_event_id: String,
    retry: Option<Duration>,
}

fn run(chunks: &[&[u8]]) -> Outcome {
    let mut parser = Parser::new();
    for chunk in chunks {
        parser.feed(chunk).expect("vectors fit the default limit");
    }
    parser.finish();
    Outcome {
        items: std::iter::from_fn(|| parser.next_item()).collect(),
        last_event_id: parser.last_event_id().to_owned(),
        retry: parser.retry(),
    }
}

/// What `resources/message.py` sends for `message` (with `newline=none`
/// when `terminated` is false): the message, then `\n\n` unless told
/// otherwise, then one more `\n`.
fn message_py(message: &str, terminated: bool) -> Vec<u8> {
    let newline = if terminated { "\n\n" } else { "" };
    format!("{message}{newline}\n").into_bytes()
}

/// Checks `input` against `expected` under every chunking, and returns the
/// outcome for further assertions.
fn check(input: &[u8], expected: &[Item]) -> Outcome {
    let whole = run(&[input]);
    assert_eq!(whole.items, expected, "parsed whole: {input:?}");

    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte by byte: {input:?}");

    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(run(&[a, b]), whole, "split at {i}: {input:?}");
    }

    if input.len() <= PAIR_SPLIT_MAX_LEN {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let parts = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(run(&parts), whole, "split at {i} and {j}: {input:?}");
            }
        }
    }
    whole
}

fn event(data: &str) -> Item {
    Item::Event(MessageEvent::new(data))
}

fn event_with_id(data: &str, id: &str) -> Item {
    Item::Event(MessageEvent::new(data).with_last_event_id(id))
}

fn comment(text: &str) -> Item {
    Item::Comment(text.to_owned())
}

fn retry(millis: u64) -> Item {
    Item::Retry(Duration::from_millis(millis))
}

// --- HTML Living Standard, 9.2.6: the worked examples -----------------------

#[test]
fn spec_stock_ticker_lines_join_with_line_feeds() {
    check(
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        &[event("YHOO\n+2\n10")],
    );
}

#[test]
fn spec_four_blocks_set_and_then_reset_the_last_event_id() {
    let input = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
    let outcome = check(
        input,
        &[
            comment("test stream"),
            event_with_id("first event", "1"),
            event_with_id("second event", ""),
            event(" third event"),
        ],
    );
    assert_eq!(outcome.last_event_id, "");
}

#[test]
fn spec_empty_data_fires_and_the_unterminated_block_does_not() {
    check(b"data\n\ndata\ndata\n\ndata:", &[event(""), event("\n")]);
}

#[test]
fn spec_one_space_after_the_colon_is_optional() {
    check(
        b"data:test\n\ndata: test\n\n",
        &[event("test"), event("test")],
    );
}

#[test]
fn spec_event_types_name_the_events() {
    let input =
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n";
    let typed = |t: &str, d: &str| Item::Event(MessageEvent::new(d).with_event_type(t));
    check(
        input,
        &[
            typed("add", "73857293"),
            typed("remove", "2153"),
            typed("add", "113411"),
        ],
    );
}

// --- WPT eventsource/format-* ------------------------------------------------

#[test]
fn wpt_bom_only_the_first_is_stripped() {
    // format-bom: the second block's field name starts with U+FEFF, so it
    // is an unknown field and the block fires nothing.
    let input = message_py("\u{feff}data:1\n\n\u{feff}data:2\n\ndata:3", true);
    check(&input, &[event("1"), event("3")]);
}

#[test]
fn wpt_bom_2_a_second_leading_bom_spoils_the_first_field() {
    let input = message_py("\u{feff}\u{feff}data:1\n\ndata:2\n\ndata:3", true);
    check(&input, &[event("2"), event("3")]);
}

#[test]
fn wpt_comments_between_data_lines_are_skipped() {
    let long = "x".repeat(2 * 1024);
    let message =
        format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n");
    let input = message_py(&message, false);
    check(
        &input,
        &[
            comment("\0"),
            comment(""),
            comment(&long),
            comment("data:fail"),
            comment(&long),
            event("1\n2\n3\n4"),
        ],
    );
}

#[test]
fn wpt_data_before_final_empty_line_is_dropped_with_its_id() {
    let input = message_py("retry:1000\ndata:test1\n\nid:test\ndata:test2", false);
    let outcome = check(&input, &[retry(1000), event("test1")]);
    assert_eq!(
        outcome.last_event_id, "",
        "the unterminated block's id is dropped"
    );
}

#[test]
fn wpt_field_data_empty_and_bare_data_lines() {
    let input = message_py("data:\n\ndata\ndata\n\ndata:test", true);
    check(&input, &[event(""), event("\n"), event("test")]);
}

#[test]
fn wpt_field_event_sets_the_type_for_one_event_only() {
    let input = message_py("event:test\ndata:x\n\ndata:x", true);
    check(
        &input,
        &[
            Item::Event(MessageEvent::new("x").with_event_type("test")),
            event("x"),
        ],
    );
}

#[test]
fn wpt_field_event_empty_means_message() {
    let input = message_py("event: \ndata:data", true);
    check(&input, &[event("data")]);
}

#[test]
fn wpt_field_id_non_ascii_id_is_kept() {
    // format-field-id and format-field-id-2, first connection of
    // last-event-id.py (the default id is U+2026).
    let input = "id: \u{2026}\nretry: 200\ndata: hello\n\n".as_bytes();
    let outcome = check(input, &[retry(200), event_with_id("hello", "\u{2026}")]);
    assert_eq!(outcome.last_event_id, "\u{2026}");
    // The reconnection echoes the id back as data.
    check("data: \u{2026}\n\n".as_bytes(), &[event("\u{2026}")]);
}

#[test]
fn wpt_field_id_3_the_id_persists() {
    check(
        b"id: 1\ndata: 1\n\ndata:2\n\n",
        &[event_with_id("1", "1"), event_with_id("2", "1")],
    );
}

#[test]
fn wpt_field_id_3_the_id_changes_and_persists() {
    check(
        b"id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n",
        &[
            event_with_id("1", "1"),
            event_with_id("2", "2"),
            event_with_id("3", "2"),
        ],
    );
}

#[test]
fn wpt_field_id_3_an_empty_id_resets_it() {
    check(
        b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n",
        &[
            event_with_id("1", "1"),
            event_with_id("2", ""),
            event_with_id("3", ""),
        ],
    );
}

#[test]
fn wpt_field_id_null_an_id_with_nul_is_ignored() {
    // last-event-id.py?idvalue=%00%00. (Revisions of the WPT test from before
    // the spec ignored such ids expected "\0\0".)
    let outcome = check(
        b"id: \0\0\nretry: 200\ndata: hello\n\n",
        &[retry(200), event("hello")],
    );
    assert_eq!(outcome.last_event_id, "");
}

#[test]
fn wpt_field_parsing_names_are_exact_and_case_sensitive() {
    let message = "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n";
    let input = message_py(message, false);
    check(&input, &[event("\0\n 2\n1\n3\n\n4")]);
}

#[test]
fn wpt_field_retry_leading_zeros_are_decimal() {
    let input = message_py("retry:03000\ndata:x", true);
    let outcome = check(&input, &[retry(3000), event("x")]);
    assert_eq!(outcome.retry, Some(Duration::from_millis(3000)));
}

#[test]
fn wpt_field_retry_bogus_keeps_the_previous_value() {
    let input = message_py("retry:3000\nretry:1000x\ndata:x", true);
    let outcome = check(&input, &[retry(3000), event("x")]);
    assert_eq!(outcome.retry, Some(Duration::from_millis(3000)));
}

#[test]
fn wpt_field_retry_empty_is_ignored() {
    let input = message_py("retry\ndata:test", true);
    let outcome = check(&input, &[event("test")]);
    assert_eq!(outcome.retry, None);
}

#[test]
fn wpt_field_unknown_lines_are_ignored() {
    let input = message_py(
        "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test",
        true,
    );
    check(
        &input,
        &[comment("thisisacommentyay"), event("test\n\ntest")],
    );
}

#[test]
fn wpt_leading_space_only_one_space_and_never_a_tab() {
    let input = message_py("data:\ttest\rdata: \ndata:test", true);
    check(&input, &[event("\ttest\n\ntest")]);
}

#[test]
fn wpt_newlines_of_every_kind_end_lines() {
    let input = message_py("data:test\r\ndata\ndata:test\r\n\r", false);
    check(&input, &[event("test\n\ntest")]);
}

#[test]
fn wpt_null_character_in_data_is_kept() {
    let input = message_py("data:\0\n", true);
    check(&input, &[event("\0")]);
}

#[test]
fn wpt_utf_8_is_always_the_encoding() {
    let input = message_py("data:ok\u{2026}", true);
    check(&input, &[event("ok\u{2026}")]);
}

#[test]
fn wpt_event_data_lines_and_data_parsing() {
    // One round of message2.py (it repeats the block every two seconds).
    let input = b"data:msg\ndata: msg\n\n:\nfalsefield:msg\n\nfalsefield:msg\nData:data\n\ndata\n\ndata:end\n\n";
    check(
        input,
        &[event("msg\nmsg"), comment(""), event(""), event("end")],
    );
}

// --- Beyond the vectors --------------------------------------------------------

#[test]
fn invalid_utf8_is_replaced_per_line_even_when_split() {
    // A truncated sequence before the line ending, a lone continuation
    // byte, and a valid four-byte character.
    check(
        b"data: a\xF0\x9F\x98\ndata: \x80b\ndata: \xF0\x9F\x98\x80\n\n",
        &[event("a\u{fffd}\n\u{fffd}b\n\u{1F600}")],
    );
}

#[test]
fn bom_alone_and_a_lone_cr_are_handled_at_the_edges() {
    check(b"\xEF\xBB\xBF", &[]);
    check(b"\xEF\xBB\xBF\r\r", &[]);
    check(b"\xEF\xBB\xBF:\r", &[comment("")]);
    check(b"", &[]);
}
