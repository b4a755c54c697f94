//! The figures of a measured scenario ([`Scenario`]: medians, requests, the ratio to its
//! ideal bound), how durations and memory are written, and the Markdown table they go in.

use std::fmt::Write as _;
use std::time::Duration;

use crate::child::Run;

/// One measured scenario: its runs, and what it should cost at best.
pub struct Scenario {
    pub name: String,
    pub runs: Vec<Run>,
    /// The critical path: round trips the scenario needs at its concurrency, and the latency.
    pub ideal: Option<Duration>,
    pub expected_requests: Option<u64>,
}

impl Scenario {
    pub fn wall(&self) -> Duration {
        median(self.runs.iter().map(|r| r.wall).collect())
    }

    pub fn cpu(&self) -> Duration {
        median(self.runs.iter().map(|r| r.cpu).collect())
    }

    pub fn maxrss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.maxrss_kib).max()
    }

    /// Requests per run as "n" or "min–max".
    pub fn requests(&self) -> String {
        let totals: Vec<u64> = self.runs.iter().map(|r| r.counters.total).collect();
        let (min, max) = (
            totals.iter().min().copied().unwrap_or(0),
            totals.iter().max().copied().unwrap_or(0),
        );
        let mut text = if min == max {
            min.to_string()
        } else {
            format!("{min}–{max}")
        };
        if let Some(expected) = self.expected_requests
            && (min != expected || max != expected)
        {
            let _ = write!(text, " (expected {expected})");
        }
        text
    }

    pub fn ratio(&self) -> Option<f64> {
        self.ideal
            .filter(|i| !i.is_zero())
            .map(|i| self.wall().as_secs_f64() / i.as_secs_f64())
    }
}

pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    match values.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

pub fn print_table(scenarios: &[Scenario]) {
    println!(
        "| scenario | runs | wall (median) | ideal | × ideal | requests/run | CPU (median) | peak RSS |\n|---|---|---|---|---|---|---|---|"
    );
    for s in scenarios {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.runs.len(),
            ms(s.wall()),
            s.ideal.map_or_else(|| "–".to_owned(), ms),
            s.ratio()
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}")),
            s.requests(),
            ms(s.cpu()),
            mib(s.maxrss_kib())
        );
    }
}
