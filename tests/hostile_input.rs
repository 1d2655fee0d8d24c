//! Hostile input at a real server: an axum app with [`SseLayer`] in front of a
//! [`Hub`], attacked with bad `Last-Event-ID` values, odd methods and HTTP
//! versions, oversized and repeated headers, a flood past `max_streams`, and
//! clients that stop reading. Every case asserts one clear outcome and that the
//! server still serves a well-behaved client afterwards.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tower_sse::{HubConfig, SseLayer};

mod hostile_support;
#[path = "support/wait.rs"]
mod wait;

use hostile_support::*;

#[tokio::test]
async fn a_non_utf8_last_event_id_counts_as_absent_and_the_stream_is_live() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    assert_live_without_replay(&server, "/events/t", &[("last-event-id", b"1\xff\xfe")]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_nul_in_last_event_id_is_rejected_by_the_http_parser_with_400() {
    let server = serve().await;
    assert_refused(
        &server,
        b"GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: 1\0 2\r\n\r\n",
        "HTTP/1.1 400 Bad Request",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_the_lasteventid_query_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    assert_live_without_replay(&server, "/events/t?lastEventId=1%00", &[]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_64_kib_last_event_id_is_over_the_cap_and_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    let long = "9".repeat(64 * 1024);
    assert_live_without_replay(&server, "/events/t", &[("last-event-id", long.as_bytes())]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_lasteventid_query_over_the_cap_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    let path = format!("/events/t?lastEventId={}", "7".repeat(2 * 1024));
    assert_live_without_replay(&server, &path, &[]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_64_kib_lasteventid_query_gets_414_from_hyper() {
    let server = serve().await;
    // Too long for the `http` crate's `Uri` (64 KiB - 2): raw bytes.
    let request = format!(
        "GET /events/t?lastEventId={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "7".repeat(64 * 1024)
    );
    assert_refused(&server, request.as_bytes(), "HTTP/1.1 414 URI Too Long").await;
}

#[tokio::test]
async fn a_header_section_over_hypers_limit_gets_431_and_no_stream() {
    let server = serve().await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: ".to_vec();
    request.extend(std::iter::repeat(b'5').take(1024 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    assert_refused(
        &server,
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_last_event_id_gets_the_gap_event_first() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut stream = Stream::open(
        server.addr,
        "/events/t",
        &[("last-event-id", b"no-such-id")],
    )
    .await;
    let gap = stream.next().await.unwrap();
    assert_eq!(gap.event_type, tower_sse::GAP_EVENT_TYPE.as_str());
    assert_eq!(
        (gap.data.as_str(), gap.last_event_id.as_str()),
        ("unknown-id", ids[2].as_str())
    );
    let id = publish(&server.hub, "t", "live").await;
    let event = stream.next().await.unwrap();
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("live", id.as_str())
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_id_from_the_future_gets_the_gap_event_not_a_silent_skip() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let epoch = ids[2].split_once('.').unwrap().0;
    let futures = [
        format!("{epoch}.4"),
        format!("{epoch}.18446744073709551615"),
        format!("{epoch}.1-0"),
        format!("{epoch}.99999999999999999999999"),
        "4".to_owned(),
        "18446744073709551615".to_owned(),
        "99999999999999999999999".to_owned(),
    ];
    for future in &futures {
        let mut stream = Stream::open(
            server.addr,
            "/events/t",
            &[("last-event-id", future.as_bytes())],
        )
        .await;
        let gap = stream.next().await.unwrap();
        assert_eq!(
            (
                gap.event_type.as_str(),
                gap.data.as_str(),
                gap.last_event_id.as_str()
            ),
            ("sse-gap", "unknown-id", ids[2].as_str()),
            "Last-Event-ID: {future}"
        );
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_id_from_the_query_replays_like_the_header() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut stream = Stream::open(
        server.addr,
        &format!("/events/t?lastEventId={}", ids[0]),
        &[],
    )
    .await;
    assert_eq!(stream.next().await.unwrap().data, "b");
    assert_eq!(stream.next().await.unwrap().data, "c");
}

#[tokio::test]
async fn malformed_lasteventid_queries_count_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    for query in [
        "lastEventId=%zz",
        "lastEventId=%4",
        "lastEventId=%ff%fe",
        "lastEventId=a%0Ab",
        "lastEventId=%0D",
        "lastEventId",
        "lastEventId=",
        "&&=&lastEventId==%",
    ] {
        let mut stream = Stream::open(server.addr, &format!("/events/t?{query}"), &[]).await;
        let topic_subs = server.hub.subscribers("t");
        assert!(topic_subs >= 1, "{query}");
        let id = publish(&server.hub, "t", query).await;
        let event = stream.next().await.unwrap();
        assert_eq!(
            (
                event.event_type.as_str(),
                event.data.as_str(),
                event.last_event_id.as_str()
            ),
            ("message", query, id.as_str()),
            "?{query}: expected a live stream"
        );
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_repeated_lasteventid_query_parameter_uses_the_first() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let path = format!("/events/t?lastEventId={}&lastEventId=junk%zz", ids[1]);
    let mut stream = Stream::open(server.addr, &path, &[]).await;
    assert_eq!(stream.next().await.unwrap().data, "c");
}

#[tokio::test]
async fn a_repeated_last_event_id_header_counts_as_absent() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\n".to_vec();
    for _ in 0..50 {
        request.extend_from_slice(format!("last-event-id: {}\r\n", ids[0]).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let (head, _conn) = raw(server.addr, &request, b"\r\n\r\n").await;
    assert_eq!(status_line(&head), "HTTP/1.1 200 OK");
    wait_for(|| server.hub.subscribers("t") == 1).await;
    // Nothing was replayed (b and c would be): the first bytes after the head
    // are the live event.
    let (_, mut conn) = (head, _conn);
    publish(&server.hub, "t", "live").await;
    let mut buf = vec![0_u8; 4096];
    let n = tokio::time::timeout(PROMPT, conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let body = String::from_utf8_lossy(&buf[..n]);
    assert!(
        body.contains("data: live\n\n") && !body.contains("data: b"),
        "{body:?}"
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn more_headers_than_hyper_allows_get_431() {
    let server = serve().await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\n".to_vec();
    for _ in 0..1000 {
        request.extend_from_slice(b"last-event-id: 1\r\n");
    }
    request.extend_from_slice(b"\r\n");
    assert_refused(
        &server,
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
    )
    .await;
}

#[tokio::test]
async fn head_gets_the_stream_headers_without_a_body_and_holds_nothing() {
    let server = serve().await;
    let (response, _conn) = raw(
        server.addr,
        b"HEAD /events/t HTTP/1.1\r\nhost: x\r\n\r\n",
        b"\r\n\r\n",
    )
    .await;
    let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "HEAD must not send a body: {head}"
    );
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn post_to_the_stream_route_gets_405_and_opens_nothing() {
    let server = serve().await;
    assert_refused(
        &server,
        b"POST /events/t HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
        "HTTP/1.1 405 Method Not Allowed",
    )
    .await;
}

#[tokio::test]
async fn a_get_with_a_body_still_streams() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let request = format!(
        "GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: {}\r\ncontent-length: 11\r\n\r\nignored!!!!",
        ids[1]
    );
    let (response, _conn) = raw(server.addr, request.as_bytes(), b"data: c\n\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_http_1_0_client_gets_an_unframed_stream_ended_by_close() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let request = format!(
        "GET /events/t HTTP/1.0\r\nlast-event-id: {}\r\n\r\n",
        ids[0]
    );
    let (response, conn) = raw(server.addr, request.as_bytes(), b"data: c\n\n").await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        format!("id: {}\ndata: b\n\nid: {}\ndata: c\n\n", ids[1], ids[2])
    );
    drop(conn);
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_flood_past_max_streams_gets_retry_only_streams_and_the_admitted_keep_working() {
    let hub = HubConfig::new().history(16).build();
    let layer = SseLayer::new()
        .max_streams(5)
        .retry(Duration::from_millis(1500));
    let server = serve_with(layer, hub).await;
    let mut admitted = Vec::new();
    for _ in 0..5 {
        admitted.push(Stream::open(server.addr, "/events/t", &[]).await);
    }
    wait_for(|| server.hub.subscribers("t") == 5).await;
    let flood = (0..200).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move {
            let (response, _) = raw(
                addr,
                b"GET /events/t HTTP/1.1\r\nhost: x\r\n\r\n",
                b"retry: 1500\n\n",
            )
            .await;
            String::from_utf8(response).unwrap()
        })
    });
    for response in futures_util::future::join_all(flood).await {
        let response = response.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: text/event-stream\r\n"),
            "{response}"
        );
        assert!(lower.contains("content-length: 13\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nretry: 1500\n\n"), "{response}");
    }
    assert_eq!(server.metrics.rejected(), 200);
    assert_eq!(server.metrics.open_streams(), 5);
    assert_eq!(server.hub.subscribers("t"), 5);
    let id = publish(&server.hub, "t", "still here").await;
    for stream in &mut admitted {
        let mut event = stream.next().await.unwrap();
        while event.data != "still here" {
            event = stream.next().await.unwrap();
        }
        assert_eq!(event.last_event_id, id);
    }
    drop(admitted);
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    // Room again: a new client is admitted.
    assert_still_serves(&server).await;
}
