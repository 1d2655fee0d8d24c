//! The `ai_chat` example in a real headless Chromium: an answer streams token
//! by token; the page is reloaded mid-answer and ends with exactly the
//! simulated model's full output, nothing lost or repeated. With two app
//! servers on one real `redis-server`, behind one origin (a TCP proxy the
//! test switches), the reload lands on the other server. The Stop button
//! cancels the model, which records when it noticed.

mod support;

#[path = "support/redis_server.rs"]
mod redis_server;

#[allow(dead_code)]
#[path = "../examples/ai_chat/app.rs"]
mod app;

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "redis")]
use redis_server::RedisServer;
use support::chrome::Chrome;
use support::page::Page;
use support::wait::{self, Check};
use support::TestResult;
use tower_sse::resumable::ResumableStreams;
use tower_sse::Hub;

const TOKENS: usize = 80;
const PACE: Duration = Duration::from_millis(25);
const PROMPT: &str = "How do resumable streams work?";

async fn serve(hub: Hub) -> (SocketAddr, app::Upstreams) {
    let state = app::AppState {
        streams: ResumableStreams::new(hub),
        upstreams: app::Upstreams::default(),
        pace: PACE,
        tokens: TOKENS,
    };
    let upstreams = state.upstreams.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app::router(state)).await });
    (addr, upstreams)
}

/// One origin for two servers: forwards each connection to the port
/// `target` holds; switching it also closes the open connections, so the
/// browser cannot keep using a pooled connection to the old server.
async fn proxy(target: tokio::sync::watch::Receiver<u16>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut target = target.clone();
            let port = *target.borrow_and_update();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = target.changed() => {}
                    }
                }
            });
        }
    });
    addr
}

/// Waits until the model has produced at least `n` tokens of the answer the
/// page is showing; returns the stream token.
async fn produced_at_least(
    page: &Page,
    upstreams: &app::Upstreams,
    n: usize,
) -> TestResult<String> {
    wait::until(
        "the model to produce tokens",
        Duration::from_secs(10),
        || async {
            let token = page.text("#stream").await?;
            Ok(match upstreams.get(&token) {
                Some(record) if record.produced >= n => Check::Done(token),
                seen => Check::Pending(format!("{seen:?}")),
            })
        },
    )
    .await
}

async fn reload_mid_answer_and_check(
    page: &Page,
    url: &str,
    upstreams: &app::Upstreams,
    switch: impl FnOnce(),
) -> TestResult {
    page.goto(url).await?;
    page.click("#ask").await?;
    let token = produced_at_least(page, upstreams, 20).await?;
    let before = page.text("#answer").await?;
    assert!(!before.is_empty(), "the page showed part of the answer");
    switch();
    page.goto(url).await?; // reload mid-answer
    let record = upstreams.get(&token).expect("the record");
    assert!(record.produced < TOKENS, "the reload happened mid-answer");
    page.wait_for_text("#status", "done").await?;
    let record = upstreams.get(&token).expect("the record");
    assert!(record.finished);
    assert_eq!(record.full, app::answer_tokens(PROMPT, TOKENS).concat());
    assert_eq!(
        page.text("#answer").await?,
        record.full,
        "exactly the model's output"
    );
    Ok(())
}

#[tokio::test]
async fn a_reload_mid_answer_ends_with_exactly_the_full_answer() {
    let (addr, upstreams) = serve(Hub::new()).await;
    let url = format!("http://{addr}/");
    let chrome = Chrome::start();
    chrome
        .check("browser_ai_chat", async {
            let page = chrome.open("reader").await?;
            reload_mid_answer_and_check(&page, &url, &upstreams, || {}).await
        })
        .await;
}

#[tokio::test]
async fn stop_cancels_the_model_and_the_page_keeps_what_it_produced() {
    let (addr, upstreams) = serve(Hub::new()).await;
    let url = format!("http://{addr}/");
    let chrome = Chrome::start();
    chrome
        .check("browser_ai_chat_stop", async {
            let page = chrome.open("stopper").await?;
            page.goto(&url).await?;
            page.click("#ask").await?;
            let token = produced_at_least(&page, &upstreams, 10).await?;
            page.click("#stop").await?;
            page.wait_for_text("#status", "stopped").await?;
            let record = upstreams.get(&token).expect("the record");
            assert!(record.cancelled_at_ms.is_some(), "the model saw the cancel");
            assert!(!record.finished && record.produced < TOKENS);
            let tokens = app::answer_tokens(PROMPT, TOKENS);
            assert_eq!(
                page.text("#answer").await?,
                tokens[..record.produced].concat()
            );
            Ok(())
        })
        .await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn with_redis_a_reload_lands_on_the_other_server_and_the_answer_completes() {
    use tower_sse::redis::RedisConfig;
    use tower_sse::HubConfig;

    let redis = RedisServer::start();
    let hub = || {
        let config = RedisConfig::new(redis.url())
            .unwrap()
            .key_prefix("ai:")
            .block_timeout(Duration::from_millis(500));
        HubConfig::new().redis(config).build()
    };
    let (a, upstreams_a) = serve(hub()).await;
    let (b, _upstreams_b) = serve(hub()).await;
    let (target, switched) = tokio::sync::watch::channel(a.port());
    let front = proxy(switched).await;
    let url = format!("http://{front}/");
    let chrome = Chrome::start();
    chrome
        .check("browser_ai_chat_redis", async {
            let page = chrome.open("traveller").await?;
            // The answer is produced on A; after the switch every request,
            // the page and its stream, goes to B.
            reload_mid_answer_and_check(&page, &url, &upstreams_a, || {
                target.send_replace(b.port());
            })
            .await
        })
        .await;
}
