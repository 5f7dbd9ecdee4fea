//! The job graph the host runs (Flink's `JobGraph`): the guest's plan, checked and translated
//! into vertices with IDs, parallelism and the edges between them.
//!
//! Each planned operator becomes one vertex (Weir never chains operators, as the playground's
//! job runs without `--chaining`), except a sink, which becomes two as in Flink: `<name>: Writer`
//! and `<name>: Committer`. A source's vertex is named `Source: <name>`.

use serde::{Deserialize, Serialize};

/// 32 lowercase hex digits, as Flink prints job and vertex IDs.
pub type Id = String;

/// A new random job ID.
pub fn new_job_id() -> Id {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A job, ready to deploy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobGraph {
    /// The job's ID, under which the REST API and the CLI know it.
    pub job_id: Id,
    /// The job's name (Flink's `env.execute(name)`).
    pub name: String,
    /// Vertices in topological order.
    pub vertices: Vec<JobVertex>,
    /// Whether windows and timers follow event time (with its watermark strategy) or the wall clock.
    pub time: TimeCharacteristic,
    /// Checkpoint every so many milliseconds; `None` disables checkpointing.
    pub checkpoint_interval_ms: Option<u64>,
    /// The number of key groups keyed state is split into: the most subtasks a keyed vertex can have.
    pub max_parallelism: u32,
}

impl JobGraph {
    /// The vertices that read from `vertex`, with the edge index in their inputs.
    pub fn consumers(&self, vertex: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.vertices.iter().enumerate().flat_map(move |(v, jv)| {
            jv.inputs.iter().enumerate().filter(move |(_, e)| e.source == vertex).map(move |(i, _)| (v, i))
        })
    }

    /// Every Kafka topic the job reads or writes, with its servers.
    pub fn kafka_topics(&self) -> Vec<&KafkaTopic> {
        let mut topics = Vec::new();
        for v in &self.vertices {
            match &v.kind {
                VertexKind::Source { connector: SourceConnector::Kafka(k), .. } => topics.push(&k.topic),
                VertexKind::SinkWriter { connector: SinkConnector::Kafka(k) } => topics.push(&k.topic),
                _ => {}
            }
        }
        topics
    }

    /// The total number of subtasks.
    pub fn task_count(&self) -> u32 {
        self.vertices.iter().map(|v| v.parallelism).sum()
    }

    /// The largest vertex parallelism: the number of slots the job needs (slot sharing).
    pub fn slots_needed(&self) -> u32 {
        self.vertices.iter().map(|v| v.parallelism).max().unwrap_or(0)
    }
}

/// One vertex: an operator run by `parallelism` subtasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobVertex {
    /// The vertex ID, derived from the uid so that it stays the same across submissions.
    pub id: Id,
    /// The planned operator's uid (sink committers: `<uid>#committer`).
    pub uid: String,
    /// The name shown to users.
    pub name: String,
    /// What the vertex does: read a connector, run a guest function or write a connector.
    pub kind: VertexKind,
    /// How many subtasks run the vertex.
    pub parallelism: u32,
    /// The edges from upstream vertices, in the order the vertex numbers its inputs.
    pub inputs: Vec<JobEdge>,
    /// The operator's configuration from the plan.
    pub config: String,
}

impl JobVertex {
    /// True if the vertex's input is partitioned by key: keyed state and timers are available.
    pub fn is_keyed(&self) -> bool {
        !self.inputs.is_empty() && self.inputs.iter().all(|e| e.strategy == ShipStrategy::Hash)
    }

    /// The guest function this vertex runs, if any.
    pub fn function(&self) -> Option<&str> {
        match &self.kind {
            VertexKind::Source { function, .. } => function.as_deref(),
            VertexKind::Transform { function } => Some(function),
            _ => None,
        }
    }
}

/// An edge into a vertex.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobEdge {
    /// Index of the upstream vertex.
    pub source: usize,
    /// How records are distributed over this vertex's subtasks.
    pub strategy: ShipStrategy,
}

/// What a vertex does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum VertexKind {
    /// A source: reads a host connector, optionally through a guest function.
    Source {
        /// The connector it reads.
        connector: SourceConnector,
        /// The guest function each batch read goes through (deserializer and timestamp
        /// assigner, like Flink's `DeserializationSchema`); without one, records leave as read.
        function: Option<String>,
    },
    /// A guest function applied to every record of the vertex's inputs.
    Transform {
        /// The guest function's name, handed back to the guest when it opens the operator.
        function: String,
    },
    /// A sink's writer (Flink's `<name>: Writer`): writes records to the connector.
    SinkWriter {
        /// The connector it writes.
        connector: SinkConnector,
    },
    /// A sink's committer (Flink's `<name>: Committer`): follows its writer's checkpoints.
    SinkCommitter {
        /// The connector its writer writes.
        connector: SinkConnector,
    },
}

/// How records travel over an edge (Flink's `StreamPartitioner` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipStrategy {
    /// Flink's `FORWARD`: subtask i sends to subtask i (both sides have the same parallelism).
    Forward,
    /// Flink's `HASH` (`keyBy`): each record goes to the subtask owning its key's key group.
    Hash,
    /// Flink's `REBALANCE`: round-robin over the downstream subtasks.
    Rebalance,
}

impl ShipStrategy {
    /// The name Flink's plan JSON uses.
    pub fn flink_name(&self) -> &'static str {
        match self {
            ShipStrategy::Forward => "FORWARD",
            ShipStrategy::Hash => "HASH",
            ShipStrategy::Rebalance => "REBALANCE",
        }
    }
}

/// A Kafka topic a source reads or a sink writes, and how to reach its brokers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaTopic {
    /// The topic name.
    pub topic: String,
    /// The brokers as a comma-separated `host:port` list (`bootstrap.servers`).
    pub bootstrap_servers: String,
    /// Extra Kafka client properties (`group.id`, …), passed to the client as given.
    pub properties: Vec<(String, String)>,
}

/// Where a Kafka source starts when it is not restored from a checkpoint (Flink's `OffsetsInitializer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingOffsets {
    /// The first offset still in each partition.
    Earliest,
    /// The end of each partition at start-up: only records produced later are read.
    Latest,
    /// The consumer group's committed offsets, or the earliest where none are committed.
    Committed,
}

/// A Kafka source: each subtask reads the partitions assigned to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSource {
    /// The topic read.
    pub topic: KafkaTopic,
    /// Where reading starts without a checkpoint.
    pub starting_offsets: StartingOffsets,
    /// Stop at the partitions' end offsets as of start-up, so the job finishes (Flink's `setBounded`).
    pub bounded: bool,
}

/// The host connector a source reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceConnector {
    /// A Kafka topic.
    Kafka(KafkaSource),
    /// The built-in click-event generator, with no broker.
    Datagen {
        /// Records to generate over all subtasks; `None` is unbounded.
        count: Option<u64>,
        /// Records per second over all subtasks; `None` is as fast as possible.
        rate: Option<u64>,
    },
}

/// What a Kafka sink promises about its output after a failure (Flink's `DeliveryGuarantee`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryGuarantee {
    /// Flink's `NONE`: records in flight at a failure may be lost.
    None,
    /// Flink's `AT_LEAST_ONCE`: flushed at every checkpoint; after a failure some records may be written twice.
    AtLeastOnce,
    /// Flink's `EXACTLY_ONCE`: every record is visible once.
    ExactlyOnce,
}

/// A Kafka sink: record values (and keys, when not empty) are written to the topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSink {
    /// The topic written.
    pub topic: KafkaTopic,
    /// What the sink promises after a failure.
    pub delivery_guarantee: DeliveryGuarantee,
}

/// The host connector a sink writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkConnector {
    /// A Kafka topic.
    Kafka(KafkaSink),
    /// Each record's value as a line on standard output (Flink's `print()`).
    Print,
    /// Drops every record (for measuring).
    Discard,
}

/// Which clock windows and timers follow (Flink's `TimeCharacteristic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeCharacteristic {
    /// Event time, with periodic watermarks per source split.
    EventTime {
        /// The watermark trails the largest timestamp seen by this much plus 1 ms (`forBoundedOutOfOrderness`).
        max_out_of_orderness_ms: u64,
        /// A split without records for this long stops holding back the watermark (`withIdleness`).
        idleness_ms: Option<u64>,
    },
    /// The wall clock of the machine running each task.
    ProcessingTime,
}
