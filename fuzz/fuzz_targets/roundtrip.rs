//! Encode-then-parse round trips of arbitrary events: validation rejects what
//! cannot be encoded (never a panic), and what is accepted parses back equal.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tower_sse::parse::{self, Item};
use tower_sse::Event;

#[derive(Debug, Arbitrary)]
struct Input {
    data: String,
    event: Option<String>,
    id: Option<String>,
    retry_ms: Option<u32>,
    comments: Vec<String>,
}

fuzz_target!(|input: Input| {
    let mut event = Event::new().data(input.data.clone());
    if let Some(ty) = &input.event {
        match event.clone().try_event(ty.as_str()) {
            Ok(e) => event = e,
            Err(_) => {
                assert!(ty.contains(['\r', '\n']), "valid event type rejected");
                return;
            }
        }
    }
    if let Some(id) = &input.id {
        match event.clone().try_id(id.as_str()) {
            Ok(e) => event = e,
            Err(_) => {
                assert!(id.contains(['\r', '\n', '\0']), "valid id rejected");
                return;
            }
        }
    }
    if let Some(ms) = input.retry_ms {
        event = event.retry(Duration::from_millis(u64::from(ms)));
    }
    for comment in &input.comments {
        match event.clone().try_comment(comment.as_str()) {
            Ok(e) => event = e,
            Err(_) => {
                assert!(comment.contains(['\r', '\n']), "valid comment rejected");
                return;
            }
        }
    }

    let wire = event.encode();
    let items = parse::parse(wire.as_bytes()).expect("encoded events always parse");
    let events: Vec<_> = items.iter().filter_map(Item::as_event).collect();
    assert_eq!(events.len(), 1, "one event in, one event out");
    let parsed = events[0];
    let expected_data = input.data.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(parsed.data, expected_data);
    let expected_type = match input.event.as_deref() {
        None | Some("") => "message",
        Some(ty) => ty,
    };
    assert_eq!(parsed.event_type, expected_type);
    assert_eq!(parsed.last_event_id, input.id.unwrap_or_default());
    let comments: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Item::Comment(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(comments, input.comments);
    if let Some(ms) = input.retry_ms {
        assert!(items.contains(&Item::Retry(Duration::from_millis(u64::from(ms)))));
    }
});
