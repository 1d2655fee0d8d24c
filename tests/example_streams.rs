//! The axum examples' event streams over plain HTTP, read with the crate's
//! parser: every stream carries the layer's headers, starts with the retry
//! hint and an opening comment, and resumes exactly after `Last-Event-ID`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::app::App;
use support::sse::{self, send, Stream};
use support::TestResult;

#[tokio::test]
async fn live_updates_streams_multi_line_updates_with_ids_behind_the_layer() -> TestResult {
    let mut app = App::start("live_updates", &[]);
    let mut board = sse::open(&app.url("/api/updates"), None).await?;
    board.assert_layer_headers();
    board.assert_prelude("live updates").await?;

    let form = "application/x-www-form-urlencoded";
    let url = app.url("/api/post-update");
    assert_eq!(
        send("POST", &url, form, "message=first").await?,
        (200, "posted update 1".into())
    );
    // PUT works the same; the text keeps its line breaks, blank line included.
    assert_eq!(
        send("PUT", &url, form, "message=two%0Alines%0A%0Aand+more").await?,
        (200, "posted update 2".into())
    );
    assert_eq!(
        send("POST", &url, form, "message=+%0A").await?,
        (400, "message must not be empty\n".into())
    );
    for (id, data) in [("1", "first"), ("2", "two\nlines\n\nand more")] {
        let event = board.event().await?;
        assert_eq!(
            (
                event.event_type.as_str(),
                event.last_event_id.as_str(),
                event.data.as_str()
            ),
            ("message", id, data)
        );
    }

    let mut resumed = sse::open(&app.url("/api/updates"), Some("1")).await?;
    resumed.assert_prelude("live updates").await?;
    assert_eq!(resumed.event().await?.data, "two\nlines\n\nand more");

    let took = app.stop()?;
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    board.assert_ends().await?;
    resumed.assert_ends().await
}

#[tokio::test]
async fn chat_streams_json_chat_events_per_room_and_replays_after_last_event_id() -> TestResult {
    let mut app = App::start("chat", &[]);
    let mut general = sse::open(&app.url("/rooms/general/events"), None).await?;
    general.assert_layer_headers();
    general.assert_prelude("chat").await?;

    let say = |room: &str, user: &str, message: &str| {
        let url = app.url(&format!("/rooms/{room}/messages"));
        let body = json!({"user": user, "message": message}).to_string();
        async move { send("POST", &url, "application/json", &body).await }
    };
    assert_eq!(
        say("general", "ann", "hi").await?,
        (200, r#"{"id":"1"}"#.into())
    );
    assert_eq!(say("other", "bob", "elsewhere").await?.0, 200);
    assert_eq!(
        say("general", "bob", "hello\nann").await?,
        (200, r#"{"id":"3"}"#.into())
    );
    assert_eq!(say("general", "", "nobody").await?.0, 400);

    for (id, user, message) in [("1", "ann", "hi"), ("3", "bob", "hello\nann")] {
        let event = general.event().await?;
        assert_eq!(
            (event.event_type.as_str(), event.last_event_id.as_str()),
            ("chat", id)
        );
        let data: Value = serde_json::from_str(&event.data)?;
        assert_eq!(
            (&data["user"], &data["message"], &data["room"]),
            (&json!(user), &json!(message), &json!("general"))
        );
        assert!(data["sent_at"].as_u64().is_some_and(|t| t > 0), "{data}");
    }

    let mut resumed = sse::open(&app.url("/rooms/general/events"), Some("1")).await?;
    resumed.assert_prelude("chat").await?;
    assert_eq!(resumed.event().await?.last_event_id, "3");

    // An id the room never had (e.g. from before a restart): a gap event.
    let mut lost = sse::open(&app.url("/rooms/general/events"), Some("99")).await?;
    lost.assert_prelude("chat").await?;
    let gap = lost.event().await?;
    assert_eq!(
        (gap.event_type.as_str(), gap.data.as_str()),
        ("sse-gap", "unknown-id")
    );

    let took = app.stop()?;
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    general.assert_ends().await?;
    resumed.assert_ends().await?;
    lost.assert_ends().await
}

#[tokio::test]
async fn voting_sends_the_tally_on_connect_and_after_every_vote() -> TestResult {
    let mut app = App::start("voting", &[]);
    let vote = |choice: &str| {
        let url = app.url("/vote");
        let body = json!({ "choice": choice }).to_string();
        async move { send("POST", &url, "application/json", &body).await }
    };
    assert_eq!(vote("yes").await?, (200, r#"{"yes":1,"no":0}"#.into()));

    let mut results = sse::open(&app.url("/stream"), None).await?;
    results.assert_layer_headers();
    results.assert_prelude("live poll").await?;
    let tally = |id: &str, data: &str| ("tally".to_owned(), id.to_owned(), data.to_owned());
    assert_eq!(next(&mut results).await?, tally("1", r#"{"yes":1,"no":0}"#));
    assert_eq!(vote("no").await?.0, 200);
    assert_eq!(next(&mut results).await?, tally("2", r#"{"yes":1,"no":1}"#));
    assert_eq!(vote("yes").await?.0, 200);
    assert_eq!(next(&mut results).await?, tally("3", r#"{"yes":2,"no":1}"#));
    assert_eq!(
        vote("maybe").await?,
        (400, "choice must be \"yes\" or \"no\"\n".into())
    );

    let took = app.stop()?;
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    results.assert_ends().await
}

/// The next event as (type, id, data).
async fn next(stream: &mut Stream) -> TestResult<(String, String, String)> {
    let event = stream.event().await?;
    Ok((event.event_type, event.last_event_id, event.data))
}
