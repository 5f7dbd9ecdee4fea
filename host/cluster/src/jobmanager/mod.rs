//! The JobManager: the REST API, the dispatcher (jars and jobs), the scheduler and the
//! resource manager that TaskManagers register with.
//!
//! - [`dispatcher`]: uploading, planning and running jars; cancelling; the job history.
//! - [`resource_manager`]: registered TaskManagers, their heartbeats and slots.
//! - [`scheduler`]: deploying jobs onto slots, following their subtasks' states, restarting.
//! - [`checkpoint_coordinator`]: triggering checkpoints and savepoints, completing them.
//! - [`store`]: jars, components and jobs on disk (sled), so a restarted JobManager lists them.
//! - [`rpc_server`]: the control channel TaskManagers connect to.
//! - [`metrics`]: the cluster's metrics by Flink's scopes, from heartbeats and this state.
//! - [`taskmanager_gateway`]: requests to a TaskManager that wait for its answer (logs, threads).
//!
//! All cluster state sits behind one lock ([`ClusterState`]); every operation on it is short
//! and never waits on I/O while holding it.

pub mod checkpoint_coordinator;
pub mod dispatcher;
pub mod metrics;
pub mod rescale;
pub mod resource_manager;
mod rpc_server;
pub mod scheduler;
pub mod store;
pub mod taskmanager_gateway;
pub mod upgrade;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use resource_manager::TaskManagerEntry;
use weir_config::Configuration;
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_core::jobgraph::{Id, JobGraph};
use weir_wasm::cache::ComponentCache;
use weir_wasm::{Limits, WasmRuntime};

/// How a JobManager is set up.
#[derive(Clone, Debug)]
pub struct JobManagerOptions {
    /// Where the REST API and web UI listen (`rest.bind-address`, `rest.port`).
    pub rest_bind: SocketAddr,
    /// Where TaskManagers connect for the control channel (`jobmanager.rpc.port`).
    pub rpc_bind: SocketAddr,
    /// Where jars, components and the job history live.
    pub data_dir: PathBuf,
    /// How long a TaskManager may stay silent before it is considered lost (`heartbeat.timeout`).
    pub heartbeat_timeout: Duration,
    /// The parallelism of jobs that ask for none (`parallelism.default`).
    pub default_parallelism: u32,
    /// The sandbox limits for planning jobs here.
    pub limits: Limits,
    /// How hot-swap upgrades behave (`weir.upgrade.*`).
    pub upgrade: upgrade::UpgradeOptions,
    /// What compiling an uploaded component may cost (`weir.component.*`).
    pub compile_budget: dispatcher::CompileBudget,
    /// Mutual TLS on the control channel (`security.ssl.internal.*`): only TaskManagers with a
    /// certificate of the cluster may register.
    pub internal_tls: Option<weir_security::InternalTls>,
    /// The whole configuration, for `/jobmanager/config`.
    pub config: Configuration,
}

/// An uploaded jar (a job component).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JarMeta {
    /// `<uuid>_<file name>`.
    pub id: String,
    /// The file name as uploaded.
    pub name: String,
    /// Upload time, ms since the epoch.
    pub uploaded: i64,
    /// SHA-256 of the component.
    pub hash: String,
}

/// One entry of a job's exception history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobException {
    /// When the failure happened (ms since the epoch).
    pub timestamp: i64,
    /// The exception's class name, as Flink shows it (`weir.TaskFailure`, say).
    pub name: String,
    /// The root cause's message.
    pub message: String,
    /// The failed task's name, `<vertex> (<subtask + 1>/<parallelism>)`, if a task failed.
    pub task: Option<String>,
    /// The data address of the TaskManager the task ran on.
    pub location: Option<String>,
    /// The ID of the TaskManager the task ran on.
    pub taskmanager: Option<String>,
}

impl JobException {
    /// A failure of the job as a whole, not of one of its tasks, happening now.
    pub fn of_job(name: &str, message: impl Into<String>) -> Self {
        JobException {
            timestamp: now_ms(),
            name: name.into(),
            message: message.into(),
            task: None,
            location: None,
            taskmanager: None,
        }
    }
}

/// What is kept of a job across JobManager restarts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job graph the job runs (after an upgrade, the upgraded one).
    pub graph: JobGraph,
    /// The uploaded jar the job was run from, if it came from one.
    pub jar_id: Option<String>,
    /// The SHA-256 of the component the job's operators run by default.
    pub component_hash: String,
    /// The program arguments the job was planned with.
    pub program_args: Vec<String>,
    /// The job's current status (Flink's `JobStatus`).
    pub status: JobStatus,
    /// When the job entered each status (ms since the epoch).
    pub timestamps: BTreeMap<JobStatus, i64>,
    /// When the job was submitted (ms since the epoch).
    pub start_time: i64,
    /// When the job reached a globally terminal status (ms since the epoch), or -1.
    pub end_time: i64,
    /// The job's exception history, oldest first.
    pub exceptions: Vec<JobException>,
    /// The subtasks' final states and metrics, once the job has ended.
    pub final_subtasks: Option<Vec<Vec<Subtask>>>,
    /// Restarts so far.
    #[serde(default)]
    pub num_restarts: u32,
    /// The execution attempt deployed last.
    #[serde(default)]
    pub attempt: u32,
    /// The savepoint the job was started from.
    #[serde(default)]
    pub restored_from: Option<String>,
    /// The latest completed checkpoint's directory: where a restart resumes.
    #[serde(default)]
    pub latest_checkpoint: Option<String>,
    /// The component each operator runs, by uid, where it is not `component_hash` (after an
    /// upgrade of some of the job's operators).
    #[serde(default)]
    pub vertex_components: BTreeMap<String, String>,
    /// The job's upgrades, oldest first (its upgrade metrics are counted from them).
    #[serde(default)]
    pub upgrades: Vec<upgrade::UpgradeRecord>,
    /// The parallelism bounds last set per vertex id (`PUT /jobs/:jobid/resource-requirements`).
    #[serde(default)]
    pub resource_requirements: rescale::ResourceRequirements,
}

impl JobRecord {
    /// The job's ID (32 hex digits).
    pub fn id(&self) -> &str {
        &self.graph.job_id
    }

    /// The job's name, as its plan gave it.
    pub fn name(&self) -> &str {
        &self.graph.name
    }

    /// The hash of the component operator `uid` runs.
    pub fn component_of(&self, uid: &str) -> &str {
        self.vertex_components.get(uid).unwrap_or(&self.component_hash)
    }

    /// Every component hash the job's operators run.
    pub fn component_hashes(&self) -> std::collections::BTreeSet<String> {
        self.graph.vertices.iter().map(|v| self.component_of(&v.uid).to_string()).collect()
    }

    /// Moves to `status`, noting when.
    pub fn transition(&mut self, status: JobStatus) {
        tracing::info!(
            job = self.graph.job_id,
            name = self.graph.name,
            from = self.status.name(),
            to = status.name(),
            "job status"
        );
        self.status = status;
        let now = now_ms();
        self.timestamps.insert(status, now);
        if status.is_globally_terminal() {
            self.end_time = now;
        }
    }
}

/// A subtask as the JobManager follows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subtask {
    /// The subtask's current execution state.
    pub state: ExecutionState,
    /// The job's execution attempt the subtask runs in.
    pub attempt: u32,
    /// The TaskManager running it.
    pub taskmanager: Option<String>,
    /// When it entered each state (ms since the epoch), indexed like `ExecutionState::ALL`.
    pub timestamps: [i64; 10],
    /// The latest metrics its TaskManager reported.
    pub metrics: Vec<(String, f64)>,
}

impl Subtask {
    pub(crate) fn new() -> Self {
        let mut s = Subtask {
            state: ExecutionState::Created,
            attempt: 0,
            taskmanager: None,
            timestamps: [0; 10],
            metrics: Vec::new(),
        };
        s.timestamps[ExecutionState::Created as usize] = now_ms();
        s
    }

    /// Moves to `state`, noting when.
    pub fn transition(&mut self, state: ExecutionState) {
        self.state = state;
        self.timestamps[state as usize] = now_ms();
    }

    /// A metric's latest value.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// A job the JobManager knows: its record and, while it runs, its subtasks.
#[derive(Debug)]
pub struct JobEntry {
    /// What is persisted of the job.
    pub record: JobRecord,
    /// `subtasks[vertex][subtask]`.
    pub subtasks: Vec<Vec<Subtask>>,
    /// Slot `i` (holding subtask `i` of every vertex) is on this TaskManager.
    pub slots: Vec<String>,
    /// The job's components by hash, while the job may still be deployed.
    pub components: BTreeMap<String, Arc<Vec<u8>>>,
    /// What the next deployment restores from.
    pub restore: Option<weir_core::checkpoint::RestorePoint>,
    /// Checkpoints and savepoints of the job.
    pub checkpoints: checkpoint_coordinator::Checkpoints,
    /// When a restarting job deploys again.
    pub restart_at: Option<std::time::Instant>,
    /// The restart deploys at once, without the restart delay (an upgrade's rollback).
    pub immediate_restart: bool,
    /// The upgrade under way.
    pub upgrade: Option<upgrade::InFlight>,
    /// The latest exception only followed another task's failure: a root cause reported while
    /// the job fails replaces it.
    pub root_is_consequence: bool,
    /// Its Kafka topics are being created: its tasks wait for them.
    pub preparing_topics: bool,
}

impl JobEntry {
    /// A job entry with no slots, restore point or checkpoints yet.
    pub fn new(record: JobRecord, subtasks: Vec<Vec<Subtask>>, components: BTreeMap<String, Arc<Vec<u8>>>) -> Self {
        JobEntry {
            record,
            subtasks,
            slots: Vec::new(),
            components,
            restore: None,
            checkpoints: Default::default(),
            restart_at: None,
            immediate_restart: false,
            upgrade: None,
            root_is_consequence: false,
            preparing_topics: false,
        }
    }

    /// Every subtask of the job's graph anew, SCHEDULED, for the record's attempt.
    pub fn schedule_fresh_subtasks(&mut self) {
        let attempt = self.record.attempt;
        self.subtasks = self
            .record
            .graph
            .vertices
            .iter()
            .map(|v| {
                (0..v.parallelism)
                    .map(|_| {
                        let mut s = Subtask::new();
                        s.attempt = attempt;
                        s.transition(ExecutionState::Scheduled);
                        s
                    })
                    .collect()
            })
            .collect();
    }

    /// All subtasks, flattened.
    pub fn all_subtasks(&self) -> impl Iterator<Item = &Subtask> {
        self.subtasks.iter().flatten()
    }
}

/// Everything the JobManager knows, behind its one lock.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// The registered TaskManagers, by ID.
    pub taskmanagers: BTreeMap<String, TaskManagerEntry>,
    /// Every job the JobManager knows, running or ended, by job ID.
    pub jobs: BTreeMap<Id, JobEntry>,
    /// The uploaded jars, by jar ID.
    pub jars: BTreeMap<String, JarMeta>,
    /// Savepoint disposals asked for over REST, by trigger id.
    pub disposals: std::collections::HashMap<String, checkpoint_coordinator::Operation>,
}

impl ClusterState {
    /// The file name a component of `job` goes by (`hash`): the name of the last upgrade that
    /// brought it, else that of the jar the job was submitted from.
    pub fn component_name(&self, job: &JobEntry, hash: &str) -> Option<String> {
        let upgraded = job.record.upgrades.iter().rev().find(|u| u.component_hash == hash);
        let uploaded = || job.record.jar_id.as_ref().and_then(|j| self.jars.get(j)).filter(|m| m.hash == hash);
        upgraded.map(|u| u.component_name.clone()).or_else(|| uploaded().map(|m| m.name.clone()))
    }
}

/// The JobManager.
pub struct JobManager {
    state: Mutex<ClusterState>,
    store: store::Store,
    runtime: WasmRuntime,
    cache: ComponentCache,
    /// How this JobManager was set up.
    pub options: JobManagerOptions,
    /// When this JobManager started (ms since the epoch).
    pub started: i64,
    /// Requests to TaskManagers awaiting their answers.
    gateway: taskmanager_gateway::Pending,
    /// Held while an upload compiles: one at a time, so uploads cannot take every core.
    compile_turn: Arc<Mutex<()>>,
    /// The threads that run plans (`weir.wasm.plan-workers`, `weir.wasm.plan-queue`).
    plan_pool: weir_wasm::plan::PlanPool,
    /// This JobManager, for work it hands to threads of its own (creating a job's topics).
    me: std::sync::Weak<JobManager>,
}

impl JobManager {
    /// Opens the JobManager's store and recovers what it held.
    pub fn open(options: JobManagerOptions) -> anyhow::Result<Arc<JobManager>> {
        let store = store::Store::open(&options.data_dir)?;
        let runtime = WasmRuntime::new(options.limits).map_err(|e| anyhow::anyhow!("WebAssembly runtime: {e:#}"))?;
        let budget = options.compile_budget;
        let plan_pool = weir_wasm::plan::PlanPool::new(&runtime, budget.plan_workers, budget.plan_queue)?;
        let mut state = ClusterState::default();
        for jar in store.jars()? {
            state.jars.insert(jar.id.clone(), jar);
        }
        for mut record in store.jobs()? {
            upgrade::abandon_on_restart(&mut record);
            if !record.status.is_globally_terminal() {
                if let Some(entry) = resume(&store, &mut record) {
                    state.jobs.insert(record.id().to_string(), entry);
                    continue;
                }
                // Without a checkpoint to resume from, the job cannot survive the restart.
                record.exceptions.push(JobException::of_job(
                    "weir.JobManagerRestarted",
                    "The JobManager restarted while the job was running, and the job has no completed checkpoint to resume from.",
                ));
                record.transition(JobStatus::Failed);
                store.put_job(&record)?;
            }
            let subtasks = record.final_subtasks.clone().unwrap_or_default();
            state.jobs.insert(record.id().to_string(), JobEntry::new(record, subtasks, BTreeMap::new()));
        }
        tracing::info!(jars = state.jars.len(), jobs = state.jobs.len(), dir = %options.data_dir.display(), "JobManager store opened");
        Ok(Arc::new_cyclic(|me| JobManager {
            state: Mutex::new(state),
            store,
            runtime,
            cache: ComponentCache::default_location(),
            options,
            started: now_ms(),
            gateway: Default::default(),
            compile_turn: Default::default(),
            plan_pool,
            me: me.clone(),
        }))
    }

    /// Locks the cluster state.
    pub fn state(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wasmtime engine the JobManager plans jobs with.
    pub fn runtime(&self) -> &WasmRuntime {
        &self.runtime
    }
}

/// A job that was running when the JobManager stopped, resumed from its latest completed
/// checkpoint: RUNNING with its subtasks SCHEDULED until TaskManagers register.
fn resume(store: &store::Store, record: &mut JobRecord) -> Option<JobEntry> {
    record.graph.checkpoint_interval_ms?;
    let dir = record.latest_checkpoint.clone()?;
    let point = match weir_core::checkpoint::storage::load(&dir) {
        Ok(p) => p,
        Err(error) => {
            tracing::error!(job = record.id(), %error, "cannot resume the job");
            return None;
        }
    };
    let mut components = BTreeMap::new();
    for hash in record.component_hashes() {
        let bytes = store.component(&hash).ok()?;
        components.insert(hash, Arc::new(bytes));
    }
    record.attempt += 1;
    record.transition(JobStatus::Running);
    tracing::info!(
        job = record.id(),
        checkpoint = point.metadata.checkpoint_id,
        "resuming the job after a JobManager restart"
    );
    let mut entry = JobEntry::new(record.clone(), Vec::new(), components);
    entry.schedule_fresh_subtasks();
    entry.checkpoints.adopt_after_restart(&point);
    entry.checkpoints.restored =
        Some((point.metadata.checkpoint_id, now_ms(), false, weir_core::checkpoint::storage::uri(&point.directory)));
    entry.restore = Some(point);
    Some(entry)
}

/// Starts the JobManager's own services on `rpc`: the RPC server TaskManagers register with, the
/// heartbeat monitor and the checkpoint timer. The REST API (`weir-rest`) is served beside them.
pub fn start(jm: &Arc<JobManager>, rpc: tokio::net::TcpListener) {
    tokio::spawn(rpc_server::accept(jm.clone(), rpc));
    tokio::spawn(resource_manager::monitor_heartbeats(jm.clone()));
    tokio::spawn(checkpoint_coordinator::timer(jm.clone()));
}
