//! The `voting` example in a real Chromium: votes cast on one page show up on
//! the results page; the connection state follows the server through a stop
//! (SIGTERM, graceful, under a second) and a restart, with the right tally.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::app::App;
use support::chrome::Chrome;
use support::page::Page;
use support::TestResult;

/// Posts a raw vote body from the page with `fetch`; returns status and text.
async fn post_vote(page: &Page, body: &str) -> TestResult<(u64, String)> {
    let reply = page
        .client()
        .execute_async(
            "const [body, done] = arguments;
             fetch('/vote', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
               .then(async (r) => done([r.status, await r.text()]), (e) => done([0, String(e)]));",
            vec![Value::from(body)],
        )
        .await?;
    Ok((
        reply[0].as_u64().unwrap_or_default(),
        reply[1].as_str().unwrap_or_default().to_owned(),
    ))
}

#[tokio::test]
async fn votes_show_up_live_and_the_results_page_follows_a_server_restart() {
    let votes_file =
        std::env::temp_dir().join(format!("tower-sse-votes-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&votes_file);
    let mut app = App::start("voting", &[("VOTES_FILE", votes_file.to_str().unwrap())]);
    let chrome = Chrome::start();
    chrome
        .check("browser_voting", async {
            let results = chrome.open("results").await?;
            results.goto(&app.url("/result")).await?;
            results.wait_for_text("#state", "Connected").await?;
            results.wait_for_text("#result", "Yes: 0, No: 0").await?;

            let voter = chrome.open("voter").await?;
            voter.goto(&app.url("/")).await?;
            for (button, tally) in [
                ("#yes", "Yes: 1, No: 0"),
                ("#yes", "Yes: 2, No: 0"),
                ("#no", "Yes: 2, No: 1"),
            ] {
                voter.click(button).await?;
                results.wait_for_text("#result", tally).await?;
            }
            voter
                .wait_for_text("#status", "Thanks! Yes: 2, No: 1")
                .await?;

            // Anything but yes/no is refused with a clear message.
            let (status, text) = post_vote(&voter, &json!({"choice": "maybe"}).to_string()).await?;
            assert_eq!(
                (status, text.as_str()),
                (400, "choice must be \"yes\" or \"no\"\n")
            );
            let (status, text) = post_vote(&voter, "yes").await?;
            assert_eq!(
                (status, text.as_str()),
                (400, "expected a JSON body like {\"choice\": \"yes\"}\n")
            );

            let took = app.stop()?;
            assert!(
                took < Duration::from_secs(1),
                "exit took {took:?} after SIGTERM"
            );
            results.wait_for_text("#state", "Connecting...").await?;

            app.restart();
            results.wait_for_text("#state", "Connected").await?;
            results.wait_for_text("#result", "Yes: 2, No: 1").await?;
            voter.click("#no").await?;
            results.wait_for_text("#result", "Yes: 2, No: 2").await?;
            Ok(())
        })
        .await;
    let _ = std::fs::remove_file(&votes_file);
}
