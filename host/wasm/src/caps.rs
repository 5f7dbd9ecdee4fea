//! The caps on what a guest makes the host hold: every size and count a guest controls through
//! a host service (log lines, failure messages, metrics, timers, keyed state, emitted batches,
//! the plan) has a limit here, with the configuration key that raises it. A guest over a cap
//! fails its call with a [`CapExceeded`] naming the limit and the key (and, through
//! [`crate::GuestError`], the operator); log lines and failure messages are cut instead, so
//! that what the guest said is never lost, only shortened.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_config::{ConfigError, Configuration, keys};

/// The caps of one guest instance (the same for every instance of a process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestCaps {
    /// The longest log message or output line kept, in bytes ([`keys::GUEST_LOG_MAX_MESSAGE_SIZE`]).
    pub log_message_bytes: usize,
    /// Log messages and output lines per second per instance ([`keys::GUEST_LOG_MAX_RATE`]).
    pub log_lines_per_second: u32,
    /// The longest failure message, in bytes ([`keys::GUEST_MAX_FAILURE_MESSAGE_SIZE`]).
    pub failure_message_bytes: usize,
    /// The longest metric name, in bytes ([`keys::GUEST_METRICS_MAX_NAME_LENGTH`]).
    pub metric_name_bytes: usize,
    /// The most metrics per operator subtask ([`keys::GUEST_METRICS_MAX_COUNT`]).
    pub metrics: usize,
    /// The most timers per subtask ([`keys::GUEST_TIMERS_MAX_COUNT`]).
    pub timers: usize,
    /// The longest timer namespace, in bytes ([`keys::GUEST_TIMERS_MAX_NAMESPACE_SIZE`]).
    pub timer_namespace_bytes: usize,
    /// The bytes of keys and namespaces a subtask's timers may hold ([`keys::GUEST_TIMERS_MAX_BYTES`]).
    pub timer_bytes: usize,
    /// The longest keyed-state key, namespace or map key ([`keys::GUEST_STATE_MAX_KEY_SIZE`]).
    pub state_key_bytes: usize,
    /// The largest keyed-state value ([`keys::GUEST_STATE_MAX_VALUE_SIZE`]).
    pub state_value_bytes: usize,
    /// The largest batch one `collector.emit` may hand over ([`keys::GUEST_EMIT_MAX_BATCH_SIZE`]).
    pub emit_batch_bytes: usize,
    /// The most operators a plan may declare ([`keys::PLAN_MAX_OPERATORS`]).
    pub plan_operators: usize,
    /// The most subtasks a job may have, over all its vertices ([`keys::PLAN_MAX_SUBTASKS`]).
    pub plan_subtasks: u64,
    /// The longest string in a plan, in bytes ([`keys::PLAN_MAX_STRING_SIZE`]).
    pub plan_string_bytes: usize,
}

impl Default for GuestCaps {
    fn default() -> Self {
        GuestCaps {
            log_message_bytes: 16 << 10,
            log_lines_per_second: 1000,
            failure_message_bytes: 64 << 10,
            metric_name_bytes: 256,
            metrics: 256,
            timers: 1_000_000,
            timer_namespace_bytes: 1 << 10,
            timer_bytes: 128 << 20,
            state_key_bytes: 64 << 10,
            state_value_bytes: 16 << 20,
            emit_batch_bytes: 16 << 20,
            plan_operators: 1000,
            plan_subtasks: 10_000,
            plan_string_bytes: 64 << 10,
        }
    }
}

impl GuestCaps {
    /// The caps from the `weir.guest.*` and `weir.plan.*` keys, the defaults where unset.
    pub fn from_config(config: &Configuration) -> Result<Self, ConfigError> {
        let d = GuestCaps::default();
        let size = |key: &str, default: usize| -> Result<usize, ConfigError> {
            let value = config.get_u64(key, default as u64)?;
            usize::try_from(value).map_err(|_| ConfigError::Value {
                key: key.to_string(),
                value: value.to_string(),
                expected: "a number this machine can address",
            })
        };
        let rate = config.get_u64(keys::GUEST_LOG_MAX_RATE, u64::from(d.log_lines_per_second))?;
        Ok(GuestCaps {
            log_message_bytes: size(keys::GUEST_LOG_MAX_MESSAGE_SIZE, d.log_message_bytes)?,
            log_lines_per_second: u32::try_from(rate).map_err(|_| ConfigError::Value {
                key: keys::GUEST_LOG_MAX_RATE.to_string(),
                value: rate.to_string(),
                expected: "a whole number below 2^32",
            })?,
            failure_message_bytes: size(keys::GUEST_MAX_FAILURE_MESSAGE_SIZE, d.failure_message_bytes)?,
            metric_name_bytes: size(keys::GUEST_METRICS_MAX_NAME_LENGTH, d.metric_name_bytes)?,
            metrics: size(keys::GUEST_METRICS_MAX_COUNT, d.metrics)?,
            timers: size(keys::GUEST_TIMERS_MAX_COUNT, d.timers)?,
            timer_namespace_bytes: size(keys::GUEST_TIMERS_MAX_NAMESPACE_SIZE, d.timer_namespace_bytes)?,
            timer_bytes: size(keys::GUEST_TIMERS_MAX_BYTES, d.timer_bytes)?,
            state_key_bytes: size(keys::GUEST_STATE_MAX_KEY_SIZE, d.state_key_bytes)?,
            state_value_bytes: size(keys::GUEST_STATE_MAX_VALUE_SIZE, d.state_value_bytes)?,
            emit_batch_bytes: size(keys::GUEST_EMIT_MAX_BATCH_SIZE, d.emit_batch_bytes)?,
            plan_operators: size(keys::PLAN_MAX_OPERATORS, d.plan_operators)?,
            plan_subtasks: config.get_u64(keys::PLAN_MAX_SUBTASKS, d.plan_subtasks)?,
            plan_string_bytes: size(keys::PLAN_MAX_STRING_SIZE, d.plan_string_bytes)?,
        })
    }

    /// Refuses `len` bytes of `what` over `limit`.
    pub(crate) fn check(what: &str, len: usize, limit: usize, key: &'static str) -> Result<(), CapExceeded> {
        if len > limit { Err(CapExceeded::bytes(what, len, limit, key)) } else { Ok(()) }
    }
}

/// A guest asked the host to hold more than a cap allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {actual} {unit} exceeds the limit of {limit} {unit} (raise {key} to allow more)")]
pub struct CapExceeded {
    /// What was too big or too many, such as "a keyed-state value of state 'seen'".
    pub what: String,
    /// Its size or count.
    pub actual: u64,
    /// The cap.
    pub limit: u64,
    /// "bytes", or what is counted.
    pub unit: &'static str,
    /// The configuration key of the cap.
    pub key: &'static str,
}

impl CapExceeded {
    /// A size in bytes over its cap.
    pub fn bytes(what: impl Into<String>, actual: usize, limit: usize, key: &'static str) -> Self {
        CapExceeded { what: what.into(), actual: as_u64(actual), limit: as_u64(limit), unit: "bytes", key }
    }

    /// A count of `unit` over its cap.
    pub fn count(what: impl Into<String>, actual: usize, limit: usize, unit: &'static str, key: &'static str) -> Self {
        CapExceeded { what: what.into(), actual: as_u64(actual), limit: as_u64(limit), unit, key }
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `text` cut to at most `max` bytes (at a character boundary) with a marker saying how much
/// was cut and which key keeps more; `text` itself when it fits.
pub fn cut(mut text: String, max: usize, key: &str) -> String {
    if text.len() <= max {
        return text;
    }
    let end = weir_core::text::prefix(&text, max).len();
    let cut_bytes = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("… [{cut_bytes} more bytes cut: {key}]"));
    text
}

/// `bytes` as text, cut like [`cut`], without first copying more than the cap allows.
pub fn cut_bytes(bytes: &[u8], max: usize, key: &str) -> String {
    let kept = &bytes[..bytes.len().min(max)];
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if bytes.len() > max {
        text.push_str(&format!("… [{} more bytes cut: {key}]", bytes.len() - kept.len()));
    }
    text
}

/// The log rate limit of one guest instance, shared by its `logging` import and its stdout
/// and stderr: at most so many lines per second; the rest are dropped and counted, and the
/// count is logged once the second is over (and when the instance goes).
#[derive(Clone)]
pub struct LogBudget {
    inner: Arc<Mutex<Budget>>,
}

struct Budget {
    tag: Arc<str>,
    per_second: u32,
    window: Instant,
    used: u32,
    dropped: u64,
}

impl Budget {
    fn report_dropped(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(
                target: "weir::guest",
                operator = &*self.tag,
                "{} guest log messages dropped: more than {} per second ({})",
                self.dropped,
                self.per_second,
                keys::GUEST_LOG_MAX_RATE
            );
            self.dropped = 0;
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.report_dropped();
    }
}

impl LogBudget {
    /// A budget of `per_second` lines for the instance tagged `tag`.
    pub fn new(tag: Arc<str>, per_second: u32) -> Self {
        let budget = Budget { tag, per_second, window: Instant::now(), used: 0, dropped: 0 };
        LogBudget { inner: Arc::new(Mutex::new(budget)) }
    }

    /// True if one more line may be logged now; false if it is to be dropped (and counted).
    pub fn take(&self) -> bool {
        let mut budget = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if budget.window.elapsed() >= Duration::from_secs(1) {
            budget.report_dropped();
            budget.window = Instant::now();
            budget.used = 0;
        }
        if budget.used < budget.per_second {
            budget.used += 1;
            true
        } else {
            budget.dropped += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_keeps_the_start_and_says_what_raises_it() {
        assert_eq!(cut("short".into(), 10, "k"), "short");
        let long = cut("é".repeat(10), 5, "weir.x");
        assert!(long.starts_with("éé…"), "{long}");
        assert!(long.contains("16 more bytes cut: weir.x"), "{long}");
        let bytes = cut_bytes(&[b'a'; 100], 10, "weir.y");
        assert!(bytes.starts_with("aaaaaaaaaa…") && bytes.contains("90 more bytes cut: weir.y"), "{bytes}");
    }

    #[test]
    fn the_log_budget_drops_past_its_rate() {
        let budget = LogBudget::new("op (1/1)".into(), 3);
        let taken = (0..10).filter(|_| budget.take()).count();
        assert_eq!(taken, 3);
    }

    #[test]
    fn caps_come_from_the_configuration() {
        let mut config = Configuration::default();
        config.set(keys::GUEST_STATE_MAX_VALUE_SIZE, "1024");
        let caps = GuestCaps::from_config(&config).unwrap();
        assert_eq!(caps.state_value_bytes, 1024);
        assert_eq!(caps.timers, GuestCaps::default().timers);
        config.set(keys::GUEST_TIMERS_MAX_COUNT, "many");
        assert!(GuestCaps::from_config(&config).unwrap_err().to_string().contains(keys::GUEST_TIMERS_MAX_COUNT));
        let e = CapExceeded::bytes("a keyed-state value", 100, 10, keys::GUEST_STATE_MAX_VALUE_SIZE);
        assert_eq!(
            e.to_string(),
            "a keyed-state value: 100 bytes exceeds the limit of 10 bytes (raise weir.guest.state.max-value-size to allow more)"
        );
    }
}
