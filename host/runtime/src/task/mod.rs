//! Tasks: one subtask of one vertex, running on its own thread (Flink's `StreamTask`).
//!
//! A task reads its input gate, runs its operator (a guest function, a connector, or both) and
//! writes through its record writer. Sources ([`source`]) read a connector and hand batches to
//! their guest deserializer; operators ([`operator`]) run a guest function with keyed state and
//! timers; sink writers and committers ([`sink`]) write to a connector. Watermarks flow through
//! every task; a bounded input ends with the maximum watermark and the end of input, after which
//! the task finishes.

mod guest;
pub mod operator;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod upgrade;

use std::sync::Arc;

pub use guest::GuestOperator;
pub use upgrade::{StagedUpgrade, UpgradeMailbox};

use weir_connectors::ConnectorError;
use weir_core::cancel::CancelToken;
use weir_core::checkpoint::{RestorePoint, SubtaskSnapshot, TaskCommand};
use weir_core::jobgraph::{JobGraph, JobVertex};
use weir_core::metrics::TaskMetrics;
use weir_core::state::{StateBackend, StateError};
use weir_network::NetworkError;
use weir_wasm::{GuestError, JobComponent, WasmRuntime};

/// Which subtask a task runs, and what it shares with the job.
#[derive(Clone)]
pub struct TaskContext {
    /// The job graph the task belongs to.
    pub job: Arc<JobGraph>,
    /// The index of the task's vertex in the job graph's vertex list.
    pub vertex: usize,
    /// The subtask's index within its vertex (0-based).
    pub subtask: u32,
    /// Cancels this task (and, in a local run, the whole job).
    pub cancel: CancelToken,
    /// The subtask's metrics (records and bytes in and out, busy and back-pressured time).
    pub metrics: Arc<TaskMetrics>,
    /// Told when the task runs and when it has taken a checkpoint.
    pub listener: Arc<dyn TaskListener>,
    /// Which execution of the job this is (0, then one more per restart).
    pub attempt: u32,
    /// Commands from the TaskManager: checkpoint triggers (sources) and completions.
    pub commands: crossbeam_channel::Receiver<TaskCommand>,
    /// The checkpoint or savepoint to start from.
    pub restore: Option<Arc<RestorePoint>>,
    /// Where the TaskManager leaves an upgrade's new code for the task (`upgrade`).
    pub upgrade: Arc<upgrade::UpgradeMailbox>,
}

/// Hears of a task's progress (a TaskManager reports it to the JobManager).
pub trait TaskListener: Send + Sync {
    /// The task is initialized and processing.
    fn running(&self);
    /// The task has taken its part of checkpoint `checkpoint`.
    fn acknowledge(&self, checkpoint: u64, snapshot: SubtaskSnapshot);
    /// The task could not take its part of checkpoint `checkpoint`.
    fn decline(&self, checkpoint: u64, reason: String);
    /// The task swapped to an upgrade's new code at upgrade barrier `checkpoint` (`failure`:
    /// the new code did not start, and the old one runs on).
    fn swapped(&self, _checkpoint: u64, _failure: Option<String>) {}
    /// Whether the task may write its part of checkpoint `checkpoint` to `location`, which a
    /// barrier from another host names: a TaskManager allows only the location the JobManager
    /// chose. `Err` says why not; the task then declines the checkpoint.
    fn check_location(&self, _checkpoint: u64, _location: &str) -> Result<(), String> {
        Ok(())
    }
}

/// A listener that ignores everything (local runs, which take no checkpoints).
pub struct NoListener;

impl TaskListener for NoListener {
    fn running(&self) {}
    fn acknowledge(&self, _: u64, _: SubtaskSnapshot) {}
    fn decline(&self, _: u64, _: String) {}
}

impl TaskContext {
    /// The job vertex this subtask belongs to.
    pub fn vertex(&self) -> &JobVertex {
        &self.job.vertices[self.vertex]
    }

    /// The name of the job's state tables for this attempt: a restarted job starts from its
    /// checkpoint in fresh tables, never in what a failed attempt left behind.
    pub fn state_scope(&self) -> String {
        format!("{}@{}", self.job.job_id, self.attempt)
    }

    /// The task's name as Flink prints it: `<vertex name> (<subtask + 1>/<parallelism>)`.
    pub fn name(&self) -> String {
        let v = self.vertex();
        format!("{} ({}/{})", v.name, self.subtask + 1, v.parallelism)
    }
}

/// What a task needs from the process it runs in.
#[derive(Clone)]
pub struct TaskResources {
    /// The process's wasmtime engine and sandbox limits.
    pub runtime: WasmRuntime,
    /// The job's compiled component, instantiated once per guest subtask.
    pub component: JobComponent,
    /// The state backend holding keyed state for every subtask of the process.
    pub state: Arc<dyn StateBackend>,
    /// Where this subtask's guest stacks are counted while a flame graph is sampled.
    pub sampler: Arc<weir_wasm::StackSampler>,
    /// Whether checkpoints of keyed state are incremental and asynchronous
    /// (`execution.checkpointing.incremental`); if not, each is a full copy taken on the task's
    /// thread.
    pub incremental: bool,
}

/// How a task ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The task's input ended (bounded sources) and it processed all of it.
    Finished,
    /// The task was cancelled.
    Cancelled,
}

/// Why a task failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A call into the guest failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The named task's input gate or record writer failed.
    #[error("{0}: {1}")]
    Network(String, NetworkError),
    /// The named task's source or sink connector failed.
    #[error("{0}: {1}")]
    Connector(String, ConnectorError),
    /// The named task's keyed state could not be opened.
    #[error("{0}: {1}")]
    State(String, StateError),
    /// The named task's thread panicked.
    #[error("{0}: the task panicked (a bug in Weir)")]
    Panicked(String),
    /// The named task could not read its restored state from checkpoint storage.
    #[error("{0}: {1}")]
    Checkpoint(String, weir_core::checkpoint::storage::StorageError),
    /// The named task cannot start from its checkpoint or savepoint, for the given reason.
    #[error("{0}: cannot restore: {1}")]
    Restore(String, String),
    /// The named task refused a barrier from another host, for the given reason.
    #[error("{0}: {1}")]
    Barrier(String, String),
}

impl TaskError {
    /// True if this failure only follows from another task's (a channel partner went away).
    pub fn is_consequence(&self) -> bool {
        match self {
            TaskError::Network(_, NetworkError::ReceiverGone | NetworkError::SenderGone) => true,
            TaskError::Guest(g) => g.is_consequence(),
            _ => false,
        }
    }
}

/// Maps a failure to the task's outcome: cancellation is not a failure.
pub(crate) fn outcome_of(error: TaskError) -> Result<TaskOutcome, TaskError> {
    match &error {
        TaskError::Guest(g) if g.is_cancelled() => Ok(TaskOutcome::Cancelled),
        TaskError::Network(_, NetworkError::Cancelled) => Ok(TaskOutcome::Cancelled),
        _ => Err(error),
    }
}

/// Runs one task to its end, on the calling thread: builds its operator from the vertex
/// (connectors, guest instance) and runs the matching loop.
pub fn run(
    ctx: &TaskContext,
    resources: &TaskResources,
    gate: weir_network::InputGate,
    edges: Vec<weir_network::EdgeWriter>,
) -> Result<TaskOutcome, TaskError> {
    use weir_connectors::{
        DiscardSink, SinkMetrics, SinkWriter, SourceReader, StdoutSink, datagen::DatagenReader, kafka,
    };
    use weir_core::jobgraph::{SinkConnector, SourceConnector, VertexKind};
    use weir_core::metrics::{NUM_RECORDS_OUT_DUPLICATES_SKIPPED, NUM_RECORDS_OUT_HELD, NUM_RECORDS_OUT_PUBLISHED};

    let name = ctx.name();
    let writer = weir_network::RecordWriter::new(edges, ctx.metrics.clone(), ctx.cancel.clone());
    let gate = gate.with_metrics(ctx.metrics.clone());
    let open = |function: &str, writer| {
        GuestOperator::open(ctx, resources, function, writer).map_err(|e| match e {
            guest::OpenError::Guest(g) => TaskError::Guest(g),
            guest::OpenError::State(s) => TaskError::State(name.clone(), s),
            guest::OpenError::Restore(s) => TaskError::Checkpoint(name.clone(), s),
        })
    };
    let vertex = ctx.vertex();
    // In a closure, so that a `?` below (a guest cancelled while it opens, say) still goes
    // through `outcome_of`: a cancelled task is CANCELED, never the job's root cause.
    let start_and_run = || match &vertex.kind {
        VertexKind::Source { connector, function } => {
            let positions = ctx.restore.as_ref().map(|r| r.source_positions(&vertex.uid)).unwrap_or_default();
            let reader: Box<dyn SourceReader> = match connector {
                SourceConnector::Kafka(spec) => {
                    let offsets = positions.iter().map(|(p, o)| (*p as i32, *o)).collect();
                    Box::new(
                        kafka::KafkaReader::new(spec, ctx.subtask, vertex.parallelism, &offsets)
                            .map_err(|e| TaskError::Connector(name.clone(), e))?,
                    )
                }
                SourceConnector::Datagen { count, rate } => {
                    let restored_parallelism =
                        ctx.restore.as_ref().and_then(|r| r.operator(&vertex.uid)).map(|o| o.parallelism);
                    if restored_parallelism.is_some_and(|p| p != vertex.parallelism) {
                        return Err(TaskError::Restore(
                            name.clone(),
                            "the datagen source cannot change its parallelism".into(),
                        ));
                    }
                    let next = positions.get(&ctx.subtask).map(|n| *n as u64);
                    Box::new(DatagenReader::new(ctx.subtask, vertex.parallelism, *count, *rate, next))
                }
            };
            let output = match function {
                Some(f) => source::SourceOutput::Guest(Box::new(open(f, writer)?)),
                None => source::SourceOutput::Direct(writer),
            };
            ctx.listener.running();
            source::run(ctx, reader, output)
        }
        VertexKind::Transform { function } => {
            let op = open(function, writer)?;
            ctx.listener.running();
            operator::run(ctx, gate, op)
        }
        VertexKind::SinkWriter { connector } => {
            let sink: Box<dyn SinkWriter> = match connector {
                SinkConnector::Kafka(spec) => {
                    // The sink states this subtask takes over: its own, and at a lower
                    // parallelism those of the old subtasks folded onto it (to publish what they
                    // held).
                    let restored = ctx
                        .restore
                        .as_ref()
                        .and_then(|r| Some((r, r.operator(&vertex.uid)?)))
                        .into_iter()
                        .flat_map(|(r, o)| o.subtasks.iter().map(move |s| (r, s)))
                        .filter(|(_, s)| s.subtask % vertex.parallelism.max(1) == ctx.subtask)
                        .filter_map(|(r, s)| {
                            Some(kafka::RestoredSink {
                                state: s.sink.clone()?,
                                directory: r.directory.clone(),
                                own: s.subtask == ctx.subtask,
                            })
                        })
                        .collect();
                    // Unique per attempt: a restored attempt's records never pass for another's.
                    let id = format!("{}/{}/{}/{}", ctx.job.job_id, vertex.uid, ctx.subtask, ctx.attempt);
                    let metrics = SinkMetrics {
                        published: ctx.metrics.operator.counter(NUM_RECORDS_OUT_PUBLISHED),
                        skipped: ctx.metrics.operator.counter(NUM_RECORDS_OUT_DUPLICATES_SKIPPED),
                        held: ctx.metrics.operator.gauge(NUM_RECORDS_OUT_HELD),
                    };
                    let checkpointing = ctx.job.checkpoint_interval_ms.is_some();
                    let writer = kafka::KafkaWriter::with_metrics(spec, id, restored, checkpointing, metrics)
                        .map_err(|e| TaskError::Connector(name.clone(), e))?;
                    Box::new(writer)
                }
                SinkConnector::Print => Box::new(StdoutSink),
                SinkConnector::Discard => Box::new(DiscardSink),
            };
            ctx.listener.running();
            sink::run_writer(ctx, gate, sink, writer)
        }
        VertexKind::SinkCommitter { .. } => {
            ctx.listener.running();
            sink::run_committer(ctx, gate)
        }
    };
    start_and_run().or_else(outcome_of)
}
