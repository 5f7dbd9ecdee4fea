//! How results are printed: `flink list`'s sections and job lines, and `flink info`'s plan JSON
//! pretty-printed the way Flink's Jackson `DefaultPrettyPrinter` does it.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// One job of `GET /jobs/overview`, as `flink list` uses it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct JobStatusMessage {
    /// The job id.
    pub jid: String,
    /// The job name.
    pub name: String,
    /// The job status (`RUNNING`, `FINISHED`, ...).
    pub state: String,
    /// Epoch milliseconds.
    #[serde(rename = "start-time")]
    pub start_time: i64,
}

/// Which sections `flink list` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListSelection {
    /// Running, restarting and other non-terminal jobs.
    pub running: bool,
    /// Created and initializing jobs.
    pub scheduled: bool,
    /// Also the finished, cancelled and failed ones.
    pub all: bool,
}

const FOOTER: &str = "--------------------------------------------------------------";

/// `flink list`'s lines after `Waiting for response...` (`CliFrontend.listJobs`).
/// `utc_offset_seconds` gives the client's offset from UTC at an epoch second.
pub fn job_list(
    jobs: &[JobStatusMessage],
    selection: ListSelection,
    utc_offset_seconds: impl Fn(i64) -> i64,
) -> Vec<String> {
    let (mut running, mut scheduled, mut terminated) = (Vec::new(), Vec::new(), Vec::new());
    for job in jobs {
        match job.state.as_str() {
            "CREATED" | "INITIALIZING" => scheduled.push(job),
            "FINISHED" | "CANCELED" | "FAILED" => terminated.push(job),
            _ => running.push(job),
        }
    }
    let mut lines = Vec::new();
    let mut section = |jobs: Vec<&JobStatusMessage>, header: &str, empty: Option<&str>| {
        if jobs.is_empty() {
            lines.extend(empty.map(String::from));
            return;
        }
        lines.push(header.to_string());
        lines.extend(sorted(jobs).into_iter().map(|job| job_line(job, &utc_offset_seconds)));
        lines.push(FOOTER.to_string());
    };
    if selection.running || selection.all {
        section(running, "------------------ Running/Restarting Jobs -------------------", Some("No running jobs."));
    }
    if selection.scheduled || selection.all {
        section(
            scheduled,
            "----------------------- Scheduled Jobs -----------------------",
            Some("No scheduled jobs."),
        );
    }
    if selection.all {
        section(terminated, "---------------------- Terminated Jobs -----------------------", None);
    }
    lines
}

/// Flink groups the jobs by status (ordered by name, ignoring case) and then sorts them by start
/// time with a stable sort, so jobs started in the same millisecond stay in status order.
fn sorted(mut jobs: Vec<&JobStatusMessage>) -> Vec<&JobStatusMessage> {
    jobs.sort_by_key(|job| job.state.to_lowercase());
    jobs.sort_by_key(|job| job.start_time);
    jobs
}

/// `dd.MM.yyyy HH:mm:ss : <jid> : <name> (<STATE>)`.
fn job_line(job: &JobStatusMessage, utc_offset_seconds: impl Fn(i64) -> i64) -> String {
    let seconds = job.start_time.div_euclid(1000);
    let local = seconds + utc_offset_seconds(seconds);
    format!("{} : {} : {} ({})", date_time(local), job.jid, job.name, job.state)
}

/// `dd.MM.yyyy HH:mm:ss` of seconds since the epoch (already shifted to local time).
pub fn date_time(seconds: i64) -> String {
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{day:02}.{month:02}.{year:04} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The local time zone's offset from UTC at an epoch second, as the C library sees it (`TZ`,
/// else `/etc/localtime`; UTC when neither says otherwise): Java's `SimpleDateFormat` in
/// Flink's `list` uses the JVM's default time zone, which comes from the same places.
// `tm_gmtoff` is a C long: 64 bits here, so the conversion is a no-op, but 32 bits elsewhere.
#[allow(clippy::useless_conversion)]
pub fn local_utc_offset(seconds: i64) -> i64 {
    // `time_t` is 64 bits wide on the platforms Weir builds for.
    let time = seconds as libc::time_t;
    // SAFETY: `localtime_r` only writes the `tm` we own; it returns null on failure, which we check.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return 0;
        }
        i64::from(tm.tm_gmtoff)
    }
}

/// A JSON value that keeps its objects' keys in the order they arrived (the workspace's
/// `serde_json::Value` sorts them), so `info` prints the plan as the server wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderedJson {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<OrderedJson>),
    /// An object, in arrival order.
    Object(Vec<(String, OrderedJson)>),
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = OrderedJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Null)
            }
            fn visit_none<E>(self) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<OrderedJson, E> {
                Ok(serde_json::Number::from_f64(v).map_or(OrderedJson::Null, OrderedJson::Number))
            }
            fn visit_str<E>(self, v: &str) -> Result<OrderedJson, E> {
                Ok(OrderedJson::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<OrderedJson, E> {
                Ok(OrderedJson::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OrderedJson::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedJson::Object(entries))
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

impl OrderedJson {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&OrderedJson> {
        match self {
            OrderedJson::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Jackson's `DefaultPrettyPrinter` layout: objects one entry a line, indented two spaces a
    /// level, `"key" : value`; arrays inline (`[ {`, `}, {`, `} ]`); empty ones `{ }` and `[ ]`.
    pub fn to_jackson_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    fn write_pretty(&self, out: &mut String, nesting: usize) {
        match self {
            OrderedJson::Null => out.push_str("null"),
            OrderedJson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            OrderedJson::Number(n) => out.push_str(&n.to_string()),
            OrderedJson::String(s) => write_string(out, s),
            OrderedJson::Array(items) if items.is_empty() => out.push_str("[ ]"),
            OrderedJson::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    // Jackson indents arrays inline, so their elements keep the enclosing level.
                    item.write_pretty(out, nesting);
                }
                out.push_str(" ]");
            }
            OrderedJson::Object(entries) if entries.is_empty() => out.push_str("{ }"),
            OrderedJson::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    out.push_str(&"  ".repeat(nesting + 1));
                    write_string(out, key);
                    out.push_str(" : ");
                    value.write_pretty(out, nesting + 1);
                }
                out.push('\n');
                out.push_str(&"  ".repeat(nesting));
                out.push('}');
            }
        }
    }
}

/// A JSON string as Jackson escapes it (control characters as `\uXXXX` with upper-case hex,
/// unless they have a short form).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON array of strings as `a, b` (`none` when empty).
pub fn json_list(value: &serde_json::Value) -> String {
    let items: Vec<&str> = value.as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

/// What `weir upgrade --dry-run` prints: the change, operator by operator.
pub fn upgrade_dry_run(job_id: &str, answer: &serde_json::Value) -> String {
    let mode = match answer["mode"].as_str() {
        Some("IN_PLACE") => "in place, at a checkpoint barrier (no restart)",
        _ => "by redeploying the job's new graph from a snapshot (the job id stays)",
    };
    let hash = answer["component"]["hash"].as_str().unwrap_or_default();
    let mut out = format!(
        "Dry run: job \"{job_id}\" would be upgraded {mode} to {} ({}).\n",
        answer["component"]["name"].as_str().unwrap_or_default(),
        &hash[..hash.len().min(12)]
    );
    for v in answer["vertices"].as_array().into_iter().flatten() {
        let change = if v["changes"] == true { "new code" } else { "unchanged" };
        out.push_str(&format!(
            "  {:<32} {:<28} {change}\n",
            v["name"].as_str().unwrap_or_default(),
            v["uid"].as_str().unwrap_or_default()
        ));
    }
    for (key, what) in [("added-operators", "added"), ("removed-operators", "removed")] {
        let list = json_list(&answer[key]);
        if list != "none" {
            out.push_str(&format!("  operators {what}: {list}\n"));
        }
    }
    out.push_str("Nothing was changed.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's `/jobs/overview` sample plus jobs in other states.
    const OVERVIEW: &str = r#"{"jobs":[
        {"jid":"5e20cb6b0f357591171dfcca2eea09de","name":"Click Event Count","state":"RUNNING","start-time":1563295075000,
         "end-time":-1,"duration":374793,"last-modification":1564467066126,
         "tasks":{"total":4,"created":0,"scheduled":0,"deploying":0,"running":4,"finished":0,"canceling":0,"canceled":0,"failed":0,"reconciling":0,"initializing":0}},
        {"jid":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"Old","state":"CANCELED","start-time":1563200000000},
        {"jid":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","name":"Early","state":"RESTARTING","start-time":1563290000000},
        {"jid":"cccccccccccccccccccccccccccccccc","name":"New","state":"INITIALIZING","start-time":1563300000000}
    ]}"#;

    fn jobs() -> Vec<JobStatusMessage> {
        #[derive(Deserialize)]
        struct Overview {
            jobs: Vec<JobStatusMessage>,
        }
        serde_json::from_str::<Overview>(OVERVIEW).map(|o| o.jobs).unwrap_or_default()
    }

    #[test]
    fn default_list_is_running_and_scheduled() {
        let default = ListSelection { running: true, scheduled: true, all: false };
        // 2019-07-16 16:37:55 UTC, as the reference's sample line shows it.
        assert_eq!(
            job_list(&jobs(), default, |_| 0),
            [
                "------------------ Running/Restarting Jobs -------------------",
                "16.07.2019 15:13:20 : bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb : Early (RESTARTING)",
                "16.07.2019 16:37:55 : 5e20cb6b0f357591171dfcca2eea09de : Click Event Count (RUNNING)",
                "--------------------------------------------------------------",
                "----------------------- Scheduled Jobs -----------------------",
                "16.07.2019 18:00:00 : cccccccccccccccccccccccccccccccc : New (INITIALIZING)",
                "--------------------------------------------------------------",
            ]
        );
    }

    #[test]
    fn empty_sections_and_all() {
        let running_only = ListSelection { running: true, scheduled: false, all: false };
        assert_eq!(job_list(&[], running_only, |_| 0), ["No running jobs."]);
        let scheduled_only = ListSelection { running: false, scheduled: true, all: false };
        assert_eq!(job_list(&jobs()[..1], scheduled_only, |_| 0), ["No scheduled jobs."]);
        let all = ListSelection { running: false, scheduled: false, all: true };
        let lines = job_list(&jobs(), all, |_| 3600);
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[7], "---------------------- Terminated Jobs -----------------------");
        assert_eq!(lines[8], "15.07.2019 15:13:20 : aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa : Old (CANCELED)");
        assert_eq!(job_list(&jobs()[..1], all, |_| 0).len(), 4, "no terminated section without terminated jobs");
    }

    #[test]
    fn dates() {
        assert_eq!(date_time(0), "01.01.1970 00:00:00");
        assert_eq!(date_time(951_782_400), "29.02.2000 00:00:00");
        assert_eq!(date_time(-1), "31.12.1969 23:59:59");
    }

    #[test]
    fn jackson_pretty_printing_keeps_order() {
        let json: OrderedJson = serde_json::from_str(
            r#"{"nodes":[{"id":2,"type":"Map","predecessors":[{"id":1,"ship_strategy":"HASH"}]},{"id":1,"x":{},"y":[],"z":1.5,"s":"a\"b"}],"b":null}"#,
        )
        .unwrap_or(OrderedJson::Null);
        assert_eq!(
            json.to_jackson_pretty(),
            "{\n  \"nodes\" : [ {\n    \"id\" : 2,\n    \"type\" : \"Map\",\n    \"predecessors\" : [ {\n      \"id\" : 1,\n      \"ship_strategy\" : \"HASH\"\n    } ]\n  }, {\n    \"id\" : 1,\n    \"x\" : { },\n    \"y\" : [ ],\n    \"z\" : 1.5,\n    \"s\" : \"a\\\"b\"\n  } ],\n  \"b\" : null\n}"
        );
    }
}
