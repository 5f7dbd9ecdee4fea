//! Length-prefixed frames with checked lengths and enforced limits: the one place Weir turns a
//! length into a prefix and a prefix read from a peer or a file back into a length.
//!
//! A [`Framing`] is one kind of frame: what it carries (named in errors), its [`Prefix`] (width
//! and byte order) and the largest length it accepts. Writing refuses a payload over the limit
//! before a byte goes out; reading refuses a declared length over the limit, or over what
//! remains of an in-memory input, before anything is allocated, and a reader of a stream grows
//! its buffer only as the payload arrives ([`READ_AHEAD`]), so a peer that declares a large frame
//! and sends little costs little.
//!
//! Users: the RPC channel (`weir-cluster`'s `rpc`: JSON messages behind a big-endian `u32`),
//! the data exchange (`weir-network`'s `remote`: record batches behind a little-endian `u32`,
//! channel names and checkpoint locations behind a little-endian `u16`) and the state files
//! ([`crate::checkpoint::storage`]: counts, keys and values behind little-endian `u32`s).
//!
//! ```
//! use weir_core::framing::{Framing, Prefix};
//!
//! const NAME: Framing = Framing::new("a name's length", Prefix::U16Le, 64);
//! let mut out = Vec::new();
//! NAME.put(&mut out, b"job/0.0/1.0/0").unwrap();
//! assert_eq!(&out[..2], &13u16.to_le_bytes());
//! let mut input = &out[..];
//! assert_eq!(NAME.split(&mut input).unwrap(), b"job/0.0/1.0/0");
//! assert!(NAME.put(&mut out, &[0; 65]).is_err());
//! ```

use std::io::{self, Read, Write};

/// How much a reader of a stream allocates ahead of the bytes that have arrived: a frame's
/// buffer starts at most this large and grows with its payload.
pub const READ_AHEAD: usize = 1 << 20;

/// Why a frame could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// A length or count is over the framing's limit: on writing, one of ours; on reading,
    /// one a peer or a file declared.
    #[error("{what} is {len}, over the limit of {limit}")]
    TooLarge {
        /// What the length or count measures (e.g. "a record batch's length").
        what: &'static str,
        /// The length or count.
        len: usize,
        /// The largest the framing accepts.
        limit: usize,
    },
    /// A declared length runs past the end of the input.
    #[error("{what} is {len}, but only {remaining} bytes remain")]
    Truncated {
        /// What the length measures.
        what: &'static str,
        /// The declared length.
        len: usize,
        /// The bytes that were left (or that arrived before the end of a stream).
        remaining: usize,
    },
    /// A declared count of items cannot fit in what remains of the input, each item taking at
    /// least `item` bytes.
    #[error("{what} is {count}, more than the {remaining} bytes that remain can hold ({item} bytes or more each)")]
    TooMany {
        /// What the count counts.
        what: &'static str,
        /// The declared count.
        count: usize,
        /// The smallest an item can be, in bytes.
        item: usize,
        /// The bytes that were left.
        remaining: usize,
    },
    /// Reading or writing the underlying stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<FramingError> for io::Error {
    fn from(error: FramingError) -> io::Error {
        match error {
            FramingError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// The width and byte order of a frame's length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Two bytes, little-endian.
    U16Le,
    /// Four bytes, little-endian.
    U32Le,
    /// Four bytes, big-endian (network byte order).
    U32Be,
}

impl Prefix {
    /// How many bytes the prefix takes.
    pub const fn width(self) -> usize {
        match self {
            Prefix::U16Le => 2,
            Prefix::U32Le | Prefix::U32Be => 4,
        }
    }

    /// The largest length the prefix can express.
    pub const fn max(self) -> usize {
        match self {
            Prefix::U16Le => u16::MAX as usize,
            Prefix::U32Le | Prefix::U32Be => u32::MAX as usize,
        }
    }

    /// `len` as this prefix, if it fits.
    fn encode(self, len: usize) -> Option<Header> {
        let mut bytes = [0u8; 4];
        match self {
            Prefix::U16Le => bytes[..2].copy_from_slice(&u16::try_from(len).ok()?.to_le_bytes()),
            Prefix::U32Le => bytes = u32::try_from(len).ok()?.to_le_bytes(),
            Prefix::U32Be => bytes = u32::try_from(len).ok()?.to_be_bytes(),
        }
        Some(Header { bytes, prefix: self })
    }

    /// The length in `bytes`, which are exactly [`Prefix::width`] long.
    fn decode(self, bytes: &[u8]) -> Option<usize> {
        Some(match self {
            Prefix::U16Le => u16::from_le_bytes(bytes.try_into().ok()?).into(),
            Prefix::U32Le => usize::try_from(u32::from_le_bytes(bytes.try_into().ok()?)).ok()?,
            Prefix::U32Be => usize::try_from(u32::from_be_bytes(bytes.try_into().ok()?)).ok()?,
        })
    }
}

/// A frame's length prefix, encoded: [`Header::as_bytes`] go before the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    bytes: [u8; 4],
    prefix: Prefix,
}

impl Header {
    /// The prefix's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.prefix.width()]
    }
}

/// One kind of length-prefixed frame: what its length measures, its prefix and its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    what: &'static str,
    prefix: Prefix,
    limit: usize,
}

impl Framing {
    /// A framing whose lengths (or counts) are `what` (e.g. "a record batch's length"), written
    /// as `prefix`, accepted up to `limit` (at most what the prefix can express).
    pub const fn new(what: &'static str, prefix: Prefix, limit: usize) -> Framing {
        let limit = if limit < prefix.max() { limit } else { prefix.max() };
        Framing { what, prefix, limit }
    }

    /// The prefix for a payload of `len` bytes (or a count of `len`), refusing one over the limit.
    pub fn header(&self, len: usize) -> Result<Header, FramingError> {
        self.check(len)?;
        self.prefix.encode(len).ok_or(FramingError::TooLarge { what: self.what, len, limit: self.limit })
    }

    /// The length a received prefix declares, refusing one over the limit. The prefix is the
    /// first [`Prefix::width`] bytes of `header` (what a reader read for it); fewer are refused.
    pub fn length(&self, header: &[u8]) -> Result<usize, FramingError> {
        let width = self.prefix.width();
        let truncated = FramingError::Truncated { what: self.what, len: width, remaining: header.len() };
        let Some(len) = header.get(..width).and_then(|bytes| self.prefix.decode(bytes)) else {
            return Err(truncated);
        };
        self.check(len)?;
        Ok(len)
    }

    /// Appends `payload` as a frame to `out`.
    pub fn put(&self, out: &mut Vec<u8>, payload: &[u8]) -> Result<(), FramingError> {
        let header = self.header(payload.len())?;
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }

    /// Writes `payload` as a frame to `out`; nothing is written if it is over the limit.
    pub fn write(&self, out: &mut impl Write, payload: &[u8]) -> Result<(), FramingError> {
        let header = self.header(payload.len())?;
        out.write_all(header.as_bytes())?;
        out.write_all(payload)?;
        Ok(())
    }

    /// Reads one frame's payload from a stream: its prefix, checked against the limit, then the
    /// payload, into a buffer that grows as it arrives. A stream that ends inside the prefix is
    /// an [`io::ErrorKind::UnexpectedEof`]; one that ends inside the payload is
    /// [`FramingError::Truncated`].
    pub fn read(&self, input: &mut impl Read) -> Result<Vec<u8>, FramingError> {
        let mut header = [0u8; 4];
        let header = &mut header[..self.prefix.width()];
        input.read_exact(header)?;
        let len = self.length(header)?;
        let mut payload = Vec::with_capacity(len.min(READ_AHEAD));
        input.take(len as u64).read_to_end(&mut payload)?;
        self.complete(len, payload.len())?;
        Ok(payload)
    }

    /// Checks that `received` bytes complete a payload declared `len` bytes long (for readers
    /// that read the payload themselves, as an async one does after [`Framing::length`]).
    pub fn complete(&self, len: usize, received: usize) -> Result<(), FramingError> {
        if received < len {
            return Err(FramingError::Truncated { what: self.what, len, remaining: received });
        }
        Ok(())
    }

    /// Takes one frame from the front of `input`, advancing it past the frame, and returns its
    /// payload: nothing is allocated, and a declared length over the limit or over what
    /// remains is refused (leaving `input` as it was).
    pub fn split<'a>(&self, input: &mut &'a [u8]) -> Result<&'a [u8], FramingError> {
        let mut rest = *input;
        let len = self.length(take(&mut rest, self.prefix.width(), self.what)?)?;
        let payload = take(&mut rest, len, self.what)?;
        *input = rest;
        Ok(payload)
    }

    /// Takes a count of items from the front of `input` (a prefix that counts items rather
    /// than bytes), refusing one over the limit or one whose items, each at least `item` bytes,
    /// could not fit in what remains after it.
    pub fn count(&self, input: &mut &[u8], item: usize) -> Result<usize, FramingError> {
        let mut rest = *input;
        let count = self.length(take(&mut rest, self.prefix.width(), self.what)?)?;
        let fits = count.checked_mul(item).is_some_and(|needed| needed <= rest.len());
        if !fits {
            return Err(FramingError::TooMany { what: self.what, count, item, remaining: rest.len() });
        }
        *input = rest;
        Ok(count)
    }

    fn check(&self, len: usize) -> Result<(), FramingError> {
        if len > self.limit {
            return Err(FramingError::TooLarge { what: self.what, len, limit: self.limit });
        }
        Ok(())
    }
}

/// Takes `n` bytes from the front of `input`, refusing (and leaving `input` as it was) if
/// fewer remain; `what` names them in the error.
pub fn take<'a>(input: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], FramingError> {
    let Some((head, rest)) = input.split_at_checked(n) else {
        return Err(FramingError::Truncated { what, len: n, remaining: input.len() });
    };
    *input = rest;
    Ok(head)
}

/// Takes `N` bytes from the front of `input` as an array (a fixed-width field), refusing (and
/// leaving `input` as it was) if fewer remain; `what` names them in the error.
pub fn take_array<const N: usize>(input: &mut &[u8], what: &'static str) -> Result<[u8; N], FramingError> {
    let Some((head, rest)) = input.split_first_chunk::<N>() else {
        return Err(FramingError::Truncated { what, len: N, remaining: input.len() });
    };
    *input = rest;
    Ok(*head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Framing = Framing::new("a test frame's length", Prefix::U32Le, 16);

    #[test]
    fn frames_round_trip_in_each_prefix() {
        for prefix in [Prefix::U16Le, Prefix::U32Le, Prefix::U32Be] {
            let framing = Framing::new("a frame's length", prefix, 1000);
            let mut out = Vec::new();
            framing.put(&mut out, b"hello").unwrap();
            framing.put(&mut out, b"").unwrap();
            assert_eq!(out.len(), 2 * prefix.width() + 5);
            let mut written = Vec::new();
            framing.write(&mut written, b"hello").unwrap();
            framing.write(&mut written, b"").unwrap();
            assert_eq!(written, out);

            let mut slice = &out[..];
            assert_eq!(framing.split(&mut slice).unwrap(), b"hello");
            assert_eq!(framing.split(&mut slice).unwrap(), b"");
            assert!(slice.is_empty());
            let mut stream = &out[..];
            assert_eq!(framing.read(&mut stream).unwrap(), b"hello");
            assert_eq!(framing.read(&mut stream).unwrap(), b"");
        }
    }

    #[test]
    fn prefixes_keep_their_byte_order() {
        let len = 0x0102usize;
        assert_eq!(Framing::new("x", Prefix::U16Le, len).header(len).unwrap().as_bytes(), &[0x02, 0x01]);
        assert_eq!(Framing::new("x", Prefix::U32Le, len).header(len).unwrap().as_bytes(), &[0x02, 0x01, 0, 0]);
        assert_eq!(Framing::new("x", Prefix::U32Be, len).header(len).unwrap().as_bytes(), &[0, 0, 0x01, 0x02]);
    }

    #[test]
    fn writing_over_the_limit_is_refused_and_writes_nothing() {
        let mut out = Vec::new();
        let error = SMALL.put(&mut out, &[0; 17]).unwrap_err();
        assert!(matches!(error, FramingError::TooLarge { len: 17, limit: 16, .. }), "{error:?}");
        assert_eq!(error.to_string(), "a test frame's length is 17, over the limit of 16");
        let mut written = Vec::new();
        assert!(SMALL.write(&mut written, &[0; 17]).is_err());
        assert!(out.is_empty() && written.is_empty());
        // The limit is at most what the prefix holds.
        let framing = Framing::new("a name's length", Prefix::U16Le, usize::MAX);
        assert!(matches!(framing.header(65_536), Err(FramingError::TooLarge { limit: 65_535, .. })));
        assert!(framing.header(65_535).is_ok());
    }

    #[test]
    fn declared_lengths_over_the_limit_are_refused_before_reading_on() {
        let mut bytes = 17u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 17]);
        let mut slice = &bytes[..];
        assert!(matches!(SMALL.split(&mut slice), Err(FramingError::TooLarge { len: 17, .. })));
        assert_eq!(slice.len(), bytes.len(), "a refused frame is not consumed");
        // A stream: only the prefix is read.
        let mut stream = &bytes[..];
        assert!(matches!(SMALL.read(&mut stream), Err(FramingError::TooLarge { len: 17, .. })));
        assert_eq!(stream.len(), 17);
        // The largest declarable length, against the largest limit.
        let framing = Framing::new("a batch's length", Prefix::U32Be, 64 << 20);
        let mut stream = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..];
        assert!(matches!(framing.read(&mut stream), Err(FramingError::TooLarge { len: 0xffff_ffff, .. })));
    }

    #[test]
    fn truncated_input_is_refused() {
        // A length within the limit but beyond the input.
        let mut bytes = 10u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let mut slice = &bytes[..];
        let error = SMALL.split(&mut slice).unwrap_err();
        assert!(matches!(error, FramingError::Truncated { len: 10, remaining: 3, .. }), "{error:?}");
        assert_eq!(error.to_string(), "a test frame's length is 10, but only 3 bytes remain");
        assert_eq!(slice.len(), bytes.len());
        let mut stream = &bytes[..];
        assert!(matches!(SMALL.read(&mut stream), Err(FramingError::Truncated { len: 10, remaining: 3, .. })));
        // A cut prefix.
        let mut slice = &[1u8, 0][..];
        assert!(matches!(SMALL.split(&mut slice), Err(FramingError::Truncated { len: 4, remaining: 2, .. })));
        let mut stream = &[1u8, 0][..];
        let error = SMALL.read(&mut stream).unwrap_err();
        assert!(matches!(&error, FramingError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof), "{error:?}");
        assert!(matches!(SMALL.length(&[1, 0]), Err(FramingError::Truncated { .. })));
        // Nothing at all.
        assert!(take(&mut &[][..], 1, "a byte").is_err());
        assert_eq!(take(&mut &b"ab"[..], 2, "two bytes").unwrap(), b"ab");
        let mut slice = &[1u8, 2, 3][..];
        assert_eq!(take_array::<2>(&mut slice, "two bytes").unwrap(), [1, 2]);
        assert!(matches!(
            take_array::<2>(&mut slice, "two bytes"),
            Err(FramingError::Truncated { len: 2, remaining: 1, .. })
        ));
        assert_eq!(slice, &[3]);
    }

    #[test]
    fn a_stream_that_ends_inside_a_large_payload_is_truncated() {
        // A peer declares 1 GiB and sends 3 bytes: the reader buffers what arrives and refuses.
        let framing = Framing::new("a batch's length", Prefix::U32Le, 1 << 30);
        let mut bytes = (1u32 << 30).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let error = framing.read(&mut &bytes[..]).unwrap_err();
        assert!(matches!(error, FramingError::Truncated { len: 1_073_741_824, remaining: 3, .. }), "{error:?}");
    }

    #[test]
    fn counts_are_bounded_by_what_remains() {
        let counts = Framing::new("a number of entries", Prefix::U32Le, u32::MAX as usize);
        let mut bytes = 2u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let mut slice = &bytes[..];
        assert_eq!(counts.count(&mut slice, 8).unwrap(), 2);
        assert_eq!(slice.len(), 16);
        let mut slice = &bytes[..];
        let error = counts.count(&mut slice, 9).unwrap_err();
        assert!(matches!(error, FramingError::TooMany { count: 2, item: 9, remaining: 16, .. }), "{error:?}");
        assert_eq!(slice.len(), bytes.len());
        // u32::MAX items of usize::MAX bytes: the product overflows and is refused.
        let max = u32::MAX.to_le_bytes();
        assert!(matches!(counts.count(&mut &max[..], usize::MAX), Err(FramingError::TooMany { .. })));
        // Zero-sized items cannot be counted past the limit.
        let small = Framing::new("a number of flags", Prefix::U32Le, 3);
        assert!(matches!(small.count(&mut &4u32.to_le_bytes()[..], 0), Err(FramingError::TooLarge { .. })));
    }

    #[test]
    fn framing_errors_become_io_errors() {
        let io_error: io::Error = SMALL.header(17).unwrap_err().into();
        assert_eq!(io_error.kind(), io::ErrorKind::InvalidData);
        assert!(io_error.to_string().contains("over the limit of 16"));
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        let io_error: io::Error = FramingError::Io(eof).into();
        assert_eq!(io_error.kind(), io::ErrorKind::UnexpectedEof);
    }
}

/// Fuzzing on stable Rust: arbitrary bytes, prefixes and limits (`PROPTEST_CASES` for more).
#[cfg(test)]
pub(crate) mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// `default` cases per property, or as many as `PROPTEST_CASES` asks for.
    pub(crate) fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    fn prefix() -> impl Strategy<Value = Prefix> {
        prop_oneof![Just(Prefix::U16Le), Just(Prefix::U32Le), Just(Prefix::U32Be)]
    }

    /// Small limits (so that lengths in the input cross them) and the largest.
    fn limit() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..64, Just(usize::MAX)]
    }

    /// Bytes whose first ones are often a small length, so that frames are sometimes whole.
    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..128),
            (0u8..16, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(len, rest)| {
                let mut bytes = vec![len, 0, 0, 0];
                bytes.extend(rest);
                bytes
            }),
        ]
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Splitting a frame off arbitrary bytes takes no more than is there and the limit
        /// allows, and a refusal leaves the input untouched.
        #[test]
        fn fuzz_split_is_bounded_by_the_input_and_the_limit(prefix in prefix(), limit in limit(), bytes in input()) {
            let framing = Framing::new("a fuzzed length", prefix, limit);
            let mut slice = &bytes[..];
            match framing.split(&mut slice) {
                Ok(payload) => {
                    prop_assert!(payload.len() <= limit);
                    prop_assert_eq!(prefix.width() + payload.len() + slice.len(), bytes.len());
                    prop_assert_eq!(payload, &bytes[prefix.width()..prefix.width() + payload.len()]);
                }
                Err(_) => prop_assert_eq!(slice.len(), bytes.len()),
            }
        }

        /// Reading a frame from an arbitrary stream returns at most what arrived and the limit
        /// allows, in a buffer no larger than the read-ahead or what arrived.
        #[test]
        fn fuzz_read_is_bounded_by_the_stream_and_the_limit(prefix in prefix(), limit in limit(), bytes in input()) {
            let framing = Framing::new("a fuzzed length", prefix, limit);
            let mut stream = &bytes[..];
            if let Ok(payload) = framing.read(&mut stream) {
                prop_assert!(payload.len() <= limit);
                prop_assert_eq!(prefix.width() + payload.len() + stream.len(), bytes.len());
                prop_assert!(payload.capacity() <= READ_AHEAD.max(2 * bytes.len()));
                // The stream reader and the slice splitter agree.
                prop_assert_eq!(framing.split(&mut &bytes[..]).ok(), Some(&payload[..]));
            }
        }

        /// A count taken off arbitrary bytes never promises more items than the rest can hold.
        #[test]
        fn fuzz_count_fits_what_remains(
            prefix in prefix(),
            limit in limit(),
            item in prop_oneof![0usize..32, Just(usize::MAX)],
            bytes in input(),
        ) {
            let framing = Framing::new("a fuzzed count", prefix, limit);
            let mut slice = &bytes[..];
            match framing.count(&mut slice, item) {
                Ok(count) => {
                    prop_assert!(count <= limit);
                    prop_assert!(count.checked_mul(item).is_some_and(|n| n <= slice.len()));
                    prop_assert_eq!(slice.len() + prefix.width(), bytes.len());
                }
                Err(_) => prop_assert_eq!(slice.len(), bytes.len()),
            }
            let mut slice = &bytes[..];
            let n = item.min(256);
            match take(&mut slice, n, "fuzzed bytes") {
                Ok(head) => prop_assert_eq!(head.len() + slice.len(), bytes.len()),
                Err(_) => prop_assert!(bytes.len() < n && slice.len() == bytes.len()),
            }
        }

        /// What is put comes back by `split` and by `read`, frame by frame; a payload over the
        /// limit is refused and writes nothing.
        #[test]
        fn fuzz_put_then_split_round_trips(
            prefix in prefix(),
            limit in 0usize..48,
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let framing = Framing::new("a fuzzed length", prefix, limit);
            let mut out = Vec::new();
            let mut kept = Vec::new();
            for payload in &payloads {
                let before = out.len();
                match framing.put(&mut out, payload) {
                    Ok(()) => kept.push(payload),
                    Err(_) => {
                        prop_assert!(payload.len() > limit);
                        prop_assert_eq!(out.len(), before);
                    }
                }
            }
            let mut slice = &out[..];
            let mut stream = &out[..];
            for payload in kept {
                prop_assert_eq!(framing.split(&mut slice).unwrap(), &payload[..]);
                prop_assert_eq!(&framing.read(&mut stream).unwrap(), payload);
            }
            prop_assert!(slice.is_empty() && stream.is_empty());
        }
    }
}
