//! The axum examples' event streams over plain HTTP, read with the crate's
//! parser: every stream carries the layer's headers, starts with the retry
//! hint and an opening comment, and resumes exactly after `Last-Event-ID`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::app::App;
use support::sse::{self, send, Stream};
use support::TestResult;

/// The id in a `posted update <id>` answer.
fn posted_id(answer: &(u16, String)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer
        .1
        .strip_prefix("posted update ")
        .unwrap_or_else(|| panic!("{}", answer.1))
        .to_owned()
}

/// The id in a chat `{"id": ...}` answer.
fn chat_id(answer: &(u16, String)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    let body: Value = serde_json::from_str(&answer.1).unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// The epoch of an `<epoch>.<offset>` id.
fn epoch(id: &str) -> &str {
    id.split_once('.').unwrap_or_else(|| panic!("{id}")).0
}

#[tokio::test]
async fn live_updates_streams_multi_line_updates_with_ids_behind_the_layer() -> TestResult {
    let mut app = App::start("live_updates", &[]);
    let mut board = sse::open(&app.url("/api/updates"), None).await?;
    board.assert_layer_headers();
    board.assert_prelude("live updates").await?;

    let form = "application/x-www-form-urlencoded";
    let url = app.url("/api/post-update");
    let first = posted_id(&send("POST", &url, form, "message=first").await?);
    // PUT works the same; the text keeps its line breaks, blank line included.
    let second = posted_id(&send("PUT", &url, form, "message=two%0Alines%0A%0Aand+more").await?);
    assert_eq!(
        (first.as_str(), &second[..]),
        (
            &*format!("{}.1", epoch(&first)),
            &*format!("{}.2", epoch(&first))
        )
    );
    assert_eq!(
        send("POST", &url, form, "message=+%0A").await?,
        (400, "message must not be empty\n".into())
    );
    for (id, data) in [(&first, "first"), (&second, "two\nlines\n\nand more")] {
        let event = board.event().await?;
        assert_eq!(
            (
                event.event_type.as_str(),
                event.last_event_id.as_str(),
                event.data.as_str()
            ),
            ("message", id.as_str(), data)
        );
    }

    let mut resumed = sse::open(&app.url("/api/updates"), Some(&first)).await?;
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
    let hi = chat_id(&say("general", "ann", "hi").await?);
    assert_eq!(say("other", "bob", "elsewhere").await?.0, 200);
    let hello = chat_id(&say("general", "bob", "hello\nann").await?);
    assert_eq!(say("general", "", "nobody").await?.0, 400);

    for (id, user, message) in [(&hi, "ann", "hi"), (&hello, "bob", "hello\nann")] {
        let event = general.event().await?;
        assert_eq!(
            (event.event_type.as_str(), event.last_event_id.as_str()),
            ("chat", id.as_str())
        );
        let data: Value = serde_json::from_str(&event.data)?;
        assert_eq!(
            (&data["user"], &data["message"], &data["room"]),
            (&json!(user), &json!(message), &json!("general"))
        );
        assert!(data["sent_at"].as_u64().is_some_and(|t| t > 0), "{data}");
    }

    let mut resumed = sse::open(&app.url("/rooms/general/events"), Some(&hi)).await?;
    resumed.assert_prelude("chat").await?;
    assert_eq!(resumed.event().await?.last_event_id, hello);

    // An id the room never had: a gap event.
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

/// Reproduction 1 of issue 10: post 5 messages, restart the in-memory chat,
/// post 6 more, resume with the old fifth id: the new messages 1..5 must not
/// be skipped silently; the client gets a `reset` gap, then live messages.
#[tokio::test]
async fn an_id_from_before_a_restart_of_the_chat_gets_a_reset_gap_then_live_messages() -> TestResult
{
    async fn say(app: &App, n: usize) -> TestResult<String> {
        let url = app.url("/rooms/r1/messages");
        let body = json!({"user": "ann", "message": format!("m{n}")}).to_string();
        Ok(chat_id(
            &send("POST", &url, "application/json", &body).await?,
        ))
    }
    let mut app = App::start("chat", &[]);
    let mut before = Vec::new();
    for n in 1..=5 {
        before.push(say(&app, n).await?);
    }
    app.stop()?;
    let mut app = App::start("chat", &[]);
    let mut after = Vec::new();
    for n in 1..=6 {
        after.push(say(&app, n).await?);
    }
    assert_ne!(
        epoch(&before[4]),
        epoch(&after[4]),
        "a restart starts a new epoch"
    );

    let mut resumed = sse::open(&app.url("/rooms/r1/events"), Some(&before[4])).await?;
    resumed.assert_prelude("chat").await?;
    let gap = resumed.event().await?;
    assert_eq!(
        (
            gap.event_type.as_str(),
            gap.data.as_str(),
            gap.last_event_id.as_str()
        ),
        ("sse-gap", "reset", after[5].as_str())
    );
    let live = say(&app, 7).await?;
    let event = resumed.event().await?;
    assert_eq!(
        (event.event_type.as_str(), event.last_event_id.as_str()),
        ("chat", live.as_str())
    );
    app.stop()?;
    resumed.assert_ends().await
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
