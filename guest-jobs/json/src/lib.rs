//! Small, fast JSON for flat records: read the fields of one object without building a tree,
//! and write strings with the escapes JSON needs.
//!
//! Records such as `{"timestamp":"01-01-1970 12:00:00:000","page":"/help"}` are read millions
//! of times a second; a general JSON library allocates a tree (or a struct through a visitor)
//! per record, while [`fields`] walks the bytes once and borrows what it finds. Nested objects
//! and arrays are validated structurally and returned as raw slices.
#![no_std]

extern crate alloc;

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why some bytes are not the JSON object expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// Byte offset where reading stopped.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl core::error::Error for Error {}

/// A JSON string as it appears between its quotes, escapes not yet resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Str<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> Str<'a> {
    /// The string's text, unescaping only when it has escapes.
    pub fn decode(&self) -> Result<Cow<'a, str>, Error> {
        let invalid = |reason| Error { offset: 0, reason };
        if !self.escaped {
            return core::str::from_utf8(self.raw).map(Cow::Borrowed).map_err(|_| invalid("string is not UTF-8"));
        }
        let mut out: Vec<u8> = Vec::with_capacity(self.raw.len());
        let mut i = 0;
        let raw = self.raw;
        while i < raw.len() {
            let b = raw[i];
            if b != b'\\' {
                out.push(b);
                i += 1;
                continue;
            }
            let esc = raw[i + 1];
            i += 2;
            let c = match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = hex4(&raw[i..i + 4]).ok_or(invalid("bad \\u escape"))?;
                    i += 4;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        if raw.len() < i + 6 || raw[i] != b'\\' || raw[i + 1] != b'u' {
                            return Err(invalid("unpaired surrogate"));
                        }
                        let lo = hex4(&raw[i + 2..i + 6]).ok_or(invalid("bad \\u escape"))?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(invalid("unpaired surrogate"));
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    char::from_u32(code).ok_or(invalid("unpaired surrogate"))?
                }
                _ => return Err(invalid("bad escape")),
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        String::from_utf8(out).map(Cow::Owned).map_err(|_| invalid("string is not UTF-8"))
    }

    /// True if the string equals `s` (compares unescaped text).
    pub fn eq_str(&self, s: &str) -> bool {
        if !self.escaped {
            return self.raw == s.as_bytes();
        }
        matches!(self.decode(), Ok(d) if d == s)
    }

    /// The raw bytes between the quotes.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    String(Str<'a>),
    /// The number's text, validated against JSON's number grammar.
    Number(&'a [u8]),
    Bool(bool),
    Null,
    /// A nested object, braces included.
    Object(&'a [u8]),
    /// A nested array, brackets included.
    Array(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<Str<'a>> {
        match self {
            Value::String(s) => Some(*s),
            _ => None,
        }
    }

    /// The value as an integer, if it is an integer number.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => core::str::from_utf8(n).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// Iterates over the fields of the JSON object in `input`.
///
/// The whole input must be one object (surrounding whitespace allowed); anything else is
/// reported as an error by the iterator, which then stops.
pub fn fields(input: &[u8]) -> Fields<'_> {
    Fields { b: input, i: 0, state: FieldsState::Start }
}

/// Iterator returned by [`fields`].
pub struct Fields<'a> {
    b: &'a [u8],
    i: usize,
    state: FieldsState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldsState {
    Start,
    Inside,
    Done,
}

impl<'a> Fields<'a> {
    fn err(&mut self, reason: &'static str) -> Option<Result<(Str<'a>, Value<'a>), Error>> {
        self.state = FieldsState::Done;
        Some(Err(Error { offset: self.i, reason }))
    }

    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn string(&mut self) -> Result<Str<'a>, Error> {
        // At the opening quote.
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    let raw = &self.b[start..self.i];
                    self.i += 1;
                    return Ok(Str { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    match self.b.get(self.i + 1) {
                        Some(b'u') => {
                            if self.b.len() < self.i + 6 || hex4(&self.b[self.i + 2..self.i + 6]).is_none() {
                                return Err(Error { offset: self.i, reason: "bad \\u escape" });
                            }
                            self.i += 6;
                        }
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        _ => return Err(Error { offset: self.i, reason: "bad escape" }),
                    }
                }
                c if c < 0x20 => return Err(Error { offset: self.i, reason: "control character in string" }),
                _ => self.i += 1,
            }
        }
        Err(Error { offset: self.i, reason: "unterminated string" })
    }

    fn number(&mut self) -> Result<&'a [u8], Error> {
        let start = self.i;
        let b = self.b;
        let digits = |i: &mut usize| {
            let s = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > s
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let bad = Error { offset: start, reason: "bad number" };
        if b.get(i) == Some(&b'0') {
            i += 1;
        } else if !digits(&mut i) {
            return Err(bad);
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return Err(bad);
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return Err(bad);
            }
        }
        self.i = i;
        Ok(&b[start..i])
    }

    /// Skips a nested object or array, checking brackets and strings.
    fn nested(&mut self) -> Result<&'a [u8], Error> {
        let start = self.i;
        let mut stack: Vec<u8> = Vec::new();
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    self.string()?;
                    continue;
                }
                open @ (b'{' | b'[') => stack.push(if open == b'{' { b'}' } else { b']' }),
                close @ (b'}' | b']') => {
                    if stack.pop() != Some(close) {
                        return Err(Error { offset: self.i, reason: "mismatched bracket" });
                    }
                    if stack.is_empty() {
                        self.i += 1;
                        return Ok(&self.b[start..self.i]);
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(Error { offset: self.i, reason: "unterminated object or array" })
    }

    fn literal(&mut self, word: &'static [u8], value: Value<'a>) -> Result<Value<'a>, Error> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(Error { offset: self.i, reason: "unexpected character" })
        }
    }

    fn value(&mut self) -> Result<Value<'a>, Error> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'{') => self.nested().map(Value::Object),
            Some(b'[') => self.nested().map(Value::Array),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(Error { offset: self.i, reason: "unexpected character" }),
            None => Err(Error { offset: self.i, reason: "unexpected end" }),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(Str<'a>, Value<'a>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            FieldsState::Done => return None,
            FieldsState::Start => {
                self.ws();
                if self.peek() != Some(b'{') {
                    return self.err("expected an object");
                }
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return self.end();
                }
                self.state = FieldsState::Inside;
            }
            FieldsState::Inside => {
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                    }
                    Some(b'}') => {
                        self.i += 1;
                        return self.end();
                    }
                    _ => return self.err("expected ',' or '}'"),
                }
            }
        }
        if self.peek() != Some(b'"') {
            return self.err("expected a field name");
        }
        let key = match self.string() {
            Ok(k) => k,
            Err(e) => {
                self.state = FieldsState::Done;
                return Some(Err(e));
            }
        };
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("expected ':'");
        }
        self.i += 1;
        self.ws();
        match self.value() {
            Ok(v) => Some(Ok((key, v))),
            Err(e) => {
                self.state = FieldsState::Done;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Fields<'a> {
    fn end(&mut self) -> Option<Result<(Str<'a>, Value<'a>), Error>> {
        self.ws();
        if self.i != self.b.len() {
            return self.err("trailing characters after the object");
        }
        self.state = FieldsState::Done;
        None
    }
}

/// Appends `s` as a JSON string, quotes included.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an integer in decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn all(input: &str) -> Result<Vec<(String, Value<'_>)>, Error> {
        fields(input.as_bytes()).map(|f| f.map(|(k, v)| (k.decode().unwrap().into_owned(), v))).collect()
    }

    #[test]
    fn reads_flat_objects() {
        let got = all(r#" { "a" : "x\"y" , "n":-1.5e3,"t":true,"z":null,"o":{"k":[1,"]"]} , "e":[] } "#).unwrap();
        assert_eq!(got.len(), 6);
        assert_eq!(got[0].1.as_str().unwrap().decode().unwrap(), "x\"y");
        assert_eq!(got[1].1, Value::Number(b"-1.5e3"));
        assert_eq!(got[2].1, Value::Bool(true));
        assert_eq!(got[3].1, Value::Null);
        assert_eq!(got[4].1, Value::Object(br#"{"k":[1,"]"]}"#));
        assert_eq!(got[5].1, Value::Array(b"[]"));
        assert_eq!(all("{}").unwrap(), vec![]);
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1} x",
            "{\"a\":01}",
            "{\"a\":\"\\q\"}",
            "{\"a\":[}",
            "not json",
            "{\"a\":tru}",
        ] {
            assert!(all(bad).is_err(), "{bad:?} should be an error");
        }
    }

    #[test]
    fn unicode_escapes() {
        let got = all(r#"{"k":"\u00e9\ud83d\ude00/"}"#).unwrap();
        assert_eq!(got[0].1.as_str().unwrap().decode().unwrap(), "é😀/");
        assert!(all(r#"{"k":"\ud83d"}"#).unwrap()[0].1.as_str().unwrap().decode().is_err());
    }

    #[test]
    fn writes_strings_and_numbers() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n\u{1}é");
        write_i64(&mut out, -1234);
        write_i64(&mut out, 0);
        write_i64(&mut out, i64::MIN);
        assert_eq!(core::str::from_utf8(&out).unwrap(), "\"a\\\"b\\\\c\\n\\u0001é\"-12340-9223372036854775808");
    }
}
