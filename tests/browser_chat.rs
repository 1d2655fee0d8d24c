//! The `chat` example in a real Chromium: two pages chat in a room; the server
//! is stopped mid-conversation (open streams end, graceful shutdown completes),
//! a message arrives while it is down, and after the restart on the same port
//! each page resumes with `Last-Event-ID` and shows every message exactly once.
//!
//! The app runs in-process (the example's own `app.rs`) so the test can keep
//! its hub, the message history, across the restart. A second test restarts
//! the real process, whose in-memory history is then gone: the page receives
//! the hub's `sse-gap` event and says that messages were lost. A third runs
//! two real chat processes on one Redis: one is restarted mid-conversation,
//! a message is sent through the other meanwhile, and the pages resume from
//! the Redis history with every message exactly once. A fourth opens the
//! multi-room page (`/multi`): one `EventSource` on three rooms, the server
//! ending the stream every 300 ms while messages keep flowing to every room,
//! and the browser's own reconnects resume all of them with no loss and no
//! duplicate.

mod support;

#[path = "support/redis_server.rs"]
mod redis_server;

#[allow(dead_code)]
#[path = "../examples/chat/app.rs"]
mod app;

#[allow(dead_code)]
#[path = "../examples/chat/rooms.rs"]
mod rooms;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use redis_server::RedisServer;
use support::app::App;
use support::chrome::Chrome;
use support::page::Page;
use support::wait::{self, Check, BROWSER_TIMEOUT};
use support::TestResult;
use tokio::task::JoinHandle;
use tower_sse::{Hub, Shutdown, SseLayer};

/// The chat app served on `addr` (port 0: any free port) until `shutdown`.
async fn serve(hub: &Hub, port: u16) -> (SocketAddr, Shutdown, JoinHandle<std::io::Result<()>>) {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the chat app");
    let addr = listener.local_addr().unwrap();
    let router = app::router(hub.clone(), shutdown.clone()).expect("the chat router");
    let signal = shutdown.clone();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move { signal.triggered().await });
    (addr, shutdown, tokio::spawn(server.into_future()))
}

async fn join(page: &Page, url: &str, name: &str) -> TestResult {
    page.goto(url).await?;
    page.type_into("#name", name).await?;
    page.click("#join button").await?;
    page.wait_for_text("#state", "Connected").await
}

async fn say(page: &Page, text: &str) -> TestResult {
    page.type_into("#text", text).await?;
    page.click("#send").await
}

#[tokio::test]
async fn pages_resume_with_last_event_id_after_a_restart_and_show_every_message_once() {
    let hub = Hub::new();
    let (addr, shutdown, server) = serve(&hub, 0).await;
    let url = format!("http://{addr}/");
    let chrome = Chrome::start();
    chrome
        .check("browser_chat", async {
            let ann = chrome.open("ann").await?;
            let bob = chrome.open("bob").await?;
            join(&ann, &url, "ann").await?;
            join(&bob, &url, "bob").await?;

            let mut expected = vec![];
            for (page, line) in [(&ann, "hi bob"), (&bob, "hi ann"), (&ann, "how are you?")] {
                say(page, line).await?;
                expected.push(format!("{}: {line}", page.label()));
                let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                ann.wait_for_texts("#messages li", &expected).await?;
                bob.wait_for_texts("#messages li", &expected).await?;
            }

            // Stop the server: the open streams end, so shutdown completes.
            shutdown.trigger();
            tokio::time::timeout(Duration::from_secs(1), server)
                .await
                .map_err(|_| "the server did not shut down within 1 s with open streams")???;
            ann.wait_for_text("#state", "Connecting...").await?;
            bob.wait_for_text("#state", "Connecting...").await?;

            // A message arrives while the pages are disconnected.
            app::publish(
                &hub,
                "general",
                app::NewMessage {
                    user: "cy".into(),
                    message: "sent while you were away".into(),
                },
            )
            .await?;
            expected.push("cy: sent while you were away".to_owned());

            let (_addr, _shutdown, _server) = serve(&hub, addr.port()).await;
            ann.wait_for_text("#state", "Connected").await?;
            bob.wait_for_text("#state", "Connected").await?;
            say(&bob, "fine, thanks").await?;
            expected.push("bob: fine, thanks".to_owned());

            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            ann.wait_for_texts("#messages li", &expected).await?;
            bob.wait_for_texts("#messages li", &expected).await?;
            let ids = ann
                .client()
                .execute(
                    "return Array.from(document.querySelectorAll('#messages li'), e => e.dataset.id);",
                    vec![],
                )
                .await?;
            // Hub ids are `<epoch>.<offset>`: one history (the hub lived on
            // across the server restart), offsets 1..=5, each message once.
            let ids: Vec<String> = serde_json::from_value(ids)?;
            let epoch = ids[0].split_once('.').map(|(epoch, _)| epoch.to_owned());
            let expected_ids: Vec<String> = (1..=5)
                .map(|n| format!("{}.{n}", epoch.as_deref().unwrap_or("")))
                .collect();
            assert_eq!(ids, expected_ids);
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn after_a_process_restart_without_history_the_page_says_messages_were_lost() {
    let mut app = App::start("chat", &[]);
    let url = app.url("/");
    let chrome = Chrome::start();
    chrome
        .check("browser_chat_gap", async {
            let ann = chrome.open("ann").await?;
            join(&ann, &url, "ann").await?;
            say(&ann, "before the restart").await?;
            ann.wait_for_texts("#messages li", &["ann: before the restart"])
                .await?;

            let took = app.stop()?;
            assert!(
                took < Duration::from_secs(1),
                "exit took {took:?} after SIGTERM"
            );
            ann.wait_for_text("#state", "Connecting...").await?;
            app.restart();
            ann.wait_for_text("#state", "Connected").await?;
            // The new process does not know id 1: the hub sends `sse-gap` and
            // the page shows a notice instead of pretending nothing happened.
            say(&ann, "after the restart").await?;
            ann.wait_for_texts(
                "#messages li",
                &[
                    "ann: before the restart",
                    "(some earlier messages could not be recovered)",
                    "ann: after the restart",
                ],
            )
            .await
        })
        .await;
}

#[tokio::test]
async fn with_redis_a_restarted_chat_process_resumes_every_page_with_each_message_once() {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let env = [("REDIS_URL", redis_url.as_str())];
    let mut first = App::start("chat", &env);
    let second = App::start("chat", &env);
    let url = first.url("/");
    let chrome = Chrome::start();
    chrome
        .check("browser_chat_redis", async {
            let ann = chrome.open("ann").await?;
            let bob = chrome.open("bob").await?;
            join(&ann, &url, "ann").await?;
            join(&bob, &url, "bob").await?;

            let mut expected = vec![];
            for (page, line) in [(&ann, "hi bob"), (&bob, "hi ann")] {
                say(page, line).await?;
                expected.push(format!("{}: {line}", page.label()));
                let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                ann.wait_for_texts("#messages li", &expected).await?;
                bob.wait_for_texts("#messages li", &expected).await?;
            }

            let took = first.stop()?;
            assert!(took < Duration::from_secs(1), "exit took {took:?} after SIGTERM");
            ann.wait_for_text("#state", "Connecting...").await?;
            bob.wait_for_text("#state", "Connecting...").await?;

            // Sent through the other instance while the pages' server is down.
            let (status, text) = support::sse::send(
                "POST",
                &second.url("/rooms/general/messages"),
                "application/json",
                r#"{"user":"cy","message":"sent while you were away"}"#,
            )
            .await?;
            assert_eq!(status, 200, "{text}");
            expected.push("cy: sent while you were away".to_owned());

            first.restart();
            ann.wait_for_text("#state", "Connected").await?;
            bob.wait_for_text("#state", "Connected").await?;
            say(&bob, "fine, thanks").await?;
            expected.push("bob: fine, thanks".to_owned());

            // Every message once, in order, and no gap notice.
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            ann.wait_for_texts("#messages li", &expected).await?;
            bob.wait_for_texts("#messages li", &expected).await?;
            let ids = ann
                .client()
                .execute(
                    "return Array.from(document.querySelectorAll('#messages li'), e => e.dataset.id);",
                    vec![],
                )
                .await?;
            let ids: Vec<String> = serde_json::from_value(ids)?;
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!((ids.len(), unique.len()), (4, 4), "ids {ids:?}");
            assert!(ids.iter().all(|id| id.contains('-')), "Redis stream ids: {ids:?}");
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_rooms_page_follows_three_rooms_on_one_event_source_across_server_drops() {
    const ROOMS: [&str; 3] = ["general", "random", "dev"];
    const ROUNDS: usize = 25;
    let hub = Hub::new();
    // The page's own stream is cut by the server every 300 ms.
    let sse = SseLayer::new()
        .retry(Duration::from_millis(100))
        .max_duration(Duration::from_millis(300))
        .last_event_id_query(true);
    let router = app::router(hub.clone(), Shutdown::new())
        .expect("the chat router")
        .merge(rooms::router_with(hub.clone(), sse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, router).into_future());
    let chrome = Chrome::start();
    chrome
        .check("browser_chat_rooms", async {
            let page = chrome.open("rooms").await?;
            page.goto(&format!("http://{addr}/multi")).await?;
            page.click("#join button").await?;
            page.wait_for_text("#state", "Connected").await?;
            wait::until("every room subscribed", BROWSER_TIMEOUT, || async {
                let n: Vec<usize> = ROOMS.iter().map(|r| hub.subscribers(r)).collect();
                Ok(if n.iter().all(|&n| n > 0) {
                    Check::Done(())
                } else {
                    Check::Pending(format!("{n:?}"))
                })
            })
            .await?;
            // A message sent with the page's own form, to its first room.
            page.type_into("#text", "hello from the page").await?;
            page.click("#send").await?;

            // Messages keep arriving in every room while the server cuts
            // the stream again and again.
            for round in 0..ROUNDS {
                for room in ROOMS {
                    let message = app::NewMessage {
                        user: "bot".into(),
                        message: format!("{room}-{round}"),
                    };
                    app::publish(&hub, room, message).await?;
                    // 75 publishes over at least 1.5 s: whatever the page's
                    // start, the server cuts its stream (every 300 ms, then a
                    // 100 ms retry) at least twice while they flow.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }

            let total = 1 + ROUNDS * ROOMS.len();
            let received: Vec<(String, String, String)> =
                wait::until("every message on the page", BROWSER_TIMEOUT, || async {
                    let value = page
                        .client()
                        .execute("return window.received;", vec![])
                        .await?;
                    let received: Vec<(String, String, String)> = serde_json::from_value(value)?;
                    Ok(if received.len() >= total {
                        Check::Done(received)
                    } else {
                        Check::Pending(format!("{} of {total}", received.len()))
                    })
                })
                .await?;
            let gaps: Vec<_> = received.iter().filter(|(r, _, _)| r == "sse-gap").collect();
            assert!(gaps.is_empty(), "no gap: {gaps:?}");
            let own = (
                "general".to_owned(),
                "ann".to_owned(),
                "hello from the page".to_owned(),
            );
            assert!(
                received.contains(&own),
                "the page's own message: {received:?}"
            );
            for room in ROOMS {
                let got: Vec<&str> = received
                    .iter()
                    .filter(|(r, user, _)| r == room && user == "bot")
                    .map(|(_, _, m)| m.as_str())
                    .collect();
                let expected: Vec<String> = (0..ROUNDS).map(|n| format!("{room}-{n}")).collect();
                assert_eq!(got, expected, "{room}: every message once, in order");
            }
            assert_eq!(received.len(), total, "nothing else");
            let opens = page.number("window.opens").await?;
            assert!(
                opens >= 3,
                "the server cut the stream mid-flow: {opens} connections"
            );
            Ok(())
        })
        .await;
}
