//! The playground's date format, `dd-MM-yyyy hh:mm:ss:SSS` in UTC.
//!
//! `hh` is the 12-hour clock (01–12) and the pattern has no AM/PM marker, so a written time
//! names two instants 12 hours apart. Flink's job reads every time as AM, which makes all events
//! between 12:00 and 24:00 of event time late. [`parse`] returns the AM reading and [`resolve`]
//! picks the reading nearest a reference time (the current watermark), so a run longer than 12
//! hours of event time still produces every window.

use alloc::vec::Vec;
use core::fmt;

const MS_PER_DAY: i64 = 86_400_000;
const HALF_DAY_MS: i64 = MS_PER_DAY / 2;

/// A timestamp that does not follow the pattern or names no valid date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampError;

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a date as dd-MM-yyyy hh:mm:ss:SSS")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01, as (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn push2(out: &mut Vec<u8>, v: i64) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `ms` (since the epoch, UTC) as `dd-MM-yyyy hh:mm:ss:SSS`.
pub fn format(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    push2(out, d);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    if y < 0 {
        out.push(b'-');
    }
    let y = y.abs();
    let digits = [y / 1000 % 10, y / 100 % 10, y / 10 % 10, y % 10];
    if y >= 10_000 {
        weir_json::write_i64(out, y / 10_000);
    }
    out.extend(digits.iter().map(|d| b'0' + *d as u8));
    out.push(b' ');
    out.extend_from_slice(&time_of_day(in_day));
}

/// `hh:mm:ss:SSS` (12-hour clock) of `in_day` ms into a day.
fn time_of_day(in_day: i64) -> [u8; 12] {
    let hour12 = (in_day / 3_600_000 + 11) % 12 + 1;
    let digits2 = |v: i64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let [h0, h1] = digits2(hour12);
    let [m0, m1] = digits2(in_day / 60_000 % 60);
    let [s0, s1] = digits2(in_day / 1000 % 60);
    let millis = in_day % 1000;
    let [l1, l2] = digits2(millis % 100);
    [h0, h1, b':', m0, m1, b':', s0, s1, b':', b'0' + (millis / 100) as u8, l1, l2]
}

/// True if `b` has a digit everywhere the pattern has one and its separators everywhere else.
/// Every byte is checked, with no early exit: the answer costs the same for every input.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn has_shape(b: &[u8; 23]) -> bool {
    // The pattern's shape: `0` where a digit goes, the separator elsewhere.
    const SHAPE: &[u8; 23] = b"00-00-0000 00:00:00:000";
    let mut ok = true;
    for (&c, &want) in b.iter().zip(SHAPE) {
        ok &= if want == b'0' { c.wrapping_sub(b'0') <= 9 } else { c == want };
    }
    ok
}

/// [`has_shape`] in two overlapping 16-byte vectors (bytes 0–15 and 7–22), a handful of wasm
/// `simd128` instructions for all 23 bytes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn has_shape(b: &[u8; 23]) -> bool {
    use core::arch::wasm32::*;
    // The separators at their lanes (0 elsewhere), and 0xFF at the separators' lanes.
    const SEP_LO: v128 = u8x16(0, 0, b'-', 0, 0, b'-', 0, 0, 0, 0, b' ', 0, 0, b':', 0, 0);
    const MASK_LO: v128 = u8x16(0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255, 0, 0);
    const SEP_HI: v128 = u8x16(0, 0, 0, b' ', 0, 0, b':', 0, 0, b':', 0, 0, b':', 0, 0, 0);
    const MASK_HI: v128 = u8x16(0, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0);
    // SAFETY: `b` is 23 readable bytes, so 16 bytes from offset 0 and from offset 7 are in it;
    // `v128_load` has no alignment requirement.
    let (lo, hi) = unsafe { (v128_load(b.as_ptr().cast()), v128_load(b[7..].as_ptr().cast())) };
    let check = |v: v128, sep: v128, mask: v128| {
        let digit = u8x16_le(u8x16_sub(v, u8x16_splat(b'0')), u8x16_splat(9));
        v128_bitselect(u8x16_eq(v, sep), digit, mask)
    };
    u8x16_all_true(v128_and(check(lo, SEP_LO, MASK_LO), check(hi, SEP_HI, MASK_HI)))
}

/// The value of the decimal digits `b[at..at + N]`; meaningless (but no panic) unless
/// [`has_shape`] holds.
#[inline(always)]
fn number<const N: usize>(b: &[u8; 23], at: usize) -> i64 {
    let mut v = 0;
    for &c in &b[at..at + N] {
        v = v * 10 + c.wrapping_sub(b'0') as i64;
    }
    v
}

/// Days since the epoch of the date in `b[0..10]` (`dd-MM-yyyy`, shape already checked).
fn days_of_date(b: &[u8; 23]) -> Result<i64, TimestampError> {
    let (d, m, y) = (number::<2>(b, 0), number::<2>(b, 3), number::<4>(b, 6));
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(TimestampError),
    };
    if d < 1 || d > days_in_month {
        return Err(TimestampError);
    }
    Ok(days_from_civil(y, m, d))
}

/// Reads `dd-MM-yyyy hh:mm:ss:SSS` timestamps one after another, fast: the shape is checked in
/// one pass, the time of day read without branches, and the date (the costly part, and the same
/// for a whole day of events) converted only when it differs from the previous one.
#[derive(Clone, Debug, Default)]
pub struct TimestampParser {
    /// The last date read and its days since the epoch.
    last_date: Option<([u8; 10], i64)>,
}

impl TimestampParser {
    /// The AM reading of `b` in ms since the epoch.
    pub fn parse(&mut self, b: &[u8; 23]) -> Result<i64, TimestampError> {
        let (h, min, s, ms) = (number::<2>(b, 11), number::<2>(b, 14), number::<2>(b, 17), number::<3>(b, 20));
        // One test for the whole shape and every range of the time of day.
        if !(has_shape(b) & (h <= 12) & (min <= 59) & (s <= 59)) {
            return Err(TimestampError);
        }
        let mut date = [0u8; 10];
        date.copy_from_slice(&b[..10]);
        let days = match self.last_date {
            Some((last, days)) if last == date => days,
            _ => {
                let days = days_of_date(b)?;
                self.last_date = Some((date, days));
                days
            }
        };
        let hour = h % 12;
        Ok(days * MS_PER_DAY + ((hour * 60 + min) * 60 + s) * 1000 + ms)
    }
}

/// Reads `dd-MM-yyyy hh:mm:ss:SSS` and returns its AM reading in ms since the epoch.
pub fn parse(text: &str) -> Result<i64, TimestampError> {
    let b: &[u8; 23] = text.as_bytes().try_into().map_err(|_| TimestampError)?;
    TimestampParser::default().parse(b)
}

/// Formats timestamps one after another, cheaply when they come in order: the text of the
/// last timestamp is kept, a repeated timestamp is copied, and within the same day only the
/// time of day is written again.
#[derive(Clone, Debug)]
pub struct TimestampFormatter {
    /// The last timestamp formatted, its text, and the first ms of its day.
    last_ms: i64,
    text: [u8; 23],
    day_start: i64,
}

impl Default for TimestampFormatter {
    fn default() -> Self {
        // Day 0 formatted once, so every later call has a day to compare with.
        let mut out = Vec::with_capacity(23);
        format(&mut out, 0);
        let mut text = [0u8; 23];
        text.copy_from_slice(&out);
        TimestampFormatter { last_ms: 0, text, day_start: 0 }
    }
}

impl TimestampFormatter {
    /// The text of `ms`, as [`format`] writes it, for years 0 to 9999 (others are written by
    /// [`format`] into `out` directly).
    #[inline]
    pub fn write(&mut self, out: &mut Vec<u8>, ms: i64) {
        if ms != self.last_ms {
            let in_day = ms - self.day_start;
            if (0..MS_PER_DAY).contains(&in_day) {
                self.text[11..].copy_from_slice(&time_of_day(in_day));
            } else {
                let mut full = Vec::with_capacity(24);
                format(&mut full, ms);
                let Ok(text) = <[u8; 23]>::try_from(full.as_slice()) else {
                    // A year outside 0..=9999 has another width: not cached.
                    out.extend_from_slice(&full);
                    return;
                };
                self.text = text;
                self.day_start = ms - ms.rem_euclid(MS_PER_DAY);
            }
            self.last_ms = ms;
        }
        out.extend_from_slice(&self.text);
    }
}

/// Picks, of the two instants a 12-hour reading names (`am` and 12 hours later), the one
/// nearest `reference`; with no reference, the AM reading (Flink's behaviour).
pub fn resolve(am: i64, reference: Option<i64>) -> i64 {
    match reference {
        Some(r) if (am + HALF_DAY_MS - r).abs() < (am - r).abs() => am + HALF_DAY_MS,
        _ => am,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn fmt(ms: i64) -> String {
        let mut out = Vec::new();
        format(&mut out, ms);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_like_simple_date_format_in_utc() {
        assert_eq!(fmt(0), "01-01-1970 12:00:00:000");
        assert_eq!(fmt(13 * 3_600_000 + 5), "01-01-1970 01:00:00:005");
        assert_eq!(fmt(15_000), "01-01-1970 12:00:15:000");
        assert_eq!(fmt(1_700_000_000_123), "14-11-2023 10:13:20:123");
        assert_eq!(fmt(951_782_400_000), "29-02-2000 12:00:00:000");
    }

    #[test]
    fn parse_gives_the_am_reading() {
        assert_eq!(parse("01-01-1970 12:00:00:000"), Ok(0));
        assert_eq!(parse("01-01-1970 01:00:00:005"), Ok(3_600_005));
        assert_eq!(parse("14-11-2023 10:13:20:123"), Ok(1_699_956_800_123));
        for bad in [
            "",
            "01-01-1970 13:00:00:000",
            "32-01-1970 12:00:00:000",
            "01-13-1970 12:00:00:000",
            "01/01/1970 12:00:00:000",
            "1-1-1970 12:00:00:000",
        ] {
            assert_eq!(parse(bad), Err(TimestampError), "{bad}");
        }
    }

    #[test]
    fn every_instant_round_trips_near_its_watermark() {
        // A day and a half of event time, in the generator's steps, read back against a
        // watermark 200 ms behind: every instant comes back exactly.
        let mut ms = 0;
        while ms < 36 * 3_600_000 {
            let mut out = Vec::new();
            format(&mut out, ms);
            let am = parse(core::str::from_utf8(&out).unwrap()).unwrap();
            assert_eq!(resolve(am, Some(ms - 201)), ms);
            ms += 3_599_985;
        }
        assert_eq!(resolve(0, None), 0);
    }

    #[test]
    fn the_formatter_writes_what_format_writes() {
        let mut formatter = TimestampFormatter::default();
        // In order with repeats, across days, backwards, and far away.
        let mut times: Vec<i64> = (0..20_000).map(|n| n / 6 * 15).collect();
        times.extend((0..200).map(|n| n * 3_599_999 + 7));
        times.extend([86_399_999, 86_400_000, 5, -1, -86_400_001, 1_700_000_000_123, 253_402_300_800_000, 12]);
        for ms in times {
            let mut got = Vec::new();
            formatter.write(&mut got, ms);
            let mut want = Vec::new();
            format(&mut want, ms);
            assert_eq!(got, want, "{ms}");
        }
    }

    #[test]
    fn the_parser_checks_every_byte_and_caches_only_good_dates() {
        let mut parser = TimestampParser::default();
        assert_eq!(parser.parse(b"14-11-2023 10:13:20:123"), Ok(1_699_956_800_123));
        assert_eq!(parser.parse(b"14-11-2023 10:13:20:124"), Ok(1_699_956_800_124));
        let good = *b"14-11-2023 10:13:20:123";
        for at in 0..23 {
            for bad in [b'/', b':', b'a', b' ', 0, 0xff] {
                let mut b = good;
                if b[at] == bad {
                    continue;
                }
                b[at] = bad;
                assert_eq!(parser.parse(&b), Err(TimestampError), "{}", String::from_utf8_lossy(&b));
            }
        }
        assert_eq!(parser.parse(b"30-02-2024 10:13:20:123"), Err(TimestampError));
        assert_eq!(parser.parse(b"29-02-2024 12:59:59:999"), Ok(1_709_168_399_999));
        assert_eq!(parser.parse(b"29-02-2023 12:00:00:000"), Err(TimestampError));
        assert_eq!(parser.parse(b"14-11-2023 10:60:20:123"), Err(TimestampError));
    }
}
