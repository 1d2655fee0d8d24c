//! Property tests for the encoder: round trips through the crate's parser and
//! wire-format invariants for arbitrary events.

use std::time::Duration;

use proptest::prelude::*;
use tower_sse::parse::{self, Item, MessageEvent};
use tower_sse::{Event, EventId, EventType};

/// Text biased toward the characters that matter to the wire format.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just(":".to_string()),
        Just("\0".to_string()),
        Just("\u{feff}".to_string()),
        Just("data: x".to_string()),
        Just("é✓🎉".to_string()),
        "[a-z]{0,4}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|parts| parts.concat())
}

fn line_safe(s: &str) -> String {
    s.replace(['\r', '\n'], "")
}

prop_compose! {
    fn event()(
        data in text(),
        ty in proptest::option::of(text()),
        id in proptest::option::of(text()),
        retry in proptest::option::of(0_u64..10_000_000),
        comments in prop::collection::vec(text(), 0..3),
    ) -> Event {
        let mut event = Event::new().data(data);
        if let Some(ty) = ty {
            event = event.event(EventType::new(line_safe(&ty)).unwrap());
        }
        if let Some(id) = id {
            event = event.id(EventId::new(line_safe(&id).replace('\0', "")).unwrap());
        }
        if let Some(ms) = retry {
            event = event.retry(Duration::from_millis(ms));
        }
        for c in comments {
            event = event.try_comment(line_safe(&c)).unwrap();
        }
        event
    }
}

fn normalise_breaks(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

proptest! {
    #[test]
    fn parse_of_encode_gives_the_event_back(event in event()) {
        let wire = event.encode();
        let items = parse::parse(wire.as_bytes()).unwrap();

        let mut expected = Vec::new();
        for c in event.comments() {
            expected.push(Item::Comment(c.clone()));
        }
        if let Some(retry) = event.retry_duration() {
            expected.push(Item::Retry(retry));
        }
        let event_type = match event.event_type() {
            Some(ty) if !ty.as_str().is_empty() => ty.to_string(),
            _ => "message".to_string(),
        };
        let message = MessageEvent::new(normalise_breaks(event.data_str().unwrap()))
            .with_event_type(event_type)
            .with_last_event_id(event.event_id().map(ToString::to_string).unwrap_or_default());
        expected.push(Item::Event(message));
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn field_values_never_hold_line_breaks_and_ids_never_hold_nul(event in event()) {
        let wire = event.encode().into_bytes();
        prop_assert!(wire.ends_with(b"\n\n"));
        prop_assert!(!wire.contains(&b'\r'), "only LF line endings are written");
        let lines: Vec<&[u8]> = wire[..wire.len() - 1].split(|&b| b == b'\n').collect();
        // Exactly one blank line, the terminator: no field ever splits the event.
        prop_assert_eq!(lines.iter().filter(|l| l.is_empty()).count(), 1);
        for line in lines {
            if let Some(id) = line.strip_prefix(b"id:") {
                prop_assert!(!id.contains(&0));
            }
        }
    }

    #[test]
    fn concatenated_events_parse_one_by_one(events in prop::collection::vec(event(), 1..5)) {
        let mut wire = Vec::new();
        for e in &events {
            wire.extend_from_slice(e.encode().as_bytes());
        }
        let parsed = parse::parse_events(&wire).unwrap();
        prop_assert_eq!(parsed.len(), events.len());
        for (p, e) in parsed.iter().zip(&events) {
            prop_assert_eq!(&p.data, &normalise_breaks(e.data_str().unwrap()));
        }
    }
}
