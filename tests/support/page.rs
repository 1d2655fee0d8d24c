//! One browser session seen as a page: navigate, type, click, read the DOM,
//! wait for what it shows, and dump artifacts when a test fails.

use std::path::{Path, PathBuf};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::Value;

use super::wait::{self, Check, BROWSER_TIMEOUT};
use super::{artifacts, TestResult};

/// A browser session opened by [`Chrome::open`](super::chrome::Chrome::open).
#[derive(Debug, Clone)]
pub struct Page {
    label: String,
    client: Client,
}

impl Page {
    pub(super) fn new(label: &str, client: Client) -> Page {
        Page {
            label: label.to_owned(),
            client,
        }
    }

    /// The label given at [`Chrome::open`](super::chrome::Chrome::open).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The `WebDriver` client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn into_client(self) -> Client {
        self.client
    }

    /// Loads `url` and waits for the page's `load` event.
    pub async fn goto(&self, url: &str) -> TestResult {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The exact `textContent` of every element matching `css`, in document order.
    pub async fn texts(&self, css: &str) -> TestResult<Vec<String>> {
        let value = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);",
                vec![Value::from(css)],
            )
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    /// The exact `textContent` of the first element matching `css`.
    pub async fn text(&self, css: &str) -> TestResult<String> {
        self.texts(css)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| format!("no element matches `{css}`").into())
    }

    /// The value of the JavaScript expression `expr` as a whole number (0 if
    /// it is not one), e.g. a counter the page keeps on `window`.
    pub async fn number(&self, expr: &str) -> TestResult<u64> {
        let value = self
            .client()
            .execute(&format!("return {expr};"), vec![])
            .await?;
        Ok(value.as_u64().unwrap_or(0))
    }

    /// Types `text` into the field matching `css` (after clearing it), key by key.
    ///
    /// A `\n` in `text` is the Enter key: a new line in a `<textarea>`.
    pub async fn type_into(&self, css: &str, text: &str) -> TestResult {
        let field = self.client.find(Locator::Css(css)).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> TestResult {
        self.client.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    /// Waits until the `textContent`s of the elements matching `css` are `expected`.
    pub async fn wait_for_texts(&self, css: &str, expected: &[&str]) -> TestResult {
        let what = format!("`{css}` on page `{}` to read {expected:?}", self.label);
        wait::until(&what, BROWSER_TIMEOUT, || async {
            let seen = self.texts(css).await?;
            Ok(if seen == expected {
                Check::Done(())
            } else {
                Check::Pending(format!("{seen:?}"))
            })
        })
        .await
    }

    /// Waits until the first element matching `css` reads exactly `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> TestResult {
        let what = format!("`{css}` on page `{}` to read {expected:?}", self.label);
        wait::until(&what, BROWSER_TIMEOUT, || async {
            let seen = self.texts(css).await?;
            Ok(if seen.first().map(String::as_str) == Some(expected) {
                Check::Done(())
            } else {
                Check::Pending(format!("{seen:?}"))
            })
        })
        .await
    }

    /// Browser console messages (and page errors) since the last call.
    ///
    /// Chromium records them because the session asks for
    /// `goog:loggingPrefs {browser: ALL}`; `ChromeDriver` hands them out once.
    pub async fn console_log(&self) -> TestResult<Vec<String>> {
        let entries = self.client.issue_cmd(BrowserLog).await?;
        let entries = entries.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .map(|entry| {
                format!(
                    "{} {} {}",
                    entry["timestamp"],
                    entry["level"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or("")
                )
            })
            .collect())
    }

    /// Saves `<label>.png`, `<label>.console.log` and `<label>.html` into `dir`;
    /// returns the paths written. Best effort: a failing step is reported in
    /// the console log file instead.
    pub async fn save_artifacts(&self, dir: &Path) -> Vec<PathBuf> {
        let base = artifacts::sanitize(&self.label);
        let mut written = Vec::new();
        let mut notes = Vec::new();
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("(unknown: {e})"),
        };
        notes.push(format!("page `{}` at {url}", self.label));
        match self.client.screenshot().await {
            Ok(png) => written.extend(write(dir.join(format!("{base}.png")), &png)),
            Err(e) => notes.push(format!("screenshot failed: {e}")),
        }
        match self.client.source().await {
            Ok(html) => written.extend(write(dir.join(format!("{base}.html")), html.as_bytes())),
            Err(e) => notes.push(format!("page source failed: {e}")),
        }
        match self.console_log().await {
            Ok(lines) if lines.is_empty() => notes.push("(console empty)".to_owned()),
            Ok(lines) => notes.extend(lines),
            Err(e) => notes.push(format!("console log failed: {e}")),
        }
        let log = notes.join("\n") + "\n";
        written.extend(write(
            dir.join(format!("{base}.console.log")),
            log.as_bytes(),
        ));
        written
    }
}

fn write(path: PathBuf, bytes: &[u8]) -> Option<PathBuf> {
    match std::fs::write(&path, bytes) {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("could not write {}: {e}", path.display());
            None
        }
    }
}

/// `ChromeDriver`'s log endpoint (`POST /session/{id}/se/log`), which
/// fantoccini does not wrap.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}
