//! Clocks and timers.

use crate::host::{time as host_time, timers as host_timers};

pub use crate::bindings::weir::job::types::{TimeDomain, Timer};

/// The minimum timestamp: no watermark yet, or no timestamp.
pub const MIN_TIMESTAMP: i64 = i64::MIN;

/// The subtask's current event-time watermark ([`MIN_TIMESTAMP`] before the first).
pub fn current_watermark() -> i64 {
    host_time::current_watermark()
}

/// Wall-clock milliseconds since the epoch.
pub fn current_processing_time() -> i64 {
    host_time::current_processing_time()
}

/// The current time in `domain`: the watermark or the wall clock.
pub fn now(domain: TimeDomain) -> i64 {
    match domain {
        TimeDomain::EventTime => current_watermark(),
        TimeDomain::ProcessingTime => current_processing_time(),
    }
}

/// Blocks this subtask for `millis` ms without counting against the host's per-call time limit.
pub fn sleep(millis: u64) {
    host_time::sleep(millis)
}

/// Registers a timer for (key, namespace) at `time` in `domain`.
pub fn register_timer(domain: TimeDomain, key: &[u8], namespace: &[u8], time: i64) {
    match domain {
        TimeDomain::EventTime => host_timers::register_event_time_timer(key, namespace, time),
        TimeDomain::ProcessingTime => host_timers::register_processing_time_timer(key, namespace, time),
    }
}

/// Deletes a timer registered with [`register_timer`].
pub fn delete_timer(domain: TimeDomain, key: &[u8], namespace: &[u8], time: i64) {
    match domain {
        TimeDomain::EventTime => host_timers::delete_event_time_timer(key, namespace, time),
        TimeDomain::ProcessingTime => host_timers::delete_processing_time_timer(key, namespace, time),
    }
}
