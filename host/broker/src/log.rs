//! A partition's log: its record batches in offset order, in memory, and the fetchers waiting
//! for more.
//!
//! Offsets are assigned per batch (a batch of n records takes n offsets), so the log is a
//! sorted list of `(base offset, batch bytes)` and a read is a binary search plus cheap
//! `Bytes` clones. The lock is a plain mutex held for microseconds, never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::batch::Batch;

/// How many recent batches per idempotent producer are remembered to recognise a retried
/// batch (Kafka keeps 5, which is also the most in-flight requests idempotence allows).
const RECENT_BATCHES: usize = 5;

/// Why a produce to this partition was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AppendError {
    #[error("producer {producer_id} sent sequence {got}, expected {expected}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, got: i32 },
}

/// Why a read returned no batches.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReadError {
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
}

/// One stored batch: its bytes with `baseOffset` assigned.
struct StoredBatch {
    base_offset: i64,
    /// One past the batch's last offset.
    next_offset: i64,
    max_timestamp: i64,
    bytes: Bytes,
}

/// A batch an idempotent producer wrote recently, to answer its retry with the same offset.
struct RecentBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

/// What the log knows of one idempotent producer.
struct ProducerState {
    epoch: i16,
    last_sequence: i32,
    recent: VecDeque<RecentBatch>,
}

#[derive(Default)]
struct LogInner {
    batches: Vec<StoredBatch>,
    /// The log end offset: the offset the next record gets (the high watermark too, as the
    /// broker is its own and only replica).
    end: i64,
    producers: HashMap<i64, ProducerState>,
}

/// The outcome of a read.
pub(crate) struct Read {
    /// The batches from the one holding the requested offset on, concatenated.
    pub records: Bytes,
    /// The log end offset when the read was made.
    pub high_watermark: i64,
}

/// One partition's log.
#[derive(Default)]
pub(crate) struct PartitionLog {
    inner: Mutex<LogInner>,
    /// Woken after every append: long-polling fetches wait on it.
    appended: Notify,
}

/// What to do with one batch of an idempotent producer.
enum Sequencing {
    Append,
    /// A retry of a batch already in the log at this base offset.
    Duplicate(i64),
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX { 0 } else { sequence + 1 }
}

impl LogInner {
    /// Checks a batch's sequence against its producer's state (and `pending`, the batches of
    /// the same request already accepted).
    fn sequencing(&self, batch: &Batch, pending: &HashMap<i64, i32>) -> Result<Sequencing, AppendError> {
        let Some(state) = self.producers.get(&batch.producer_id).filter(|s| s.epoch == batch.producer_epoch) else {
            // A producer (or epoch) the log has not seen starts wherever it starts: the broker
            // keeps no state across restarts, so being strict here would only reject
            // producers that outlived an earlier broker.
            return Ok(Sequencing::Append);
        };
        if let Some(recent) = state
            .recent
            .iter()
            .find(|r| r.first_sequence == batch.base_sequence && r.last_sequence == batch.last_sequence())
        {
            return Ok(Sequencing::Duplicate(recent.base_offset));
        }
        let last = pending.get(&batch.producer_id).copied().unwrap_or(state.last_sequence);
        let expected = next_sequence(last);
        if batch.base_sequence == expected {
            Ok(Sequencing::Append)
        } else {
            Err(AppendError::OutOfOrderSequence { producer_id: batch.producer_id, expected, got: batch.base_sequence })
        }
    }

    fn remember(&mut self, batch: &Batch, base_offset: i64) {
        let state = self.producers.entry(batch.producer_id).or_insert_with(|| ProducerState {
            epoch: batch.producer_epoch,
            last_sequence: -1,
            recent: VecDeque::with_capacity(RECENT_BATCHES),
        });
        if state.epoch != batch.producer_epoch {
            state.epoch = batch.producer_epoch;
            state.recent.clear();
        }
        state.last_sequence = batch.last_sequence();
        if state.recent.len() == RECENT_BATCHES {
            state.recent.pop_front();
        }
        state.recent.push_back(RecentBatch {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            base_offset,
        });
    }

    /// The index of the first batch that holds `offset` or comes after it.
    fn batch_index(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.next_offset <= offset)
    }
}

impl PartitionLog {
    /// Appends the batches of one produce request, all or none, and returns the base offset of
    /// the first (for a retried idempotent batch: where it was stored the first time).
    pub fn append(&self, batches: &[Batch]) -> Result<i64, AppendError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Check every batch before storing any.
        let mut plan = Vec::with_capacity(batches.len());
        let mut pending = HashMap::new();
        for batch in batches {
            let step = if batch.producer_id >= 0 {
                let step = inner.sequencing(batch, &pending)?;
                if matches!(step, Sequencing::Append) {
                    pending.insert(batch.producer_id, batch.last_sequence());
                }
                step
            } else {
                Sequencing::Append
            };
            plan.push(step);
        }
        let mut first = None;
        for (batch, step) in batches.iter().zip(plan) {
            let base_offset = match step {
                Sequencing::Duplicate(offset) => offset,
                Sequencing::Append => {
                    let base_offset = inner.end;
                    inner.end += batch.offset_count;
                    let next_offset = inner.end;
                    inner.batches.push(StoredBatch {
                        base_offset,
                        next_offset,
                        max_timestamp: batch.max_timestamp,
                        bytes: batch.assign(base_offset),
                    });
                    if batch.producer_id >= 0 {
                        inner.remember(batch, base_offset);
                    }
                    base_offset
                }
            };
            first.get_or_insert(base_offset);
        }
        drop(inner);
        self.appended.notify_waiters();
        Ok(first.unwrap_or(-1))
    }

    /// The batches from the one containing `offset` on, up to `max_bytes`; with `min_one`, at
    /// least one batch if there is any, however large, so that a consumer always makes progress.
    ///
    /// The first batch may start before `offset`; clients skip the records they did not ask
    /// for, as they do with Kafka.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Read, ReadError> {
        let chunks: Vec<Bytes>;
        let high_watermark;
        {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            high_watermark = inner.end;
            if offset < 0 || offset > inner.end {
                return Err(ReadError::OffsetOutOfRange { offset, start: 0, end: inner.end });
            }
            let mut size = 0;
            chunks = inner.batches[inner.batch_index(offset)..]
                .iter()
                .take_while(|b| {
                    let take = (size == 0 && min_one) || size + b.bytes.len() <= max_bytes;
                    size += b.bytes.len();
                    take
                })
                .map(|b| b.bytes.clone())
                .collect();
        }
        // Concatenate outside the lock; a single batch needs no copy at all.
        let records = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut out = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                for chunk in &chunks {
                    out.extend_from_slice(chunk);
                }
                out.freeze()
            }
        };
        Ok(Read { records, high_watermark })
    }

    /// The log start offset (always 0: nothing is deleted) and the log end offset.
    pub fn offsets(&self) -> (i64, i64) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (0, inner.end)
    }

    /// The earliest offset whose batch holds a timestamp at or after `timestamp`, with that
    /// batch's largest timestamp, or `None` if no batch does. The answer has batch precision:
    /// the offset may be a few records early, which a consumer seeking by time tolerates.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.batches.iter().find(|b| b.max_timestamp >= timestamp).map(|b| (b.base_offset, b.max_timestamp))
    }

    /// Notified after every append (see [`tokio::sync::Notify::notify_waiters`]: a waiter must
    /// `enable` its `Notified` before checking for data, or it can miss a wake-up).
    pub fn appended(&self) -> &Notify {
        &self.appended
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::{split, tests::batch};
    use super::*;

    fn batches(records: i32, producer_id: i64, sequence: i32) -> Vec<Batch> {
        split(&Bytes::from(batch(records, producer_id, sequence, 0))).expect("valid")
    }

    #[test]
    fn offsets_are_assigned_per_batch_and_reads_start_at_the_containing_batch() {
        let log = PartitionLog::default();
        assert_eq!(log.append(&batches(3, -1, -1)), Ok(0));
        assert_eq!(log.append(&batches(2, -1, -1)), Ok(3));
        assert_eq!(log.offsets(), (0, 5));
        let read = log.read(4, 1 << 20, true).expect("in range");
        assert_eq!(read.high_watermark, 5);
        assert_eq!(i64::from_be_bytes(read.records[..8].try_into().expect("8 bytes")), 3);
        assert_eq!(log.read(0, 1 << 20, true).expect("in range").records.len(), 2 * 61);
        assert_eq!(log.read(0, 1, true).expect("in range").records.len(), 61, "at least one batch");
        assert!(log.read(0, 1, false).expect("in range").records.is_empty(), "nothing over the limit");
        assert!(log.read(5, 1 << 20, true).expect("at the end").records.is_empty());
        assert!(log.read(6, 1 << 20, true).is_err());
        assert!(log.read(-1, 1 << 20, true).is_err());
    }

    #[test]
    fn retried_idempotent_batches_are_stored_once() {
        let log = PartitionLog::default();
        assert_eq!(log.append(&batches(3, 9, 0)), Ok(0));
        assert_eq!(log.append(&batches(2, 9, 3)), Ok(3));
        assert_eq!(log.append(&batches(3, 9, 0)), Ok(0), "a retry gets its first offset");
        assert_eq!(log.offsets(), (0, 5));
        assert_eq!(
            log.append(&batches(1, 9, 7)),
            Err(AppendError::OutOfOrderSequence { producer_id: 9, expected: 5, got: 7 })
        );
        assert_eq!(log.append(&batches(1, 9, 5)), Ok(5));
    }
}
