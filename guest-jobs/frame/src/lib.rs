//! Weir's record-batch frame format: how records cross the host/guest boundary and travel
//! between subtasks.
//!
//! A batch is records back to back, each a 16-byte header (timestamp `i64`, key length `u32`,
//! value length `u32`, all little endian) followed by the key and value bytes. The WIT contract
//! (`wit/types.wit`, `record-batch`) documents the same layout; this crate is the one
//! implementation of it, used by the host and by every Rust guest.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// Size of a record's header in bytes.
pub const HEADER_LEN: usize = 16;

/// The timestamp of a record that has none.
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// A record borrowed from a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Event time in ms since the epoch, or [`NO_TIMESTAMP`].
    pub timestamp: i64,
    /// The key; empty for none.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
}

impl Record<'_> {
    /// The number of bytes this record takes in a batch.
    pub fn framed_len(&self) -> usize {
        HEADER_LEN + self.key.len() + self.value.len()
    }
}

/// A batch that does not follow the frame format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset of the record that is cut short.
    pub offset: usize,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed record batch: record at byte {} is truncated", self.offset)
    }
}

impl core::error::Error for FrameError {}

/// Appends one record to `batch`.
#[inline]
pub fn push(batch: &mut Vec<u8>, timestamp: i64, key: &[u8], value: &[u8]) {
    batch.reserve(HEADER_LEN + key.len() + value.len());
    batch.extend_from_slice(&header(timestamp, key.len(), value.len()));
    batch.extend_from_slice(key);
    batch.extend_from_slice(value);
}

/// A record's header, built whole so that it is stored in one go.
#[inline]
fn header(timestamp: i64, key_len: usize, value_len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&timestamp.to_le_bytes());
    h[8..12].copy_from_slice(&(key_len as u32).to_le_bytes());
    h[12..].copy_from_slice(&(value_len as u32).to_le_bytes());
    h
}

/// Appends one record with no key whose value `write` appends, so a value can be made
/// straight into the batch: its length goes into the header afterwards.
#[inline]
pub fn push_written(batch: &mut Vec<u8>, timestamp: i64, write: impl FnOnce(&mut Vec<u8>)) {
    let header_at = batch.len();
    batch.extend_from_slice(&header(timestamp, 0, 0));
    let start = batch.len();
    write(batch);
    let value_len = batch.len() - start;
    batch[header_at + 12..start].copy_from_slice(&(value_len as u32).to_le_bytes());
}

/// Appends a record already borrowed from another batch.
#[inline]
pub fn push_record(batch: &mut Vec<u8>, record: &Record<'_>) {
    push(batch, record.timestamp, record.key, record.value);
}

/// Iterates over the records of a batch.
///
/// Yields an error (and then stops) if the batch ends inside a record.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    data: &'a [u8],
    offset: usize,
}

/// Reads the records of `batch`.
pub fn records(batch: &[u8]) -> Records<'_> {
    Records { data: batch, offset: 0 }
}

impl<'a> Records<'a> {
    /// Byte offset of the next record: everything before it has been read.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

#[inline]
fn read_u32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, FrameError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.data[self.offset..];
        if rest.is_empty() {
            return None;
        }
        let error = FrameError { offset: self.offset };
        if rest.len() < HEADER_LEN {
            self.offset = self.data.len();
            return Some(Err(error));
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&rest[..8]);
        let key_len = read_u32(rest, 8);
        let value_len = read_u32(rest, 12);
        let end = HEADER_LEN.checked_add(key_len).and_then(|n| n.checked_add(value_len));
        match end {
            Some(end) if end <= rest.len() => {
                let key = &rest[HEADER_LEN..HEADER_LEN + key_len];
                let value = &rest[HEADER_LEN + key_len..end];
                self.offset += end;
                Some(Ok(Record { timestamp: i64::from_le_bytes(ts), key, value }))
            }
            _ => {
                self.offset = self.data.len();
                Some(Err(error))
            }
        }
    }
}

/// Splits `batch` after at most `max_records` records: returns the head, the rest, and the
/// number of records in the head.
pub fn split(batch: &[u8], max_records: usize) -> Result<(&[u8], &[u8], usize), FrameError> {
    let mut it = records(batch);
    let mut n = 0;
    while n < max_records {
        match it.next() {
            Some(record) => {
                record?;
                n += 1;
            }
            None => break,
        }
    }
    let (head, rest) = batch.split_at(it.offset());
    Ok((head, rest, n))
}

/// Checks that `batch` is well formed and counts its records.
pub fn count(batch: &[u8]) -> Result<usize, FrameError> {
    let mut n = 0;
    for record in records(batch) {
        record?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip() {
        let mut batch = Vec::new();
        push(&mut batch, 42, b"/help", b"{}");
        push(&mut batch, NO_TIMESTAMP, b"", b"");
        let got: Vec<_> = records(&batch).map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                Record { timestamp: 42, key: b"/help", value: b"{}" },
                Record { timestamp: NO_TIMESTAMP, key: b"", value: b"" },
            ]
        );
        assert_eq!(count(&batch), Ok(2));
        let (head, rest, n) = split(&batch, 1).unwrap();
        assert_eq!((count(head), count(rest), n), (Ok(1), Ok(1), 1));
        let (head, rest, n) = split(&batch, 5).unwrap();
        assert_eq!((head.len(), rest.len(), n), (batch.len(), 0, 2));
    }

    #[test]
    fn written_values_are_records() {
        let mut batch = Vec::new();
        push_written(&mut batch, 7, |b| b.extend_from_slice(b"abc"));
        let mut expected = Vec::new();
        push(&mut expected, 7, b"", b"abc");
        assert_eq!(batch, expected);
    }

    #[test]
    fn truncated_batches_are_errors() {
        let mut batch = Vec::new();
        push(&mut batch, 1, b"key", b"value");
        for cut in 1..batch.len() {
            assert_eq!(count(&batch[..cut]), Err(FrameError { offset: 0 }), "cut at {cut}");
        }
        let mut huge = batch.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(count(&huge).is_err());
    }
}
