//! Java's `Float.toString` and `Instant.toString`, for the records' `Display` implementations.

use core::fmt::{self, Write};

/// Writes `f` as Java's `Float.toString(f)` does (JDK 19 and later, which print the shortest
/// decimal that rounds to `f`, with at least two significant digits).
///
/// JDK 18 and earlier occasionally print one digit more (e.g. `1.23456792E8` for `1.2345679E8`);
/// the values of the generated rides and fares print identically on JDK 17 and JDK 25.
pub(crate) fn write_java_float(out: &mut impl Write, f: f32) -> fmt::Result {
    if f.is_nan() {
        return out.write_str("NaN");
    }
    if f.is_infinite() {
        return out.write_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if f.is_sign_negative() {
        out.write_char('-')?;
    }
    let a = f.abs();
    if a == 0.0 {
        return out.write_str("0.0");
    }
    // Shortest round-trip digits from Rust's formatter: "d.ddde-x" or "de-x".
    let mut sci = format!("{a:e}");
    if !sci.contains('.') {
        // One significant digit: Java picks the closest two-digit decimal instead.
        sci = format!("{a:.1e}");
    }
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if (1e-3..1e7).contains(&a) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                write!(out, "{digits}{:0<width$}.0", "", width = int_len - digits.len())
            } else {
                write!(out, "{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            write!(out, "0.{:0<width$}{digits}", "", width = (-exp - 1) as usize)
        }
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        write!(out, "{}.{frac}E{exp}", &digits[..1])
    }
}

/// Writes epoch milliseconds as Java's `Instant.toString()` (ISO-8601, UTC): the fraction is left
/// out when it is zero, years beyond 9999 get a `+`.
pub(crate) fn write_java_instant(out: &mut impl Write, epoch_millis: i64) -> fmt::Result {
    let secs = epoch_millis.div_euclid(1000);
    let millis = epoch_millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        write!(out, "+{year}")?;
    } else if year < 0 {
        write!(out, "-{:04}", -year)?;
    } else {
        write!(out, "{year:04}")?;
    }
    write!(out, "-{month:02}-{day:02}T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60)?;
    if millis != 0 {
        write!(out, ".{millis:03}")?;
    }
    out.write_char('Z')
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f32) -> String {
        let mut s = String::new();
        write_java_float(&mut s, f).unwrap();
        s
    }

    fn instant(ms: i64) -> String {
        let mut s = String::new();
        write_java_instant(&mut s, ms).unwrap();
        s
    }

    /// Printed by `Float.toString` on JDK 25 (JDK 17 differs on the two marked values).
    #[test]
    fn floats_print_like_java() {
        let expected: &[(u32, &str)] = &[
            (0x0000_0000, "0.0"),
            (0x8000_0000, "-0.0"),
            (0x38d1_b717, "1.0E-4"),
            (0x3a83_126f, "0.001"),
            (0x3aa1_37f4, "0.00123"),
            (0x4b18_9680, "1.0E7"),
            (0x4b18_967f, "9999999.0"),
            (0x4170_0000, "15.0"),
            (0x7f7f_ffff, "3.4028235E38"),
            (0x7fc0_0000, "NaN"),
            (0x7f80_0000, "Infinity"),
            (0xff80_0000, "-Infinity"),
            (0x0000_0001, "1.4E-45"),
            (0x4ceb_79a3, "1.2345679E8"), // JDK 17: 1.23456792E8
            (0xc293_f1e5, "-73.97245"),
            (0x4222_cccd, "40.7"),
            (0x37a7_c5ac, "2.0E-5"),
            (0x5015_02f9, "1.0E10"),
            (0x0080_0000, "1.1754944E-38"), // JDK 17: 1.17549435E-38
            (0x4640_e6b6, "12345.678"),
        ];
        for &(bits, text) in expected {
            assert_eq!(float(f32::from_bits(bits)), text, "bits {bits:#010x}");
        }
    }

    /// Printed by `Instant.ofEpochMilli(ms).toString()` on JDK 17.
    #[test]
    fn instants_print_like_java() {
        let expected: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (123, "1970-01-01T00:00:00.123Z"),
            (1_577_880_000_000, "2020-01-01T12:00:00Z"),
            (1_577_880_020_100, "2020-01-01T12:00:20.100Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-62_135_596_800_000, "0001-01-01T00:00:00Z"),
            (-62_135_596_800_001, "0000-12-31T23:59:59.999Z"),
            (-62_198_755_200_000, "-0001-01-01T00:00:00Z"),
            (-100_000_000_000_000, "-1199-02-15T14:13:20Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800_000, "+10000-01-01T00:00:00Z"),
        ];
        for &(ms, text) in expected {
            assert_eq!(instant(ms), text, "millis {ms}");
        }
    }
}
