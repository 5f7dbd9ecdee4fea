//! The checkpoint coordinator (Flink's `CheckpointCoordinator`): triggers a job's periodic
//! checkpoints and its savepoints at the sources, collects every subtask's acknowledgement,
//! completes the checkpoint by writing its `_metadata`, keeps the latest one (and deletes the
//! older, with the shared state files only it named), and tells the TaskManagers so sinks can
//! commit.
//!
//! One checkpoint at a time per job, as the playground configures Flink
//! (`execution.checkpointing.max-concurrent-checkpoints` 1): a task's snapshot writer
//! acknowledges only once its files are written, so this also bounds the snapshots in flight.
//!
//! Shared state files (incremental checkpoints, `weir_core::checkpoint::incremental`) are
//! deleted once no retained checkpoint names them: when a checkpoint completes, the files the
//! one it replaces named and it does not, and deltas a failed task attempt left; when a
//! JobManager takes a job over after a restart, every file older than its latest checkpoint that
//! the checkpoint does not name. Each deletion happens only after the job's record names the new
//! checkpoint, so a JobManager killed in between resumes from a checkpoint whose files are all
//! there.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ClusterState, JobManager};
use crate::rpc::ToTaskManager;
use weir_config::keys;
use weir_core::checkpoint::incremental::{self, Sweep, shared_directory};
use weir_core::checkpoint::storage::{self, uri};
use weir_core::checkpoint::{
    BarrierKind, CheckpointMetadata, METADATA_FORMAT, OperatorSnapshot, RestorePoint, SnapshotFormat, SubtaskSnapshot,
};
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_core::jobgraph::VertexKind;

/// Checkpoints that take longer fail (Flink's `execution.checkpointing.timeout`).
const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(600);
/// Completed checkpoints kept in the history (Flink's `web.checkpoints.history`).
const HISTORY: usize = 10;

/// A checkpoint or savepoint as the statistics show it.
#[derive(Clone, Debug)]
pub struct CheckpointStats {
    /// The checkpoint's ID, increasing per job.
    pub id: u64,
    /// Checkpoint, savepoint, stop-with-savepoint or upgrade barrier.
    pub kind: BarrierKind,
    /// A savepoint's format.
    pub format: SnapshotFormat,
    /// In progress, completed or failed.
    pub status: CheckpointStatus,
    /// When it was triggered (ms since the epoch).
    pub trigger_timestamp: i64,
    /// When the last acknowledgement arrived, or when it completed (ms since the epoch).
    pub latest_ack_timestamp: i64,
    /// Bytes written for it, state files plus `_metadata` (Flink's checkpointed size: an
    /// incremental checkpoint's new files only).
    pub size: u64,
    /// Bytes of the whole state it names (Flink's state size).
    pub state_size: u64,
    /// How many subtasks must acknowledge it.
    pub num_subtasks: usize,
    /// How many subtasks have acknowledged it.
    pub num_acknowledged: usize,
    /// The checkpoint's directory (`file:/…`).
    pub external_path: Option<String>,
    /// Its files were deleted (a newer checkpoint completed, or the job ended).
    pub discarded: bool,
    /// When it failed (ms since the epoch) and why.
    pub failure: Option<(i64, String)>,
    /// Each acknowledgement so far, by (vertex index, subtask index).
    pub acknowledgements: std::collections::BTreeMap<(usize, u32), Acknowledgement>,
}

/// One subtask's acknowledgement of a checkpoint, as the statistics show it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Acknowledgement {
    /// When it arrived, ms since the epoch.
    pub timestamp: i64,
    /// The bytes the subtask wrote for the checkpoint.
    pub size: u64,
    /// The bytes of the subtask's whole state.
    pub state_size: u64,
    /// Milliseconds the snapshot held the task.
    pub sync_ms: u64,
    /// Milliseconds its files took to write, off the task's thread.
    pub async_ms: u64,
}

/// Where a checkpoint stands (Flink's `CheckpointStatsStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// Triggered, waiting for acknowledgements.
    InProgress,
    /// Every subtask acknowledged and the `_metadata` is written.
    Completed,
    /// Declined, expired, not writable, or abandoned (the job failed, was cancelled, upgraded).
    Failed,
}

impl CheckpointStats {
    /// The end-to-end duration, ms.
    pub fn duration(&self) -> i64 {
        let end = match self.failure {
            Some((t, _)) => t,
            None => self.latest_ack_timestamp,
        };
        (end - self.trigger_timestamp).max(0)
    }
}

/// A savepoint asked for over REST: its progress.
#[derive(Clone, Debug)]
pub enum Operation {
    /// The savepoint is queued or being taken.
    InProgress,
    /// The savepoint completed.
    Completed {
        /// The savepoint's directory (`file:/…`).
        location: String,
        /// The checkpoint's id (0 where there is none: a disposal).
        checkpoint: u64,
    },
    /// The savepoint failed.
    Failed {
        /// Why it failed.
        cause: String,
    },
}

/// A checkpoint being taken.
#[derive(Debug)]
struct Pending {
    id: u64,
    kind: BarrierKind,
    location: PathBuf,
    trigger: Instant,
    acks: HashMap<(usize, u32), SubtaskSnapshot>,
    expected: usize,
    /// The REST operation waiting for it, and whether to cancel the job after.
    operation: Option<(String, bool)>,
}

/// A job's checkpoints: the one in flight, the latest completed, statistics, operations.
#[derive(Debug, Default)]
pub struct Checkpoints {
    next_id: u64,
    pending: Option<Pending>,
    last_trigger: Option<Instant>,
    /// Most recent first.
    pub history: VecDeque<CheckpointStats>,
    /// Checkpoints and savepoints completed so far.
    pub completed: u64,
    /// Checkpoints and savepoints failed so far.
    pub failed: u64,
    /// What the job restored from: (checkpoint ID, when in ms since the epoch, whether it was a
    /// savepoint, its directory URI).
    pub restored: Option<(u64, i64, bool, String)>,
    /// The latest completed checkpoint (not savepoint), its directory and the shared files it
    /// names.
    latest: Option<Latest>,
    /// Savepoints asked for over REST, by trigger ID.
    pub operations: HashMap<String, Operation>,
    /// A savepoint asked for while a checkpoint was in flight: it starts next.
    queued: Option<QueuedSavepoint>,
}

/// The latest completed checkpoint.
#[derive(Debug)]
struct Latest {
    id: u64,
    dir: PathBuf,
    /// The names of the shared files it names.
    shared: std::collections::BTreeSet<String>,
}

/// The names of the files in the job's `shared/` directory that `metadata` names.
fn shared_files(metadata: &CheckpointMetadata) -> std::collections::BTreeSet<String> {
    metadata
        .operators
        .values()
        .flat_map(|o| &o.subtasks)
        .filter_map(|s| s.keyed.as_ref())
        .flat_map(|k| &k.files)
        .filter(|f| f.is_shared())
        .map(|f| f.name().to_string())
        .collect()
}

/// Deletes what `sweep` allows of the shared files of the job whose checkpoint `dir` is,
/// keeping those `keep` names.
fn sweep(dir: &Path, keep: &std::collections::BTreeSet<String>, sweep: Sweep<'_>) {
    let shared = shared_directory(dir);
    match incremental::sweep_shared(&shared, keep, sweep) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(dir = %shared.display(), files = n, "shared state files no checkpoint names deleted"),
        Err(error) => tracing::warn!(dir = %shared.display(), %error, "could not sweep the shared state files"),
    }
}

/// A savepoint waiting for the checkpoint in flight.
#[derive(Debug)]
struct QueuedSavepoint {
    kind: BarrierKind,
    format: SnapshotFormat,
    target: PathBuf,
    cancel_after: bool,
    trigger: String,
}

impl Checkpoints {
    /// Checkpoints triggered so far.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + u64::from(self.pending.is_some())
    }

    /// How many checkpoints are in flight (0 or 1).
    pub fn in_progress(&self) -> u64 {
        u64::from(self.pending.is_some())
    }

    /// The id of the latest checkpoint triggered.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// True while a checkpoint or savepoint is being taken.
    pub fn in_flight(&self) -> bool {
        self.pending.is_some()
    }

    /// What the checkpoint being taken is, if one is.
    pub fn in_flight_kind(&self) -> Option<BarrierKind> {
        self.pending.as_ref().map(|p| p.kind)
    }

    /// The latest completed checkpoint or savepoint in the history.
    pub fn latest_completed(&self, savepoint: bool) -> Option<&CheckpointStats> {
        self.history.iter().find(|c| c.status == CheckpointStatus::Completed && c.kind.is_savepoint() == savepoint)
    }

    /// The latest failed checkpoint or savepoint in the history.
    pub fn latest_failed(&self) -> Option<&CheckpointStats> {
        self.history.iter().find(|c| c.status == CheckpointStatus::Failed)
    }

    fn record(&mut self, stats: CheckpointStats) {
        self.history.retain(|c| c.id != stats.id);
        self.history.push_front(stats);
        self.history.truncate(HISTORY);
    }

    /// The job has ended: its checkpoints go (they are not externalized), savepoints stay.
    pub(super) fn discard_all(&mut self) {
        if let Some(Latest { id, dir, .. }) = self.latest.take() {
            remove_checkpoint(&dir);
            remove_checkpoint(&shared_directory(&dir));
            if let Some(parent) = dir.parent() {
                storage::remove_empty_directory(parent);
            }
            if let Some(s) = self.history.iter_mut().find(|c| c.id == id) {
                s.discarded = true;
            }
        }
    }

    /// Takes over `point` as the latest checkpoint (an upgrade's redeployed job's), to be
    /// deleted when a newer one completes.
    pub fn adopt(&mut self, point: &RestorePoint) {
        let (id, dir) = (point.metadata.checkpoint_id, point.directory.clone());
        self.latest = Some(Latest { id, dir, shared: shared_files(&point.metadata) });
        self.continue_after(id);
    }

    /// Takes over `point` as the latest checkpoint of a job resumed after a JobManager restart
    /// (its record names `point`, and none of its tasks runs): what a crash left of older
    /// checkpoints goes now, their directories and the shared files `point` does not name.
    pub fn adopt_after_restart(&mut self, point: &RestorePoint) {
        if !point.metadata.kind.is_savepoint() {
            let id = point.metadata.checkpoint_id;
            sweep(&point.directory, &shared_files(&point.metadata), Sweep::Start { latest: id });
            remove_older_checkpoints(&point.directory, id);
        }
        self.adopt(point);
    }

    /// Starts numbering after `id` (a restored checkpoint).
    pub fn continue_after(&mut self, id: u64) {
        self.next_id = self.next_id.max(id);
    }
}

/// Why a savepoint cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum SavepointError {
    /// No job has this ID.
    #[error("Job {0} not found")]
    NotFound(String),
    /// Neither the request nor `state.savepoints.dir` names a target directory.
    #[error("Config key [state.savepoints.dir] is not set. Property [target-directory] must be provided.")]
    NoDirectory,
    /// The job is not in a state to take one (not all tasks running, an upgrade under way).
    #[error("{0}")]
    NotRunning(String),
}

impl JobManager {
    /// Where a job's checkpoints go.
    pub fn checkpoint_directory(&self, job: &str) -> PathBuf {
        let base = self
            .options
            .config
            .get_path(&keys::CHECKPOINTS_DIR)
            .unwrap_or_else(|| std::env::temp_dir().join("weir-checkpoints"));
        base.join(job)
    }

    /// Where the job's next periodic checkpoint goes: `<checkpoint dir>/<job>/chk-<n>`.
    pub(super) fn next_checkpoint_location(&self, job_id: &str, checkpoints: &Checkpoints) -> PathBuf {
        self.checkpoint_directory(job_id).join(format!("chk-{}", checkpoints.next_id + 1))
    }

    /// Triggers a savepoint (`POST /jobs/:id/savepoints`, `stop`); returns its trigger id.
    pub fn trigger_savepoint(
        &self,
        job_id: &str,
        target: Option<&str>,
        kind: BarrierKind,
        cancel_after: bool,
        trigger_id: Option<String>,
        format: SnapshotFormat,
    ) -> Result<String, SavepointError> {
        let target = target
            .map(storage::local_path)
            .or_else(|| self.options.config.get_path(&keys::SAVEPOINTS_DIR))
            .ok_or(SavepointError::NoDirectory)?;
        let mut state = self.state();
        let job = state.jobs.get_mut(job_id).ok_or_else(|| SavepointError::NotFound(job_id.to_string()))?;
        let trigger = trigger_id.unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
        if job.record.status != JobStatus::Running || !job.all_subtasks().all(|s| s.state == ExecutionState::Running) {
            return Err(SavepointError::NotRunning(format!(
                "The job {job_id} is {} with not all tasks running: a savepoint needs every task running.",
                job.record.status.name()
            )));
        }
        if job.upgrade.is_some() {
            return Err(SavepointError::NotRunning(format!(
                "An upgrade of job {job_id} is in progress: take the savepoint once it has completed."
            )));
        }
        job.checkpoints.operations.insert(trigger.clone(), Operation::InProgress);
        if job.checkpoints.pending.is_some() {
            // One at a time: the savepoint starts when the checkpoint in flight ends.
            job.checkpoints.queued =
                Some(QueuedSavepoint { kind, format, target, cancel_after, trigger: trigger.clone() });
            return Ok(trigger);
        }
        let location = self.location_of(job_id, kind, &target, &job.checkpoints);
        start(&mut state, job_id, kind, location, Some((trigger.clone(), cancel_after)), format);
        Ok(trigger)
    }

    /// Triggers a checkpoint now (`POST /jobs/:id/checkpoints`, Flink's `triggerCheckpoint`);
    /// returns its trigger id. Like a savepoint it waits for a checkpoint in flight. `full`
    /// (Flink's `FULL` checkpoint type) merges each keyed subtask's chain into one file.
    pub fn trigger_checkpoint(
        &self,
        job_id: &str,
        trigger_id: Option<String>,
        full: bool,
    ) -> Result<String, SavepointError> {
        let dir = self.checkpoint_directory(job_id).display().to_string();
        let format = if full { SnapshotFormat::Canonical } else { SnapshotFormat::Native };
        self.trigger_savepoint(job_id, Some(&dir), BarrierKind::Checkpoint, false, trigger_id, format)
    }

    /// Where a checkpoint of `kind` asked for by a user goes: a checkpoint beside the periodic
    /// ones, a savepoint in a new directory under `target`.
    fn location_of(&self, job_id: &str, kind: BarrierKind, target: &Path, checkpoints: &Checkpoints) -> PathBuf {
        match kind {
            BarrierKind::Checkpoint => self.next_checkpoint_location(job_id, checkpoints),
            _ => target.join(storage::savepoint_name(job_id)),
        }
    }

    /// A subtask has taken its part of a checkpoint.
    pub fn acknowledge_checkpoint(
        &self,
        job_id: &str,
        vertex: usize,
        subtask: u32,
        checkpoint: u64,
        snapshot: SubtaskSnapshot,
    ) {
        let completed = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            let Some(pending) = job.checkpoints.pending.as_mut().filter(|p| p.id == checkpoint) else { return };
            // Only a subtask the job has counts (a stale or forged acknowledgement does not).
            if job.subtasks.get(vertex).and_then(|v| v.get(subtask as usize)).is_none() {
                return;
            }
            let ack = Acknowledgement {
                timestamp: now_ms(),
                size: snapshot.size,
                state_size: snapshot.state_size.max(snapshot.size),
                sync_ms: snapshot.sync_ms,
                async_ms: snapshot.async_ms,
            };
            let now = ack.timestamp;
            pending.acks.insert((vertex, subtask), snapshot);
            let (id, acknowledged) = (pending.id, pending.acks.len());
            if let Some(stats) = job.checkpoints.history.iter_mut().find(|c| c.id == id) {
                stats.acknowledgements.insert((vertex, subtask), ack);
                stats.num_acknowledged = acknowledged;
                stats.latest_ack_timestamp = now;
            }
            let Some(pending) = job.checkpoints.pending.as_ref() else { return };
            if pending.acks.len() < pending.expected {
                return;
            }
            complete(&mut state, job_id)
        };
        if let Some(Completed { record, cancel, subsumed, notify }) = completed {
            self.persist(&record);
            // Only once the record names the checkpoint are the tasks told it completed (sinks
            // then publish what they held for it): a JobManager killed before that resumes from
            // the checkpoint before, and nothing past that has been published.
            {
                let state = self.state();
                for tm in notify {
                    if let Some(entry) = state.taskmanagers.get(&tm) {
                        entry.send(ToTaskManager::CheckpointComplete { job: job_id.to_string(), checkpoint });
                    }
                }
            }
            // Only once the record names the new checkpoint may the old one go: a JobManager
            // killed in between resumes from whichever the record names, and it must exist.
            if let Some(Subsumed { old, new, keep, replaced }) = subsumed {
                self.exit_if_testing_asks(checkpoint);
                remove_checkpoint(&old);
                sweep(&new, &keep, Sweep::Completed { latest: checkpoint, replaced: &replaced });
            }
            if cancel {
                let _ = self.cancel_job(job_id);
            }
            self.upgrade_checkpoint_completed(job_id, checkpoint);
        }
    }

    /// The testing aid of `weir.testing.exit-before-checkpoint-deletion`: exits if its file is
    /// there (deleting it, so the restarted JobManager goes on).
    fn exit_if_testing_asks(&self, checkpoint: u64) {
        let Some(marker) = self.options.config.get(keys::TESTING_EXIT_BEFORE_CHECKPOINT_DELETION) else { return };
        if std::fs::remove_file(marker).is_ok() {
            tracing::warn!(checkpoint, "exiting before deleting the replaced checkpoint, as {marker} asked");
            std::process::exit(3);
        }
    }

    /// A subtask could not take its part: the checkpoint fails.
    pub fn decline_checkpoint(&self, job_id: &str, checkpoint: u64, reason: &str) {
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(job_id) else { return };
        if job.checkpoints.pending.as_ref().is_some_and(|p| p.id == checkpoint) {
            fail_pending(&mut state, job_id, reason);
        }
    }

    /// What a run from `savepoint` restores, checked against the job's operators.
    pub fn check_restore(
        graph: &weir_core::jobgraph::JobGraph,
        point: &RestorePoint,
        path: &str,
        allow_non_restored_state: bool,
    ) -> Result<(), String> {
        if point.metadata.max_parallelism != graph.max_parallelism {
            return Err(format!(
                "Failed to rollback to checkpoint/savepoint {path}. The max parallelism of the savepoint ({}) differs from the job's ({}); key groups cannot be redistributed.",
                point.metadata.max_parallelism, graph.max_parallelism
            ));
        }
        for uid in point.metadata.operators.keys() {
            if !allow_non_restored_state && !graph.vertices.iter().any(|v| &v.uid == uid) {
                return Err(format!(
                    "Failed to rollback to checkpoint/savepoint {path}. Cannot map checkpoint/savepoint state for operator {uid} to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI."
                ));
            }
        }
        Ok(())
    }
}

/// Subtasks by TaskManager: (TaskManager, [(vertex, subtask)]).
type TasksByTaskManager = Vec<(String, Vec<(usize, u32)>)>;

/// How many subtasks a job has, and its source subtasks by TaskManager.
fn tasks(state: &ClusterState, job_id: &str) -> (usize, TasksByTaskManager) {
    let Some(job) = state.jobs.get(job_id) else { return (0, Vec::new()) };
    let total = job.all_subtasks().count();
    let mut by_tm: BTreeMap<String, Vec<(usize, u32)>> = BTreeMap::new();
    for (v, vertex) in job.record.graph.vertices.iter().enumerate() {
        if !matches!(vertex.kind, VertexKind::Source { .. }) {
            continue;
        }
        for (s, subtask) in (0u32..).zip(&job.subtasks[v]) {
            if let Some(tm) = &subtask.taskmanager {
                by_tm.entry(tm.clone()).or_default().push((v, s));
            }
        }
    }
    (total, by_tm.into_iter().collect())
}

/// Starts checkpoint `kind` of `job_id` into `location`; returns its id, unless it failed at once.
pub(super) fn start(
    state: &mut ClusterState,
    job_id: &str,
    kind: BarrierKind,
    location: PathBuf,
    operation: Option<(String, bool)>,
    format: SnapshotFormat,
) -> Option<u64> {
    let (expected, sources) = tasks(state, job_id);
    let job = state.jobs.get_mut(job_id)?;
    job.checkpoints.next_id += 1;
    let id = job.checkpoints.next_id;
    job.checkpoints.last_trigger = Some(Instant::now());
    let now = now_ms();
    let stats = CheckpointStats {
        id,
        kind,
        format,
        status: CheckpointStatus::InProgress,
        trigger_timestamp: now,
        latest_ack_timestamp: now,
        size: 0,
        state_size: 0,
        num_subtasks: expected,
        num_acknowledged: 0,
        external_path: Some(uri(&location)),
        discarded: false,
        failure: None,
        acknowledgements: Default::default(),
    };
    job.checkpoints.record(stats);
    job.checkpoints.pending = Some(Pending {
        id,
        kind,
        location: location.clone(),
        trigger: Instant::now(),
        acks: HashMap::new(),
        expected,
        operation,
    });
    // A checkpoint's tasks write their files into the job's `shared/` directory; nothing
    // creates a directory but this, so a task never recreates one that was given up.
    let shared = (!kind.is_savepoint()).then(|| shared_directory(&location));
    let created =
        storage::create_directory(&location).and_then(|()| shared.as_deref().map_or(Ok(()), storage::create_directory));
    if let Err(error) = created {
        let error = match error {
            storage::StorageError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        fail_pending(state, job_id, &format!("cannot create {}: {error}", location.display()));
        return None;
    }
    tracing::debug!(job = job_id, checkpoint = id, ?kind, "triggering checkpoint");
    let location = location.display().to_string();
    // Every TaskManager of the job hears of the checkpoint and its location, those without
    // sources with no tasks to trigger: a barrier arriving over a data connection must name
    // the location announced here (a peer cannot make a task write its state elsewhere).
    let mut sources = sources;
    let others: std::collections::BTreeSet<String> = state
        .jobs
        .get(job_id)
        .map(|j| j.slots.iter().filter(|tm| !sources.iter().any(|(s, _)| s == *tm)).cloned().collect())
        .unwrap_or_default();
    sources.extend(others.into_iter().map(|tm| (tm, Vec::new())));
    for (tm, tasks) in sources {
        if let Some(entry) = state.taskmanagers.get(&tm) {
            entry.send(ToTaskManager::TriggerCheckpoint {
                job: job_id.to_string(),
                checkpoint: id,
                kind,
                location: location.clone(),
                tasks,
                format,
            });
        }
    }
    Some(id)
}

/// Every subtask acknowledged: write `_metadata`; returns the record to save and whether to
/// cancel the job (a savepoint with `cancel-job`).
/// What completing a checkpoint leaves to do outside the cluster's lock.
struct Completed {
    /// The job's record, naming the new checkpoint: to persist.
    record: super::JobRecord,
    /// Cancel the job now (a savepoint taken to cancel it).
    cancel: bool,
    /// The checkpoint the new one replaces: to delete once the record is persisted.
    subsumed: Option<Subsumed>,
    /// The TaskManagers to tell that the checkpoint completed, once the record is persisted.
    notify: Vec<String>,
}

/// A checkpoint replaced by a newer one: what to delete of it.
struct Subsumed {
    /// Its directory.
    old: PathBuf,
    /// The new checkpoint's directory.
    new: PathBuf,
    /// The shared files the new checkpoint names.
    keep: std::collections::BTreeSet<String>,
    /// The shared files the old one named.
    replaced: std::collections::BTreeSet<String>,
}

fn complete(state: &mut ClusterState, job_id: &str) -> Option<Completed> {
    let job = state.jobs.get_mut(job_id)?;
    let pending = job.checkpoints.pending.take()?;
    let graph = &job.record.graph;
    let mut operators: BTreeMap<String, OperatorSnapshot> = BTreeMap::new();
    for ((v, _), snapshot) in &pending.acks {
        if snapshot.is_empty() {
            continue;
        }
        let Some(vertex) = graph.vertices.get(*v) else { continue };
        let op = operators
            .entry(vertex.uid.clone())
            .or_insert_with(|| OperatorSnapshot { parallelism: vertex.parallelism, subtasks: Vec::new() });
        op.subtasks.push(snapshot.clone());
    }
    for op in operators.values_mut() {
        op.subtasks.sort_by_key(|s| s.subtask);
    }
    let metadata = CheckpointMetadata {
        format: METADATA_FORMAT.into(),
        job_id: job_id.to_string(),
        job_name: graph.name.clone(),
        checkpoint_id: pending.id,
        timestamp: now_ms(),
        kind: pending.kind,
        max_parallelism: graph.max_parallelism,
        operators,
    };
    // The state files plus `_metadata`, which holds the sources' offsets and the sinks' state.
    let state_size = metadata.state_size();
    let size = match storage::write_metadata(&pending.location, &metadata) {
        Ok(metadata_size) => metadata.size() + metadata_size,
        Err(error) => {
            job.checkpoints.pending = Some(pending);
            fail_pending(state, job_id, &error.to_string());
            return None;
        }
    };
    let location = uri(&pending.location);
    let duration = pending.trigger.elapsed();
    if let Some(stats) = job.checkpoints.history.iter_mut().find(|c| c.id == pending.id) {
        stats.status = CheckpointStatus::Completed;
        stats.latest_ack_timestamp = now_ms();
        stats.size = size;
        stats.state_size = state_size;
        stats.num_acknowledged = pending.acks.len();
    }
    job.checkpoints.completed += 1;
    let mut subsumed = None;
    if pending.kind.is_savepoint() {
        tracing::info!(job = job_id, savepoint = location, ?duration, "savepoint completed");
        if matches!(pending.kind, BarrierKind::Stop { .. }) {
            // Sinks publish what a stop-with-savepoint's barrier closed once it completes: a
            // JobManager that restarts before the job has finished must resume from it, not
            // from an older checkpoint whose replay would publish those records again. (Not
            // made the latest checkpoint: the savepoint is never deleted as subsumed.)
            job.record.latest_checkpoint = Some(pending.location.display().to_string());
        }
    } else {
        tracing::info!(
            job = job_id,
            checkpoint = pending.id,
            size,
            ?duration,
            "Completed checkpoint {} for job {job_id} ({size} bytes, {} ms).",
            pending.id,
            duration.as_millis()
        );
        // Keep only the latest checkpoint (state.checkpoints.num-retained = 1); the old one is
        // deleted by the caller after the record naming the new one is persisted.
        let keep = shared_files(&metadata);
        let latest = Latest { id: pending.id, dir: pending.location.clone(), shared: keep.clone() };
        let replaced = job.checkpoints.latest.replace(latest);
        let replaced_shared = match replaced {
            Some(Latest { id: old_id, dir: old, shared }) => {
                if let Some(s) = job.checkpoints.history.iter_mut().find(|c| c.id == old_id) {
                    s.discarded = true;
                }
                Some((old, shared))
            }
            None => None,
        };
        // Even with no checkpoint replaced, deltas a failed attempt left may go.
        subsumed = Some(match replaced_shared {
            Some((old, shared)) => Subsumed { old, new: pending.location.clone(), keep, replaced: shared },
            None => Subsumed { old: PathBuf::new(), new: pending.location.clone(), keep, replaced: Default::default() },
        });
        job.record.latest_checkpoint = Some(pending.location.display().to_string());
    }
    let mut cancel = false;
    if let Some((trigger, cancel_after)) = &pending.operation {
        job.checkpoints
            .operations
            .insert(trigger.clone(), Operation::Completed { location: location.clone(), checkpoint: pending.id });
        cancel = *cancel_after;
    }
    let record = job.record.clone();
    let notify = job.slots.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    Some(Completed { record, cancel, subsumed, notify })
}

/// Deletes the job's checkpoint directories `chk-<n>` beside `dir` with `n` below `latest`: what a
/// JobManager killed between persisting a checkpoint and deleting the one before left.
fn remove_older_checkpoints(dir: &Path, latest: u64) {
    let Some(job_dir) = dir.parent() else { return };
    let Ok(entries) = std::fs::read_dir(job_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let older = name.to_str().and_then(|n| n.strip_prefix("chk-")).and_then(|n| n.parse::<u64>().ok());
        if older.is_some_and(|n| n < latest) {
            tracing::info!(dir = %entry.path().display(), "deleting a checkpoint a restart left behind");
            remove_checkpoint(&entry.path());
        }
    }
}

/// Deletes a checkpoint's directory.
fn remove_checkpoint(dir: &Path) {
    if dir.as_os_str().is_empty() {
        return;
    }
    if let Err(error) = storage::remove_directory(dir) {
        tracing::debug!(dir = %dir.display(), %error, "could not remove an old checkpoint");
    }
}

/// The checkpoint in flight fails (declined, timed out, or the job failed).
pub(super) fn fail_pending(state: &mut ClusterState, job_id: &str, reason: &str) {
    let Some(job) = state.jobs.get_mut(job_id) else { return };
    let Some(pending) = job.checkpoints.pending.take() else { return };
    tracing::warn!(job = job_id, checkpoint = pending.id, reason, "checkpoint failed");
    job.checkpoints.failed += 1;
    if let Some(stats) = job.checkpoints.history.iter_mut().find(|c| c.id == pending.id) {
        stats.status = CheckpointStatus::Failed;
        stats.num_acknowledged = pending.acks.len();
        stats.failure = Some((now_ms(), reason.to_string()));
    }
    if let Some((trigger, _)) = pending.operation {
        job.checkpoints.operations.insert(trigger, Operation::Failed { cause: reason.to_string() });
    }
    if !pending.kind.is_savepoint() {
        remove_checkpoint(&pending.location);
    }
    JobManager::upgrade_checkpoint_failed(state, job_id, pending.id, reason);
}

/// The latest completed checkpoint of a job, loaded for a restart.
pub(super) fn latest_restore_point(job: &super::JobEntry) -> Option<RestorePoint> {
    let dir = job.record.latest_checkpoint.as_ref()?;
    match storage::load(dir) {
        Ok(point) => Some(point),
        Err(error) => {
            tracing::error!(job = job.record.id(), %error, "the latest checkpoint cannot be read");
            None
        }
    }
}

/// Triggers periodic checkpoints, times out slow ones, and redeploys restarting jobs.
pub async fn timer(jm: Arc<JobManager>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticker.tick().await;
        let restarts = {
            let mut state = jm.state();
            let mut due = Vec::new();
            let mut restarts = Vec::new();
            for (id, job) in &state.jobs {
                if let Some(at) = job.restart_at
                    && Instant::now() >= at
                {
                    restarts.push(id.clone());
                }
                if let Some(p) = &job.checkpoints.pending {
                    if p.trigger.elapsed() > CHECKPOINT_TIMEOUT {
                        due.push((id.clone(), true));
                    }
                    continue;
                }
                let running = job.record.status == JobStatus::Running
                    && !job.subtasks.is_empty()
                    && job.all_subtasks().all(|s| s.state == ExecutionState::Running);
                if running && job.checkpoints.queued.is_some() {
                    due.push((id.clone(), false));
                    continue;
                }
                if super::upgrade::holds_checkpoints(job) {
                    // The upgrade triggers its own barrier and its probation checkpoint.
                    continue;
                }
                let Some(interval) = job.record.graph.checkpoint_interval_ms else { continue };
                let elapsed =
                    job.checkpoints.last_trigger.is_none_or(|t| t.elapsed() >= Duration::from_millis(interval));
                if running && elapsed {
                    due.push((id.clone(), false));
                }
            }
            for (id, timed_out) in due {
                if timed_out {
                    fail_pending(&mut state, &id, "Checkpoint expired before completing.");
                } else if let Some(q) = state.jobs.get_mut(&id).and_then(|j| j.checkpoints.queued.take()) {
                    let location = jm.location_of(&id, q.kind, &q.target, &state.jobs[&id].checkpoints);
                    start(&mut state, &id, q.kind, location, Some((q.trigger, q.cancel_after)), q.format);
                } else {
                    let location = jm.next_checkpoint_location(&id, &state.jobs[&id].checkpoints);
                    start(&mut state, &id, BarrierKind::Checkpoint, location, None, SnapshotFormat::Native);
                }
            }
            super::upgrade::tick(&mut state, &jm);
            restarts
        };
        for id in restarts {
            jm.restart(&id);
        }
    }
}
