//! `live_updates` with `REDIS_URL`: two instances on one Redis share one
//! board. An update posted to either reaches the streams of both, multi-line
//! text intact, with the Redis entry id as its event id; a client of a
//! restarted instance resumes after `Last-Event-ID` from the Redis history.

mod support;

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use redis_server::RedisServer;
use support::app::App;
use support::sse::{self, send};
use support::TestResult;

/// `POST /api/post-update` with a form body.
async fn post(app: &App, form: &str) -> TestResult<(u16, String)> {
    send(
        "POST",
        &app.url("/api/post-update"),
        "application/x-www-form-urlencoded",
        form,
    )
    .await
}

#[tokio::test]
async fn two_live_updates_instances_on_one_redis_share_the_board_and_its_history() -> TestResult {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let env = [("REDIS_URL", redis_url.as_str())];
    let mut first = App::start("live_updates", &env);
    let second = App::start("live_updates", &env);

    // A stream without `Last-Event-ID` is live from the moment its instance
    // has found the Redis stream's end, which happens in the background. A
    // publish through an instance waits for that moment on that instance, so
    // one warm-up post through each makes both streams live before the test.
    let mut on_second = sse::open(&second.url("/api/updates"), None).await?;
    on_second.assert_layer_headers();
    on_second.assert_prelude("live updates").await?;
    assert_eq!(post(&second, "message=warm-up+1").await?.0, 200);
    assert_eq!(on_second.event().await?.data, "warm-up 1");
    let mut on_first = sse::open(&first.url("/api/updates"), None).await?;
    on_first.assert_layer_headers();
    on_first.assert_prelude("live updates").await?;
    assert_eq!(post(&first, "message=warm-up+2").await?.0, 200);
    assert_eq!(on_first.event().await?.data, "warm-up 2");
    assert_eq!(on_second.event().await?.data, "warm-up 2");

    let (status, posted) = post(&first, "message=from+the+first%0Atwo+lines").await?;
    assert_eq!(status, 200, "{posted}");
    let (status, _) = send(
        "PUT",
        &second.url("/api/post-update"),
        "application/x-www-form-urlencoded",
        "message=from+the+second",
    )
    .await?;
    assert_eq!(status, 200);

    let mut ids = vec![];
    for stream in [&mut on_first, &mut on_second] {
        let one = stream.event().await?;
        let two = stream.event().await?;
        assert_eq!(
            (one.data.as_str(), two.data.as_str()),
            ("from the first\ntwo lines", "from the second")
        );
        ids.push((one.last_event_id, two.last_event_id));
    }
    // The same Redis entry ids on both instances, and the one posted reported.
    assert_eq!(ids[0], ids[1]);
    let (first_id, second_id) = ids.remove(0);
    assert!(
        first_id.contains('-') && first_id < second_id,
        "{first_id} {second_id}"
    );
    assert_eq!(posted, format!("posted update {first_id}"));

    // Restart the first instance; a client that saw only the first update
    // resumes there with exactly the second, from the Redis history.
    let took = first.stop()?;
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    on_first.assert_ends().await?;
    first.restart();
    let mut resumed = sse::open(&first.url("/api/updates"), Some(&first_id)).await?;
    resumed.assert_prelude("live updates").await?;
    let event = resumed.event().await?;
    assert_eq!(
        (event.last_event_id.as_str(), event.data.as_str()),
        (second_id.as_str(), "from the second")
    );
    Ok(())
}

/// The chat example with its Redis down answers a message with 503 and a
/// message that says the backend is unavailable: the client did nothing
/// wrong (it used to get 400).
#[tokio::test]
async fn the_chat_answers_a_backend_outage_with_503() -> TestResult {
    let mut redis = RedisServer::start();
    let redis_url = redis.url();
    let mut app = App::start("chat", &[("REDIS_URL", redis_url.as_str())]);
    let url = app.url("/rooms/general/messages");
    let body = r#"{"user":"ann","message":"hi"}"#;
    assert_eq!(send("POST", &url, "application/json", body).await?.0, 200);
    redis.kill();
    let (status, text) = send("POST", &url, "application/json", body).await?;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("backend is unavailable"), "{text}");
    app.stop()?;
    Ok(())
}
