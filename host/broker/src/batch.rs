//! Record batches as the broker sees them: opaque bytes behind a fixed 61-byte header.
//!
//! A produce request carries one or more record batches (message format v2, "magic 2") back to
//! back. The broker reads only the header, never the records: compression, keys, values and
//! headers stay the clients' business, which keeps the cost per batch, not per record. The one
//! field the broker writes is `baseOffset`, which the batch CRC does not cover, so rewriting it
//! keeps the batch valid byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes before the records: baseOffset (8), batchLength (4), partitionLeaderEpoch (4),
/// magic (1), crc (4), attributes (2), lastOffsetDelta (4), baseTimestamp (8), maxTimestamp (8),
/// producerId (8), producerEpoch (2), baseSequence (4), recordCount (4).
pub(crate) const HEADER_LEN: usize = 61;

/// `baseOffset` and `batchLength`: the part of the header outside `batchLength`'s count.
const LOG_OVERHEAD: usize = 12;

/// What makes the bytes of a produce request unacceptable as record batches.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BatchError {
    #[error("a record batch is truncated or its length is inconsistent")]
    Truncated,
    #[error("record batches of message format {0} are not supported (only magic 2)")]
    Magic(i8),
    #[error("a record batch has a negative lastOffsetDelta")]
    NegativeDelta,
    #[error("the request has no record batch")]
    Empty,
}

/// The header fields the broker uses; the batch itself stays opaque.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// The whole batch as produced, `baseOffset` not yet assigned.
    pub bytes: Bytes,
    /// Offsets the batch spans: `lastOffsetDelta + 1`.
    pub offset_count: i64,
    /// The largest record timestamp in the batch (for ListOffsets by time).
    pub max_timestamp: i64,
    /// The idempotent producer's id, or -1.
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The idempotent producer's sequence number of the first record.
    pub base_sequence: i32,
}

impl Batch {
    /// The sequence number of the batch's last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        // A remainder of division by 2^31 always fits.
        i32::try_from((self.base_sequence as i64 + self.offset_count - 1) % (i32::MAX as i64 + 1)).unwrap_or(i32::MAX)
    }

    /// The batch with its `baseOffset` set to `base_offset` and its `partitionLeaderEpoch` to
    /// the broker's only leader epoch, 0 (producers send -1); neither is covered by the CRC.
    /// This is the one copy a produced batch goes through.
    pub fn assign(&self, base_offset: i64) -> Bytes {
        let mut out = BytesMut::with_capacity(self.bytes.len());
        out.put_i64(base_offset);
        out.put_slice(&self.bytes[8..12]);
        out.put_i32(0);
        out.put_slice(&self.bytes[16..]);
        out.freeze()
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(v)
}

/// Splits the records of one partition of a produce request into batches, checking every
/// header before anything is stored (a request is appended whole or not at all).
pub(crate) fn split(records: &Bytes) -> Result<Vec<Batch>, BatchError> {
    let mut batches = Vec::with_capacity(1);
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < LOG_OVERHEAD {
            return Err(BatchError::Truncated);
        }
        let length = i32_at(rest, 8);
        let total = usize::try_from(length).map_err(|_| BatchError::Truncated)? + LOG_OVERHEAD;
        if total < HEADER_LEN || total > rest.len() {
            return Err(BatchError::Truncated);
        }
        let magic = rest[16] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let last_offset_delta = i32_at(rest, 23);
        if last_offset_delta < 0 {
            return Err(BatchError::NegativeDelta);
        }
        batches.push(Batch {
            bytes: records.slice(at..at + total),
            offset_count: last_offset_delta as i64 + 1,
            max_timestamp: i64_at(rest, 35),
            producer_id: i64_at(rest, 43),
            producer_epoch: i16_at(rest, 51),
            base_sequence: i32_at(rest, 53),
        });
        at += total;
    }
    if batches.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(batches)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header-only batch as a producer would send it (no records, which the broker never
    /// reads anyway).
    pub(crate) fn batch(records: i32, producer_id: i64, base_sequence: i32, max_timestamp: i64) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_i64(0); // baseOffset
        b.put_i32(i32::try_from(HEADER_LEN - LOG_OVERHEAD).expect("the header length fits")); // batchLength
        b.put_i32(-1); // partitionLeaderEpoch
        b.put_u8(2); // magic
        b.put_u32(0xdead_beef); // crc
        b.put_i16(0); // attributes
        b.put_i32(records - 1); // lastOffsetDelta
        b.put_i64(max_timestamp); // baseTimestamp
        b.put_i64(max_timestamp); // maxTimestamp
        b.put_i64(producer_id);
        b.put_i16(0); // producerEpoch
        b.put_i32(base_sequence);
        b.put_i32(records);
        b
    }

    #[test]
    fn headers_are_read_and_offsets_rewritten() {
        let mut two = batch(3, 7, 10, 1000);
        two.extend(batch(1, -1, -1, 2000));
        let batches = split(&Bytes::from(two)).expect("valid");
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].offset_count, batches[0].producer_id, batches[0].last_sequence()), (3, 7, 12));
        assert_eq!((batches[1].offset_count, batches[1].max_timestamp), (1, 2000));
        let stored = batches[0].assign(42);
        assert_eq!(i64_at(&stored, 0), 42);
        assert_eq!(i32_at(&stored, 12), 0);
        assert_eq!(&stored[16..], &batches[0].bytes[16..], "everything the CRC covers is untouched");
    }

    #[test]
    fn malformed_batches_are_rejected() {
        let good = batch(1, -1, -1, 0);
        assert_eq!(split(&Bytes::from(good[..30].to_vec())).unwrap_err(), BatchError::Truncated);
        let mut v1 = good.clone();
        v1[16] = 1;
        assert_eq!(split(&Bytes::from(v1)).unwrap_err(), BatchError::Magic(1));
        let mut long = good.clone();
        long[8..12].copy_from_slice(&1_000_000i32.to_be_bytes());
        assert_eq!(split(&Bytes::from(long)).unwrap_err(), BatchError::Truncated);
        let mut negative = good;
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(split(&Bytes::from(negative)).unwrap_err(), BatchError::Truncated);
        assert_eq!(split(&Bytes::new()).unwrap_err(), BatchError::Empty);
    }

    /// Fuzzing on stable Rust: arbitrary and mutated produce payloads (`PROPTEST_CASES` for more).
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn config() -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
            ProptestConfig { cases, ..ProptestConfig::default() }
        }

        /// Valid batches back to back, then bytes overwritten (with extreme lengths too) or cut.
        fn records() -> impl Strategy<Value = Vec<u8>> {
            let valid = proptest::collection::vec((1i32..5, any::<i64>(), any::<i32>(), any::<i64>()), 1..4)
                .prop_map(|batches| batches.into_iter().flat_map(|(n, id, seq, ts)| batch(n, id, seq, ts)).collect());
            let mutated = (
                valid,
                proptest::collection::vec((any::<usize>(), prop_oneof![Just(i32::MAX), Just(-1), any::<i32>()]), 0..3),
                any::<usize>(),
            )
                .prop_map(|(mut bytes, ints, cut): (Vec<u8>, _, usize)| {
                    for (at, n) in ints {
                        let at = at % bytes.len();
                        let end = (at + 4).min(bytes.len());
                        bytes[at..end].copy_from_slice(&n.to_be_bytes()[..end - at]);
                    }
                    bytes.truncate(bytes.len() - cut % 3);
                    bytes
                });
            prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), mutated]
        }

        proptest! {
            #![proptest_config(config())]

            /// Batches split off arbitrary bytes cover them exactly, each with a whole header;
            /// anything else is refused; nothing panics, including rewriting and sequencing.
            #[test]
            fn fuzz_record_batches_split_or_are_refused(bytes in records()) {
                let Ok(batches) = split(&Bytes::from(bytes.clone())) else { return Ok(()) };
                prop_assert_eq!(batches.iter().map(|b| b.bytes.len()).sum::<usize>(), bytes.len());
                for b in &batches {
                    prop_assert!(b.bytes.len() >= HEADER_LEN && b.offset_count >= 1);
                    prop_assert_eq!(b.assign(i64::MAX).len(), b.bytes.len());
                    b.last_sequence();
                }
            }
        }
    }

    #[test]
    fn sequences_wrap() {
        let b = split(&Bytes::from(batch(5, 1, i32::MAX - 1, 0))).expect("valid").remove(0);
        assert_eq!(b.last_sequence(), 2);
    }
}
