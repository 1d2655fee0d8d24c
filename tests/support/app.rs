//! The example apps run as child processes, exactly as a user runs them.
//!
//! `cargo test --all-targets` (and plain `cargo test`) builds the examples
//! next to the test binaries, in `<target>/<profile>/examples/`. [`App::start`]
//! runs one with `PORT` set to a free port and waits for it to print its URL.
//! [`App::stop`] sends SIGTERM and measures how long the graceful shutdown
//! takes; [`App::restart`] brings it back on the same port.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{free_port, TestResult};

/// How long an example may take to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long an example may take to exit after SIGTERM before the test fails.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running (or stopped) example app.
#[derive(Debug)]
pub struct App {
    name: String,
    binary: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    output: Arc<Mutex<Vec<String>>>,
}

impl App {
    /// Starts `examples/<name>` on a free port with extra environment `env`.
    ///
    /// # Panics
    ///
    /// When the example was not built, is older than its sources, or does not
    /// print its URL in time.
    pub fn start(name: &str, env: &[(&str, &str)]) -> App {
        let binary = example_binary(name);
        let mut app = App {
            name: name.to_owned(),
            binary,
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            output: Arc::default(),
        };
        app.spawn();
        app
    }

    /// The port the app listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Everything the app printed so far (stdout and stderr, all runs).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long that took.
    ///
    /// Fails when the app does not exit within [`STOP_TIMEOUT`] (it is then
    /// killed) or exits unsuccessfully.
    pub fn stop(&mut self) -> TestResult<Duration> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} is not running", self.name).into());
        };
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed: {status}", child.id()).into());
        }
        loop {
            if let Some(status) = child.try_wait()? {
                let took = started.elapsed();
                if !status.success() {
                    return Err(format!("{} exited with {status} after SIGTERM", self.name).into());
                }
                return Ok(took);
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM; output:\n{}",
                    self.name,
                    self.output()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the app again on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.name);
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut child = Command::new(&self.binary)
            .env("PORT", self.port.to_string())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        let (lines_tx, lines_rx) = mpsc::channel();
        collect(child.stdout.take(), &self.output, lines_tx.clone());
        collect(child.stderr.take(), &self.output, lines_tx);
        self.child = Some(child);

        let url = self.url("");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.contains(&url) => return,
                Ok(_) => {}
                Err(_) => panic!(
                    "{} did not print {url} within {START_TIMEOUT:?}; output:\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies a child's output lines into `sink` and `lines`, on a thread.
fn collect<R>(pipe: Option<R>, sink: &Arc<Mutex<Vec<String>>>, lines: mpsc::Sender<String>)
where
    R: Read + Send + 'static,
{
    let Some(pipe) = pipe else { return };
    let sink = Arc::clone(sink);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            let _ = lines.send(line);
        }
    });
}

/// `<target>/<profile>/examples/<name>`, checked to exist.
///
/// A binary older than the example's sources gets a warning (shown with the
/// test's output when it fails): cargo decides freshness itself and can keep
/// a binary whose sources were only touched, so this is no reason to fail.
fn example_binary(name: &str) -> PathBuf {
    let binary = super::artifacts::profile_dir().join("examples").join(name);
    let hint = "build the examples with `cargo build --examples --all-features` \
                (`cargo test --all-features --all-targets` does it)";
    let built = binary
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("example binary {} not found; {hint}", binary.display()));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let sources = [examples.join(name), examples.join(format!("{name}.rs"))];
    if let Some(newer) = sources.iter().find_map(|s| newer_than(s, built)) {
        eprintln!(
            "warning: example binary {} is older than {}; if this test fails, {hint}",
            binary.display(),
            newer.display()
        );
    }
    binary
}

/// A file under `path` modified after `time`, if any.
fn newer_than(path: &Path, time: SystemTime) -> Option<PathBuf> {
    let meta = path.metadata().ok()?;
    if meta.is_dir() {
        std::fs::read_dir(path)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|entry| newer_than(&entry.path(), time))
    } else {
        (meta.modified().ok()? > time).then(|| path.to_path_buf())
    }
}
