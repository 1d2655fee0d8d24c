//! Shared helpers for the `harness = false` benchmarks: run modes, repeated
//! interleaved measurements, medians and the printed tables.
//!
//! The machine the benchmarks run on is shared and noisy, so every scenario
//! runs all of its contenders in one process, interleaved round by round, and
//! reports medians and ratios rather than single absolute times.

#![allow(dead_code)] // each bench binary uses a different subset

use std::time::Duration;

/// How the binary was started.
#[derive(Debug, Clone)]
pub(crate) struct Mode {
    /// `cargo bench` passes `--bench`; `cargo test --all-targets` runs the
    /// binary without it, and then it only smoke-runs tiny sizes.
    pub(crate) full: bool,
    /// Positional arguments (scenario filters), without `--` flags.
    pub(crate) filters: Vec<String>,
}

impl Mode {
    pub(crate) fn from_args() -> Self {
        let mut full = false;
        let mut filters = Vec::new();
        for arg in std::env::args().skip(1) {
            if arg == "--bench" {
                full = true;
            } else if !arg.starts_with('-') {
                filters.push(arg);
            }
        }
        Self { full, filters }
    }

    /// Whether the scenario named `name` (for example `"1"`) should run.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| f == name)
    }

    /// `var` from the environment if set, else `full` under `cargo bench`, else `smoke`.
    pub(crate) fn size(&self, var: &str, full: usize, smoke: usize) -> usize {
        match std::env::var(var)
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
        {
            Some(n) => n,
            None if self.full => full,
            None => smoke,
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Rate per second of `count` things done in `elapsed`.
pub(crate) fn per_sec(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// `12_345_678.9` as `12.35 M`, `12_345.6` as `12.35 k`.
pub(crate) fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.2} k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

/// One contender's samples in a scenario.
#[derive(Debug, Default, Clone)]
pub(crate) struct Series {
    pub(crate) name: &'static str,
    pub(crate) samples: Vec<f64>,
}

impl Series {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            samples: Vec::new(),
        }
    }

    pub(crate) fn median(&self) -> f64 {
        median(&self.samples)
    }
}

/// The median over rounds of `a[i] / b[i]`: the ratio of two contenders
/// measured back to back, which cancels most of the machine's drift.
pub(crate) fn paired_ratio(a: &Series, b: &Series) -> f64 {
    let ratios: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .map(|(x, y)| x / y)
        .collect();
    median(&ratios)
}

/// Prints `series` as a table of medians, min and max, in `unit`.
pub(crate) fn print_table(unit: &str, series: &[&Series]) {
    println!(
        "  {:<26} {:>14} {:>14} {:>14}",
        "contender",
        format!("median {unit}"),
        "min",
        "max"
    );
    for s in series {
        let min = s.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "  {:<26} {:>14} {:>14} {:>14}",
            s.name,
            si(s.median()),
            si(min),
            si(max)
        );
    }
}

/// Prints one ratio line with its target, if any.
pub(crate) fn print_ratio(label: &str, ratio: f64, target: Option<f64>) {
    match target {
        Some(t) => println!(
            "  {label:<44} {ratio:>6.2}x  (target >= {t:.2}x: {})",
            if ratio >= t { "met" } else { "MISSED" }
        ),
        None => println!("  {label:<44} {ratio:>6.2}x"),
    }
}

/// Polls `body` to its end; returns every byte it produced.
pub(crate) async fn drain<B>(body: B) -> Vec<u8>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        if let Ok(data) = frame.expect("body error").into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Polls `body` to its end; returns how many bytes it produced (no copy on
/// the measured path).
pub(crate) async fn drain_count<B>(body: B) -> usize
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = 0;
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        if let Ok(data) = frame.expect("body error").into_data() {
            bytes += data.len();
        }
    }
    bytes
}
