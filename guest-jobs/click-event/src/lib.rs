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
    out.extend_from_slice(EVENT_HEAD);
    timestamp::format(out, timestamp_ms);
    write_event_tail(out, page);
}

/// Appends what follows an event's timestamp text: `","page":"/help"}`.
fn write_event_tail(out: &mut Vec<u8>, page: &str) {
    out.extend_from_slice(b"\",\"page\":");
    weir_json::write_str(out, page);
    out.push(b'}');
}

/// What every generated event starts with, up to its timestamp's text.
const EVENT_HEAD: &[u8; 14] = b"{\"timestamp\":\"";
/// What comes between the timestamp's text and the page's.
const EVENT_MIDDLE: &[u8; 10] = b"\",\"page\":\"";
/// Where the timestamp's text starts and ends, and where the page's starts.
const TIMESTAMP_AT: usize = EVENT_HEAD.len();
const TIMESTAMP_END: usize = TIMESTAMP_AT + 23;
const PAGE_AT: usize = TIMESTAMP_END + EVENT_MIDDLE.len();

/// Writes the generator's sequence fast: each page's closing text made once, each timestamp
/// formatted incrementally. The bytes are [`write_event`]'s.
#[derive(Clone, Debug)]
pub struct EventWriter {
    timestamps: timestamp::TimestampFormatter,
    /// Per page of [`PAGES`]: `","page":"/help"}`.
    tails: Vec<Vec<u8>>,
}

impl Default for EventWriter {
    fn default() -> Self {
        let tails = PAGES
            .iter()
            .map(|page| {
                let mut tail = Vec::new();
                write_event_tail(&mut tail, page);
                tail
            })
            .collect();
        EventWriter { timestamps: timestamp::TimestampFormatter::default(), tails }
    }
}

impl EventWriter {
    /// Appends the `n`-th event of the sequence (as [`nth_event`] and [`write_event`]).
    #[inline]
    pub fn write_nth(&mut self, out: &mut Vec<u8>, n: u64) {
        let pages = PAGES.len() as u64;
        out.extend_from_slice(EVENT_HEAD);
        self.timestamps.write(out, (n / pages) as i64 * TIMESTAMP_STEP_MS);
        out.extend_from_slice(&self.tails[(n % pages) as usize]);
    }
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

/// Reads click events one after another, fast when they have the generator's layout
/// (`{"timestamp":"<23 bytes>","page":"<plain text>"}`, no spaces or escapes): that is checked
/// and read at fixed offsets with no allocation. Any other JSON goes through [`parse_event`],
/// so the result never depends on which path read it.
#[derive(Clone, Debug, Default)]
pub struct EventReader {
    timestamps: timestamp::TimestampParser,
}

impl EventReader {
    /// Reads a click event, as [`parse_event`] does.
    #[inline]
    pub fn read<'a>(&mut self, json: &'a [u8]) -> Result<ClickEvent<'a>, EventError> {
        match self.read_generated(json) {
            Some(event) => event,
            None => parse_event(json),
        }
    }

    /// The generator's layout read at fixed offsets; `None` if `json` does not have it.
    #[inline]
    fn read_generated<'a>(&mut self, json: &'a [u8]) -> Option<Result<ClickEvent<'a>, EventError>> {
        if json.len() < PAGE_AT + 2
            || json[..TIMESTAMP_AT] != EVENT_HEAD[..]
            || json[TIMESTAMP_END..PAGE_AT] != EVENT_MIDDLE[..]
            || json[json.len() - 2..] != *b"\"}"
        {
            return None;
        }
        let page = &json[PAGE_AT..json.len() - 2];
        if !is_plain_text(page) {
            return None;
        }
        // SAFETY: `is_plain_text` found only ASCII bytes (0x20–0x7e), which are valid UTF-8;
        // checking again costs a call per record (docs/PERFORMANCE.md).
        let page = unsafe { core::str::from_utf8_unchecked(page) };
        let text: &[u8; 23] = json[TIMESTAMP_AT..TIMESTAMP_END].try_into().ok()?;
        Some(match self.timestamps.parse(text) {
            Ok(timestamp_am) => Ok(ClickEvent { timestamp_am, page: Cow::Borrowed(page) }),
            Err(e) => Err(EventError::Timestamp(e)),
        })
    }
}

/// True if every byte of `text` is printable ASCII other than `"` and `\`: a JSON string's
/// contents that need no decoding.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn is_plain_text(text: &[u8]) -> bool {
    text.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
}

/// [`is_plain_text`] 16 bytes at a time with wasm `simd128`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn is_plain_text(text: &[u8]) -> bool {
    use core::arch::wasm32::*;
    let plain = |v: v128| {
        let printable = u8x16_lt(u8x16_sub(v, u8x16_splat(0x20)), u8x16_splat(0x5f));
        v128_andnot(printable, v128_or(u8x16_eq(v, u8x16_splat(b'"')), u8x16_eq(v, u8x16_splat(b'\\'))))
    };
    let mut chunks = text.chunks_exact(16);
    let mut ok = u8x16_splat(0xff);
    for chunk in &mut chunks {
        // SAFETY: the chunk is 16 readable bytes; `v128_load` has no alignment requirement.
        ok = v128_and(ok, plain(unsafe { v128_load(chunk.as_ptr().cast()) }));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [b'a'; 16];
        tail[..rest.len()].copy_from_slice(rest);
        // SAFETY: as above, on a local 16-byte array.
        ok = v128_and(ok, plain(unsafe { v128_load(tail.as_ptr().cast()) }));
    }
    u8x16_all_true(ok)
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
    fn the_writer_and_the_reader_agree_with_the_general_ones() {
        let mut writer = EventWriter::default();
        let mut reader = EventReader::default();
        for n in (0..50_000).chain(1_000_000_000..1_000_000_100) {
            let mut fast = Vec::new();
            writer.write_nth(&mut fast, n);
            let (ts, page) = nth_event(n);
            let mut general = Vec::new();
            write_event(&mut general, ts, page);
            assert_eq!(fast, general, "event {n}");
            assert_eq!(reader.read(&fast), parse_event(&general));
        }
        // Other layouts, escapes and broken timestamps: the general parser's answer.
        for json in [
            &br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/a\"b"}"#[..],
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/\u00e9"}"#,
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/a"} "#,
            b"{\"timestamp\":\"01-01-1970 12:00:00:000\",\"page\":\"/caf\xc3\xa9\"}",
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/a\tb"}"#,
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":""}"#,
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"a very long page name over 16 bytes"}"#,
            br#"{"timestamp":"01-01-1970 13:00:00:000","page":"/a"}"#,
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/a","extra":1}"#,
            br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/a""#,
        ] {
            assert_eq!(reader.read(json), parse_event(json), "{}", String::from_utf8_lossy(json));
        }
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
