//! The Kafka sink writer of one subtask, in one of three modes:
//!
//! - **at least once** (and **none**): records go out as they come; every checkpoint flushes,
//!   so what a completed checkpoint covers is written. After a failure, what was written since
//!   the last checkpoint is written again (as Flink's `KafkaSink` at least once).
//! - **exactly once, write-ahead** (the default for exactly once; works on any Kafka-protocol
//!   broker, for any job): records are held by checkpoint epoch ([`crate::write_ahead`]) and
//!   published when the checkpoint that closed their epoch completes; what a failed attempt
//!   received after its last completed checkpoint is never published. Each published record
//!   carries its writer's identity and a sequence number in its headers, fixed when its epoch
//!   was sealed into the checkpoint; a restored writer publishes the held epochs of the
//!   checkpoint it restores (they belong to a completed checkpoint) and skips, by identity and
//!   sequence number, those already published before the failure. A plain savepoint's
//!   completion publishes nothing (as Flink's savepoints commit no side effects); the next
//!   checkpoint's does. Without checkpointing the writer writes through: no job restarts then.
//! - **exactly once by Kafka transactions**, for brokers that honour them: one transaction per
//!   checkpoint, each with its own transactional id, committed when the checkpoint completes (as
//!   Flink's two-phase-committing `KafkaSink`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{EXACTLY_ONCE_MODE, client_config, fetched_high_watermark, partition_ids};
use crate::write_ahead::{DEFAULT_MEMORY_LIMIT, Epoch, WriteAheadLog};
use crate::{ConnectorError, SinkMetrics, SinkWriter, SnapshotContext};
use weir_core::checkpoint::storage;
use weir_core::checkpoint::{BarrierKind, HeldEpoch, HeldRecords, SinkState};
use weir_core::jobgraph::{DeliveryGuarantee, KafkaSink};

/// The record header naming the writer.
pub const WRITER_HEADER: &str = "weir.writer";
/// The record header carrying the writer's sequence number (8 bytes, big endian).
pub const SEQUENCE_HEADER: &str = "weir.seq";
/// Weir's topic property bounding the memory a sink subtask's held records take before they
/// spill to disk (bytes; default [`DEFAULT_MEMORY_LIMIT`]).
pub const HELD_MEMORY: &str = "weir.sink.held-memory-bytes";

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restored writer may take to read back what it wrote.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a writer waits at its start to learn where its topic's partitions end.
const END_OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long publishing a completed epoch may wait for the broker's acknowledgements.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Delivery results: the first failure (which fails the sink) and, per partition, the offset
/// after the last record delivered.
#[derive(Clone, Default)]
struct DeliveryContext {
    failure: Arc<Mutex<Option<String>>>,
    written: Arc<Mutex<HashMap<i32, i64>>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
                let end = written.entry(message.partition()).or_default();
                *end = (*end).max(message.offset() + 1);
            }
            Err((error, _)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

type Producer_ = BaseProducer<DeliveryContext>;

/// The write-ahead mode's state.
struct WriteAhead {
    /// This attempt's identity in the headers of the epochs it seals.
    writer: String,
    /// The sequence number of the last record this identity numbered.
    sequence: u64,
    log: WriteAheadLog,
    /// Per partition, the end before this writer published anything: with what it delivered,
    /// where a restore starts reading back.
    baseline: HashMap<i32, i64>,
    /// Plain savepoints whose barriers passed: their completion publishes nothing.
    savepoints: BTreeSet<u64>,
    /// A checkpoint of the deduplicating writer before write-ahead (see [`SinkState`]): how many
    /// records the job produces again that it had written past that checkpoint.
    legacy_skip: u64,
    /// Records published (or found published) over the job's attempts.
    published: u64,
    /// Records found already published, over the job's attempts.
    skipped: u64,
}

/// Transactions: the open one, and those flushed at a checkpoint awaiting its completion.
struct Transactions {
    writer: String,
    epoch: u64,
    pending: BTreeMap<u64, Producer_>,
}

enum Mode {
    AtLeastOnce,
    WriteAhead(Box<WriteAhead>),
    Transactions(Transactions),
}

/// A sink subtask's state in the checkpoint restored from.
#[derive(Clone, Debug)]
pub struct RestoredSink {
    /// What the writer kept.
    pub state: SinkState,
    /// The checkpoint's directory, where its held records are.
    pub directory: PathBuf,
    /// True for the state of the subtask with the same index; others are taken over (a
    /// rescale to fewer subtasks) only to publish what they held.
    pub own: bool,
}

/// A Kafka sink subtask's writer (Flink's `KafkaWriter`), at least once or exactly once.
pub struct KafkaWriter {
    spec: KafkaSink,
    producer: Producer_,
    context: DeliveryContext,
    mode: Mode,
    metrics: SinkMetrics,
}

fn producer(
    spec: &KafkaSink,
    context: &DeliveryContext,
    transactional_id: Option<&str>,
) -> Result<Producer_, ConnectorError> {
    let acks = match spec.delivery_guarantee {
        DeliveryGuarantee::None => "1",
        _ => "all",
    };
    let mut config = client_config(&spec.topic, &[("acks", acks), ("linger.ms", "5")], true);
    if let Some(id) = transactional_id {
        config.set("transactional.id", id).set("transaction.timeout.ms", "60000");
    }
    let producer: Producer_ = config.create_with_context(context.clone())?;
    if transactional_id.is_some() {
        producer.init_transactions(TRANSACTION_TIMEOUT)?;
        producer.begin_transaction()?;
    }
    Ok(producer)
}

impl KafkaWriter {
    /// A writer for `spec`, named `writer` in its records and transactions (unique per attempt
    /// of a subtask), continuing from `restored` (the states it takes over from the checkpoint
    /// restored from, if any). Without `checkpointing` an exactly-once writer writes through,
    /// as nothing would ever complete its epochs (and a job without checkpoints never restarts).
    pub fn new(
        spec: &KafkaSink,
        writer: String,
        restored: Vec<RestoredSink>,
        checkpointing: bool,
    ) -> Result<Self, ConnectorError> {
        Self::with_metrics(spec, writer, restored, checkpointing, SinkMetrics::default())
    }

    /// [`KafkaWriter::new`], counting in `metrics` (the task's).
    pub fn with_metrics(
        spec: &KafkaSink,
        writer: String,
        restored: Vec<RestoredSink>,
        checkpointing: bool,
        metrics: SinkMetrics,
    ) -> Result<Self, ConnectorError> {
        let context = DeliveryContext::default();
        let transactions = spec.topic.properties.iter().any(|(k, v)| k == EXACTLY_ONCE_MODE && v == "transactions");
        let mut writer_ = KafkaWriter {
            spec: spec.clone(),
            producer: producer(spec, &context, None)?,
            context,
            mode: Mode::AtLeastOnce,
            metrics,
        };
        match spec.delivery_guarantee {
            DeliveryGuarantee::ExactlyOnce if transactions => {
                // Epochs continue past the restored checkpoint, so a failed attempt's open
                // transactions (same ids) are fenced and aborted by `init_transactions`.
                let own = restored.iter().find(|r| r.own).map(|r| &r.state);
                let writer = own.map_or(writer, |s| s.writer.clone());
                let epoch = own.map_or(0, |s| s.sequence) + 1;
                writer_.producer = producer(spec, &writer_.context, Some(&format!("{writer}-{epoch}")))?;
                writer_.mode = Mode::Transactions(Transactions { writer, epoch, pending: BTreeMap::new() });
            }
            DeliveryGuarantee::ExactlyOnce if checkpointing => writer_.restore_write_ahead(writer, restored)?,
            DeliveryGuarantee::ExactlyOnce => {
                tracing::info!(
                    topic = spec.topic.topic,
                    "the job takes no checkpoints: the exactly-once sink writes through (a job without checkpoints \
                     never restarts, so nothing is written twice)"
                );
            }
            _ => {}
        }
        Ok(writer_)
    }

    /// Sets up the write-ahead mode: publishes what the restored checkpoint held (skipping what
    /// was published before the failure), and notes where the topic's partitions end.
    fn restore_write_ahead(&mut self, writer: String, restored: Vec<RestoredSink>) -> Result<(), ConnectorError> {
        let memory_limit = self
            .spec
            .topic
            .properties
            .iter()
            .find(|(k, _)| k == HELD_MEMORY)
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|_| ConnectorError::Restore(format!("{HELD_MEMORY} must be a number of bytes, not '{v}'")))
            })
            .transpose()?
            .unwrap_or(DEFAULT_MEMORY_LIMIT);
        let mut wa = WriteAhead {
            writer,
            sequence: 0,
            log: WriteAheadLog::new(memory_limit, std::env::temp_dir()),
            baseline: HashMap::new(),
            savepoints: BTreeSet::new(),
            legacy_skip: 0,
            published: restored.iter().map(|r| r.state.published).sum(),
            skipped: restored.iter().map(|r| r.state.skipped).sum(),
        };
        // The counts go on from the job's earlier attempts.
        self.metrics.published.inc(wa.published);
        self.metrics.skipped.inc(wa.skipped);
        let mut seen = Seen::default();
        let mut relevant = Vec::new();
        for r in &restored {
            let legacy = r.own && r.state.held.is_none() && r.state.sequence > 0;
            let held = r.state.held.as_ref().filter(|h| !h.epochs.is_empty());
            if !legacy && held.is_none() {
                continue;
            }
            relevant.push(&r.state.offsets);
            if legacy {
                seen.legacy = Some((r.state.writer.clone(), 0));
            }
            for (held, e) in held.into_iter().flat_map(|h| h.epochs.iter().map(move |e| (h, e))) {
                let bytes = storage::read_held_records(&r.directory, held, e.offset, e.length)
                    .map_err(|e| ConnectorError::Restore(format!("reading the sink's held records: {e}")))?;
                seen.add(&e.writer, e.first_sequence, e.records);
                wa.log.push_restored(Epoch::restored(
                    e.checkpoint,
                    e.writer.clone(),
                    e.first_sequence,
                    e.records,
                    bytes,
                ));
            }
        }
        // Read back from the earliest place any of them may have published to: per partition
        // the least offset they name; one that some state does not name, from its start.
        let mut from: HashMap<i32, i64> = HashMap::new();
        if let Some((first, rest)) = relevant.split_first() {
            for (p, o) in first.iter() {
                let mut least = rest.iter().map(|offsets| offsets.iter().find(|(q, _)| q == p).map(|(_, o)| *o));
                if let Some(least) = least.try_fold(*o, |a, b| Some(a.min(b?))) {
                    from.insert(*p, least);
                }
            }
        }
        if seen.wanted() {
            read_back(&self.spec, &from, &mut seen)?;
        }
        if let Some((old, written)) = &seen.legacy
            && let Some(r) = restored.iter().find(|r| r.own)
        {
            wa.legacy_skip = written.saturating_sub(r.state.sequence);
            tracing::info!(
                writer = old,
                checkpointed = r.state.sequence,
                written,
                to_skip = wa.legacy_skip,
                "restored from a checkpoint of the deduplicating sink; it skips the records it wrote past that \
                 checkpoint as the job produces them again"
            );
        }
        let held = wa.log.take_through(u64::MAX);
        if !held.is_empty() {
            let records: u64 = held.iter().map(|e| e.records).sum();
            let found = seen.found();
            tracing::info!(
                writer = wa.writer,
                epochs = held.len(),
                records,
                already_published = found,
                "exactly-once sink restored: publishing the records its checkpoint held, skipping those published \
                 before the failure"
            );
            self.publish(held, Some(&seen), &mut wa)?;
        }
        wa.baseline = end_offsets(&self.spec);
        self.mode = Mode::WriteAhead(Box::new(wa));
        Ok(())
    }

    fn check_failure(&self) -> Result<(), ConnectorError> {
        match self.context.failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(error) => Err(ConnectorError::Kafka(format!(
                "a record could not be written to '{}': {error}",
                self.spec.topic.topic
            ))),
            None => Ok(()),
        }
    }

    fn send(&self, message: BaseRecord<'_, [u8], [u8]>) -> Result<(), ConnectorError> {
        let mut message = message;
        loop {
            match self.producer.send(message) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // librdkafka's queue is full: let it deliver, then retry.
                    self.producer.poll(Duration::from_millis(50));
                    self.check_failure()?;
                    message = back;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }

    /// Sends `batch` as it is, no headers.
    fn send_batch(&self, batch: &[u8]) -> Result<(), ConnectorError> {
        let topic = &self.spec.topic.topic;
        for record in weir_frame::records(batch) {
            let record = record?;
            let mut message = BaseRecord::<[u8], [u8]>::to(topic).payload(record.value);
            if !record.key.is_empty() {
                message = message.key(record.key);
            }
            self.send(message)?;
        }
        self.producer.poll(Duration::ZERO);
        self.check_failure()
    }

    /// Publishes `epochs` in order, each record with its identity and sequence number, except
    /// those `seen` found already published; waits until the broker has them all.
    fn publish(&self, epochs: Vec<Epoch>, seen: Option<&Seen>, wa: &mut WriteAhead) -> Result<(), ConnectorError> {
        let topic = &self.spec.topic.topic;
        for mut epoch in epochs {
            let mut sequence = epoch.first_sequence;
            let writer = std::mem::take(&mut epoch.writer);
            let (mut published, mut skipped) = (0u64, 0u64);
            epoch.for_each_batch(|batch| {
                for record in weir_frame::records(batch) {
                    let record = record?;
                    let this = sequence;
                    sequence += 1;
                    published += 1;
                    if seen.is_some_and(|s| s.contains(&writer, this)) {
                        skipped += 1;
                        continue;
                    }
                    let seq = this.to_be_bytes();
                    let headers = OwnedHeaders::new()
                        .insert(Header { key: WRITER_HEADER, value: Some(writer.as_bytes()) })
                        .insert(Header { key: SEQUENCE_HEADER, value: Some(&seq) });
                    let mut message = BaseRecord::<[u8], [u8]>::to(topic).payload(record.value).headers(headers);
                    if !record.key.is_empty() {
                        message = message.key(record.key);
                    }
                    self.send(message)?;
                }
                self.producer.poll(Duration::ZERO);
                self.check_failure()
            })?;
            tracing::debug!(writer, checkpoint = epoch.checkpoint, published, skipped, "epoch published");
            wa.published += published;
            wa.skipped += skipped;
            self.metrics.published.inc(published);
            self.metrics.skipped.inc(skipped);
        }
        self.flush_producer(PUBLISH_TIMEOUT)?;
        self.metrics.held.set(wa.log.records() as f64);
        Ok(())
    }

    /// Waits until everything sent is acknowledged.
    fn flush_producer(&self, timeout: Duration) -> Result<(), ConnectorError> {
        // rdkafka's `flush` waits in poll slices of 100 ms that always run to their end, so a
        // checkpoint (and an upgrade's barrier) would wait 100 ms whenever a record is in
        // flight. A zero-timeout flush sends what lingers; short polls then collect the
        // delivery reports as they come.
        let deadline = Instant::now() + timeout;
        match self.producer.flush(Duration::ZERO) {
            Ok(()) | Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(error) => return Err(error.into()),
        }
        while self.producer.in_flight_count() > 0 {
            if Instant::now() >= deadline {
                return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut).into());
            }
            self.producer.poll(Duration::from_millis(1));
        }
        self.check_failure()
    }

    /// Runs `f` on the write-ahead state, taken out of `self` meanwhile.
    fn with_write_ahead<T>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut WriteAhead) -> Result<T, ConnectorError>,
    ) -> Option<Result<T, ConnectorError>> {
        let Mode::WriteAhead(mut wa) = std::mem::replace(&mut self.mode, Mode::AtLeastOnce) else { return None };
        let result = f(self, &mut wa);
        self.mode = Mode::WriteAhead(wa);
        Some(result)
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &[u8]) -> Result<(), ConnectorError> {
        let Mode::WriteAhead(wa) = &mut self.mode else { return self.send_batch(batch) };
        let mut batch = batch;
        if wa.legacy_skip > 0 {
            let (_, rest, skipped) = weir_frame::split(batch, usize::try_from(wa.legacy_skip).unwrap_or(usize::MAX))?;
            wa.legacy_skip -= skipped as u64;
            wa.skipped += skipped as u64;
            self.metrics.skipped.inc(skipped as u64);
            if wa.legacy_skip == 0 {
                tracing::info!(writer = wa.writer, "exactly-once sink caught up with what it wrote before the failure");
            }
            batch = rest;
        }
        if batch.is_empty() {
            return Ok(());
        }
        wa.log.append(batch, weir_frame::count(batch)? as u64)?;
        self.metrics.held.set(wa.log.records() as f64);
        Ok(())
    }

    fn flush(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
        self.flush_producer(timeout)
    }

    fn snapshot(&mut self, at: &SnapshotContext<'_>) -> Result<Option<SinkState>, ConnectorError> {
        match &mut self.mode {
            Mode::AtLeastOnce => Ok(None),
            Mode::WriteAhead(wa) => {
                let sealed = wa.log.seal(at.barrier.id, &wa.writer, wa.sequence + 1);
                wa.sequence += sealed;
                if at.barrier.kind == BarrierKind::Savepoint {
                    wa.savepoints.insert(at.barrier.id);
                }
                let mut epochs: Vec<HeldEpoch> = wa
                    .log
                    .sealed_mut()
                    .map(|e| HeldEpoch {
                        checkpoint: e.checkpoint,
                        writer: e.writer.clone(),
                        first_sequence: e.first_sequence,
                        records: e.records,
                        offset: 0,
                        length: 0,
                    })
                    .collect();
                let mut file = String::new();
                if !epochs.is_empty() {
                    let mut readers = Vec::with_capacity(epochs.len());
                    for epoch in wa.log.sealed_mut() {
                        readers.push(epoch.reader()?);
                    }
                    let mut sections: Vec<&mut dyn std::io::Read> =
                        readers.iter_mut().map(|r| r.as_mut() as &mut dyn std::io::Read).collect();
                    let (name, placed) = storage::write_held_records(
                        Path::new(&*at.barrier.location),
                        at.uid,
                        at.subtask,
                        &mut sections,
                    )
                    .map_err(|e| ConnectorError::Restore(format!("writing the sink's held records: {e}")))?;
                    for (epoch, (offset, length)) in epochs.iter_mut().zip(placed) {
                        (epoch.offset, epoch.length) = (offset, length);
                    }
                    file = name;
                }
                let mut offsets = wa.baseline.clone();
                for (p, o) in self.context.written.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    let at = offsets.entry(*p).or_insert(*o);
                    *at = (*at).max(*o);
                }
                let mut offsets: Vec<(i32, i64)> = offsets.into_iter().collect();
                offsets.sort();
                Ok(Some(SinkState {
                    writer: wa.writer.clone(),
                    sequence: wa.sequence,
                    offsets,
                    held: Some(HeldRecords { file, epochs }),
                    published: wa.published,
                    skipped: wa.skipped,
                }))
            }
            Mode::Transactions(tx) => {
                // The open transaction holds this checkpoint's records: park it until the
                // checkpoint completes and carry on in a new one.
                tx.epoch += 1;
                let next = producer(&self.spec, &self.context, Some(&format!("{}-{}", tx.writer, tx.epoch)))?;
                let flushed = std::mem::replace(&mut self.producer, next);
                tx.pending.insert(tx.epoch - 1, flushed);
                Ok(Some(SinkState { writer: tx.writer.clone(), sequence: tx.epoch - 1, ..Default::default() }))
            }
        }
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        if let Mode::Transactions(tx) = &mut self.mode {
            // Every parked transaction precedes the completed checkpoint's barrier.
            for (epoch, producer) in std::mem::take(&mut tx.pending) {
                producer.commit_transaction(TRANSACTION_TIMEOUT)?;
                tracing::debug!(writer = tx.writer, epoch, "transaction committed");
            }
            return Ok(());
        }
        self.with_write_ahead(|this, wa| {
            if wa.savepoints.remove(&checkpoint) {
                // A savepoint commits no side effects: its epoch waits for the next checkpoint.
                return Ok(());
            }
            wa.savepoints.retain(|s| *s > checkpoint);
            let epochs = wa.log.take_through(checkpoint);
            if epochs.is_empty() {
                return Ok(());
            }
            this.publish(epochs, None, wa)
        })
        .unwrap_or(Ok(()))
    }

    fn awaits_completion(&self) -> bool {
        matches!(&self.mode, Mode::WriteAhead(wa) if wa.log.has_sealed())
    }

    fn finish(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
        self.with_write_ahead(|this, wa| {
            // The input has ended: no checkpoint will close the open epoch (Flink would take a
            // final checkpoint first; Weir takes none once tasks finish), so what is held is
            // published now. README, "Exactly-once output", says what that leaves open.
            wa.sequence += wa.log.seal(u64::MAX, &wa.writer, wa.sequence + 1);
            let epochs = wa.log.take_through(u64::MAX);
            if epochs.is_empty() { Ok(()) } else { this.publish(epochs, None, wa) }
        })
        .unwrap_or(Ok(()))?;
        self.flush_producer(timeout)
    }
}

/// What a restored writer looks for in the topic: the sequence numbers of its held epochs that
/// were published before the failure, and, for a checkpoint of the deduplicating writer, the
/// largest sequence number that writer wrote.
#[derive(Default)]
struct Seen {
    /// Per identity: (first sequence, records, one bit per record: found published).
    epochs: HashMap<String, Vec<(u64, u64, Vec<u64>)>>,
    legacy: Option<(String, u64)>,
}

impl Seen {
    fn add(&mut self, writer: &str, first: u64, records: u64) {
        let words = usize::try_from(records.div_ceil(64)).unwrap_or(usize::MAX);
        self.epochs.entry(writer.to_string()).or_default().push((first, records, vec![0; words]));
    }

    fn wanted(&self) -> bool {
        !self.epochs.is_empty() || self.legacy.is_some()
    }

    fn mark(&mut self, writer: &[u8], sequence: u64) {
        if let Some((legacy, largest)) = &mut self.legacy
            && legacy.as_bytes() == writer
        {
            *largest = (*largest).max(sequence);
        }
        let Some(ranges) = std::str::from_utf8(writer).ok().and_then(|w| self.epochs.get_mut(w)) else { return };
        for (first, records, bits) in ranges {
            if let Some(i) = sequence.checked_sub(*first).filter(|i| i < records) {
                bits[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
    }

    fn contains(&self, writer: &str, sequence: u64) -> bool {
        self.epochs.get(writer).is_some_and(|ranges| {
            ranges.iter().any(|(first, records, bits)| {
                sequence
                    .checked_sub(*first)
                    .filter(|i| i < records)
                    .is_some_and(|i| bits[(i / 64) as usize] & (1 << (i % 64)) != 0)
            })
        })
    }

    fn found(&self) -> u64 {
        self.epochs
            .values()
            .flatten()
            .map(|(_, _, bits)| bits.iter().map(|w| u64::from(w.count_ones())).sum::<u64>())
            .sum()
    }
}

/// A consumer of the sink's topic for a writer's own reads (no commits, `extra` set), and the
/// number of partitions the broker reports for the topic.
fn recovery_consumer(spec: &KafkaSink, extra: (&str, &str)) -> Result<(BaseConsumer, i32), ConnectorError> {
    let topic = &spec.topic.topic;
    let consumer: BaseConsumer = client_config(&spec.topic, &[("group.id", "weir-sink-recovery")], false)
        .set("enable.auto.commit", "false")
        .set(extra.0, extra.1)
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(15))?;
    let count = metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
    Ok((consumer, partition_ids(topic, count)?))
}

/// Where each partition of the sink's topic ends now, as fetch responses report it (the high
/// watermark, which is a record batch's end); empty if the broker does not say within a few
/// seconds, and a restore then reads the partitions from their start.
///
/// Not ListOffsets: tansu 0.6 answers it with an offset inside the last batch, and a fetch from
/// inside a batch skips to the next one, or returns nothing within the last batch, so a
/// read-back starting there would miss records or never reach the end.
fn end_offsets(spec: &KafkaSink) -> HashMap<i32, i64> {
    let topic = &spec.topic.topic;
    let ends = || -> Result<HashMap<i32, i64>, ConnectorError> {
        let (consumer, partitions) = recovery_consumer(spec, ("fetch.wait.max.ms", "10"))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::End)?;
        }
        consumer.assign(&tpl)?;
        let deadline = Instant::now() + END_OFFSETS_TIMEOUT;
        let mut ends = HashMap::new();
        while ends.len() < partitions as usize {
            if Instant::now() > deadline {
                return Err(ConnectorError::Kafka(format!("no fetch response within {END_OFFSETS_TIMEOUT:?}")));
            }
            let _ = consumer.poll(Duration::from_millis(20));
            for p in 0..partitions {
                if let Some(high) = fetched_high_watermark(&consumer, topic, p) {
                    ends.insert(p, high);
                }
            }
        }
        Ok(ends)
    };
    ends().unwrap_or_else(|error| {
        tracing::warn!(topic, %error, "could not read where the sink's partitions end; a restore will read them from their start");
        HashMap::new()
    })
}

/// Reads the topic from `from` (per partition; a partition not named from its start) to its
/// end, marking in `seen` the identities and sequence numbers of the records found.
fn read_back(spec: &KafkaSink, from: &HashMap<i32, i64>, seen: &mut Seen) -> Result<(), ConnectorError> {
    let topic = &spec.topic.topic;
    let (consumer, partitions) = recovery_consumer(spec, ("enable.partition.eof", "false"))?;
    let mut tpl = TopicPartitionList::new();
    let mut positions: HashMap<i32, i64> = HashMap::new();
    let mut ends: HashMap<i32, Option<i64>> = HashMap::new();
    for p in 0..partitions {
        let from = from.get(&p).copied().unwrap_or(0);
        tpl.add_partition_offset(topic, p, Offset::Offset(from))?;
        positions.insert(p, from);
        ends.insert(p, None);
    }
    if partitions == 0 {
        return Ok(());
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        // The end of each partition as a fetch response reports it (see fetched_high_watermark).
        for (p, end) in ends.iter_mut().filter(|(_, e)| e.is_none()) {
            *end = fetched_high_watermark(&consumer, topic, *p);
        }
        if ends.iter().all(|(p, end)| end.is_some_and(|e| positions[p] >= e)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ConnectorError::Restore(format!("could not read back '{topic}' within {RECOVERY_TIMEOUT:?}")));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message?;
        positions.insert(message.partition(), message.offset() + 1);
        let Some(headers) = message.headers() else { continue };
        let mut writer = None;
        let mut sequence = None;
        for header in headers.iter() {
            match header.key {
                WRITER_HEADER => writer = header.value,
                SEQUENCE_HEADER => {
                    sequence = header.value.and_then(|v| <[u8; 8]>::try_from(v).ok()).map(u64::from_be_bytes)
                }
                _ => {}
            }
        }
        if let (Some(w), Some(s)) = (writer, sequence) {
            seen.mark(w, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use weir_core::checkpoint::Barrier;
    use weir_core::jobgraph::KafkaTopic;

    fn spec(
        mock: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>,
        properties: Vec<(String, String)>,
    ) -> KafkaSink {
        KafkaSink {
            topic: KafkaTopic { topic: "out".into(), bootstrap_servers: mock.bootstrap_servers(), properties },
            delivery_guarantee: DeliveryGuarantee::ExactlyOnce,
        }
    }

    fn record(n: u32) -> Vec<u8> {
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, 0, b"", format!("{{\"n\":{n}}}").as_bytes());
        batch
    }

    fn snapshot(writer: &mut KafkaWriter, id: u64, kind: BarrierKind, dir: &Path) -> SinkState {
        let barrier = Barrier { id, kind, location: dir.display().to_string().into(), format: Default::default() };
        writer.snapshot(&SnapshotContext { barrier: &barrier, uid: "sink", subtask: 0 }).unwrap().unwrap()
    }

    /// What the writer's producer has had acknowledged: per partition, the offset after the last.
    fn written(writer: &KafkaWriter) -> HashMap<i32, i64> {
        writer.context.written.lock().unwrap().clone()
    }

    /// The transactional mode's call flow against librdkafka's mock cluster (which runs the
    /// transaction calls but does not honour read_committed, so only the flow is checked):
    /// a transaction per checkpoint, parked at the barrier, committed at completion.
    #[test]
    fn transactions_commit_when_their_checkpoint_completes() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 2, 1).unwrap();
        let spec = spec(&mock, vec![(EXACTLY_ONCE_MODE.into(), "transactions".into())]);
        let dir = tempfile::tempdir().unwrap();
        let mut writer = KafkaWriter::new(&spec, "job/sink/0".into(), Vec::new(), true).unwrap();
        writer.write(&record(1)).unwrap();
        writer.flush(Duration::from_secs(10)).unwrap();
        let state = snapshot(&mut writer, 1, BarrierKind::Checkpoint, dir.path());
        assert_eq!((state.writer.as_str(), state.sequence), ("job/sink/0", 1));
        let Mode::Transactions(tx) = &writer.mode else { panic!("transactions mode") };
        assert_eq!((tx.epoch, tx.pending.len()), (2, 1));
        writer.write(&record(1)).unwrap();
        writer.checkpoint_complete(1).unwrap();
        let Mode::Transactions(tx) = &writer.mode else { panic!("transactions mode") };
        assert!(tx.pending.is_empty());
        // Restored from that checkpoint, the writer continues with the next transaction id.
        let own = RestoredSink { state, directory: dir.path().to_path_buf(), own: true };
        let restored = KafkaWriter::new(&spec, "job/sink/0".into(), vec![own], true).unwrap();
        let Mode::Transactions(tx) = &restored.mode else { panic!("transactions mode") };
        assert_eq!(tx.epoch, 2);
    }

    /// Write-ahead: nothing is published before its checkpoint completes; a plain savepoint's
    /// completion publishes nothing, the next checkpoint's publishes its epoch too. Restored from
    /// a checkpoint whose held epoch the failed attempt had published, a writer skips it;
    /// restored from one whose epoch it had not, a writer publishes it. Counts carry over.
    #[test]
    fn held_epochs_are_published_once_whatever_the_failure() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 1, 1).unwrap();
        let spec = spec(&mock, vec![]);
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut first = KafkaWriter::new(&spec, "job/sink/0/0".into(), Vec::new(), true).unwrap();
        first.write(&record(1)).unwrap();
        assert!(written(&first).is_empty(), "held, not published");
        snapshot(&mut first, 1, BarrierKind::Savepoint, one.path());
        first.checkpoint_complete(1).unwrap();
        assert!(written(&first).is_empty(), "a savepoint publishes nothing");
        assert!(first.awaits_completion());
        first.write(&record(2)).unwrap();
        first.write(&record(3)).unwrap();
        // Checkpoint 2 holds epochs 1 (the savepoint's) and 2.
        let state = snapshot(&mut first, 2, BarrierKind::Checkpoint, two.path());
        let held = state.held.clone().unwrap();
        assert_eq!(
            held.epochs.iter().map(|e| (e.checkpoint, e.first_sequence, e.records)).collect::<Vec<_>>(),
            [(1, 1, 1), (2, 2, 2)]
        );
        first.write(&record(4)).unwrap();
        first.checkpoint_complete(2).unwrap();
        assert_eq!(written(&first), HashMap::from([(0, 3)]));
        assert!(!first.awaits_completion());
        drop(first); // fails with record 4 held in epoch 3, never published

        // Restored after it published checkpoint 2's epochs: nothing again.
        let metrics = SinkMetrics::default();
        let own = || RestoredSink { state: state.clone(), directory: two.path().to_path_buf(), own: true };
        let second =
            KafkaWriter::with_metrics(&spec, "job/sink/0/1".into(), vec![own()], true, metrics.clone()).unwrap();
        assert!(written(&second).is_empty());
        assert_eq!((metrics.published.get(), metrics.skipped.get()), (3, 3));
        // The job produces record 4 again (and another), published at the next checkpoint.
        let mut second = second;
        second.write(&record(4)).unwrap();
        second.write(&record(5)).unwrap();
        let three = tempfile::tempdir().unwrap();
        let after = snapshot(&mut second, 3, BarrierKind::Checkpoint, three.path());
        assert_eq!((after.published, after.skipped), (3, 3));
        second.checkpoint_complete(3).unwrap();
        assert_eq!(written(&second), HashMap::from([(0, 5)]));
        assert_eq!(metrics.published.get(), 5);

        // A writer restored from checkpoint 3 whose epoch had not been published publishes it,
        // skipping nothing; one restored from it afterwards finds all of it published.
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 1, 1).unwrap();
        let spec =
            KafkaSink { topic: KafkaTopic { bootstrap_servers: mock.bootstrap_servers(), ..spec.topic }, ..spec };
        // (The new cluster's topic is empty: read it back from its start.)
        let state = SinkState { offsets: Vec::new(), ..after };
        let restore = |id: &str| {
            let r = RestoredSink { state: state.clone(), directory: three.path().to_path_buf(), own: true };
            KafkaWriter::new(&spec, id.into(), vec![r], true).unwrap()
        };
        let third = restore("job/sink/0/2");
        assert_eq!(written(&third), HashMap::from([(0, 2)]));
        let fourth = restore("job/sink/0/3");
        assert!(written(&fourth).is_empty());
    }

    /// A checkpoint of the deduplicating writer (no held records): the restored writer skips
    /// what that writer wrote past it, as before, and holds the rest.
    #[test]
    fn a_checkpoint_of_the_deduplicating_writer_still_restores() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 1, 1).unwrap();
        let spec = spec(&mock, vec![]);
        // What the old writer did: records 1..=3 with its headers, a checkpoint after record 1.
        let old = KafkaWriter::new(&spec, "old".into(), Vec::new(), false).unwrap();
        for n in 1..=3u64 {
            let seq = n.to_be_bytes();
            let headers = OwnedHeaders::new()
                .insert(Header { key: WRITER_HEADER, value: Some(b"job/sink/0") })
                .insert(Header { key: SEQUENCE_HEADER, value: Some(&seq) });
            old.send(BaseRecord::<[u8], [u8]>::to("out").payload(b"x").headers(headers)).unwrap();
        }
        old.flush_producer(Duration::from_secs(10)).unwrap();
        let state = SinkState { writer: "job/sink/0".into(), sequence: 1, offsets: vec![(0, 1)], ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let metrics = SinkMetrics::default();
        let own = RestoredSink { state, directory: dir.path().to_path_buf(), own: true };
        let mut restored =
            KafkaWriter::with_metrics(&spec, "job/sink/0/1".into(), vec![own], true, metrics.clone()).unwrap();
        for n in 2..=4 {
            restored.write(&record(n)).unwrap();
        }
        assert_eq!(metrics.skipped.get(), 2);
        assert_eq!(metrics.held.get(), 1.0);
    }
}
