//! `Last-Event-ID` from the header and the query, through a real axum server,
//! with and without the layer in front.
#![cfg(feature = "axum")]

mod layer_support;

use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Empty;
use layer_support::{collect, get_h1, get_h2, serve_axum};
use tower_sse::{LastEventId, SseLayer};

/// Echoes what the handler sees: the extracted id and the raw header.
async fn echo(id: Option<LastEventId>, headers: http::HeaderMap) -> String {
    let raw = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    format!("{:?} {:?}", id.map(LastEventId::into_string), raw)
}

fn router() -> axum::Router {
    axum::Router::new().route("/", get(echo)).route(
        "/required",
        get(|id: LastEventId| async move { id.into_string() }),
    )
}

fn request(query: &str, header: Option<&[u8]>) -> Request<Empty<Bytes>> {
    let mut req = Request::get(format!("http://localhost/{query}"))
        .body(Empty::new())
        .unwrap();
    if let Some(h) = header {
        req.headers_mut()
            .insert("last-event-id", HeaderValue::from_bytes(h).unwrap());
    }
    req
}

async fn seen(addr: std::net::SocketAddr, query: &str, header: Option<&[u8]>) -> String {
    let res = get_h1(addr, request(query, header)).await;
    String::from_utf8(collect(res.into_body()).await.to_vec()).unwrap()
}

#[tokio::test]
async fn the_layer_passes_valid_ids_from_header_and_query_and_drops_invalid_ones() {
    let layer = SseLayer::new().last_event_id_query(true);
    let addr = serve_axum(router().layer(layer)).await;
    let long = "x".repeat(LastEventId::DEFAULT_MAX_LEN + 1);
    let cases: &[(&str, Option<&[u8]>, &str)] = &[
        ("", Some(b"42"), r#"Some("42") Some("42")"#),
        (
            "",
            Some("élan-7".as_bytes()),
            r#"Some("élan-7") Some("élan-7")"#,
        ),
        (
            "?lastEventId=%C3%A9t%C3%A9+1",
            None,
            r#"Some("été 1") None"#,
        ),
        ("?lastEventId=q", Some(b"h"), r#"Some("h") Some("h")"#),
        // Invalid: never reaches the handler, header removed, no panic.
        ("", Some(&[0xff, 0xfe]), "None None"),
        ("", Some(long.as_bytes()), "None None"),
        ("?lastEventId=a%0Ab", None, "None None"),
        ("?lastEventId=%00", None, "None None"),
        // An invalid header wins over a valid query: the client's header is newer.
        ("?lastEventId=q", Some(&[0xc3]), "None None"),
        ("", None, "None None"),
    ];
    for (query, header, expected) in cases {
        assert_eq!(
            seen(addr, query, *header).await,
            *expected,
            "{query} {header:?}"
        );
    }
    let exactly_max = "y".repeat(LastEventId::DEFAULT_MAX_LEN);
    let body = seen(addr, "", Some(exactly_max.as_bytes())).await;
    assert!(body.starts_with(&format!("Some(\"{exactly_max}\")")));
}

#[tokio::test]
async fn the_cap_and_the_query_are_configurable() {
    let addr = serve_axum(router().layer(SseLayer::new().max_last_event_id_len(3))).await;
    assert_eq!(
        seen(addr, "", Some(b"123")).await,
        r#"Some("123") Some("123")"#
    );
    assert_eq!(seen(addr, "", Some(b"1234")).await, "None None");
    // The query is off by default.
    assert_eq!(seen(addr, "?lastEventId=1", None).await, "None None");
}

#[tokio::test]
async fn the_extractor_works_without_the_layer() {
    let addr = serve_axum(router()).await;
    assert_eq!(
        seen(addr, "", Some("ü".as_bytes())).await,
        r#"Some("ü") Some("ü")"#
    );
    assert_eq!(
        seen(addr, "?lastEventId=5", None).await,
        r#"Some("5") None"#
    );
    // Invalid: the extractor says absent (the raw header is the app's business).
    assert_eq!(
        seen(addr, "", Some(&[0xff])).await,
        "None Some(\"\u{fffd}\")"
    );
}

#[tokio::test]
async fn the_required_extractor_rejects_missing_ids_with_400() {
    let addr = serve_axum(router().layer(SseLayer::new())).await;
    let res = get_h2(addr, request("required", None)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        collect(res.into_body()).await,
        "missing or invalid last-event-id"
    );
    let res = get_h2(addr, request("required", Some(b"9"))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(collect(res.into_body()).await, "9");
}
