//! Jars and job submission (Flink's Dispatcher and web-submission handlers): uploaded
//! components are checked to be Weir jobs before they are kept; running one plans it with the
//! program arguments, checks what its Kafka connectors name, hands it to the scheduler and
//! creates its Kafka topics off the request's thread.
//!
//! These calls compile components and talk to Kafka: they block, so async callers run them on
//! blocking threads.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{JarMeta, JobEntry, JobException, JobManager, JobRecord, Subtask};
use weir_config::keys;
use weir_connectors::kafka::{KafkaPolicy, create_job_topics};
use weir_core::checkpoint::RestorePoint;
use weir_core::checkpoint::storage;
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_core::jobgraph::{self, Id, JobGraph};
use weir_wasm::JobComponent;
use weir_wasm::cache::content_hash;

/// Why a request to the dispatcher failed, with the HTTP status Flink answers.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// 400
    #[error("{0}")]
    BadRequest(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 500
    #[error("{0}")]
    Internal(String),
    /// 503: busy, try again later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<super::store::StoreError> for DispatchError {
    fn from(e: super::store::StoreError) -> Self {
        DispatchError::Internal(e.to_string())
    }
}

/// A jar id: a random prefix and the file name reduced to safe characters, so an uploaded
/// name can never reach outside the jar directory.
pub fn jar_id(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let safe = safe.trim_start_matches('.');
    let safe = if safe.is_empty() { "job.wasm" } else { safe };
    format!("{}_{safe}", uuid_hex())
}

/// 32 random hex digits.
fn uuid_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// True for 32 hex digits, as Flink's IDs.
pub fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How to run a jar (Flink's `JarRunRequestBody`).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The arguments handed to the component's `plan` (Flink's `programArgsList`).
    pub program_args: Vec<String>,
    /// `None` for `parallelism.default`.
    pub parallelism: Option<u32>,
    /// The ID the job must get (32 hex digits); a random one if `None`.
    pub job_id: Option<String>,
    /// The savepoint or checkpoint directory to start the job from.
    pub savepoint_path: Option<String>,
    /// Start even if the savepoint holds state of operators the job no longer has.
    pub allow_non_restored_state: bool,
}

/// What compiling an uploaded component may cost: a component made to be slow to compile is
/// refused rather than left to stall the JobManager.
#[derive(Clone, Copy, Debug)]
pub struct CompileBudget {
    /// The most functions its core modules may have together (`weir.component.max-functions`).
    pub max_functions: u64,
    /// How long compiling may take, waiting for an earlier upload's compile included
    /// (`weir.component.compile-timeout`).
    pub timeout: std::time::Duration,
    /// How many plans run at once, on threads of their own (`weir.wasm.plan-workers`).
    pub plan_workers: usize,
    /// How many plans may wait for a worker before more are refused (`weir.wasm.plan-queue`).
    pub plan_queue: usize,
}

impl Default for CompileBudget {
    /// Room for a Python job (CPython in WebAssembly: about 13 000 functions, some 10 s to
    /// compile on two cores) several times over; a Rust job has a few hundred.
    fn default() -> Self {
        CompileBudget {
            max_functions: 100_000,
            timeout: std::time::Duration::from_secs(300),
            plan_workers: 2,
            plan_queue: 16,
        }
    }
}

impl JobManager {
    /// Keeps an uploaded component after checking it is a Weir job within the compile budget.
    pub fn upload_jar(&self, file_name: &str, bytes: Vec<u8>) -> Result<JarMeta, DispatchError> {
        let lower = file_name.to_ascii_lowercase();
        if !(lower.ends_with(".jar") || lower.ends_with(".wasm")) {
            return Err(DispatchError::BadRequest("Only .wasm and .jar files are allowed.".into()));
        }
        let not_a_job = |e: weir_wasm::LoadError| {
            DispatchError::BadRequest(format!("'{file_name}' is not a Weir job component: {e}"))
        };
        let budget = self.options.compile_budget;
        weir_wasm::job::check_functions(&bytes, budget.max_functions).map_err(not_a_job)?;
        let size = bytes.len();
        let timed_out = || {
            tracing::warn!(file_name, size, timeout = ?budget.timeout, "an upload did not compile in time");
            DispatchError::BadRequest(format!(
                "'{file_name}' was not compiled within {} s (weir.component.compile-timeout; uploads compile one at a time): refused.",
                budget.timeout.as_secs_f64()
            ))
        };
        // One upload compiles at a time, in a process of its own (`weir compile-component`)
        // killed at the deadline, which waiting for the turn counts against.
        let deadline = std::time::Instant::now().checked_add(budget.timeout);
        let compiler = std::env::current_exe()
            .ok()
            .filter(|exe| exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("weir")));
        if let (Some(deadline), Some(compiler), Some(_)) = (deadline, compiler, self.cache.dir()) {
            let _turn = loop {
                match self.compile_turn.try_lock() {
                    Ok(turn) => break turn,
                    Err(std::sync::TryLockError::Poisoned(turn)) => break turn.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() >= deadline => {
                        return Err(timed_out());
                    }
                    Err(std::sync::TryLockError::WouldBlock) => {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                }
            };
            use weir_wasm::cache::IsolatedCompileError;
            match self.cache.compile_isolated(&compiler, &self.options.limits, &bytes, deadline) {
                Ok(()) => {}
                Err(IsolatedCompileError::TimedOut) => return Err(timed_out()),
                Err(IsolatedCompileError::Invalid(e)) => return Err(not_a_job(weir_wasm::LoadError::Invalid(e))),
                Err(IsolatedCompileError::Unavailable(e)) => {
                    tracing::warn!(error = e, "cannot run the compiler process; compiling in the JobManager");
                }
            }
        }
        let bytes = Arc::new(bytes);
        // Loading takes the compiled component from the cache; without one (no cache directory,
        // no compiler process) it compiles on a thread of its own, one upload at a time, and past
        // the deadline the upload is refused while that compile finishes unused.
        let (done, compiled) = std::sync::mpsc::channel();
        let (runtime, cache, turn, component) =
            (self.runtime.clone(), self.cache.clone(), self.compile_turn.clone(), bytes.clone());
        std::thread::Builder::new()
            .name("compile-upload".into())
            .spawn(move || {
                let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
                let _ = done.send(JobComponent::load(&runtime, &cache, &component).map(|_| ()));
            })
            .map_err(|e| DispatchError::Internal(format!("cannot start a compiler thread: {e}")))?;
        match compiled.recv_timeout(budget.timeout) {
            Ok(result) => result.map_err(not_a_job)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(timed_out()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(DispatchError::Internal("the compiler thread ended without an answer".into()));
            }
        }
        let bytes = Arc::try_unwrap(bytes).unwrap_or_else(|shared| shared.as_ref().clone());
        let meta = JarMeta {
            id: jar_id(file_name),
            name: file_name.rsplit(['/', '\\']).next().unwrap_or(file_name).to_string(),
            uploaded: now_ms(),
            hash: content_hash(&bytes),
        };
        self.store.put_jar(&meta, &bytes)?;
        tracing::info!(jar = meta.id, size = bytes.len(), "jar uploaded");
        self.state().jars.insert(meta.id.clone(), meta.clone());
        Ok(meta)
    }

    /// Where an uploaded jar is stored (Flink's `filename` in the upload answer).
    pub fn jar_file(&self, id: &str) -> std::path::PathBuf {
        self.store.jar_path(id)
    }

    /// The uploaded jars, newest first.
    pub fn jars(&self) -> Vec<JarMeta> {
        let mut jars: Vec<JarMeta> = self.state().jars.values().cloned().collect();
        jars.sort_by_key(|j| std::cmp::Reverse(j.uploaded));
        jars
    }

    fn jar(&self, id: &str) -> Result<JarMeta, DispatchError> {
        self.state().jars.get(id).cloned().ok_or_else(|| {
            DispatchError::BadRequest(format!("File {id} does not exist in {}.", self.store.jar_path("").display()))
        })
    }

    /// Forgets an uploaded jar and deletes its file (jobs running it keep their component).
    pub fn delete_jar(&self, id: &str) -> Result<(), DispatchError> {
        self.jar(id)?;
        self.store.delete_jar(id)?;
        self.state().jars.remove(id);
        Ok(())
    }

    /// The bytes of the component of content `hash`, for a TaskManager that lacks it (Flink's
    /// BlobServer): from a job's or an upgrade's components in memory, else from the store.
    pub fn component_for(&self, hash: &str) -> Result<Arc<Vec<u8>>, String> {
        // The hash names a file in the store: only a SHA-256 in hex may reach it.
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{hash}' is not a component hash"));
        }
        {
            let state = self.state();
            for job in state.jobs.values() {
                if let Some(bytes) = job.components.get(hash) {
                    return Ok(bytes.clone());
                }
                if let Some(bytes) = job.upgrade.as_ref().and_then(|u| u.component(hash)) {
                    return Ok(bytes);
                }
            }
        }
        self.store.component(hash).map(Arc::new).map_err(|e| format!("the JobManager has no component {hash}: {e}"))
    }

    /// Keeps a component the job store must have to redeploy a job.
    pub(super) fn store_component(&self, hash: &str, bytes: &[u8]) -> Result<(), DispatchError> {
        Ok(self.store.put_component(hash, bytes)?)
    }

    /// An uploaded jar's metadata, bytes and loaded component.
    pub(super) fn load_jar(&self, id: &str) -> Result<(JarMeta, Vec<u8>, JobComponent), DispatchError> {
        let meta = self.jar(id)?;
        let bytes = self.store.component(&meta.hash)?;
        let component = JobComponent::load(&self.runtime, &self.cache, &bytes)
            .map_err(|e| DispatchError::Internal(format!("stored jar {id} no longer loads: {e}")))?;
        Ok((meta, bytes, component))
    }

    fn parallelism(&self, requested: Option<u32>) -> u32 {
        requested.unwrap_or(self.options.default_parallelism)
    }

    /// The job graph a jar plans with these arguments (`/jars/:id/plan`, `flink info`).
    pub fn plan_jar(&self, id: &str, options: &RunOptions) -> Result<JobGraph, DispatchError> {
        let (_, _, component) = self.load_jar(id)?;
        let job_id = options.job_id.clone().unwrap_or_else(jobgraph::new_job_id);
        self.plan(&component, &options.program_args, self.parallelism(options.parallelism), job_id)
    }

    /// Runs a component's `plan` on the plan pool: never on the caller's thread, bounded in time
    /// (`weir.wasm.plan-timeout`) and in how many run and wait at once.
    pub(super) fn plan(
        &self,
        component: &JobComponent,
        args: &[String],
        parallelism: u32,
        job_id: Id,
    ) -> Result<JobGraph, DispatchError> {
        use weir_wasm::plan::PoolError;
        self.plan_pool.compile(component, args, parallelism, job_id).map_err(|e| match e {
            PoolError::Busy { .. } => DispatchError::Unavailable(e.to_string()),
            PoolError::Plan(e) => DispatchError::BadRequest(e.to_string()),
            PoolError::Stopped => DispatchError::Internal(e.to_string()),
        })
    }

    /// Plans and submits a jar's job; returns its ID (`/jars/:id/run`, `flink run`).
    pub fn run_jar(&self, id: &str, options: RunOptions) -> Result<Id, DispatchError> {
        if let Some(job_id) = &options.job_id {
            if !is_id(job_id) {
                return Err(DispatchError::BadRequest(format!(
                    "Cannot parse JobID from \"{job_id}\". The expected format is [0-9a-fA-F]{{32}}, e.g. fd72014d4c864993a2e5a9287b4a9c5d."
                )));
            }
            if self.state().jobs.contains_key(&job_id.to_ascii_lowercase()) {
                return Err(DispatchError::Conflict(format!("Job has already been submitted: {job_id}")));
            }
        }
        let (meta, bytes, component) = self.load_jar(id)?;
        let job_id = options.job_id.map(|j| j.to_ascii_lowercase()).unwrap_or_else(jobgraph::new_job_id);
        let graph = self.plan(&component, &options.program_args, self.parallelism(options.parallelism), job_id)?;
        let restore = match &options.savepoint_path {
            None => None,
            Some(path) => {
                let point = storage::load(path)
                    .map_err(|e| DispatchError::BadRequest(format!("Cannot restore the job from {path}: {e}")))?;
                JobManager::check_restore(&graph, &point, path, options.allow_non_restored_state)
                    .map_err(DispatchError::BadRequest)?;
                Some((point, path.clone()))
            }
        };
        self.submit(graph, Some(meta.id), meta.hash, Arc::new(bytes), options.program_args, restore)
    }

    /// What jobs may reach on Kafka: the brokers `weir.kafka.allowed-brokers` allows.
    pub fn kafka_policy(&self) -> KafkaPolicy {
        KafkaPolicy::allowing(self.options.config.get(keys::KAFKA_ALLOWED_BROKERS).unwrap_or_default())
    }

    /// Refuses a graph whose Kafka connectors name a property a job may not set or a broker
    /// the cluster does not allow.
    pub(super) fn check_kafka(&self, graph: &JobGraph) -> Result<(), DispatchError> {
        self.kafka_policy()
            .check_graph(graph)
            .map_err(|e| DispatchError::BadRequest(format!("The job's Kafka connectors are refused: {e}")))
    }

    /// Submits a planned job: checks its Kafka connectors, records it and schedules it. Its
    /// Kafka topics are created off the caller's thread (nothing connects to a broker a plan
    /// names while a REST request waits); its tasks deploy once they exist.
    pub fn submit(
        &self,
        graph: JobGraph,
        jar_id: Option<String>,
        component_hash: String,
        component: Arc<Vec<u8>>,
        program_args: Vec<String>,
        restore: Option<(RestorePoint, String)>,
    ) -> Result<Id, DispatchError> {
        self.check_kafka(&graph)?;
        self.store.put_component(&component_hash, &component)?;
        let id = graph.job_id.clone();
        let now = now_ms();
        let mut record = JobRecord {
            graph,
            jar_id,
            component_hash,
            program_args,
            status: JobStatus::Initializing,
            timestamps: BTreeMap::from([(JobStatus::Initializing, now)]),
            start_time: now,
            end_time: -1,
            exceptions: Vec::new(),
            final_subtasks: None,
            num_restarts: 0,
            attempt: 0,
            restored_from: None,
            latest_checkpoint: None,
            vertex_components: BTreeMap::new(),
            upgrades: Vec::new(),
            resource_requirements: BTreeMap::new(),
        };
        record.transition(JobStatus::Created);
        let mut subtasks: Vec<Vec<Subtask>> =
            record.graph.vertices.iter().map(|v| (0..v.parallelism).map(|_| Subtask::new()).collect()).collect();
        for s in subtasks.iter_mut().flatten() {
            s.transition(ExecutionState::Scheduled);
        }
        // As in Flink, the job runs as soon as scheduling starts, even while its tasks wait.
        record.transition(JobStatus::Running);
        self.persist(&record);
        tracing::info!(job = id, name = record.graph.name, "job submitted");
        let components = BTreeMap::from([(record.component_hash.clone(), component)]);
        let mut entry = JobEntry::new(record, subtasks, components);
        let topics = !entry.record.graph.kafka_topics().is_empty();
        entry.preparing_topics = topics;
        if let Some((point, path)) = restore {
            let checkpoint = point.metadata.checkpoint_id;
            let is_savepoint = point.metadata.kind.is_savepoint();
            entry.checkpoints.restored = Some((checkpoint, now_ms(), is_savepoint, storage::uri(&point.directory)));
            entry.checkpoints.continue_after(checkpoint);
            entry.record.restored_from = Some(path);
            entry.restore = Some(point);
            self.persist(&entry.record);
        }
        let graph = topics.then(|| entry.record.graph.clone());
        self.state().jobs.insert(id.clone(), entry);
        match graph {
            Some(graph) => self.prepare_topics(id.clone(), graph)?,
            None => self.schedule(),
        }
        Ok(id)
    }

    /// Creates the job's Kafka topics on a thread of its own, then lets its tasks deploy; if
    /// they cannot be made, the job fails with the reason.
    fn prepare_topics(&self, id: Id, graph: JobGraph) -> Result<(), DispatchError> {
        let Some(jm) = self.me.upgrade() else { return Err(DispatchError::Internal("the JobManager is gone".into())) };
        std::thread::Builder::new()
            .name("prepare-topics".into())
            .spawn(move || match create_job_topics(&graph) {
                Ok(()) => jm.topics_prepared(&id),
                Err(error) => {
                    tracing::warn!(job = id, %error, "the job's Kafka topics cannot be prepared");
                    let message = format!("Preparing the job's Kafka topics failed: {error}");
                    jm.fail_undeployed(&id, JobException::of_job("weir.KafkaTopics", message));
                }
            })
            .map(|_| ())
            .map_err(|e| DispatchError::Internal(format!("cannot start a thread to prepare Kafka topics: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_ids_never_escape_the_jar_directory() {
        for name in ["../../etc/passwd", "..\\..\\x.wasm", "a/b/c.jar", "..", "", "ok job!.wasm"] {
            let id = jar_id(name);
            assert!(!id.contains('/') && !id.contains('\\') && !id.contains(".."), "{name} -> {id}");
            assert!(is_id(&id[..32]), "{id}");
        }
        assert!(jar_id("ClickCountJob.jar").ends_with("_ClickCountJob.jar"));
    }
}
