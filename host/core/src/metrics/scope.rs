//! Flink's metric scopes and identifiers: which of a subtask's metrics belong to the task and
//! which to its operator, how scope components are sanitised, and how values are written.
//!
//! A TaskManager reports each subtask's metrics as one flat list of names (the task's built-in
//! ones and whatever the guest registered). Flink shows task metrics as `<subtask>.<name>` and
//! operator metrics as `<subtask>.<operator>.<name>`; since Weir never chains, every task has
//! exactly one operator, and the split is by name: the task's I/O, time and buffer metrics are
//! task scope, records and watermarks are both (as in Flink, where the head operator and the
//! task each register them), and everything else — the guest's own metrics, WASM time — is the
//! operator's.

/// Where a metric of a subtask is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `<subtask>.<name>` only.
    Task,
    /// `<subtask>.<operator>.<name>` only.
    Operator,
    /// Under both names.
    Both,
}

/// Metrics that belong to the task only.
const TASK_ONLY: &[&str] = &[
    "numBytesIn",
    "numBytesOut",
    "numBytesInPerSecond",
    "numBytesOutPerSecond",
    "accumulatedBackPressuredTimeMs",
    "accumulatedIdleTimeMs",
    "accumulatedBusyTimeMs",
    "backPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "busyTimeMsPerSecond",
    "isBackPressured",
];

/// Metrics that both the task and its operator have.
const BOTH: &[&str] = &[
    "numRecordsIn",
    "numRecordsOut",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "currentInputWatermark",
    "currentOutputWatermark",
    // A sink writer's count of suppressed records: a record count, as `numRecordsOut` is.
    super::NUM_RECORDS_OUT_DUPLICATES_SKIPPED,
    super::NUM_RECORDS_OUT_PUBLISHED,
    super::NUM_RECORDS_OUT_HELD,
];

/// The task's network buffer metrics share this group prefix.
pub const SHUFFLE_PREFIX: &str = "Shuffle.";

/// Flink truncates operator names in metric scopes to this many characters.
const OPERATOR_NAME_MAX: usize = 80;

/// The scope of a subtask metric called `name`.
pub fn scope_of(name: &str) -> Scope {
    if BOTH.contains(&name) {
        Scope::Both
    } else if TASK_ONLY.contains(&name) || name.starts_with(SHUFFLE_PREFIX) {
        Scope::Task
    } else {
        Scope::Operator
    }
}

/// A scope component as Flink's metric query service writes it: space, `:`, `.` and `,`
/// become `_` (`Source: ClickEvent Source` → `Source__ClickEvent_Source`).
pub fn sanitize(component: &str) -> String {
    component.chars().map(|c| if matches!(c, ' ' | ':' | '.' | ',') { '_' } else { c }).collect()
}

/// The operator component of a metric id: the sanitised name, truncated as Flink truncates it.
pub fn operator_component(name: &str) -> String {
    sanitize(&name.chars().take(OPERATOR_NAME_MAX).collect::<String>())
}

/// True for metrics that describe the present moment (rates, buffer levels, whether the task
/// is backpressured now): once a subtask has ended they are zero, whatever it last reported.
pub fn is_momentary(name: &str) -> bool {
    name.ends_with("PerSecond") || name == "isBackPressured" || name.starts_with(SHUFFLE_PREFIX)
}

/// True for metrics whose value is not a number in Flink (booleans): aggregations skip them.
/// `name` may be a whole id (`0.isBackPressured`).
pub fn is_boolean(name: &str) -> bool {
    name.rsplit('.').next() == Some("isBackPressured")
}

/// True for metrics Flink reports as a `double` (rates, ratios, loads), written with a decimal
/// point even when whole.
fn is_fractional(name: &str) -> bool {
    name.ends_with("PerSecond") || name.ends_with("Usage") || name.ends_with("CPU.Load")
}

/// A metric's value as Flink's REST API writes it (a string): `"true"`/`"false"` for booleans,
/// `"12.5"`/`"0.0"` for doubles, `"1234"` for counts and gauges of whole numbers.
pub fn format_value(name: &str, value: f64) -> String {
    if is_boolean(name) {
        return (value != 0.0).to_string();
    }
    if !value.is_finite() {
        // Java's spelling.
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if is_fractional(name) || value.fract() != 0.0 {
        let text = value.to_string();
        if text.contains('.') { text } else { format!("{text}.0") }
    } else {
        // Whole numbers (longs in Flink), including Long.MIN_VALUE, the watermark before the
        // first one, which an f64 holds exactly.
        // why: `value` is finite and whole here, and every long Flink reports is such an f64.
        #[allow(clippy::cast_possible_truncation)]
        let long = value as i64;
        format!("{long}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_flinks_task_and_operator_groups() {
        assert_eq!(scope_of("numBytesIn"), Scope::Task);
        assert_eq!(scope_of("Shuffle.Netty.Output.Buffers.outPoolUsage"), Scope::Task);
        assert_eq!(scope_of("numRecordsOut"), Scope::Both);
        assert_eq!(scope_of("currentInputWatermark"), Scope::Both);
        assert_eq!(scope_of("numRecordsOutDuplicatesSkipped"), Scope::Both);
        assert_eq!(scope_of("numLateRecordsDropped"), Scope::Operator);
        assert_eq!(scope_of("wasmTimeMsPerSecond"), Scope::Operator);
    }

    #[test]
    fn names_are_sanitised_as_flink_does() {
        assert_eq!(operator_component("Source: ClickEvent Source"), "Source__ClickEvent_Source");
        assert_eq!(operator_component("ClickEventStatistics Sink: Writer"), "ClickEventStatistics_Sink__Writer");
        assert_eq!(sanitize("a.b,c"), "a_b_c");
        assert_eq!(operator_component(&"x".repeat(100)).len(), 80);
    }

    #[test]
    fn values_are_written_as_javas_to_string() {
        assert_eq!(format_value("numRecordsOut", 36000.0), "36000");
        assert_eq!(format_value("numRecordsOutPerSecond", 500.0), "500.0");
        assert_eq!(format_value("numRecordsOutPerSecond", 12.5), "12.5");
        assert_eq!(format_value("Shuffle.Netty.Output.Buffers.outPoolUsage", 1.0), "1.0");
        assert_eq!(format_value("isBackPressured", 1.0), "true");
        assert_eq!(format_value("isBackPressured", 0.0), "false");
        assert_eq!(format_value("0.isBackPressured", 1.0), "true");
        assert_eq!(format_value("0.Shuffle.Netty.Output.Buffers.outPoolUsage", 0.0), "0.0");
        assert_eq!(format_value("currentInputWatermark", i64::MIN as f64), "-9223372036854775808");
        assert_eq!(format_value("currentInputWatermark", 1_700_000_000_123.0), "1700000000123");
    }
}
