//! Resumable streams over real HTTP (a real axum server on 127.0.0.1:0, an
//! in-memory hub): resume before the first real event, mid-stream and after
//! the terminal event; foreign and garbage ids refused; cancel versus
//! disconnect; polling-style ends; TTL and the idle policy with paused time.
#![cfg(feature = "axum")]

#[path = "support/resumable_app.rs"]
mod resumable_app;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use resumable_app::{data, get, post, serve};
use tower_sse::resumable::{ResumableConfig, ResumableStreams, ResumeErrorKind, Terminal};
use tower_sse::{Hub, HubConfig};

fn streams() -> ResumableStreams {
    ResumableStreams::new(Hub::new())
}

#[tokio::test]
async fn a_reader_that_drops_before_the_first_event_resumes_from_the_priming_id() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let answer = streams.create().await.unwrap();
    let path = format!("/streams/{}", answer.token());

    let mut first = get(addr, &path, None).await.stream();
    let priming = first.after_retry().await;
    assert_eq!(priming.data, "");
    assert!(
        !priming.last_event_id.is_empty(),
        "the priming event has an id"
    );
    drop(first);

    answer.send("Hel").await.unwrap();
    answer.send("lo").await.unwrap();
    answer
        .finish(Terminal::Done("2 tokens".into()))
        .await
        .unwrap();

    let mut resumed = get(addr, &path, Some(&priming.last_event_id))
        .await
        .stream();
    let events = resumed.rest().await;
    assert_eq!(data(&events), ["Hel", "lo", "2 tokens"]);
    assert_eq!(events[2].event_type, "sse-done");
}

#[tokio::test]
async fn a_reader_resumes_mid_stream_with_nothing_lost_or_repeated() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let answer = streams.create().await.unwrap();
    let path = format!("/streams/{}", answer.token());
    let mut reader = get(addr, &path, None).await.stream();
    reader.after_retry().await;

    let tokens: Vec<String> = (0..20).map(|i| format!("t{i} ")).collect();
    for token in &tokens[..8] {
        answer.send(token.clone()).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(reader.event().await);
    }
    drop(reader); // the network drops; the producer goes on
    for token in &tokens[8..] {
        answer.send(token.clone()).await.unwrap();
    }
    answer.finish(Terminal::Done(String::new())).await.unwrap();

    let last = seen.last().unwrap().last_event_id.clone();
    let mut resumed = get(addr, &path, Some(&last)).await.stream();
    seen.extend(resumed.rest().await);
    let text: String = seen.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(text, tokens.concat());
    assert_eq!(seen.last().unwrap().event_type, "sse-done");
}

#[tokio::test]
async fn after_the_terminal_event_a_resume_is_204_and_a_fresh_read_replays_everything() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let answer = streams.create().await.unwrap();
    let path = format!("/streams/{}", answer.token());
    answer.send("all").await.unwrap();
    let end = answer
        .finish(Terminal::Error("upstream failed".into()))
        .await
        .unwrap();

    let (status, body) = get(addr, &path, Some(end.as_str())).await.refused();
    assert_eq!((status, body.as_str()), (204, ""));

    let mut fresh = get(addr, &path, None).await.stream();
    let events = fresh.rest().await;
    assert_eq!(data(&events), ["", "all", "upstream failed"]);
    assert_eq!(events[2].event_type, "sse-error");
}

#[tokio::test]
async fn ids_of_another_stream_and_garbage_ids_are_refused_without_foreign_events() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let mine = streams.create().await.unwrap();
    let other = streams.create().await.unwrap();
    mine.send("mine").await.unwrap();
    let foreign = other.send("secret of another user").await.unwrap();
    let path = format!("/streams/{}", mine.token());

    for (id, why) in [
        (foreign.as_str(), "an id of another stream"),
        ("99999999", "an id never handed out"),
        ("1-0", "an id of another engine"),
        ("garbage id", "an id with a space"),
        (&"7".repeat(129) as &str, "an id longer than 128 bytes"),
    ] {
        let (status, body) = get(addr, &path, Some(id)).await.refused();
        assert_eq!(status, 400, "{why}: {body}");
        assert!(!body.contains("secret"), "{why}");
    }
    for path in [
        format!("/streams/{}", tower_sse::resumable::StreamToken::generate()),
        "/streams/not-a-token".to_owned(),
        "/streams/..%2F..%2Fetc".to_owned(),
    ] {
        let (status, body) = get(addr, &path, None).await.refused();
        assert_eq!(
            (status, body.as_str()),
            (404, "no such stream (unknown or expired)")
        );
    }
}

/// A producer that sends a token every 5 ms until cancelled, and records when
/// it noticed the cancellation.
fn spawn_producer(
    answer: tower_sse::resumable::ResumableStream,
) -> tokio::task::JoinHandle<(usize, Option<Instant>)> {
    tokio::spawn(async move {
        let mut sent = 0;
        loop {
            tokio::select! {
                () = answer.cancelled() => {
                    let noticed = Instant::now();
                    answer.finish(Terminal::Cancelled).await.unwrap();
                    return (sent, Some(noticed));
                }
                () = tokio::time::sleep(Duration::from_millis(5)) => {
                    answer.send(format!("t{sent}")).await.unwrap();
                    sent += 1;
                    if sent == 10_000 {
                        return (sent, None);
                    }
                }
            }
        }
    })
}

#[tokio::test]
async fn a_disconnect_does_not_cancel_and_a_cancel_reaches_the_producer_within_50_ms() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let answer = streams.create().await.unwrap();
    let token = answer.token().to_string();
    let path = format!("/streams/{token}");
    let producer = spawn_producer(answer);

    let mut reader = get(addr, &path, None).await.stream();
    reader.after_retry().await;
    let got = reader.event().await;
    drop(reader);
    // The producer keeps producing after the disconnect.
    let mut resumed = get(addr, &path, Some(&got.last_event_id)).await.stream();
    resumed.next().await;
    for _ in 0..20 {
        resumed.event().await;
    }
    drop(resumed);
    assert!(!producer.is_finished(), "a disconnect is not a cancel");

    let asked = Instant::now();
    assert_eq!(post(addr, &format!("{path}/cancel")).await, 200);
    let (sent, noticed) = producer.await.unwrap();
    let latency = noticed.expect("the producer saw the cancel") - asked;
    assert!(
        latency < Duration::from_millis(50),
        "cancel took {latency:?}"
    );
    assert!(sent > 20);

    let mut last = get(addr, &path, Some(&got.last_event_id)).await.stream();
    let events = last.rest().await;
    assert_eq!(
        events.len(),
        sent,
        "every token after the first, then the terminal"
    );
    assert_eq!(events.last().unwrap().event_type, "sse-cancelled");
    assert_eq!(post(addr, &format!("{path}/cancel")).await, 404);
}

#[tokio::test]
async fn a_server_ended_response_resumes_exactly_where_it_stopped() {
    let streams = streams();
    let addr = serve(streams.clone()).await;
    let answer = streams.create().await.unwrap();
    let path = format!("/streams/{}?poll_ms=30", answer.token());
    let producer = tokio::spawn(async move {
        for i in 0..30 {
            answer.send(format!("{i},")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        answer.finish(Terminal::Done(String::new())).await.unwrap();
    });

    let mut text = String::new();
    let mut last: Option<String> = None;
    let mut responses = 0;
    loop {
        responses += 1;
        let events = get(addr, &path, last.as_deref())
            .await
            .stream()
            .rest()
            .await;
        for event in &events {
            text.push_str(&event.data);
        }
        match events.last() {
            Some(event) if event.event_type == "sse-done" => break,
            Some(event) => last = Some(event.last_event_id.clone()),
            None => {}
        }
        assert!(responses < 100, "the stream never ended");
    }
    producer.await.unwrap();
    let expected: String = (0..30).map(|i| format!("{i},")).collect();
    assert_eq!(text, expected);
    assert!(
        responses > 1,
        "the server ended at least one response early"
    );
}

#[tokio::test(start_paused = true)]
async fn a_finished_stream_is_gone_after_its_ttl() {
    let config = ResumableConfig::new().ttl(Duration::from_secs(60));
    let streams = ResumableStreams::with_config(Hub::new(), config);
    let answer = streams.create().await.unwrap();
    let token = answer.token().to_string();
    answer.finish(Terminal::Done(String::new())).await.unwrap();

    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(streams.open(&token, None).await.unwrap().count().await, 3);
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    let err = streams.open(&token, None).await.unwrap_err();
    assert_eq!(err.kind(), ResumeErrorKind::NotFound);
    assert_eq!(err.status_code(), 404);
    assert!(
        streams.hub().topics().is_empty(),
        "its topics are gone too: {:?}",
        streams.hub().topics()
    );
}

#[tokio::test(start_paused = true)]
async fn the_idle_policy_cancels_a_stream_nobody_reads_but_not_one_being_read() {
    let config = ResumableConfig::new().cancel_when_unread(Duration::from_secs(10));
    let streams = ResumableStreams::with_config(Hub::new(), config);
    let unread = streams.create().await.unwrap();
    let read = streams.create().await.unwrap();
    let reader = streams.open(&read.token().to_string(), None).await.unwrap();

    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(!unread.is_cancelled());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(unread.is_cancelled(), "nobody read it for 10 s");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!read.is_cancelled(), "a reader is attached");

    drop(reader);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(read.is_cancelled(), "its reader left 10 s ago");
}

#[tokio::test]
async fn a_stream_longer_than_the_history_is_refused_from_the_start_with_410() {
    let streams = ResumableStreams::new(HubConfig::new().history(4).build());
    let answer = streams.create().await.unwrap();
    for i in 0..5 {
        answer.send(format!("{i}")).await.unwrap();
    }
    let err = streams
        .open(&answer.token().to_string(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ResumeErrorKind::HistoryLost);
    assert_eq!(err.status_code(), 410);
}

#[tokio::test]
async fn dropping_the_producer_without_finishing_ends_every_reader_with_an_error() {
    let streams = streams();
    let answer = streams.create().await.unwrap();
    let token = answer.token().to_string();
    let reader = streams.open(&token, None).await.unwrap();
    drop(answer);
    let events: Vec<_> = reader.collect().await;
    let last = String::from_utf8_lossy(events.last().unwrap().as_bytes()).into_owned();
    assert!(last.starts_with("event: sse-error\n"), "{last}");
    assert!(last.ends_with("data: the producer stopped without finishing\n\n"));
}
