//! Runs a whole job in one process (Flink's `MiniCluster`): every subtask on its own thread,
//! channels between them in memory. `weir run-local` and `weir bench` use it; TaskManagers run
//! the same tasks, with some channels crossing machines.

use std::sync::Arc;
use std::thread::JoinHandle;

use weir_connectors::ConnectorError;
use weir_connectors::kafka::create_job_topics;
use weir_core::cancel::CancelToken;
use weir_core::jobgraph::{self, JobGraph};
use weir_core::metrics::{JobMetrics, TaskMetrics, VertexMetrics};
use weir_wasm::cache::ComponentCache;
use weir_wasm::plan::PlanError;
use weir_wasm::{JobComponent, Limits, LoadError, WasmRuntime};

use crate::launcher;
use crate::task::{self, TaskContext, TaskError, TaskOutcome, TaskResources};
use weir_core::state::{SledBackend, StateBackend, StateError};

/// Why a job could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The bytes are not a loadable job component.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Running the component's `plan` did not yield a valid job graph.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Creating the job's Kafka source or sink topics failed.
    #[error("preparing Kafka topics: {0}")]
    Topics(#[from] ConnectorError),
    /// The keyed-state backend could not be opened.
    #[error("state backend: {0}")]
    State(#[from] StateError),
    /// The OS refused to spawn a subtask's thread.
    #[error("could not start a task thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The wasmtime engine could not be created.
    #[error("WebAssembly runtime: {0}")]
    Runtime(String),
}

/// A process-local cluster.
pub struct MiniCluster {
    runtime: WasmRuntime,
    cache: ComponentCache,
    state: Arc<dyn StateBackend>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Every subtask reached the end of its input (bounded sources only).
    Finished,
    /// The job was cancelled before it finished.
    Canceled,
    /// Failed, with the root cause.
    Failed(String),
}

impl MiniCluster {
    /// A cluster with the given sandbox limits and compiled-component cache, keeping state in
    /// a temporary sled database.
    pub fn new(limits: Limits, cache: ComponentCache) -> Result<Self, SubmitError> {
        let runtime = WasmRuntime::new(limits).map_err(|e| SubmitError::Runtime(format!("{e:#}")))?;
        Ok(MiniCluster { runtime, cache, state: Arc::new(SledBackend::temporary()?) })
    }

    /// The wasmtime engine and sandbox limits the cluster's subtasks run under.
    pub fn runtime(&self) -> &WasmRuntime {
        &self.runtime
    }

    /// Checks and compiles a job component.
    pub fn load(&self, bytes: &[u8]) -> Result<JobComponent, LoadError> {
        JobComponent::load(&self.runtime, &self.cache, bytes)
    }

    /// Plans the job: the component's `plan` with `args`, at `parallelism`.
    pub fn plan(&self, component: &JobComponent, args: &[String], parallelism: u32) -> Result<JobGraph, PlanError> {
        weir_wasm::plan::compile(&self.runtime, component, args, parallelism, jobgraph::new_job_id())
    }

    /// Loads, plans and starts a job.
    pub fn run(&self, bytes: &[u8], args: &[String], parallelism: u32) -> Result<JobHandle, SubmitError> {
        let component = self.load(bytes)?;
        let graph = self.plan(&component, args, parallelism)?;
        self.submit(component, graph)
    }

    /// Starts every subtask of `graph`.
    pub fn submit(&self, component: JobComponent, mut graph: JobGraph) -> Result<JobHandle, SubmitError> {
        create_job_topics(&graph)?;
        // A local run takes no checkpoints and never restarts: its tasks must not wait for
        // checkpoints (an exactly-once sink writes through, as without checkpointing).
        graph.checkpoint_interval_ms = None;

        let graph = Arc::new(graph);
        let cancel = CancelToken::new();
        let resources = TaskResources {
            runtime: self.runtime.clone(),
            component,
            state: self.state.clone(),
            sampler: Default::default(),
            // A local run takes no checkpoints.
            incremental: false,
        };
        let mut wiring = weir_network::wiring::wire(&graph, &graph.job_id, |_, _| 0, 0, &[]);
        let mut metrics = JobMetrics::default();
        let mut tasks = Vec::new();
        tracing::info!(job = graph.job_id, name = graph.name, tasks = graph.task_count(), "starting job");
        for (v, vertex) in graph.vertices.iter().enumerate() {
            let mut subtasks = Vec::new();
            for s in 0..vertex.parallelism {
                let task_metrics = Arc::new(TaskMetrics::default());
                subtasks.push(task_metrics.clone());
                let ctx = TaskContext {
                    job: graph.clone(),
                    vertex: v,
                    subtask: s,
                    cancel: cancel.clone(),
                    metrics: task_metrics,
                    listener: Arc::new(task::NoListener),
                    attempt: 0,
                    // A local run takes no checkpoints: nothing ever arrives here.
                    commands: crossbeam_channel::never(),
                    restore: None,
                    upgrade: Default::default(),
                };
                let channels = wiring.tasks.remove(&(v, s)).unwrap_or_default();
                let name = ctx.name();
                let handle = launcher::launch(ctx, resources.clone(), channels, |_, _| {})?;
                tasks.push((name, handle));
            }
            metrics.vertices.push(VertexMetrics { name: vertex.name.clone(), subtasks });
        }
        Ok(JobHandle { graph, cancel, metrics: Arc::new(metrics), tasks, state: self.state.clone() })
    }
}

/// A running job.
pub struct JobHandle {
    graph: Arc<JobGraph>,
    cancel: CancelToken,
    metrics: Arc<JobMetrics>,
    tasks: Vec<(String, JoinHandle<Result<TaskOutcome, TaskError>>)>,
    state: Arc<dyn StateBackend>,
}

impl JobHandle {
    /// The job graph the job was submitted with.
    pub fn graph(&self) -> &JobGraph {
        &self.graph
    }

    /// The job's live metrics, per vertex and subtask.
    pub fn metrics(&self) -> &Arc<JobMetrics> {
        &self.metrics
    }

    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels the job.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// True once every task has ended.
    pub fn is_done(&self) -> bool {
        self.tasks.iter().all(|(_, t)| t.is_finished())
    }

    /// Waits for every task and tells how the job ended.
    pub fn wait(self) -> JobStatus {
        let mut failures: Vec<TaskError> = Vec::new();
        let mut cancelled = false;
        for (name, handle) in self.tasks {
            match handle.join() {
                Ok(Ok(TaskOutcome::Finished)) => {}
                Ok(Ok(TaskOutcome::Cancelled)) => cancelled = true,
                Ok(Err(error)) => failures.push(error),
                Err(_) => failures.push(TaskError::Panicked(name)),
            }
        }
        if let Err(error) = self.state.drop_job(&format!("{}@0", self.graph.job_id)) {
            tracing::warn!(%error, "could not drop the job's state");
        }
        // A task whose channel partner went away failed only because another task stopped:
        // after a cancellation that is part of cancelling, otherwise the first such failure is
        // reported when no other cause is known.
        let root = failures.iter().find(|f| !f.is_consequence());
        match root {
            Some(error) => JobStatus::Failed(error.to_string()),
            None if cancelled || self.cancel.is_cancelled() => JobStatus::Canceled,
            None => match failures.first() {
                Some(error) => JobStatus::Failed(error.to_string()),
                None => JobStatus::Finished,
            },
        }
    }
}
