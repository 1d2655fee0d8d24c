//! Proves the browser harness: a real headless Chromium, through `WebDriver`,
//! receives events from a `tower_sse::EventStream` served by an in-test axum
//! server, and its `EventSource` sees every payload exactly as sent.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, StreamExt};
use support::chrome::Chrome;
use support::wait::{self, Check};
use support::TestResult;
use tower_sse::{Event, EventId, EventStream, EventType};

/// Appends every event to the list `#events` as `<type>|<lastEventId>|<data>`.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>smoke</title>
<link rel="icon" href="data:,">
<p id="state">connecting</p>
<ol id="events"></ol>
<script>
  const list = document.getElementById("events");
  const source = new EventSource("/events");
  const show = (e) => {
    const item = document.createElement("li");
    item.textContent = e.type + "|" + e.lastEventId + "|" + e.data;
    list.append(item);
  };
  source.onopen = () => { document.getElementById("state").textContent = "open"; };
  source.onmessage = show;
  source.addEventListener("custom", show);
  console.log("smoke page loaded");
</script>
"#;

/// Payloads that exercise the encoder where browsers are picky.
const PAYLOADS: &[&str] = &[
    "hello",
    "line one\nline two\n\nline four",
    "crlf\r\nand cr\rend",
    "unicode: héllo wörld — 日本語 🎉",
    "  two leading spaces",
    "trailing newline\n",
    "",
];

async fn serve() -> std::net::SocketAddr {
    let events = || async {
        let mut events: Vec<Event> = PAYLOADS
            .iter()
            .map(|data| Event::new().data(*data))
            .collect();
        events.push(
            Event::new()
                .event(EventType::from_static("custom"))
                .id(EventId::from(42))
                .data("typed"),
        );
        // Stay open after the events: a clean end would make the browser
        // reconnect and receive everything twice.
        let stream = stream::iter(events)
            .map(Ok::<_, Infallible>)
            .chain(stream::pending());
        EventStream::new(stream)
            .into_http_response()
            .map(axum::body::Body::new)
            .into_response()
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/events", get(events));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn chromium_receives_multi_line_and_unicode_events_exactly_as_sent() {
    let addr = serve().await;
    let chrome = Chrome::start();
    chrome
        .check("browser_smoke", async {
            let page = chrome.open("events").await?;
            page.goto(&format!("http://{addr}/")).await?;
            page.wait_for_text("#state", "open").await?;

            let mut expected: Vec<String> = PAYLOADS
                .iter()
                .map(|data| {
                    format!(
                        "message||{}",
                        data.replace("\r\n", "\n").replace('\r', "\n")
                    )
                })
                .collect();
            expected.push("custom|42|typed".to_owned());
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            page.wait_for_texts("#events li", &expected).await?;

            let console = page.console_log().await?;
            assert!(
                console
                    .iter()
                    .any(|line| line.contains("smoke page loaded")),
                "console log: {console:?}"
            );
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn a_failing_scenario_saves_a_screenshot_and_the_console_log() {
    let addr = serve().await;
    let chrome = Chrome::start();
    let test = "browser_smoke_expected_failure";
    let outcome = tokio::spawn(async move {
        chrome
            .check(test, async {
                let page = chrome.open("failing").await?;
                page.goto(&format!("http://{addr}/")).await?;
                page.wait_for_text("#state", "open").await?;
                Err("deliberate failure".into())
            })
            .await;
    })
    .await;
    let panic = outcome
        .expect_err("check() must fail the test")
        .into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("deliberate failure"), "{message}");

    let dir = support::artifacts::profile_dir()
        .parent()
        .unwrap()
        .join("test-artifacts")
        .join(test);
    let png = std::fs::read(dir.join("failing.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    let log = std::fs::read_to_string(dir.join("failing.console.log")).unwrap();
    assert!(log.contains("smoke page loaded"), "{log}");
    let html = std::fs::read_to_string(dir.join("failing.html")).unwrap();
    assert!(html.contains(r#"<ol id="events">"#), "{html}");
}

#[tokio::test]
async fn waiting_returns_as_soon_as_the_probe_is_done() {
    let mut calls = 0;
    let value = wait::until("three calls", Duration::from_secs(5), || {
        calls += 1;
        let seen = calls;
        async move {
            Ok(if seen == 3 {
                Check::Done(seen)
            } else {
                Check::Pending(format!("{seen} calls"))
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(value, 3);
}

#[tokio::test]
async fn waiting_fails_with_the_last_seen_state_after_the_timeout() {
    let result: TestResult = wait::until("never", Duration::from_millis(60), || async {
        Ok(Check::Pending("still waiting".to_owned()))
    })
    .await;
    let message = result.unwrap_err().to_string();
    assert!(message.contains("waiting for never"), "{message}");
    assert!(message.contains("last seen: still waiting"), "{message}");
}

#[test]
fn a_missing_browser_fails_with_instructions_instead_of_skipping() {
    use support::chrome::locate_in;
    let empty = std::env::temp_dir().join(format!("tower-sse-empty-path-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let panic = std::panic::catch_unwind(|| {
        locate_in(
            "CHROMEDRIVER_BIN",
            None,
            Some(empty.clone().into()),
            &["chromedriver"],
        )
    })
    .expect_err("nothing to find must fail");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("need `chromedriver`"), "{message}");
    assert!(
        message.contains("apt-get install -y chromium chromium-driver"),
        "{message}"
    );

    let panic = std::panic::catch_unwind(|| {
        locate_in(
            "CHROMIUM_BIN",
            Some("/nonexistent/chromium".into()),
            None,
            &["chromium"],
        )
    })
    .expect_err("a wrong override must fail");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("CHROMIUM_BIN=/nonexistent/chromium is not an executable"),
        "{message}"
    );
    let _ = std::fs::remove_dir(&empty);
}
