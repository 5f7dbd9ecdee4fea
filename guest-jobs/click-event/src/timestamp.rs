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
    let hour24 = in_day / 3_600_000;
    let hour12 = if hour24 % 12 == 0 { 12 } else { hour24 % 12 };
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
    push2(out, hour12);
    out.push(b':');
    push2(out, in_day / 60_000 % 60);
    out.push(b':');
    push2(out, in_day / 1000 % 60);
    out.push(b':');
    let millis = in_day % 1000;
    out.push(b'0' + (millis / 100) as u8);
    push2(out, millis % 100);
}

fn digits(b: &[u8]) -> Result<i64, TimestampError> {
    let mut v = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(TimestampError);
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Ok(v)
}

/// Reads `dd-MM-yyyy hh:mm:ss:SSS` and returns its AM reading in ms since the epoch.
pub fn parse(text: &str) -> Result<i64, TimestampError> {
    let b = text.as_bytes();
    if b.len() != 23 || b[2] != b'-' || b[5] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' || b[19] != b':'
    {
        return Err(TimestampError);
    }
    let (d, m, y) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..10])?);
    let (h, min, s, ms) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?, digits(&b[20..23])?);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(TimestampError),
    };
    if d < 1 || d > days_in_month || h > 12 || min > 59 || s > 59 {
        return Err(TimestampError);
    }
    let hour = h % 12;
    Ok(days_from_civil(y, m, d) * MS_PER_DAY + ((hour * 60 + min) * 60 + s) * 1000 + ms)
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
}
