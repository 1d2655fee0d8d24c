//! This process's memory, from `/proc/self/status`, for the tests that
//! bound what a client can make the server keep. Each such test runs in a
//! test binary of its own (or serialised with the others in it), so no
//! other test's allocations skew its figures. Include it with
//! `#[path = "support/rss.rs"] mod rss;`.
#![allow(dead_code, unreachable_pub)]

/// A field of `/proc/self/status` in KiB (`VmRSS:`, `VmHWM:`); 0 if absent.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The resident set size in bytes.
pub fn rss_bytes() -> u64 {
    status_kib("VmRSS:") * 1024
}
