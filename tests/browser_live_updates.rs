//! The `live_updates` example in a real Chromium: updates typed into the form
//! of one browser appear intact (line breaks included), newest first, on the
//! board of another; SIGTERM ends the app, open stream and all, within a second.

mod support;

use std::time::Duration;

use support::app::App;
use support::chrome::Chrome;

#[tokio::test]
async fn multi_line_updates_posted_through_the_form_appear_intact_and_in_order_on_the_board() {
    let mut app = App::start("live_updates", &[]);
    let chrome = Chrome::start();
    chrome
        .check("browser_live_updates", async {
            let board = chrome.open("board").await?;
            board.goto(&app.url("/")).await?;
            board.wait_for_text("#state", "Connected").await?;

            let form = chrome.open("form").await?;
            form.goto(&app.url("/post-update")).await?;

            let updates = [
                "First update",
                "Second update\nspans two lines",
                "Third: ünïcødé — 日本語\n\n  indented after a blank line\nend",
            ];
            let mut expected: Vec<&str> = Vec::new();
            for update in updates {
                form.type_into("#message", update).await?;
                form.click("#send").await?;
                expected.insert(0, update);
                board.wait_for_texts(".update .message", &expected).await?;
            }
            // The form reported each post and was cleared.
            // Hub ids are `<epoch>.<offset>`: one history, offsets 3, 2, 1.
            let ids = board.client().execute(
                "return Array.from(document.querySelectorAll('.update'), e => e.dataset.id);",
                vec![],
            );
            let ids: Vec<String> = serde_json::from_value(ids.await?)?;
            let epoch = ids[0].split_once('.').map_or("", |(epoch, _)| epoch);
            let expected_ids: Vec<String> =
                [3, 2, 1].iter().map(|n| format!("{epoch}.{n}")).collect();
            assert_eq!(ids, expected_ids);
            form.wait_for_text("#status", &format!("posted update {epoch}.3"))
                .await?;

            let took = app.stop()?;
            assert!(
                took < Duration::from_secs(1),
                "exit took {took:?} after SIGTERM with a browser connected"
            );
            board.wait_for_text("#state", "Connecting...").await?;
            Ok(())
        })
        .await;
}
