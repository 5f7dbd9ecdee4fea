//! The Kafka source reader of one subtask: it reads the partitions assigned to it (as Flink's
//! `KafkaSourceEnumerator` assigns them), each partition one split.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, fetched_high_watermark, partition_ids};
use crate::{ConnectorError, SourceBatch, SourcePoll, SourceReader};
use weir_core::jobgraph::{KafkaSource, KafkaTopic, StartingOffsets};
use weir_core::keygroup::java_hash;

const METADATA_TIMEOUT: Duration = Duration::from_secs(15);
/// Stop filling a poll's batches at this many records or bytes.
const POLL_RECORDS: usize = 8192;
const POLL_BYTES: usize = 1 << 20;

/// The reader subtask (of `readers`) that owns `partition` of `topic`: Flink's
/// `KafkaSourceEnumerator.getSplitOwner`.
pub fn split_owner(topic: &str, partition: i32, readers: u32) -> u32 {
    let start = (java_hash(topic.as_bytes()).wrapping_mul(31) & 0x7fff_ffff) as u32 % readers;
    (start + partition as u32) % readers
}

struct Partition {
    /// The next offset to read.
    position: i64,
    /// Bounded sources stop here (exclusive).
    end: Option<i64>,
    /// The end has been checked against a fetch response (see [`KafkaReader::confirm_ends`]).
    end_confirmed: bool,
    ended: bool,
}

/// The source's consumer of `topic`, resetting to `reset` where it has no offset.
fn create_consumer(topic: &KafkaTopic, reset: &str) -> Result<BaseConsumer, ConnectorError> {
    Ok(client_config(
        topic,
        &[
            ("group.id", "weir"),
            ("auto.offset.reset", reset),
            ("fetch.wait.max.ms", "100"),
            // librdkafka pauses fetching for this long whenever its queue is full; the default
            // (1 s) idles a consumer that keeps up with a fast broker most of every second.
            ("fetch.queue.backoff.ms", "10"),
            ("enable.partition.eof", "false"),
        ],
        false,
    )
    // Offsets are Weir's to keep (in checkpoints), not the consumer group's.
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .create()?)
}

/// What [`read_backlog`] read.
#[derive(Clone, Copy, Debug)]
pub struct Backlog {
    /// Records read.
    pub records: u64,
    /// Their keys' and values' bytes.
    pub bytes: u64,
    /// From the assignment to the last record.
    pub elapsed: Duration,
}

/// Reads every partition of `topic` from its start to its end with bare consumers, one per
/// reader of `readers` owning the partitions a source subtask would (the source's settings,
/// nothing done with the records but counting their bytes): the ceiling a Kafka source of that
/// parallelism can reach on this broker, which `weir bench` compares the job with.
pub fn read_backlog(topic: &KafkaTopic, readers: u32) -> Result<Backlog, ConnectorError> {
    let started = Instant::now();
    let read = std::thread::scope(|scope| {
        let threads: Vec<_> =
            (0..readers.max(1)).map(|reader| scope.spawn(move || read_partitions(topic, reader, readers))).collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect::<Vec<_>>()
    });
    let mut total = Backlog { records: 0, bytes: 0, elapsed: started.elapsed() };
    for backlog in read {
        let backlog = backlog?;
        total.records += backlog.records;
        total.bytes += backlog.bytes;
    }
    Ok(total)
}

/// Where a partition's backlog ends, as [`read_partitions`] learns it; a partition read to
/// its end is dropped from the map.
struct BacklogEnd {
    /// The offset after the last record.
    end: i64,
    /// Raised to the first fetch response's high watermark.
    confirmed: bool,
}

/// One bare consumer of [`read_backlog`]: the partitions `reader` of `readers` owns.
fn read_partitions(topic: &KafkaTopic, reader: u32, readers: u32) -> Result<Backlog, ConnectorError> {
    let consumer = create_consumer(topic, "earliest")?;
    let name = topic.topic.as_str();
    let metadata = consumer.fetch_metadata(Some(name), METADATA_TIMEOUT)?;
    let count = metadata.topics().iter().find(|t| t.name() == name).map_or(0, |t| t.partitions().len());
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in (0..partition_ids(name, count)?).filter(|p| split_owner(name, *p, readers.max(1)) == reader) {
        let (low, high) = consumer.fetch_watermarks(name, p, METADATA_TIMEOUT)?;
        if high > low {
            assignment.add_partition_offset(name, p, Offset::Offset(low))?;
            ends.insert(p, BacklogEnd { end: high, confirmed: false });
        }
    }
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    if !ends.is_empty() {
        consumer.assign(&assignment)?;
    }
    while !ends.is_empty() {
        match consumer.poll(METADATA_TIMEOUT) {
            Some(Ok(message)) => {
                records += 1;
                bytes += (message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len)) as u64;
                let p = message.partition();
                if let Some(state) = ends.get_mut(&p) {
                    if !state.confirmed {
                        // As the source does: the first fetch response's high watermark is the
                        // true end (tansu's ListOffsets can answer short of it).
                        state.end = state.end.max(fetched_high_watermark(&consumer, name, p).unwrap_or(state.end));
                        state.confirmed = true;
                    }
                    if message.offset() + 1 >= state.end {
                        ends.remove(&p);
                    }
                }
            }
            Some(Err(error)) => return Err(error.into()),
            None => {
                return Err(ConnectorError::Topic {
                    topic: name.to_string(),
                    problem: format!("no record for {} s while reading its backlog", METADATA_TIMEOUT.as_secs()),
                });
            }
        }
    }
    Ok(Backlog { records, bytes, elapsed: started.elapsed() })
}

/// A Kafka source subtask's reader (Flink's `KafkaSourceReader`) of the partitions assigned to it.
pub struct KafkaReader {
    consumer: BaseConsumer,
    topic: String,
    partitions: HashMap<i32, Partition>,
    bounded: bool,
    /// Ended partitions not yet reported.
    newly_ended: Vec<u32>,
    last_error_log: Option<Instant>,
}

impl KafkaReader {
    /// Assigns subtask `subtask` of `parallelism` its partitions of `spec`'s topic, from
    /// `offsets` where given (a restore) and from the spec's starting offsets elsewhere.
    pub fn new(
        spec: &KafkaSource,
        subtask: u32,
        parallelism: u32,
        offsets: &HashMap<i32, i64>,
    ) -> Result<Self, ConnectorError> {
        let reset = match spec.starting_offsets {
            StartingOffsets::Latest => "latest",
            _ => "earliest",
        };
        let consumer = create_consumer(&spec.topic, reset)?;
        let topic = spec.topic.topic.clone();
        let metadata = consumer.fetch_metadata(Some(&topic), METADATA_TIMEOUT)?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0)
            .ok_or_else(|| ConnectorError::Topic { topic: topic.clone(), problem: "does not exist".into() })?;

        let mut assignment = TopicPartitionList::new();
        let mut partitions = HashMap::new();
        for p in (0..partition_ids(&topic, count)?).filter(|p| split_owner(&topic, *p, parallelism) == subtask) {
            let (low, high) = consumer.fetch_watermarks(&topic, p, METADATA_TIMEOUT)?;
            let start = match offsets.get(&p) {
                Some(&o) => o,
                None => match spec.starting_offsets {
                    StartingOffsets::Earliest => low,
                    StartingOffsets::Latest => high,
                    StartingOffsets::Committed => {
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition(&topic, p);
                        let committed = consumer.committed_offsets(tpl, METADATA_TIMEOUT)?;
                        match committed.find_partition(&topic, p).map(|e| e.offset()) {
                            Some(Offset::Offset(o)) => o,
                            _ => low,
                        }
                    }
                },
            };
            let end = spec.bounded.then_some(high);
            assignment.add_partition_offset(&topic, p, Offset::Offset(start))?;
            partitions.insert(p, Partition { position: start, end, end_confirmed: false, ended: false });
        }
        if assignment.count() > 0 {
            consumer.assign(&assignment)?;
        }
        tracing::info!(
            topic,
            subtask,
            partitions = ?partitions.keys().collect::<Vec<_>>(),
            bounded = spec.bounded,
            "Kafka source assigned"
        );
        Ok(KafkaReader {
            consumer,
            topic,
            partitions,
            bounded: spec.bounded,
            newly_ended: Vec::new(),
            last_error_log: None,
        })
    }

    /// Raises each unconfirmed end to the high watermark of the first fetch response, and ends
    /// the partitions already there.
    fn confirm_ends(&mut self) {
        for (p, state) in self.partitions.iter_mut().filter(|(_, s)| !s.end_confirmed && s.end.is_some()) {
            if let Some(high) = fetched_high_watermark(&self.consumer, &self.topic, *p) {
                state.end = state.end.map(|e| e.max(high));
                state.end_confirmed = true;
                if state.end.is_some_and(|e| state.position >= e) && !state.ended {
                    state.ended = true;
                    self.newly_ended.push(*p as u32);
                }
            }
        }
    }

    fn all_ended(&self) -> bool {
        self.bounded && self.partitions.values().all(|p| p.ended)
    }
}

impl SourceReader for KafkaReader {
    fn splits(&self) -> Vec<u32> {
        self.partitions.keys().map(|p| *p as u32).collect()
    }

    fn positions(&self) -> Vec<(u32, i64)> {
        let mut positions: Vec<(u32, i64)> = self.partitions.iter().map(|(p, s)| (*p as u32, s.position)).collect();
        positions.sort();
        positions
    }

    fn commit(&mut self, positions: &[(u32, i64)]) {
        // As Flink's KafkaSource, offsets of completed checkpoints go to the consumer group,
        // for the group's observers; Weir restores from its checkpoints, not from these.
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in positions {
            if tpl.add_partition_offset(&self.topic, *p as i32, Offset::Offset(*offset)).is_err() {
                return;
            }
        }
        if let Err(error) = self.consumer.commit(&tpl, rdkafka::consumer::CommitMode::Async) {
            tracing::debug!(topic = self.topic, %error, "could not commit offsets to the consumer group");
        }
    }

    fn poll(&mut self, timeout: Duration) -> Result<SourcePoll, ConnectorError> {
        if self.bounded {
            self.confirm_ends();
        }
        let mut out = SourcePoll { ended_splits: std::mem::take(&mut self.newly_ended), ..Default::default() };
        if self.partitions.is_empty() || self.all_ended() {
            out.finished = self.bounded;
            if !out.finished {
                std::thread::sleep(timeout);
            }
            return Ok(out);
        }
        let deadline = Instant::now() + timeout;
        let mut batches: Vec<SourceBatch> = Vec::new();
        let (mut records, mut bytes) = (0, 0);
        while records < POLL_RECORDS && bytes < POLL_BYTES {
            let polled = if records == 0 {
                // Waiting for the first record is the source's idle time. Only then is the
                // clock read: per record it was a quarter of the source thread's time.
                let asked = Instant::now();
                let polled = self.consumer.poll(deadline.saturating_duration_since(asked));
                out.waited += asked.elapsed();
                polled
            } else {
                self.consumer.poll(Duration::ZERO)
            };
            let message = match polled {
                None => break,
                Some(Ok(m)) => m,
                Some(Err(error)) => {
                    // librdkafka retries by itself; say so at most every 10 s.
                    if self.last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(topic = self.topic, %error, "Kafka consumer error");
                        self.last_error_log = Some(Instant::now());
                    }
                    break;
                }
            };
            let p = message.partition();
            let Some(state) = self.partitions.get_mut(&p) else { continue };
            if state.ended || (state.end_confirmed && state.end.is_some_and(|e| message.offset() >= e)) {
                continue;
            }
            // Messages come in runs of one partition: its batch is found from the end, no hashing.
            let split = p as u32;
            let at = match batches.iter().rposition(|b| b.split == split) {
                Some(at) => at,
                None => {
                    batches.push(SourceBatch { split, records: Vec::new() });
                    batches.len() - 1
                }
            };
            let buffer = &mut batches[at].records;
            let value = message.payload().unwrap_or_default();
            let key = message.key().unwrap_or_default();
            let ts = message.timestamp().to_millis().unwrap_or(weir_frame::NO_TIMESTAMP);
            weir_frame::push(buffer, ts, key, value);
            records += 1;
            bytes += value.len() + key.len() + weir_frame::HEADER_LEN;
            state.position = message.offset() + 1;
            if state.end_confirmed && state.end.is_some_and(|e| state.position >= e) {
                state.ended = true;
                out.ended_splits.push(p as u32);
            }
        }
        out.batches = batches;
        out.finished = self.all_ended();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_owned_as_flink_assigns_them() {
        // Every partition has exactly one owner and consecutive partitions rotate over readers.
        for readers in 1..5 {
            let owners: Vec<u32> = (0..4).map(|p| split_owner("input", p, readers)).collect();
            for w in owners.windows(2) {
                assert_eq!(w[1], (w[0] + 1) % readers);
            }
        }
    }
}
