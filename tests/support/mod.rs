//! Shared support for the integration tests: a real headless Chromium driven
//! through `WebDriver`, the example apps run as child processes, bounded waits.
//!
//! Included from a test file with `mod support;`. Every test binary uses a
//! different subset of these helpers, hence the `dead_code` allowance; the items
//! are `pub` for the test files that include this module, not for a public API.
#![allow(dead_code, unreachable_pub)]

pub mod app;
pub mod artifacts;
pub mod chrome;
pub mod page;
pub mod sse;
pub mod wait;

/// The error type test scenarios return: anything, with a readable message.
pub type TestError = Box<dyn std::error::Error + Send + Sync>;

/// What a test scenario returns.
pub type TestResult<T = ()> = Result<T, TestError>;

/// Returns a port on 127.0.0.1 that was free a moment ago.
///
/// For child processes that must be told their port up front (chromedriver, the
/// example apps). The listener is closed before returning, so another process
/// could in principle take the port; callers that start a server on it detect
/// that as a failed start.
pub fn free_port() -> u16 {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}
