//! The `dashboard` example in a real Chromium: one `EventSource` on 64
//! topics; the server ends every stream after a few hundred milliseconds
//! while events keep flowing to all 64 topics, and the browser's own
//! reconnects (with the cursor as `Last-Event-ID`) resume every topic with no
//! loss and no duplicate, as the page's own record of what it received shows.

mod support;

#[allow(dead_code)]
#[path = "../examples/dashboard/app.rs"]
mod app;

use std::time::Duration;

use support::chrome::Chrome;
use support::wait::{self, Check, BROWSER_TIMEOUT};
use tower_sse::{Hub, SseLayer};

const ROUNDS: usize = 12;

#[tokio::test]
async fn one_event_source_on_64_topics_resumes_every_topic_exactly_across_server_drops() {
    let hub = Hub::new();
    let sse = SseLayer::new()
        .retry(Duration::from_millis(100))
        .max_duration(Duration::from_millis(300));
    let router = app::router(app::multiplexer(hub.clone()), sse);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let chrome = Chrome::start();
    chrome
        .check("browser_multi", async {
            let page = chrome.open("dashboard").await?;
            page.goto(&format!("http://{addr}/")).await?;
            page.wait_for_text("#state", "Connected").await?;
            wait::until("all 64 topics subscribed", BROWSER_TIMEOUT, || async {
                let n = hub.subscribers(&app::tile(63));
                Ok(if n > 0 {
                    Check::Done(())
                } else {
                    Check::Pending(format!("{n}"))
                })
            })
            .await?;

            // Events keep flowing to every topic while the server cuts the
            // stream every 300 ms.
            for round in 0..ROUNDS {
                for tile in 0..app::TILES {
                    hub.publish(&app::tile(tile), format!("{round}")).await?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }

            let total = ROUNDS * app::TILES;
            let received: Vec<(String, String)> =
                wait::until("every event on the page", BROWSER_TIMEOUT, || async {
                    let value = page
                        .client()
                        .execute("return window.received;", vec![])
                        .await?;
                    let received: Vec<(String, String)> = serde_json::from_value(value)?;
                    Ok(if received.len() >= total {
                        Check::Done(received)
                    } else {
                        Check::Pending(format!("{} of {total}", received.len()))
                    })
                })
                .await?;
            assert!(
                received.iter().all(|(topic, _)| topic != "sse-gap"),
                "no gap: {:?}",
                received
                    .iter()
                    .filter(|(t, _)| t == "sse-gap")
                    .collect::<Vec<_>>()
            );
            for tile in 0..app::TILES {
                let topic = app::tile(tile);
                let got: Vec<&str> = received
                    .iter()
                    .filter(|(t, _)| *t == topic)
                    .map(|(_, d)| d.as_str())
                    .collect();
                let expected: Vec<String> = (0..ROUNDS).map(|r| r.to_string()).collect();
                assert_eq!(got, expected, "{topic}: every event once, in order");
            }
            assert_eq!(received.len(), total, "nothing else");
            let opens = page.number("window.opens").await?;
            assert!(
                opens >= 3,
                "the server dropped the stream mid-flow: {opens} connections"
            );
            Ok(())
        })
        .await;
}
