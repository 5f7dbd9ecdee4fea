//! [`Str`]: an immutable string kept inline up to 24 bytes, for the short strings records are
//! made of (page names, ids, words, keys). Copying, decoding and dropping one allocates nothing,
//! where a `String` allocates on every `clone`, every decode between operators and every
//! serde field read; longer strings go on the heap as before.
//!
//! It serializes as a string (serde's `str`: the same JSON, postcard and state bytes as a
//! `String`) and encodes as a key as a `String` does (its UTF-8 bytes), so a record or a key
//! type can switch between the two without changing a savepoint.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

use crate::state::Codec;

/// The longest string kept inline: a multiple of 8 (see [`inline_copy`]), and room for a
/// `dd-MM-yyyy HH:mm:ss.SSS` timestamp.
const INLINE: usize = 24;

/// An immutable UTF-8 string, inline (no allocation) up to 24 bytes. Reads as a `&str`
/// (`Deref`), serializes as a string, and is a key ([`Codec`]) with a `String`'s bytes.
///
/// ```
/// use weir_sdk::stream::Str;
///
/// let page = Str::from("/help");
/// assert_eq!(page, "/help");
/// assert_eq!(page.len(), 5);
/// assert_eq!(String::from(page.clone()), "/help");
/// ```
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Str {
    /// The empty string.
    pub const fn new() -> Self {
        Str(Repr::Inline { len: 0, bytes: [0; INLINE] })
    }

    /// The string's text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                // SAFETY: inline bytes are only ever copied from a `&str` (see `From<&str>`),
                // so the first `len` of them are UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes.get_unchecked(..usize::from(*len))) }
            }
            Repr::Heap(s) => s,
        }
    }

    /// Checks that `bytes` are UTF-8 and copies them.
    pub fn from_utf8(bytes: &[u8]) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(bytes).map(Str::from)
    }

    /// Whether the text is stored inline (24 bytes or fewer).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

/// `src` (at most [`INLINE`] bytes) at the start of an inline buffer, in 8-byte words: a copy
/// of unknown length would be a `memcpy`, which in a component is a call out to the host
/// (wasm's `memory.copy`), and a loop would be turned back into one by the compiler.
#[inline]
fn inline_copy(src: &[u8]) -> [u8; INLINE] {
    debug_assert!(src.len() <= INLINE);
    let mut bytes = [0u8; INLINE];
    let word = |at: usize| -> [u8; 8] { src[at..at + 8].try_into().unwrap_or_default() };
    let n = src.len();
    if n >= 8 {
        bytes[..8].copy_from_slice(&word(0));
    }
    if n >= 16 {
        bytes[8..16].copy_from_slice(&word(8));
    }
    if n >= 24 {
        bytes[16..24].copy_from_slice(&word(16));
    }
    let full = n & !7;
    if full < INLINE {
        let mut tail = 0u64;
        for &b in src[full..].iter().rev() {
            tail = (tail << 8) | u64::from(b);
        }
        bytes[full..full + 8].copy_from_slice(&tail.to_le_bytes());
    }
    bytes
}

impl Default for Str {
    fn default() -> Self {
        Str::new()
    }
}

impl From<&str> for Str {
    #[inline]
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            let bytes = inline_copy(s.as_bytes());
            // why: `s.len() <= INLINE` (24) was checked just above.
            #[allow(clippy::cast_possible_truncation)]
            let len = s.len() as u8;
            Str(Repr::Inline { len, bytes })
        } else {
            Str(Repr::Heap(s.into()))
        }
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        if s.len() <= INLINE { Str::from(s.as_str()) } else { Str(Repr::Heap(s.into_boxed_str())) }
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Self {
        Str::from(s.as_str())
    }
}

impl From<Str> for String {
    fn from(s: Str) -> Self {
        match s.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => s.as_str().to_string(),
        }
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that `Borrow<str>` lookups find it.
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Str, D::Error> {
        struct StrVisitor;

        impl Visitor<'_> for StrVisitor {
            type Value = Str;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str::from(v))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
                Ok(Str::from(v))
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Str, E> {
                Str::from_utf8(v).map_err(|_| E::invalid_value(de::Unexpected::Bytes(v), &self))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

impl Codec for Str {
    fn encode(&self, out: &mut Vec<u8>) {
        super::format::extend_short(out, self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Str::from_utf8(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_inline_long_ones_on_the_heap() {
        let texts =
            ["", "/help", "01234567", "0123456789abcdef", "0123456789abcdef0123456", "0123456789abcdefghijklmn"];
        for text in texts.into_iter().chain(["0123456789abcdefghijklmno", "é€𝄞", "01-01-1970 12:00:00:000"]) {
            let s = Str::from(text);
            assert_eq!(s.as_str(), text);
            assert_eq!(s.is_inline(), text.len() <= INLINE, "{text}");
            assert_eq!(Str::from(text.to_string()), s);
            assert_eq!(String::from(s.clone()), text);
            assert_eq!(format!("{s}|{s:?}"), format!("{text}|{text:?}"));
        }
        let (a, b) = (Str::from("a"), Str::from("b"));
        assert!(a < b);
        assert!(Str::from_utf8(b"\xff").is_err());
    }

    #[test]
    fn encodes_as_a_string_does() {
        for text in ["/help", "a string longer than thirty bytes, on the heap", "with \"quotes\" and \\"] {
            let (s, owned) = (Str::from(text), text.to_string());
            assert_eq!(serde_json::to_string(&s).unwrap(), serde_json::to_string(&owned).unwrap());
            assert_eq!(postcard::to_allocvec(&s).unwrap(), postcard::to_allocvec(&owned).unwrap());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            s.encode(&mut a);
            owned.encode(&mut b);
            assert_eq!(a, b);
            assert_eq!(<Str as Codec>::decode(&a).unwrap(), s);
            let json = serde_json::to_vec(&owned).unwrap();
            assert_eq!(serde_json::from_slice::<Str>(&json).unwrap(), s);
            let wire = postcard::to_allocvec(&owned).unwrap();
            assert_eq!(postcard::from_bytes::<Str>(&wire).unwrap(), s);
        }
        assert!(serde_json::from_str::<Str>("5").is_err());
    }
}
