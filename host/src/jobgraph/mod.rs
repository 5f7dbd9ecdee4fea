//! The job graph the host runs (Flink's `JobGraph`): the guest's plan, checked and translated
//! into vertices with IDs, parallelism and the edges between them.
//!
//! Each planned operator becomes one vertex (Weir never chains operators, as the playground's
//! job runs without `--chaining`), except a sink, which becomes two as in Flink: `<name>: Writer`
//! and `<name>: Committer`. A source's vertex is named `Source: <name>`.

mod translate;

use serde::{Deserialize, Serialize};

pub use translate::{GraphError, from_plan};

/// 32 lowercase hex digits, as Flink prints job and vertex IDs.
pub type Id = String;

/// A new random job ID.
pub fn new_job_id() -> Id {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A job, ready to deploy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobGraph {
    pub job_id: Id,
    pub name: String,
    /// Vertices in topological order.
    pub vertices: Vec<JobVertex>,
    pub time: TimeCharacteristic,
    pub checkpoint_interval_ms: Option<u64>,
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
    pub id: Id,
    /// The planned operator's uid (sink committers: `<uid>#committer`).
    pub uid: String,
    /// The name shown to users.
    pub name: String,
    pub kind: VertexKind,
    pub parallelism: u32,
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
    pub strategy: ShipStrategy,
}

/// What a vertex does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum VertexKind {
    Source { connector: SourceConnector, function: Option<String> },
    Transform { function: String },
    SinkWriter { connector: SinkConnector },
    SinkCommitter { connector: SinkConnector },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipStrategy {
    Forward,
    Hash,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaTopic {
    pub topic: String,
    pub bootstrap_servers: String,
    pub properties: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingOffsets {
    Earliest,
    Latest,
    Committed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSource {
    pub topic: KafkaTopic,
    pub starting_offsets: StartingOffsets,
    pub bounded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceConnector {
    Kafka(KafkaSource),
    Datagen { count: Option<u64>, rate: Option<u64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryGuarantee {
    None,
    AtLeastOnce,
    ExactlyOnce,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSink {
    pub topic: KafkaTopic,
    pub delivery_guarantee: DeliveryGuarantee,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkConnector {
    Kafka(KafkaSink),
    Print,
    Discard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeCharacteristic {
    EventTime { max_out_of_orderness_ms: u64, idleness_ms: Option<u64> },
    ProcessingTime,
}

/// Why a program could not be turned into a job graph.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The guest failed while planning (trapped, looped, ran out of memory).
    #[error("the job's plan failed: {0}")]
    Guest(#[from] crate::component::GuestError),
    /// The guest refused its arguments.
    #[error("invalid program arguments: {0}")]
    Arguments(String),
    #[error("invalid job graph: {0}")]
    Graph(#[from] GraphError),
}

/// Runs the component's `plan` with the program arguments (as Flink's client runs a jar's
/// `main`) and translates the result, with `parallelism` as the default parallelism.
pub fn compile(
    runtime: &crate::component::WasmRuntime,
    component: &crate::component::JobComponent,
    args: &[String],
    parallelism: u32,
    job_id: Id,
) -> Result<JobGraph, PlanError> {
    use crate::component::host::{HostState, Services};
    let host = HostState::new("plan", &runtime.limits(), crate::task::CancelToken::new(), Services::default());
    let mut instance = crate::component::GuestInstance::new(runtime, component, host)?;
    let plan = instance.plan(args)?.map_err(PlanError::Arguments)?;
    Ok(from_plan(plan, job_id, parallelism)?)
}
