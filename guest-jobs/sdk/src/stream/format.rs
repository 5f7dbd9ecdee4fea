//! How records are read from a connector ([`DeserializationSchema`]) and written to one
//! ([`SerializationSchema`]) — JSON, text, raw bytes — and how typed records travel between
//! operators (postcard, see [`Data`]).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A type that can flow through a typed stream: records travel between operators encoded with
/// serde (in postcard's compact binary form), so any `Serialize + DeserializeOwned` type is one.
pub trait Data: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Data for T {}

/// Encodes a record for the next operator, appending to `out`.
#[inline]
pub(crate) fn encode_wire<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    postcard::serialize_with_flavor(value, WireFlavor(out))
        .map_err(|e| format!("cannot encode a record for the next operator: {e}"))
}

/// Appends `bytes` to `out`. A record's fields are a few bytes each, and in a component a
/// `memcpy` of unknown length is a call out of the guest (wasm's `memory.copy` runs in the
/// host), which costs more than the copy: up to 32 bytes are written as 8-byte words instead
/// (docs/PERFORMANCE.md).
#[inline]
pub(crate) fn extend_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 32 {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(n + 8);
    let len = out.len();
    let word = |at: usize| -> [u8; 8] { bytes[at..at + 8].try_into().unwrap_or_default() };
    let full = n & !7;
    let mut tail = 0u64;
    for &b in bytes[full..].iter().rev() {
        tail = (tail << 8) | u64::from(b);
    }
    // SAFETY: `reserve` made room for `n + 8` bytes past `len`; every word below is written
    // at an offset of at most `full <= n` from there, so it ends within that room, and the
    // first `n` bytes written are `bytes`, so the new length covers initialized bytes only.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        if n >= 8 {
            dst.cast::<[u8; 8]>().write_unaligned(word(0));
        }
        if n >= 16 {
            dst.add(8).cast::<[u8; 8]>().write_unaligned(word(8));
        }
        if n >= 24 {
            dst.add(16).cast::<[u8; 8]>().write_unaligned(word(16));
        }
        if n >= 32 {
            dst.add(24).cast::<[u8; 8]>().write_unaligned(word(24));
        }
        dst.add(full).cast::<[u8; 8]>().write_unaligned(tail.to_le_bytes());
        out.set_len(len + n);
    }
}

/// Postcard's output into a `Vec`, appending each field as [`extend_short`] does (postcard's
/// own `Extend` flavor goes through an iterator per byte and per varint).
struct WireFlavor<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for WireFlavor<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        extend_short(self.0, data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes a record sent by the previous operator.
pub(crate) fn decode_wire<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode a record from the previous operator: {e}"))
}

/// How a source's records (key and value bytes) become typed values (Flink's
/// `DeserializationSchema`).
pub trait DeserializationSchema<T>: 'static {
    /// Decodes one record. An error skips the record (counted in `numRecordsMalformed`) unless
    /// [`fails_on_malformed`](Self::fails_on_malformed) says it fails the job.
    fn decode(&self, key: &[u8], value: &[u8]) -> Result<T, String>;

    /// Whether a record that does not decode fails the job instead of being skipped.
    fn fails_on_malformed(&self) -> bool {
        false
    }
}

/// How typed values become a sink's records (Flink's `SerializationSchema`).
pub trait SerializationSchema<T>: 'static {
    /// Encodes one record: the value into `value`, and a Kafka key into `key` if it has one.
    fn encode(&self, record: &T, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String>;
}

/// JSON values through serde (Flink's `format = 'json'`). A malformed record is skipped and
/// counted unless [`Json::fail_on_parse_errors`] is set (Flink's `json.ignore-parse-errors`
/// set to false).
pub struct Json<T> {
    fail: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> Json<T> {
    /// JSON that skips malformed records.
    pub fn new() -> Self {
        Json { fail: false, _type: PhantomData }
    }

    /// Fails the job on a record that is not valid JSON for `T`.
    pub fn fail_on_parse_errors(mut self) -> Self {
        self.fail = true;
        self
    }
}

impl<T> Default for Json<T> {
    fn default() -> Self {
        Json::new()
    }
}

impl<T: DeserializeOwned + 'static> DeserializationSchema<T> for Json<T> {
    fn decode(&self, _key: &[u8], value: &[u8]) -> Result<T, String> {
        serde_json::from_slice(value).map_err(|e| format!("malformed JSON record: {e}"))
    }

    fn fails_on_malformed(&self) -> bool {
        self.fail
    }
}

impl<T: Serialize + 'static> SerializationSchema<T> for Json<T> {
    fn encode(&self, record: &T, _key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(value, record).map_err(|e| format!("cannot write a record as JSON: {e}"))
    }
}

/// UTF-8 text: one record per value, as a `String`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Text;

impl DeserializationSchema<String> for Text {
    fn decode(&self, _key: &[u8], value: &[u8]) -> Result<String, String> {
        String::from_utf8(value.to_vec()).map_err(|e| format!("a record is not UTF-8 text: {e}"))
    }
}

impl SerializationSchema<String> for Text {
    fn encode(&self, record: &String, _key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String> {
        value.extend_from_slice(record.as_bytes());
        Ok(())
    }
}

/// The record's value bytes as they are (Flink's `format = 'raw'`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Raw;

impl DeserializationSchema<Vec<u8>> for Raw {
    fn decode(&self, _key: &[u8], value: &[u8]) -> Result<Vec<u8>, String> {
        Ok(value.to_vec())
    }
}

impl SerializationSchema<Vec<u8>> for Raw {
    fn encode(&self, record: &Vec<u8>, _key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String> {
        value.extend_from_slice(record);
        Ok(())
    }
}

/// A serialization that also writes a Kafka key, computed from each record by `key`.
pub struct Keyed<F, K> {
    format: F,
    key: K,
}

impl<F, K> Keyed<F, K> {
    /// Writes records with `format` and keys with `key` (the key's UTF-8 bytes).
    pub fn new(format: F, key: K) -> Self {
        Keyed { format, key }
    }
}

impl<T, F: SerializationSchema<T>, K: Fn(&T) -> String + 'static> SerializationSchema<T> for Keyed<F, K> {
    fn encode(&self, record: &T, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String> {
        key.extend_from_slice((self.key)(record).as_bytes());
        self.format.encode(record, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Click {
        page: String,
        n: u32,
    }

    #[test]
    fn json_round_trips_and_rejects_what_is_not_json() {
        let json = Json::<Click>::new();
        let (mut key, mut value) = (Vec::new(), Vec::new());
        json.encode(&Click { page: "/a".into(), n: 3 }, &mut key, &mut value).unwrap();
        assert_eq!(value, br#"{"page":"/a","n":3}"#);
        assert!(key.is_empty());
        assert_eq!(json.decode(b"", &value).unwrap(), Click { page: "/a".into(), n: 3 });
        assert!(json.decode(b"", b"{not json").is_err());
        assert!(!json.fails_on_malformed());
        assert!(Json::<Click>::new().fail_on_parse_errors().fails_on_malformed());
    }

    #[test]
    fn short_slices_are_appended_whole() {
        let data: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut out = vec![9u8; 3];
            extend_short(&mut out, &data[..n]);
            assert_eq!(out[..3], [9, 9, 9]);
            assert_eq!(out[3..], data[..n], "{n} bytes");
        }
    }

    #[test]
    fn wire_encoding_round_trips() {
        let mut bytes = Vec::new();
        encode_wire(&("word".to_string(), 7u64), &mut bytes).unwrap();
        assert_eq!(decode_wire::<(String, u64)>(&bytes).unwrap(), ("word".to_string(), 7));
        assert!(decode_wire::<(String, u64)>(&[0xff]).is_err());
    }

    #[test]
    fn keyed_format_writes_the_key() {
        let format = Keyed::new(Text, |s: &String| s.to_uppercase());
        let (mut key, mut value) = (Vec::new(), Vec::new());
        format.encode(&"abc".to_string(), &mut key, &mut value).unwrap();
        assert_eq!((key.as_slice(), value.as_slice()), (&b"ABC"[..], &b"abc"[..]));
    }
}
