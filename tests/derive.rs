//! `#[derive(IntoEvent)]`: what each shape of type puts on the wire, checked
//! byte for byte and through the parser.

use std::time::Duration;

use tower_sse::parse::{parse_events, MessageEvent};
use tower_sse::{ErrorKind, EventId, IntoEvent};

fn wire(event: impl IntoEvent) -> String {
    let encoded = event.into_event().expect("the event").encode();
    String::from_utf8(encoded.as_bytes().to_vec()).expect("utf-8")
}

#[derive(serde::Serialize)]
struct Usage {
    input: u32,
    output: u32,
}

#[derive(IntoEvent)]
#[sse(rename_all = "kebab-case")]
enum Llm {
    TokenDelta(String),
    UsageReport(Usage),
    Done {
        #[sse(id)]
        seq: u64,
        #[sse(rename = "finish_reason")]
        reason: String,
        #[sse(skip)]
        #[allow(dead_code)]
        internal: Vec<u8>,
    },
    #[sse(rename = "keep")]
    Ping,
    Resume(#[sse(id)] Option<String>, #[sse(retry)] Duration),
}

#[test]
fn newtype_variants_send_the_inner_value_as_json() {
    assert_eq!(
        wire(Llm::TokenDelta("a\nb".into())),
        "event: token-delta\ndata: \"a\\nb\"\n\n"
    );
    assert_eq!(
        wire(Llm::UsageReport(Usage {
            input: 3,
            output: 5
        })),
        "event: usage-report\ndata: {\"input\":3,\"output\":5}\n\n"
    );
}

#[test]
fn struct_variants_send_their_data_fields_in_order_with_id_and_rename() {
    let done = Llm::Done {
        seq: 9,
        reason: "stop".into(),
        internal: vec![1],
    };
    assert_eq!(
        wire(done),
        "event: done\nid: 9\ndata: {\"finish_reason\":\"stop\"}\n\n"
    );
}

#[test]
fn unit_variants_send_empty_data_that_browsers_still_dispatch() {
    let bytes = wire(Llm::Ping);
    assert_eq!(bytes, "event: keep\ndata: \n\n");
    assert_eq!(
        parse_events(bytes.as_bytes()).unwrap(),
        [MessageEvent::new("").with_event_type("keep")]
    );
}

#[test]
fn tuple_variants_take_id_and_retry_from_marked_fields() {
    let resume = Llm::Resume(Some("r-1".into()), Duration::from_millis(1500));
    assert_eq!(
        wire(resume),
        "event: resume\nid: r-1\nretry: 1500\ndata: \n\n"
    );
    assert_eq!(
        wire(Llm::Resume(None, Duration::ZERO)),
        "event: resume\nretry: 0\ndata: \n\n"
    );
}

#[test]
fn a_runtime_id_with_a_line_break_is_an_error() {
    let err = Llm::Resume(Some("1\r\ndata: x".into()), Duration::ZERO)
        .into_event()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEventId);
}

#[derive(IntoEvent)]
#[sse(event = "tick")]
struct Tick {
    #[sse(id)]
    id: EventId,
    n: u64,
    #[sse(retry)]
    retry: Option<Duration>,
}

#[derive(IntoEvent)]
struct Plain(Vec<u8>);

#[derive(IntoEvent)]
#[sse(event = "hello")]
struct Hello;

#[test]
fn structs_are_one_fixed_event_type() {
    let tick = Tick {
        id: EventId::from_static("t-1"),
        n: 2,
        retry: None,
    };
    assert_eq!(wire(tick), "event: tick\nid: t-1\ndata: {\"n\":2}\n\n");
    assert_eq!(wire(Plain(vec![1, 2])), "data: [1,2]\n\n");
    assert_eq!(wire(Hello), "event: hello\ndata: \n\n");
}

#[test]
fn derived_events_round_trip_through_the_parser() {
    let mut wire_bytes = String::new();
    for event in [
        Llm::TokenDelta("Hel".into()),
        Llm::TokenDelta("lo".into()),
        Llm::Done {
            seq: 3,
            reason: "stop".into(),
            internal: Vec::new(),
        },
    ] {
        wire_bytes.push_str(&wire(event));
    }
    let events = parse_events(wire_bytes.as_bytes()).unwrap();
    let want = [
        MessageEvent::new("\"Hel\"").with_event_type("token-delta"),
        MessageEvent::new("\"lo\"").with_event_type("token-delta"),
        MessageEvent::new("{\"finish_reason\":\"stop\"}")
            .with_event_type("done")
            .with_last_event_id("3"),
    ];
    assert_eq!(events, want);
}

#[derive(IntoEvent)]
enum Generic<T> {
    Item(T),
}

#[test]
fn generic_types_need_only_serializable_parameters() {
    assert_eq!(wire(Generic::Item(5_u8)), "event: Item\ndata: 5\n\n");
}

#[test]
fn serialization_errors_are_serialize_errors() {
    let mut map = std::collections::BTreeMap::new();
    map.insert((1, 2), 3);
    let err = Generic::Item(map).into_event().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialize);
}
