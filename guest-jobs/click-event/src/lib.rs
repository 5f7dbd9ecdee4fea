//! The Operations Playground's records: the click events the generator writes to `input` and
//! the click statistics the Click Event Count job writes to `output`.
//!
//! Both the host (`weir generator` and the datagen source) and the guest job use this crate,
//! so the two sides agree on every byte.
//!
//! ```text
//! input:  {"timestamp":"01-01-1970 12:00:00:000","page":"/help"}
//! output: {"windowStart":"01-01-1970 12:00:00:000","windowEnd":"01-01-1970 12:00:15:000","page":"/help","count":1000}
//! ```
#![no_std]

extern crate alloc;

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

pub mod timestamp;

/// The pages, in the order the generator cycles through them.
pub const PAGES: [&str; 6] = ["/help", "/index", "/shop", "/jobs", "/about", "/news"];

/// The size of the job's tumbling windows.
pub const WINDOW_SIZE_MS: i64 = 15_000;

/// How many events of each page fall into every window.
pub const EVENTS_PER_WINDOW: i64 = 1000;

/// How far a page's own clock advances per event of that page.
pub const TIMESTAMP_STEP_MS: i64 = WINDOW_SIZE_MS / EVENTS_PER_WINDOW;

/// The `n`-th event (0-based) of the generator's fixed sequence: pages round-robin, each page
/// with its own clock starting at the epoch and advancing [`TIMESTAMP_STEP_MS`] per event, so
/// every window holds exactly [`EVENTS_PER_WINDOW`] events per page.
pub fn nth_event(n: u64) -> (i64, &'static str) {
    let pages = PAGES.len() as u64;
    ((n / pages) as i64 * TIMESTAMP_STEP_MS, PAGES[(n % pages) as usize])
}

/// Appends a click event as the generator writes it.
pub fn write_event(out: &mut Vec<u8>, timestamp_ms: i64, page: &str) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp::format(out, timestamp_ms);
    out.extend_from_slice(b"\",\"page\":");
    weir_json::write_str(out, page);
    out.push(b'}');
}

/// Appends the statistics of one window, fields in the playground's order.
pub fn write_statistics(out: &mut Vec<u8>, window_start: i64, window_end: i64, page: &str, count: i64) {
    out.extend_from_slice(b"{\"windowStart\":\"");
    timestamp::format(out, window_start);
    out.extend_from_slice(b"\",\"windowEnd\":\"");
    timestamp::format(out, window_end);
    out.extend_from_slice(b"\",\"page\":");
    weir_json::write_str(out, page);
    out.extend_from_slice(b",\"count\":");
    weir_json::write_i64(out, count);
    out.push(b'}');
}

/// A click event read from JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickEvent<'a> {
    /// The timestamp as read on the 12-hour clock without AM/PM: the AM reading. Resolve it
    /// with [`timestamp::resolve`].
    pub timestamp_am: i64,
    pub page: Cow<'a, str>,
}

/// Why a record is not a click event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventError {
    Json(weir_json::Error),
    MissingField(&'static str),
    WrongType(&'static str),
    Timestamp(timestamp::TimestampError),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Json(e) => e.fmt(f),
            EventError::MissingField(name) => write!(f, "missing field \"{name}\""),
            EventError::WrongType(name) => write!(f, "field \"{name}\" is not a string"),
            EventError::Timestamp(e) => write!(f, "field \"timestamp\": {e}"),
        }
    }
}

/// Reads a click event. Fields other than `timestamp` and `page` are ignored.
pub fn parse_event(json: &[u8]) -> Result<ClickEvent<'_>, EventError> {
    let mut ts = None;
    let mut page = None;
    for field in weir_json::fields(json) {
        let (name, value) = field.map_err(EventError::Json)?;
        if name.eq_str("timestamp") {
            ts = Some(value.as_str().ok_or(EventError::WrongType("timestamp"))?);
        } else if name.eq_str("page") {
            page = Some(value.as_str().ok_or(EventError::WrongType("page"))?);
        }
    }
    let ts = ts.ok_or(EventError::MissingField("timestamp"))?;
    let page = page.ok_or(EventError::MissingField("page"))?;
    let text = ts.decode().map_err(EventError::Json)?;
    let timestamp_am = timestamp::parse(&text).map_err(EventError::Timestamp)?;
    Ok(ClickEvent { timestamp_am, page: page.decode().map_err(EventError::Json)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn sequence_puts_1000_events_of_each_page_in_every_window() {
        let mut counts = [0i64; 6];
        for n in 0..6000 * 3 {
            let (ts, page) = nth_event(n);
            if ts / WINDOW_SIZE_MS == 1 {
                counts[PAGES.iter().position(|p| *p == page).unwrap()] += 1;
            }
        }
        assert_eq!(counts, [1000; 6]);
        assert_eq!(nth_event(0), (0, "/help"));
        assert_eq!(nth_event(7), (15, "/index"));
    }

    #[test]
    fn event_json_matches_the_playground() {
        let mut out = Vec::new();
        write_event(&mut out, 0, "/help");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"timestamp":"01-01-1970 12:00:00:000","page":"/help"}"#
        );
        let event = parse_event(&out).unwrap();
        assert_eq!(event, ClickEvent { timestamp_am: 0, page: Cow::Borrowed("/help") });
        out.clear();
        write_statistics(&mut out, 0, 15_000, "/help", 1000);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"windowStart":"01-01-1970 12:00:00:000","windowEnd":"01-01-1970 12:00:15:000","page":"/help","count":1000}"#
        );
    }

    #[test]
    fn malformed_events_are_errors() {
        assert!(matches!(parse_event(b"nope"), Err(EventError::Json(_))));
        assert_eq!(parse_event(br#"{"page":"/a"}"#), Err(EventError::MissingField("timestamp")));
        assert_eq!(parse_event(br#"{"timestamp":"01-01-1970 12:00:00:000"}"#), Err(EventError::MissingField("page")));
        assert_eq!(parse_event(br#"{"timestamp":5,"page":"/a"}"#), Err(EventError::WrongType("timestamp")));
        assert!(matches!(
            parse_event(br#"{"timestamp":"31-02-1970 12:00:00:000","page":"/a"}"#),
            Err(EventError::Timestamp(_))
        ));
        let ok = parse_event(br#" {"page":"/a","extra":[1],"timestamp":"01-01-1970 01:00:00:000"} "#).unwrap();
        assert_eq!(ok.timestamp_am, 3_600_000);
    }
}
