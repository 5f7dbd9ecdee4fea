//! The Kafka sink writer of one subtask, in one of three modes:
//!
//! - **at least once** (and **none**): records go out as they come; every checkpoint flushes,
//!   so what a completed checkpoint covers is written. After a failure, what was written since
//!   the last checkpoint is written again (as Flink's `KafkaSink` at least once).
//! - **exactly once by deduplication** (the default for exactly once; works on any broker):
//!   every record carries its writer's identity and a sequence number in its headers, and the
//!   writer's checkpointed state says how far it had got. Restored, the writer reads what it
//!   wrote past its checkpoint and does not write those sequence numbers again (counting them
//!   in the counter given with [`KafkaWriter::with_duplicates_counter`]). This holds
//!   because the job is deterministic from a checkpoint: restored state and offsets make the
//!   same results in the same order on each sink subtask.
//! - **exactly once by Kafka transactions**, for brokers that honour them: one transaction per
//!   checkpoint, each with its own transactional id, committed when the checkpoint completes (as
//!   Flink's two-phase-committing `KafkaSink`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{EXACTLY_ONCE_MODE, client_config, fetched_high_watermark, partition_ids};
use crate::{ConnectorError, SinkWriter};
use weir_core::checkpoint::SinkState;
use weir_core::jobgraph::{DeliveryGuarantee, KafkaSink};
use weir_core::metrics::Counter;

/// The record header naming the writer.
pub const WRITER_HEADER: &str = "weir.writer";
/// The record header carrying the writer's sequence number (8 bytes, big endian).
pub const SEQUENCE_HEADER: &str = "weir.seq";

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restored writer may take to read back what it wrote.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Deduplication state.
struct Dedup {
    writer: String,
    /// The sequence number of the last record handed to the producer.
    sequence: u64,
    /// Records up to this sequence number were written before a failure: skip them.
    written_before: u64,
    /// How many records the restored writer skips: `written_before` less its checkpointed
    /// sequence number.
    to_skip: u64,
}

/// Transactions: the open one, and those flushed at a checkpoint awaiting its completion.
struct Transactions {
    writer: String,
    epoch: u64,
    pending: BTreeMap<u64, Producer_>,
}

enum Mode {
    AtLeastOnce,
    Dedup(Dedup),
    Transactions(Transactions),
}

/// A Kafka sink subtask's writer (Flink's `KafkaWriter`), at least once or exactly once.
pub struct KafkaWriter {
    spec: KafkaSink,
    producer: Producer_,
    context: DeliveryContext,
    mode: Mode,
    /// Records not written because they were written before a failure.
    duplicates_skipped: Arc<Counter>,
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
    /// A writer for `spec`, named `writer` in its records and transactions, continuing from
    /// `restored` (its state in the checkpoint restored from) if any.
    pub fn new(spec: &KafkaSink, writer: String, restored: Option<SinkState>) -> Result<Self, ConnectorError> {
        let context = DeliveryContext::default();
        let transactions = spec.topic.properties.iter().any(|(k, v)| k == EXACTLY_ONCE_MODE && v == "transactions");
        let (mode, producer) = match spec.delivery_guarantee {
            DeliveryGuarantee::ExactlyOnce if transactions => {
                // Epochs continue past the restored checkpoint, so a failed attempt's open
                // transactions (same ids) are fenced and aborted by `init_transactions`.
                let epoch = restored.as_ref().map_or(0, |s| s.sequence) + 1;
                let producer = producer(spec, &context, Some(&format!("{writer}-{epoch}")))?;
                (Mode::Transactions(Transactions { writer, epoch, pending: BTreeMap::new() }), producer)
            }
            DeliveryGuarantee::ExactlyOnce => {
                let (writer, sequence, written_before) = match restored {
                    Some(state) => {
                        let written = read_back(spec, &state)?.max(state.sequence);
                        tracing::info!(
                            writer = state.writer,
                            checkpointed = state.sequence,
                            written,
                            to_skip = written - state.sequence,
                            "exactly-once sink restored; it skips the records it wrote past its checkpoint as \
                             the job produces them again"
                        );
                        (state.writer, state.sequence, written)
                    }
                    None => (writer, 0, 0),
                };
                let to_skip = written_before - sequence;
                (Mode::Dedup(Dedup { writer, sequence, written_before, to_skip }), producer(spec, &context, None)?)
            }
            _ => (Mode::AtLeastOnce, producer(spec, &context, None)?),
        };
        Ok(KafkaWriter { spec: spec.clone(), producer, context, mode, duplicates_skipped: Arc::default() })
    }

    /// Counts the records the writer does not write, as written before a failure, in
    /// `counter` (the task's `numRecordsOutDuplicatesSkipped`).
    pub fn with_duplicates_counter(mut self, counter: Arc<Counter>) -> Self {
        self.duplicates_skipped = counter;
        self
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
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &[u8]) -> Result<(), ConnectorError> {
        let topic = self.spec.topic.topic.clone();
        for record in weir_frame::records(batch) {
            let record = record?;
            let mut message = BaseRecord::<[u8], [u8]>::to(&topic).payload(record.value);
            if !record.key.is_empty() {
                message = message.key(record.key);
            }
            if let Mode::Dedup(dedup) = &mut self.mode {
                dedup.sequence += 1;
                if dedup.sequence <= dedup.written_before {
                    // Written before the failure.
                    self.duplicates_skipped.inc(1);
                    if dedup.sequence == dedup.written_before {
                        tracing::info!(
                            writer = dedup.writer,
                            skipped = dedup.to_skip,
                            "exactly-once sink caught up with what it wrote before the failure; writing again"
                        );
                    }
                    continue;
                }
                let seq = dedup.sequence.to_be_bytes();
                let headers = OwnedHeaders::new()
                    .insert(Header { key: WRITER_HEADER, value: Some(dedup.writer.as_bytes()) })
                    .insert(Header { key: SEQUENCE_HEADER, value: Some(&seq) });
                message = message.headers(headers);
            }
            self.send(message)?;
        }
        self.producer.poll(Duration::ZERO);
        self.check_failure()
    }

    fn flush(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
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

    fn snapshot(&mut self) -> Result<Option<SinkState>, ConnectorError> {
        match &mut self.mode {
            Mode::AtLeastOnce => Ok(None),
            Mode::Dedup(dedup) => {
                let written = self.context.written.lock().unwrap_or_else(|e| e.into_inner());
                let mut offsets: Vec<(i32, i64)> = written.iter().map(|(p, o)| (*p, *o)).collect();
                offsets.sort();
                Ok(Some(SinkState { writer: dedup.writer.clone(), sequence: dedup.sequence, offsets }))
            }
            Mode::Transactions(tx) => {
                // The open transaction holds this checkpoint's records: park it until the
                // checkpoint completes and carry on in a new one.
                tx.epoch += 1;
                let next = producer(&self.spec, &self.context, Some(&format!("{}-{}", tx.writer, tx.epoch)))?;
                let flushed = std::mem::replace(&mut self.producer, next);
                tx.pending.insert(tx.epoch - 1, flushed);
                Ok(Some(SinkState { writer: tx.writer.clone(), sequence: tx.epoch - 1, offsets: Vec::new() }))
            }
        }
    }

    fn checkpoint_complete(&mut self, _checkpoint: u64) -> Result<(), ConnectorError> {
        if let Mode::Transactions(tx) = &mut self.mode {
            // Every parked transaction precedes the completed checkpoint's barrier.
            for (epoch, producer) in std::mem::take(&mut tx.pending) {
                producer.commit_transaction(TRANSACTION_TIMEOUT)?;
                tracing::debug!(writer = tx.writer, epoch, "transaction committed");
            }
        }
        Ok(())
    }
}

/// Reads what writer `state.writer` wrote after its checkpoint, and returns the largest
/// sequence number it finds (0 if none).
fn read_back(spec: &KafkaSink, state: &SinkState) -> Result<u64, ConnectorError> {
    let topic = &spec.topic.topic;
    let consumer: BaseConsumer = client_config(&spec.topic, &[("group.id", "weir-sink-recovery")], false)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(15))?;
    let count = metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
    let partitions = partition_ids(topic, count)?;
    let mut tpl = TopicPartitionList::new();
    let mut positions: HashMap<i32, i64> = HashMap::new();
    let mut ends: HashMap<i32, Option<i64>> = HashMap::new();
    for p in 0..partitions {
        let from = state.offsets.iter().find(|(q, _)| *q == p).map_or(0, |(_, o)| *o);
        tpl.add_partition_offset(topic, p, Offset::Offset(from))?;
        positions.insert(p, from);
        ends.insert(p, None);
    }
    if partitions == 0 {
        return Ok(0);
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    let mut largest = 0u64;
    loop {
        // The end of each partition as a fetch response reports it (see fetched_high_watermark).
        for (p, end) in ends.iter_mut().filter(|(_, e)| e.is_none()) {
            *end = fetched_high_watermark(&consumer, topic, *p);
        }
        if ends.iter().all(|(p, end)| end.is_some_and(|e| positions[p] >= e)) {
            return Ok(largest);
        }
        if Instant::now() > deadline {
            return Err(ConnectorError::Restore(format!("could not read back '{topic}' within {RECOVERY_TIMEOUT:?}")));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message?;
        positions.insert(message.partition(), message.offset() + 1);
        let Some(headers) = message.headers() else { continue };
        let mut ours = false;
        let mut sequence = None;
        for header in headers.iter() {
            match header.key {
                WRITER_HEADER => ours = header.value == Some(state.writer.as_bytes()),
                SEQUENCE_HEADER => {
                    sequence = header.value.and_then(|v| <[u8; 8]>::try_from(v).ok()).map(u64::from_be_bytes)
                }
                _ => {}
            }
        }
        if ours && let Some(s) = sequence {
            largest = largest.max(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use weir_core::jobgraph::KafkaTopic;

    /// The transactional mode's call flow against librdkafka's mock cluster (which runs the
    /// transaction calls but does not honour read_committed, so only the flow is checked):
    /// a transaction per checkpoint, parked at the barrier, committed at completion.
    #[test]
    fn transactions_commit_when_their_checkpoint_completes() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 2, 1).unwrap();
        let spec = KafkaSink {
            topic: KafkaTopic {
                topic: "out".into(),
                bootstrap_servers: mock.bootstrap_servers(),
                properties: vec![(EXACTLY_ONCE_MODE.into(), "transactions".into())],
            },
            delivery_guarantee: DeliveryGuarantee::ExactlyOnce,
        };
        let mut writer = KafkaWriter::new(&spec, "job/sink/0".into(), None).unwrap();
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, 0, b"", b"{\"count\":1000}");
        writer.write(&batch).unwrap();
        writer.flush(Duration::from_secs(10)).unwrap();
        let state = writer.snapshot().unwrap().unwrap();
        assert_eq!((state.writer.as_str(), state.sequence), ("job/sink/0", 1));
        let Mode::Transactions(tx) = &writer.mode else { panic!("transactions mode") };
        assert_eq!((tx.epoch, tx.pending.len()), (2, 1));
        writer.write(&batch).unwrap();
        writer.checkpoint_complete(1).unwrap();
        let Mode::Transactions(tx) = &writer.mode else { panic!("transactions mode") };
        assert!(tx.pending.is_empty());
        // Restored from that checkpoint, the writer continues with the next transaction id.
        let restored = KafkaWriter::new(&spec, "job/sink/0".into(), Some(state)).unwrap();
        let Mode::Transactions(tx) = &restored.mode else { panic!("transactions mode") };
        assert_eq!(tx.epoch, 2);
    }

    /// Exactly once by deduplication: restored from a checkpoint, the writer reads back what it
    /// wrote past it, skips those records as the job produces them again, counts them, and
    /// writes on after them.
    #[test]
    fn a_restored_writer_skips_and_counts_what_it_wrote_past_its_checkpoint() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("out", 1, 1).unwrap();
        let spec = KafkaSink {
            topic: KafkaTopic { topic: "out".into(), bootstrap_servers: mock.bootstrap_servers(), properties: vec![] },
            delivery_guarantee: DeliveryGuarantee::ExactlyOnce,
        };
        let record = |n: u32| {
            let mut batch = Vec::new();
            weir_frame::push(&mut batch, 0, b"", format!("{{\"n\":{n}}}").as_bytes());
            batch
        };
        let timeout = Duration::from_secs(10);
        let mut first = KafkaWriter::new(&spec, "job/sink/0".into(), None).unwrap();
        first.write(&record(1)).unwrap();
        first.flush(timeout).unwrap();
        let checkpoint = first.snapshot().unwrap().unwrap();
        assert_eq!(checkpoint.sequence, 1);
        // Written after the checkpoint, then the failure.
        first.write(&record(2)).unwrap();
        first.write(&record(3)).unwrap();
        first.flush(timeout).unwrap();
        drop(first);

        let skipped = Arc::new(Counter::default());
        let mut restored = KafkaWriter::new(&spec, "job/sink/0".into(), Some(checkpoint))
            .unwrap()
            .with_duplicates_counter(skipped.clone());
        for n in 2..=4 {
            restored.write(&record(n)).unwrap();
        }
        restored.flush(timeout).unwrap();
        assert_eq!(skipped.get(), 2);
        // Only record 4 went out, after the three written before: offset 3.
        let written = restored.context.written.lock().unwrap().clone();
        assert_eq!(written, HashMap::from([(0, 4)]));
        let Mode::Dedup(dedup) = &restored.mode else { panic!("deduplication mode") };
        assert_eq!((dedup.sequence, dedup.written_before), (4, 3));
    }
}
