//! A real headless Chromium driven through `ChromeDriver` (`WebDriver`).
//!
//! [`Chrome::start`] runs `chromedriver` on a free port as a child process
//! (killed on drop); [`Chrome::open`] starts a browser session with a fresh
//! profile directory; [`Chrome::check`] runs a test scenario and, when it fails
//! or panics, saves every page's screenshot, console log and source into
//! `<target>/test-artifacts/<test>/` before failing the test.
//!
//! A missing `chromium` or `chromedriver` fails the test with a message saying
//! how to install them: browser tests are never skipped silently.

use std::future::Future;
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;

use super::page::Page;
use super::{artifacts, free_port, TestResult};

/// How to get the browser on a Debian machine, quoted in every "missing" error.
const INSTALL_HINT: &str =
    "run `scripts/install-deps.sh` (apt-get install -y chromium chromium-driver); \
     set CHROMIUM_BIN / CHROMEDRIVER_BIN to use other paths";

/// Command-line switches for a quiet, deterministic headless Chromium.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1024,768",
];

/// How long chromedriver may take to accept connections.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Numbers the profile directories of this process.
static PROFILE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running chromedriver and the browser sessions opened through it.
#[derive(Debug)]
pub struct Chrome {
    driver: Child,
    webdriver_url: String,
    chromium: PathBuf,
    pages: Mutex<Vec<Page>>,
    profiles: Mutex<Vec<PathBuf>>,
}

impl Chrome {
    /// Starts chromedriver on a free port and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When `chromium` or `chromedriver` is not installed, or chromedriver
    /// does not start: the message says what is missing and how to install it.
    pub fn start() -> Chrome {
        let chromium = locate(
            "CHROMIUM_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = locate("CHROMEDRIVER_BIN", &["chromedriver"]);
        let port = free_port();
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e}; {INSTALL_HINT}", chromedriver.display())
            });
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!(
                    "{} exited with {status} before accepting connections",
                    chromedriver.display()
                );
            }
            if Instant::now() >= deadline {
                let _ = driver.kill();
                panic!(
                    "{} did not listen on port {port} within {DRIVER_START_TIMEOUT:?}",
                    chromedriver.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Chrome {
            driver,
            webdriver_url: format!("http://127.0.0.1:{port}"),
            chromium,
            pages: Mutex::new(Vec::new()),
            profiles: Mutex::new(Vec::new()),
        }
    }

    /// Opens a new browser (its own session and profile), labelled for artifacts.
    pub async fn open(&self, label: &str) -> TestResult<Page> {
        let profile = std::env::temp_dir().join(format!(
            "tower-sse-chromium-{}-{}",
            std::process::id(),
            PROFILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile)?;
        self.profiles.lock().unwrap().push(profile.clone());

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": self.chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.webdriver_url)
            .await
            .map_err(|e| format!("new Chromium session ({}): {e}", self.chromium.display()))?;
        let page = Page::new(label, client);
        self.pages.lock().unwrap().push(page.clone());
        Ok(page)
    }

    /// Runs a test scenario; on an error or a panic saves every open page's
    /// artifacts, then fails the test. Closes all sessions either way.
    pub async fn check<F>(&self, test: &str, scenario: F)
    where
        F: Future<Output = TestResult>,
    {
        let outcome = AssertUnwindSafe(scenario).catch_unwind().await;
        if !matches!(outcome, Ok(Ok(()))) {
            self.save_artifacts(test).await;
        }
        self.close_all().await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("{test} failed: {error}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Saves a screenshot, the console log and the page source of every page.
    async fn save_artifacts(&self, test: &str) {
        let dir = artifacts::dir_for(test);
        let pages = self.pages.lock().unwrap().clone();
        for page in &pages {
            for path in page.save_artifacts(&dir).await {
                eprintln!("[{test}] saved {}", path.display());
            }
        }
    }

    /// Ends every browser session (which quits its Chromium).
    async fn close_all(&self) {
        let pages = std::mem::take(&mut *self.pages.lock().unwrap());
        for page in pages {
            let _ = page.into_client().close().await;
        }
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // Chromium is attached to chromedriver through a pipe and quits when
        // chromedriver goes away.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        for profile in self.profiles.lock().unwrap().drain(..) {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// Finds an executable from an environment override or by name on `PATH`.
fn locate(env: &str, names: &[&str]) -> PathBuf {
    locate_in(env, std::env::var_os(env), std::env::var_os("PATH"), names)
}

/// [`locate`] with the environment passed in.
///
/// # Panics
///
/// When nothing is found, saying what is missing and how to install it.
pub fn locate_in(
    env: &str,
    env_value: Option<std::ffi::OsString>,
    search_path: Option<std::ffi::OsString>,
    names: &[&str],
) -> PathBuf {
    if let Some(path) = env_value {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{env}={} is not an executable file; {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let dirs: Vec<PathBuf> = search_path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| is_executable(path))
        .unwrap_or_else(|| {
            panic!(
                "the browser end-to-end tests need `{}`, which is not on PATH; {INSTALL_HINT}",
                names[0]
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
