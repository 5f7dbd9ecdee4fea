//! Metrics and logging.

use crate::host::{logging, metrics as host};

pub use logging::Level;

/// A count reported under the operator's metric group.
pub struct Counter(host::Counter);

impl Counter {
    pub fn new(name: &str) -> Self {
        Counter(host::Counter::new(name))
    }

    pub fn inc(&self, n: u64) {
        if n > 0 {
            self.0.inc(n);
        }
    }
}

/// A value reported under the operator's metric group.
pub struct Gauge(host::Gauge);

impl Gauge {
    pub fn new(name: &str) -> Self {
        Gauge(host::Gauge::new(name))
    }

    pub fn set(&self, value: f64) {
        self.0.set(value);
    }
}

/// Writes to the host's log, tagged with the operator and subtask.
pub fn log(level: Level, message: &str) {
    logging::log(level, message);
}

/// Logs at most one message per interval (plus how many were suppressed), so that a flood
/// of bad input cannot flood the log.
pub struct RateLimitedLog {
    interval_ms: i64,
    last: Option<i64>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(interval_ms: i64) -> Self {
        RateLimitedLog { interval_ms, last: None, suppressed: 0 }
    }

    /// Logs `message()` unless a message was logged less than the interval ago.
    pub fn log(&mut self, level: Level, message: impl FnOnce() -> String) {
        let now = crate::time::current_processing_time();
        if self.last.is_some_and(|last| now - last < self.interval_ms) {
            self.suppressed += 1;
            return;
        }
        let mut text = message();
        if self.suppressed > 0 {
            text.push_str(&format!(" ({} similar messages suppressed)", self.suppressed));
        }
        log(level, &text);
        self.last = Some(now);
        self.suppressed = 0;
    }
}
