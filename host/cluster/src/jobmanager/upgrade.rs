//! Hot-swap upgrades (Weir's own operation, beside Flink's stop-with-savepoint): replacing the
//! code of a running job's operators at a checkpoint barrier while their state stays in the
//! host, with an automatic rollback if the new code fails.
//!
//! An upgrade request names a jar and program arguments (the job's own by default). The new
//! component is planned with them and the plan compared with the running job's:
//!
//! - **In place** (same operators, edges and parallelism): every TaskManager involved compiles
//!   and stages the new component with its tasks (`PrepareUpgrade`); then the coordinator
//!   triggers an upgrade barrier, an aligned checkpoint after which the tasks of the changed
//!   operators swap instances (see `task::upgrade`). Nothing restarts. Result `SWAPPED`.
//! - **Redeployed** (operators added or removed): a stop barrier snapshots the job into the
//!   upgrade's own savepoint; when every task has finished, the new graph deploys onto the slots
//!   and restores by operator uid, keeping the job id. Result `REDEPLOYED`.
//!
//! Until the first checkpoint after the change completes and `weir.upgrade.probation` has
//! passed (the probation), a failure of the new code rolls the job back: the old code is
//! redeployed from the upgrade barrier's snapshot, sources rewind to its offsets and the
//! exactly-once sink suppresses what is written again. Result `ROLLED_BACK`.
//!
//! A refused upgrade leaves the job untouched. The history of a job's upgrades is kept with its
//! record, so it survives a JobManager restart, and so does the code each operator runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::checkpoint_coordinator::{fail_pending, start};
use super::dispatcher::DispatchError;
use super::{ClusterState, JobManager, JobRecord};
use crate::rpc::ToTaskManager;
use weir_core::checkpoint::BarrierKind;
use weir_core::checkpoint::SnapshotFormat;
use weir_core::checkpoint::storage;
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_core::jobgraph::{JobGraph, JobVertex, VertexKind};

/// The probation's least duration (Weir's own key): until it has passed *and* a checkpoint
/// after the change has completed, a failure of the new code rolls the job back.
pub const PROBATION_KEY: &str = "weir.upgrade.probation";
/// How long the upgrade barrier may take to reach every task before they swap at once instead
/// (Weir's own key): a backpressured operator's input can hold minutes of records ahead of it.
pub const BARRIER_TIMEOUT_KEY: &str = "weir.upgrade.barrier-timeout";

/// How upgrades behave, read from the configuration once, when the JobManager starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpgradeOptions {
    /// [`PROBATION_KEY`], default 0.
    pub probation: Duration,
    /// [`BARRIER_TIMEOUT_KEY`], default 5 s.
    pub barrier_timeout: Duration,
}

impl Default for UpgradeOptions {
    fn default() -> Self {
        UpgradeOptions { probation: Duration::ZERO, barrier_timeout: Duration::from_secs(5) }
    }
}

impl UpgradeOptions {
    /// The options in `config`; a malformed duration is an error naming the key.
    pub fn from_config(config: &weir_config::Configuration) -> Result<Self, weir_config::ConfigError> {
        let default = UpgradeOptions::default();
        Ok(UpgradeOptions {
            probation: config.get_duration_ms(PROBATION_KEY, default.probation)?,
            barrier_timeout: config.get_duration_ms(BARRIER_TIMEOUT_KEY, default.barrier_timeout)?,
        })
    }
}

/// A job's upgrade metrics, counted from its history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpgradeCounts {
    /// Upgrades that swapped or redeployed.
    pub completed: u32,
    /// Upgrades whose new code failed in probation, so the old code runs again.
    pub rolled_back: u32,
    /// How long the last one of those took, request to end.
    pub last_duration_ms: Option<i64>,
}

impl UpgradeCounts {
    /// The counts of `record`'s upgrades.
    pub fn of(record: &JobRecord) -> Self {
        let mut counts = UpgradeCounts::default();
        for h in record.upgrades.iter().filter(|h| h.result.is_some()) {
            match h.result {
                Some(UpgradeResult::RolledBack) => counts.rolled_back += 1,
                _ => counts.completed += 1,
            }
            counts.last_duration_ms = h.duration_ms();
        }
        counts
    }
}

/// How an upgrade changes the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpgradeMode {
    /// Same graph: the changed operators swap code at a barrier.
    InPlace,
    /// The graph changes: snapshot, then the new graph deploys and restores by uid.
    Redeploy,
    /// The same code at other parallelisms (`rescale`): snapshot, then the graph deploys
    /// again and restores by uid, its key groups and partitions redistributed.
    Rescale,
}

impl UpgradeMode {
    /// True if the job stops at the barrier and deploys again (a redeploy or a rescale).
    pub fn redeploys(self) -> bool {
        self != UpgradeMode::InPlace
    }
}

/// How an upgrade ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpgradeResult {
    /// An in-place upgrade: the changed operators swapped code at the barrier.
    Swapped,
    /// The new graph was deployed and restored from the upgrade's savepoint.
    Redeployed,
    /// The new code failed in probation and the old code was redeployed.
    RolledBack,
}

impl UpgradeResult {
    /// The name the REST API and the CLI show.
    pub fn name(&self) -> &'static str {
        match self {
            UpgradeResult::Swapped => "SWAPPED",
            UpgradeResult::Redeployed => "REDEPLOYED",
            UpgradeResult::RolledBack => "ROLLED_BACK",
        }
    }
}

/// One upgrade of a job, as its history shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpgradeRecord {
    /// The request id.
    pub id: String,
    /// The uploaded jar holding the new component.
    pub jar_id: Option<String>,
    /// The component's file name as uploaded.
    pub component_name: String,
    /// The SHA-256 of the new component.
    pub component_hash: String,
    /// The program arguments the new component was planned with.
    pub program_args: Vec<String>,
    /// In place or redeployed.
    pub mode: UpgradeMode,
    /// The operators (uids) whose code or definition changes.
    pub operators: Vec<String>,
    /// The uids of the operators the new graph adds (a redeploy).
    pub added: Vec<String>,
    /// The uids of the operators the new graph no longer has (a redeploy).
    pub removed: Vec<String>,
    /// When it was asked for (ms since the epoch).
    pub requested: i64,
    /// When it ended, however it ended (ms since the epoch); `None` while it runs.
    pub completed: Option<i64>,
    /// How it ended; `None` while it runs, or if it was refused or abandoned.
    pub result: Option<UpgradeResult>,
    /// Why it was refused (no `result`) or rolled back.
    pub failure: Option<String>,
    /// The upgrade barrier's checkpoint id.
    pub checkpoint: Option<u64>,
    /// From the request until every task runs the new code, ms.
    pub swap_ms: Option<i64>,
    /// The tasks swapped at once, ahead of their queued input, because the barrier could not
    /// reach them in time (a backpressured job).
    #[serde(default)]
    pub immediate: bool,
    /// A rescale's parallelism per vertex, before and after (in the graph's vertex order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<(Vec<u32>, Vec<u32>)>,
}

impl UpgradeRecord {
    /// The history entry of a change planned as `plan` (a new request id, asked for now): the
    /// job will run `component_hash` (named `component_name`, from jar `jar_id`) with
    /// `program_args`.
    pub fn new(
        plan: &Plan,
        jar_id: Option<String>,
        component_name: String,
        component_hash: String,
        program_args: Vec<String>,
    ) -> Self {
        UpgradeRecord {
            id: hex::encode(rand::random::<[u8; 16]>()),
            jar_id,
            component_name,
            component_hash,
            program_args,
            mode: plan.mode,
            operators: plan.operators.clone(),
            added: plan.added.clone(),
            removed: plan.removed.clone(),
            requested: now_ms(),
            completed: None,
            result: None,
            failure: None,
            checkpoint: None,
            swap_ms: None,
            immediate: false,
            parallelism: None,
        }
    }

    /// From the request to the end, ms.
    pub fn duration_ms(&self) -> Option<i64> {
        self.completed.map(|c| (c - self.requested).max(0))
    }
}

/// What a user asks for (`POST /jobs/:id/upgrade`, `weir upgrade`).
#[derive(Clone, Debug, Default)]
pub struct UpgradeRequest {
    /// The uploaded jar holding the new component.
    pub jar_id: String,
    /// `None`: the job's current program arguments.
    pub program_args: Option<Vec<String>>,
    /// Limit an in-place swap to these operators (uids); empty: every changed operator.
    pub operators: Vec<String>,
    /// Redeploy even if operators with state are dropped (their state is lost).
    pub allow_non_restored_state: bool,
    /// Only plan the upgrade and say what it would do.
    pub dry_run: bool,
}

/// Where an upgrade in flight is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// TaskManagers compile and stage the new component.
    Preparing { waiting: BTreeSet<String> },
    /// Ready for the barrier, which waits only for a savepoint in flight to end (a periodic
    /// checkpoint in flight is superseded).
    Ready,
    /// The upgrade barrier (a checkpoint, or a stop savepoint for a redeploy) is under way.
    Barrier { checkpoint: u64, completed: bool, since: Instant },
    /// The barrier took too long: the tasks were told to swap at once.
    Immediate,
    /// The new code runs; a failure rolls back until a checkpoint after `after` completes
    /// once `until` has passed.
    Probation { after: u64, until: Instant, triggered: Option<u64> },
}

/// An upgrade under way (one per job at a time).
#[derive(Debug)]
pub struct InFlight {
    /// The upgrade's request ID.
    pub id: String,
    mode: UpgradeMode,
    started: Instant,
    phase: Phase,
    /// The job as it will run: its graph and the component each operator runs.
    new_graph: JobGraph,
    new_vertex_components: BTreeMap<String, String>,
    component_hash: String,
    component: Arc<Vec<u8>>,
    program_args: Vec<String>,
    jar_id: Option<String>,
    operators: Vec<String>,
    /// In-place: the subtasks of swapped operators that have not reported their swap yet.
    swaps_waiting: BTreeSet<(usize, u32)>,
    /// The first failure of the new code seen during the swap.
    failure: Option<String>,
    /// The job as it ran before, for a rollback after a redeploy.
    old: Option<Deployed>,
}

impl InFlight {
    /// The upgrade's new component, if its content is `hash`.
    pub(super) fn component(&self, hash: &str) -> Option<Arc<Vec<u8>>> {
        (self.component_hash == hash).then(|| self.component.clone())
    }
}

/// What a job runs: its graph, the component of each operator, and those components.
#[derive(Debug)]
struct Deployed {
    graph: JobGraph,
    vertex_components: BTreeMap<String, String>,
    components: BTreeMap<String, Arc<Vec<u8>>>,
}

impl InFlight {
    /// True once the new code may run somewhere (a failure then rolls back).
    pub fn new_code_may_run(&self) -> bool {
        matches!(self.phase, Phase::Barrier { .. } | Phase::Immediate | Phase::Probation { .. })
    }
}

/// The upgrade a request would make: what the dry run shows.
#[derive(Clone, Debug)]
pub struct Plan {
    /// In place or redeployed.
    pub mode: UpgradeMode,
    /// The uids of the operators that take the new code (every guest operator, on a redeploy).
    pub operators: Vec<String>,
    /// The uids of the operators the new graph adds.
    pub added: Vec<String>,
    /// The uids of the operators the new graph drops.
    pub removed: Vec<String>,
    /// The job graph after the upgrade.
    pub graph: JobGraph,
    /// The component hash each operator runs after the upgrade, by uid.
    pub vertex_components: BTreeMap<String, String>,
}

/// What a request got back.
#[derive(Clone, Debug)]
pub enum Started {
    /// The upgrade runs; poll it by this id.
    Running(String),
    /// A dry run: what it would do, and the request as its history would show it.
    DryRun(Box<(Plan, UpgradeRecord)>),
}

/// True if two vertices are the same operator, wired and deployed the same way: only their
/// code, name or configuration may differ for an in-place swap.
fn same_place(a: &JobVertex, b: &JobVertex) -> bool {
    let kind = match (&a.kind, &b.kind) {
        (VertexKind::Source { connector: x, .. }, VertexKind::Source { connector: y, .. }) => x == y,
        (VertexKind::Transform { .. }, VertexKind::Transform { .. }) => true,
        (VertexKind::SinkWriter { connector: x }, VertexKind::SinkWriter { connector: y }) => x == y,
        (VertexKind::SinkCommitter { connector: x }, VertexKind::SinkCommitter { connector: y }) => x == y,
        _ => false,
    };
    let inputs = a.inputs.len() == b.inputs.len()
        && a.inputs.iter().zip(&b.inputs).all(|(x, y)| x.source == y.source && x.strategy == y.strategy);
    kind && inputs && a.uid == b.uid && a.parallelism == b.parallelism
}

/// The uids of `graph`'s operators that `other` lacks.
fn uids_missing(graph: &JobGraph, other: &JobGraph) -> Vec<String> {
    graph.vertices.iter().filter(|v| !other.vertices.iter().any(|o| o.uid == v.uid)).map(|v| v.uid.clone()).collect()
}

/// True if the vertex keeps state a redeploy must carry: keyed state, source offsets, sink state.
fn has_state(v: &JobVertex) -> bool {
    v.is_keyed() || matches!(v.kind, VertexKind::Source { .. } | VertexKind::SinkWriter { .. })
}

/// Compares the running job with the planned one and decides what the upgrade does.
pub fn plan(
    record: &JobRecord,
    new: JobGraph,
    new_hash: &str,
    request: &UpgradeRequest,
) -> Result<Plan, DispatchError> {
    let old = &record.graph;
    let bad = DispatchError::BadRequest;
    if new.max_parallelism != old.max_parallelism {
        return Err(bad(format!(
            "The upgraded job's max parallelism ({}) differs from the running job's ({}): its key groups cannot be redistributed.",
            new.max_parallelism, old.max_parallelism
        )));
    }
    let in_place = old.vertices.len() == new.vertices.len()
        && old.vertices.iter().zip(&new.vertices).all(|(a, b)| same_place(a, b))
        && old.time == new.time
        && old.checkpoint_interval_ms == new.checkpoint_interval_ms;
    for uid in &request.operators {
        let Some(v) = old.vertices.iter().find(|v| &v.uid == uid) else {
            let known: Vec<&str> =
                old.vertices.iter().filter(|v| v.function().is_some()).map(|v| v.uid.as_str()).collect();
            return Err(bad(format!(
                "The job has no operator '{uid}' (its operators with code: {}).",
                known.join(", ")
            )));
        };
        if v.function().is_none() {
            return Err(bad(format!("The operator '{uid}' runs no guest code; there is nothing to swap.")));
        }
    }
    if !in_place {
        if !request.operators.is_empty() {
            return Err(bad(
                "The upgrade changes the job's graph (operators, edges, parallelism or connectors), so it redeploys the whole job; 'operators' applies only to in-place upgrades.".into(),
            ));
        }
        let (removed, added) = (uids_missing(old, &new), uids_missing(&new, old));
        if !request.allow_non_restored_state
            && let Some(lost) = old.vertices.iter().find(|v| has_state(v) && removed.contains(&v.uid))
        {
            return Err(bad(format!(
                "Failed to rollback to checkpoint/savepoint of the upgrade. Cannot map checkpoint/savepoint state for operator {} to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.",
                lost.uid
            )));
        }
        let vertex_components = new.vertices.iter().map(|v| (v.uid.clone(), new_hash.to_string())).collect();
        let operators = new.vertices.iter().filter(|v| v.function().is_some()).map(|v| v.uid.clone()).collect();
        return Ok(Plan { mode: UpgradeMode::Redeploy, operators, added, removed, graph: new, vertex_components });
    }
    // In place: the chosen operators take their new definition and the new component; the
    // others keep theirs.
    let mut graph = old.clone();
    let mut vertex_components = record.vertex_components.clone();
    let mut operators = Vec::new();
    for (i, v) in new.vertices.iter().enumerate() {
        if v.function().is_none() || (!request.operators.is_empty() && !request.operators.contains(&v.uid)) {
            continue;
        }
        let current = &old.vertices[i];
        let changed = record.component_of(&v.uid) != new_hash
            || current.config != v.config
            || current.function() != v.function()
            || current.name != v.name;
        if changed {
            operators.push(v.uid.clone());
            graph.vertices[i] = JobVertex { id: current.id.clone(), ..v.clone() };
            vertex_components.insert(v.uid.clone(), new_hash.to_string());
        }
    }
    if operators.is_empty() {
        return Err(bad(
            "Nothing to upgrade: the job's operators already run this component with this configuration.".into()
        ));
    }
    Ok(Plan { mode: UpgradeMode::InPlace, operators, added: Vec::new(), removed: Vec::new(), graph, vertex_components })
}

impl JobManager {
    /// Starts an upgrade of `job_id` (or, with `dry_run`, says what it would do). Blocking: it
    /// compiles the component and runs its plan.
    pub fn upgrade(&self, job_id: &str, request: UpgradeRequest) -> Result<Started, DispatchError> {
        let record = {
            let state = self.state();
            let job =
                state.jobs.get(job_id).ok_or_else(|| DispatchError::NotFound(format!("Job {job_id} not found")))?;
            check_upgradable(job)?;
            job.record.clone()
        };
        let (meta, bytes, component) = self.load_jar(&request.jar_id)?;
        let args = request.program_args.clone().unwrap_or_else(|| record.program_args.clone());
        let parallelism = record.graph.slots_needed();
        let new = self.plan(&component, &args, parallelism, job_id.to_string()).map_err(|e| match e {
            DispatchError::BadRequest(e) => {
                DispatchError::BadRequest(format!("The upgraded job cannot be planned: {e}"))
            }
            other => other,
        })?;
        self.check_kafka(&new)?;
        let plan = plan(&record, new, component.hash(), &request)?;
        let history = UpgradeRecord::new(&plan, Some(meta.id.clone()), meta.name.clone(), meta.hash.clone(), args);
        if request.dry_run {
            return Ok(Started::DryRun(Box::new((plan, history))));
        }
        self.store_component(&meta.hash, &bytes)?;
        let id = self.begin(job_id, plan, history, Arc::new(bytes))?;
        Ok(Started::Running(id))
    }

    /// Starts a change of a running job planned as `plan` (an upgrade or a rescale): records
    /// `history` in the job's history (the job then runs its component, `component`'s bytes,
    /// with its arguments), and sends in-place swaps to the TaskManagers to prepare, or triggers
    /// a redeploy's barrier. Refused if the job changed meanwhile (409).
    pub(super) fn begin(
        &self,
        job_id: &str,
        plan: Plan,
        mut history: UpgradeRecord,
        component: Arc<Vec<u8>>,
    ) -> Result<String, DispatchError> {
        let id = history.id.clone();
        let (component_hash, program_args, jar_id) =
            (history.component_hash.clone(), history.program_args.clone(), history.jar_id.clone());
        let mut state = self.state();
        let job =
            state.jobs.get_mut(job_id).ok_or_else(|| DispatchError::NotFound(format!("Job {job_id} not found")))?;
        // The job may have changed while the component compiled.
        check_upgradable(job)?;
        let swaps_waiting = match plan.mode {
            UpgradeMode::InPlace => job
                .record
                .graph
                .vertices
                .iter()
                .enumerate()
                .filter(|(_, v)| plan.operators.contains(&v.uid))
                .flat_map(|(i, v)| (0..v.parallelism).map(move |s| (i, s)))
                .collect(),
            UpgradeMode::Redeploy | UpgradeMode::Rescale => BTreeSet::new(),
        };
        let taskmanagers: BTreeSet<String> = job.slots.iter().cloned().collect();
        let phase = match plan.mode {
            UpgradeMode::InPlace => Phase::Preparing { waiting: taskmanagers.clone() },
            UpgradeMode::Redeploy | UpgradeMode::Rescale => Phase::Ready,
        };
        tracing::info!(
            job = job_id,
            upgrade = id,
            mode = ?plan.mode,
            operators = ?plan.operators,
            component = &component_hash[..component_hash.len().min(12)],
            "upgrade requested"
        );
        history.requested = now_ms();
        job.record.upgrades.push(history);
        job.upgrade = Some(InFlight {
            id: id.clone(),
            mode: plan.mode,
            started: Instant::now(),
            phase,
            new_graph: plan.graph.clone(),
            new_vertex_components: plan.vertex_components,
            component_hash: component_hash.clone(),
            component,
            program_args,
            jar_id,
            operators: plan.operators.clone(),
            swaps_waiting,
            failure: None,
            old: None,
        });
        if plan.mode == UpgradeMode::InPlace {
            for tm in &taskmanagers {
                if let Some(entry) = state.taskmanagers.get(tm) {
                    entry.send(ToTaskManager::PrepareUpgrade {
                        job: job_id.to_string(),
                        upgrade: id.clone(),
                        component: component_hash.clone(),
                        graph: Box::new(plan.graph.clone()),
                        operators: plan.operators.clone(),
                    });
                }
            }
        } else {
            trigger_if_ready(&mut state, job_id, self);
        }
        Ok(id)
    }

    /// A TaskManager has staged (or failed to stage) an upgrade's component.
    pub fn upgrade_prepared(&self, tm: &str, job_id: &str, upgrade: &str, failure: Option<String>) {
        let refused = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            let Some(flight) = job.upgrade.as_mut().filter(|u| u.id == upgrade) else { return };
            let Phase::Preparing { waiting } = &mut flight.phase else { return };
            if let Some(failure) = failure {
                // Nothing has changed yet: the upgrade is refused and the job runs on.
                let cause = format!("The new component could not be prepared on TaskManager {tm}: {failure}");
                end(job, None, Some(cause));
                Some(job.record.clone())
            } else {
                waiting.remove(tm);
                if waiting.is_empty() {
                    flight.phase = Phase::Ready;
                    trigger_if_ready(&mut state, job_id, self);
                }
                None
            }
        };
        if let Some(record) = refused {
            self.persist(&record);
        }
    }

    /// A task reports its swap at the upgrade barrier.
    pub fn swapped(&self, task: super::scheduler::SubtaskAttempt<'_>, checkpoint: u64, failure: Option<String>) {
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(task.job) else { return };
        if job.record.attempt != task.attempt {
            return;
        }
        let Some(flight) = job.upgrade.as_mut() else { return };
        let expected = match flight.phase {
            Phase::Barrier { checkpoint: c, .. } => c == checkpoint,
            // Tasks the barrier reached before the timeout swapped at it; the others now.
            Phase::Immediate => true,
            _ => false,
        };
        if !expected {
            return;
        }
        flight.swaps_waiting.remove(&(task.vertex, task.subtask));
        if let Some(failure) = failure {
            flight.failure.get_or_insert(failure);
        }
        // The swap is done when the last task runs the new code, which with asynchronous
        // snapshots is before the barrier's checkpoint has been written.
        if flight.swaps_waiting.is_empty() && flight.failure.is_none() {
            let swap_ms = i64::try_from(flight.started.elapsed().as_millis()).unwrap_or(i64::MAX);
            if let Some(h) = job.record.upgrades.iter_mut().rev().find(|h| h.id == flight.id) {
                h.swap_ms.get_or_insert(swap_ms);
            }
        }
        let job_id = task.job.to_string();
        drop(state);
        self.advance_upgrade(&job_id);
    }

    /// Moves an in-flight upgrade on after a swap report or a completed checkpoint.
    pub(super) fn advance_upgrade(&self, job_id: &str) {
        let probation = self.options.upgrade.probation;
        let finished = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            let Some(flight) = job.upgrade.as_mut() else { return };
            match flight.phase.clone() {
                // A redeploy's barrier stops the job; `redeploy_if_stopped` takes it from there.
                Phase::Barrier { completed: true, .. } | Phase::Immediate
                    if flight.mode == UpgradeMode::InPlace && flight.swaps_waiting.is_empty() =>
                {
                    let checkpoint = match flight.phase {
                        Phase::Barrier { checkpoint, .. } => Some(checkpoint),
                        _ => None,
                    };
                    // After an immediate swap, probation ends with any checkpoint from now on.
                    let after = checkpoint.unwrap_or(job.checkpoints.next_id());
                    if let Some(failure) = flight.failure.clone() {
                        let cause = format!("The new code failed to start: {failure}");
                        rollback(&mut state, job_id, &cause);
                        None
                    } else {
                        let elapsed = i64::try_from(flight.started.elapsed().as_millis()).unwrap_or(i64::MAX);
                        let mut swap_ms = elapsed;
                        if let Some(h) = job.record.upgrades.iter_mut().rev().find(|h| h.id == flight.id) {
                            swap_ms = *h.swap_ms.get_or_insert(elapsed);
                            h.checkpoint = checkpoint;
                            h.immediate = checkpoint.is_none();
                        }
                        tracing::info!(
                            job = job_id,
                            upgrade = flight.id,
                            swap_ms,
                            "every task runs the new code and the barrier's checkpoint is complete; probation starts"
                        );
                        flight.phase = Phase::Probation { after, until: Instant::now() + probation, triggered: None };
                        probation_checkpoint(&mut state, job_id, self);
                        None
                    }
                }
                _ => None::<JobRecord>,
            }
        };
        if let Some(record) = finished {
            self.persist(&record);
        }
    }

    /// A checkpoint of the job completed: the upgrade barrier's, or the one that ends probation.
    pub(super) fn upgrade_checkpoint_completed(&self, job_id: &str, checkpoint: u64) {
        let committed = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            let Some(flight) = job.upgrade.as_mut() else { return };
            match &mut flight.phase {
                Phase::Barrier { checkpoint: c, completed, .. } if *c == checkpoint => {
                    *completed = true;
                    None
                }
                Phase::Probation { after, until, .. } if checkpoint > *after && Instant::now() >= *until => {
                    let result = if flight.mode == UpgradeMode::InPlace {
                        UpgradeResult::Swapped
                    } else {
                        UpgradeResult::Redeployed
                    };
                    commit(job, result);
                    Some(job.record.clone())
                }
                _ => None,
            }
        };
        match committed {
            Some(record) => self.persist(&record),
            None => self.advance_upgrade(job_id),
        }
    }

    /// The upgrade barrier's checkpoint failed: the new code may already run without a snapshot
    /// of the old, so the job rolls back to its latest checkpoint.
    pub(super) fn upgrade_checkpoint_failed(state: &mut ClusterState, job_id: &str, checkpoint: u64, reason: &str) {
        let Some(job) = state.jobs.get_mut(job_id) else { return };
        let Some(flight) = job.upgrade.as_mut() else { return };
        match flight.phase {
            Phase::Barrier { checkpoint: c, .. } if c == checkpoint => {
                let cause = format!("The upgrade barrier's checkpoint failed: {reason}");
                rollback(state, job_id, &cause);
            }
            Phase::Probation { ref mut triggered, .. } if *triggered == Some(checkpoint) => {
                // The next one ends the probation instead.
                *triggered = None;
            }
            _ => {}
        }
    }
}

/// Refuses an upgrade of a job that is not running every task, or has one under way.
fn check_upgradable(job: &super::JobEntry) -> Result<(), DispatchError> {
    let id = job.record.id();
    if job.upgrade.is_some() {
        return Err(DispatchError::Conflict(format!("An upgrade or rescale of job {id} is already in progress.")));
    }
    if job.record.status != JobStatus::Running || !job.all_subtasks().all(|s| s.state == ExecutionState::Running) {
        return Err(DispatchError::Conflict(format!(
            "The job {id} is {} with not all tasks running: an upgrade or rescale needs every task running.",
            job.record.status.name()
        )));
    }
    Ok(())
}

/// Triggers the upgrade barrier: at once, superseding a periodic checkpoint in flight (the
/// barrier is a checkpoint too, and the one in flight may be held up behind queued input), or
/// once a savepoint in flight has ended.
pub(super) fn trigger_if_ready(state: &mut ClusterState, job_id: &str, jm: &JobManager) {
    let Some(job) = state.jobs.get(job_id) else { return };
    let Some(flight) = &job.upgrade else { return };
    if flight.phase != Phase::Ready {
        return;
    }
    match job.checkpoints.in_flight_kind() {
        None => {}
        Some(BarrierKind::Checkpoint) => fail_pending(state, job_id, "superseded by an upgrade barrier"),
        Some(_) => return,
    }
    let Some(job) = state.jobs.get(job_id) else { return };
    let Some(flight) = &job.upgrade else { return };
    let (kind, location) = match flight.mode {
        UpgradeMode::InPlace => (BarrierKind::Upgrade, jm.next_checkpoint_location(job_id, &job.checkpoints)),
        // The redeploy's snapshot is its own, beside the job's checkpoints.
        UpgradeMode::Redeploy | UpgradeMode::Rescale => (
            BarrierKind::Stop { drain: false },
            jm.checkpoint_directory(job_id).join(format!("upgrade-{}", &flight.id[..12])),
        ),
    };
    let checkpoint = start(state, job_id, kind, location, None, SnapshotFormat::Native);
    if let Some(flight) = state.jobs.get_mut(job_id).and_then(|j| j.upgrade.as_mut())
        && let Some(checkpoint) = checkpoint
    {
        flight.phase = Phase::Barrier { checkpoint, completed: false, since: Instant::now() };
    }
}

/// In probation: triggers the checkpoint that ends it, once its least duration has passed and
/// nothing else is in flight (the timer calls this too).
pub(super) fn probation_checkpoint(state: &mut ClusterState, job_id: &str, jm: &JobManager) {
    let Some(job) = state.jobs.get(job_id) else { return };
    let Some(flight) = &job.upgrade else { return };
    let Phase::Probation { until, triggered: None, .. } = flight.phase else { return };
    let running = job.all_subtasks().all(|s| s.state == ExecutionState::Running);
    if Instant::now() < until || job.checkpoints.in_flight() || !running {
        return;
    }
    let location = jm.next_checkpoint_location(job_id, &job.checkpoints);
    let checkpoint = start(state, job_id, BarrierKind::Checkpoint, location, None, SnapshotFormat::Native);
    if let Some(flight) = state.jobs.get_mut(job_id).and_then(|j| j.upgrade.as_mut())
        && let Phase::Probation { triggered, .. } = &mut flight.phase
    {
        *triggered = checkpoint;
    }
}

/// Called by the timer: barriers that waited for a checkpoint in flight, barriers stuck behind
/// queued input, probation checkpoints.
pub(super) fn tick(state: &mut ClusterState, jm: &JobManager) {
    let timeout = jm.options.upgrade.barrier_timeout;
    let ids: Vec<String> = state.jobs.iter().filter(|(_, j)| j.upgrade.is_some()).map(|(id, _)| id.clone()).collect();
    for id in ids {
        trigger_if_ready(state, &id, jm);
        swap_now_if_stuck(state, &id, timeout);
        probation_checkpoint(state, &id, jm);
    }
}

/// The in-place upgrade's barrier has not reached every task within `timeout` (it waits behind
/// a backpressured operator's queued input): the checkpoint is given up, and the tasks that have
/// not swapped swap at once, ahead of their queue. A rollback then restores the latest completed
/// checkpoint.
fn swap_now_if_stuck(state: &mut ClusterState, job_id: &str, timeout: Duration) {
    let Some(job) = state.jobs.get_mut(job_id) else { return };
    let Some(flight) = job.upgrade.as_mut() else { return };
    let Phase::Barrier { completed: false, since, .. } = flight.phase else { return };
    if flight.mode != UpgradeMode::InPlace || since.elapsed() < timeout {
        return;
    }
    flight.phase = Phase::Immediate;
    let upgrade = flight.id.clone();
    tracing::info!(
        job = job_id,
        upgrade,
        ?timeout,
        "the upgrade barrier is held up by queued input; the tasks swap at once"
    );
    let taskmanagers: BTreeSet<String> = job.slots.iter().cloned().collect();
    // The phase moved on, so giving up the barrier's checkpoint does not roll back.
    fail_pending(state, job_id, "the upgrade barrier was held up; the tasks swap at once instead");
    for tm in taskmanagers {
        if let Some(entry) = state.taskmanagers.get(&tm) {
            entry.send(ToTaskManager::SwapNow { job: job_id.to_string(), upgrade: upgrade.clone() });
        }
    }
}

/// True if a job's upgrade is waiting for the checkpoint in flight to end, or in probation
/// (the periodic checkpoints then leave the trigger to the upgrade).
pub(super) fn holds_checkpoints(job: &super::JobEntry) -> bool {
    job.upgrade.as_ref().is_some_and(|u| matches!(u.phase, Phase::Ready | Phase::Probation { triggered: None, .. }))
}

/// Ends the in-flight upgrade in the history: with a result, or refused with a cause.
fn end(job: &mut super::JobEntry, result: Option<UpgradeResult>, failure: Option<String>) {
    if let Some(flight) = job.upgrade.take() {
        record_end(job, &flight, result, failure);
    }
}

/// Writes how `flight` ended into the job's upgrade history.
fn record_end(job: &mut super::JobEntry, flight: &InFlight, result: Option<UpgradeResult>, failure: Option<String>) {
    let now = now_ms();
    if let Some(h) = job.record.upgrades.iter_mut().rev().find(|h| h.id == flight.id) {
        h.completed = Some(now);
        h.result = result;
        h.failure = failure.clone();
    }
    match (result, failure) {
        (Some(r), cause) => tracing::info!(
            job = job.record.id(),
            upgrade = flight.id,
            result = r.name(),
            cause,
            took = ?flight.started.elapsed(),
            "upgrade completed"
        ),
        (None, Some(cause)) => tracing::warn!(job = job.record.id(), upgrade = flight.id, cause, "upgrade refused"),
        (None, None) => {}
    }
}

/// Probation passed: the new code is the job's code from now on.
fn commit(job: &mut super::JobEntry, result: UpgradeResult) {
    let Some(flight) = job.upgrade.as_ref() else { return };
    job.record.graph = flight.new_graph.clone();
    job.record.vertex_components = flight.new_vertex_components.clone();
    if flight.mode.redeploys()
        || flight.operators.len() == job.record.graph.vertices.iter().filter(|v| v.function().is_some()).count()
    {
        job.record.program_args = flight.program_args.clone();
        job.record.jar_id = flight.jar_id.clone();
        job.record.component_hash = flight.component_hash.clone();
    }
    job.components.insert(flight.component_hash.clone(), flight.component.clone());
    let used: BTreeSet<String> = job
        .record
        .graph
        .vertices
        .iter()
        .map(|v| job.record.component_of(&v.uid).to_string())
        .chain([job.record.component_hash.clone()])
        .collect();
    job.components.retain(|hash, _| used.contains(hash));
    end(job, Some(result), None);
}

/// The new code failed: the old code is deployed again from the upgrade barrier's snapshot
/// (the latest completed checkpoint), at once.
fn rollback(state: &mut ClusterState, job_id: &str, cause: &str) {
    let Some(mut flight) = state.jobs.get_mut(job_id).and_then(|j| j.upgrade.take()) else { return };
    // The upgrade is no longer in flight, so failing its checkpoint does not come back here.
    fail_pending(state, job_id, "the upgrade rolled back");
    let Some(job) = state.jobs.get_mut(job_id) else { return };
    if let Some(old) = flight.old.take() {
        // A redeploy: the old graph comes back.
        job.record.graph = old.graph;
        job.record.vertex_components = old.vertex_components;
        job.components = old.components;
    }
    record_end(job, &flight, Some(UpgradeResult::RolledBack), Some(cause.to_string()));
    tracing::warn!(job = job_id, cause, "rolling the upgrade back");
    if job.record.latest_checkpoint.is_none() {
        job.record.exceptions.push(super::JobException::of_job(
            "weir.UpgradeRollbackFailed",
            format!("{cause}; the job has no completed checkpoint to roll back to"),
        ));
        job.record.transition(JobStatus::Failing);
    } else {
        job.record.transition(JobStatus::Restarting);
        job.immediate_restart = true;
    }
    super::scheduler::cancel_subtasks(state, job_id);
}

/// Ends an upgrade under way as refused (the job was cancelled, or failed before its barrier).
pub(super) fn refuse(state: &mut ClusterState, job_id: &str, cause: &str) {
    if let Some(job) = state.jobs.get_mut(job_id) {
        refuse_job(job, cause);
    }
}

/// [`refuse`] on a job entry.
pub(super) fn refuse_job(job: &mut super::JobEntry, cause: &str) {
    end(job, None, Some(cause.to_string()));
}

/// A task failed while the new code may run: the upgrade rolls back instead of the job
/// failing or restarting as usual. True if it did.
pub(super) fn rollback_on_failure(state: &mut ClusterState, job_id: &str, failure: &str) -> bool {
    let Some(job) = state.jobs.get(job_id) else { return false };
    if !job.upgrade.as_ref().is_some_and(InFlight::new_code_may_run) {
        return false;
    }
    let rescale = job.upgrade.as_ref().is_some_and(|u| u.mode == UpgradeMode::Rescale);
    let what = if rescale { "The job at its new parallelism failed" } else { "The new code failed" };
    rollback(state, job_id, &format!("{what}: {failure}"));
    true
}

/// Every task of a job stopped at a redeploying upgrade's barrier: deploy the new graph from
/// the barrier's savepoint onto the job's slots. True if it did (the job runs on). If the
/// snapshot did not complete or cannot be read, the job is not lost: it rolls back, restarting
/// its old graph from its latest checkpoint.
pub(super) fn redeploy_if_stopped(state: &mut ClusterState, job_id: &str) -> bool {
    let Some(job) = state.jobs.get_mut(job_id) else { return false };
    let stopped = job.all_subtasks().all(|s| s.state == ExecutionState::Finished);
    let Some(flight) = job.upgrade.as_ref() else { return false };
    let Phase::Barrier { checkpoint, completed, .. } = flight.phase else { return false };
    if !flight.mode.redeploys() || !stopped {
        return false;
    }
    let snapshot = job.checkpoints.history.iter().find(|c| c.id == checkpoint).and_then(|c| c.external_path.clone());
    let point = match snapshot.filter(|_| completed) {
        None => Err("the upgrade's snapshot did not complete".to_string()),
        Some(dir) => storage::load(&dir).map_err(|e| format!("the upgrade's snapshot cannot be read: {e}")),
    };
    let point = match point {
        Ok(point) => point,
        Err(cause) => {
            rollback(state, job_id, &cause);
            return false;
        }
    };
    let old = Deployed {
        graph: job.record.graph.clone(),
        vertex_components: job.record.vertex_components.clone(),
        components: job.components.clone(),
    };
    let Some(flight) = job.upgrade.as_mut() else { return false };
    flight.old = Some(old);
    flight.phase = Phase::Probation { after: checkpoint, until: Instant::now(), triggered: None };
    let swap_ms = i64::try_from(flight.started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let id = flight.id.clone();
    job.record.graph = flight.new_graph.clone();
    job.record.vertex_components = flight.new_vertex_components.clone();
    job.components.insert(flight.component_hash.clone(), flight.component.clone());
    if let Some(h) = job.record.upgrades.iter_mut().rev().find(|h| h.id == id) {
        h.swap_ms = Some(swap_ms);
        h.checkpoint = Some(checkpoint);
    }
    // The snapshot is where a rollback (or any restart in probation) starts from.
    job.record.latest_checkpoint = Some(point.directory.display().to_string());
    job.checkpoints.adopt(&point);
    job.restore = Some(point);
    job.record.attempt += 1;
    job.schedule_fresh_subtasks();
    job.slots.clear();
    tracing::info!(job = job_id, upgrade = id, "redeploying the job's new graph from the upgrade's snapshot");
    super::resource_manager::release_slots(&mut state.taskmanagers, job_id);
    true
}

/// A JobManager restarted while an upgrade ran: the job resumes the code its record holds
/// (the old code, unless probation had passed), and the history says so.
pub fn abandon_on_restart(record: &mut JobRecord) {
    for h in record.upgrades.iter_mut().filter(|h| h.completed.is_none()) {
        h.completed = Some(now_ms());
        h.failure = Some("The JobManager restarted during the upgrade; the job resumed its previous code.".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::jobgraph::{JobEdge, ShipStrategy, SinkConnector, SourceConnector, TimeCharacteristic};

    fn vertex(uid: &str, kind: VertexKind, inputs: &[(usize, ShipStrategy)], config: &str) -> JobVertex {
        JobVertex {
            id: format!("id-{uid}"),
            uid: uid.into(),
            name: uid.into(),
            kind,
            parallelism: 2,
            inputs: inputs.iter().map(|(source, strategy)| JobEdge { source: *source, strategy: *strategy }).collect(),
            config: config.into(),
        }
    }

    /// Source → (filter) → counter → sink, the shape of the Click Event Count job.
    fn graph(counter_config: &str, filter: bool) -> JobGraph {
        let source = SourceConnector::Datagen { count: None, rate: None };
        let mut vertices = vec![vertex(
            "source",
            VertexKind::Source { connector: source, function: Some("deserialize".into()) },
            &[],
            "",
        )];
        if filter {
            let f = VertexKind::Transform { function: "filter".into() };
            vertices.push(vertex("filter", f, &[(0, ShipStrategy::Forward)], ""));
        }
        let upstream = vertices.len() - 1;
        let count = VertexKind::Transform { function: "count".into() };
        vertices.push(vertex("counter", count, &[(upstream, ShipStrategy::Hash)], counter_config));
        let sink = VertexKind::SinkWriter { connector: SinkConnector::Discard };
        vertices.push(vertex("sink", sink, &[(vertices.len() - 1, ShipStrategy::Forward)], ""));
        JobGraph {
            job_id: "job".into(),
            name: "test".into(),
            vertices,
            time: TimeCharacteristic::ProcessingTime,
            checkpoint_interval_ms: Some(1000),
            max_parallelism: 128,
        }
    }

    fn record(graph: JobGraph) -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "graph": graph,
            "jar_id": null,
            "component_hash": "old",
            "program_args": [],
            "status": "RUNNING",
            "timestamps": {},
            "start_time": 0,
            "end_time": -1,
            "exceptions": [],
            "final_subtasks": null,
        }))
        .expect("a job record")
    }

    fn request(operators: &[&str]) -> UpgradeRequest {
        UpgradeRequest { operators: operators.iter().map(|o| o.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn same_graph_swaps_in_place_every_operator_with_code() {
        let plan = plan(&record(graph("event-time", false)), graph("event-time 1.1", false), "new", &request(&[]));
        let plan = plan.expect("an in-place plan");
        assert_eq!(plan.mode, UpgradeMode::InPlace);
        assert_eq!(plan.operators, ["source", "counter"]);
        assert_eq!(plan.graph.vertices[1].config, "event-time 1.1");
        // Vertex ids stay what they were.
        assert_eq!(plan.graph.vertices[1].id, "id-counter");
        assert_eq!(plan.vertex_components.get("counter").map(String::as_str), Some("new"));
    }

    #[test]
    fn operators_limit_the_swap_and_the_others_keep_their_definition() {
        let old = record(graph("event-time", false));
        let plan = plan(&old, graph("event-time 1.1", false), "new", &request(&["source"])).expect("a plan");
        assert_eq!(plan.operators, ["source"]);
        assert_eq!(plan.graph.vertices[1].config, "event-time", "the counter keeps its configuration");
        assert!(!plan.vertex_components.contains_key("counter"));
        let refused = super::plan(&old, graph("event-time", false), "new", &request(&["sink"]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.contains("runs no guest code")));
        let refused = super::plan(&old, graph("event-time", false), "new", &request(&["nope"]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.contains("has no operator 'nope'")));
    }

    #[test]
    fn the_same_code_and_configuration_is_nothing_to_upgrade() {
        let old = record(graph("event-time", false));
        let refused = plan(&old, graph("event-time", false), "old", &request(&[]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.starts_with("Nothing to upgrade")));
    }

    #[test]
    fn a_changed_graph_redeploys_and_may_not_drop_state() {
        let plan = plan(&record(graph("event-time", false)), graph("event-time v2", true), "new", &request(&[]));
        let plan = plan.expect("a redeploy plan");
        assert_eq!(plan.mode, UpgradeMode::Redeploy);
        assert_eq!(plan.added, ["filter"]);
        // Back from version 2: the filter has no state, so it may go.
        let back = super::plan(&record(graph("event-time v2", true)), graph("event-time", false), "old", &request(&[]));
        assert_eq!(back.expect("a redeploy plan").removed, ["filter"]);
        // The counter's keyed state may not go without allowNonRestoredState.
        let mut without_counter = graph("event-time", false);
        without_counter.vertices.remove(1);
        without_counter.vertices[1].inputs[0].source = 0;
        let old = record(graph("event-time", false));
        let refused = super::plan(&old, without_counter.clone(), "new", &request(&[]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.contains("operator counter")));
        let allowed = UpgradeRequest { allow_non_restored_state: true, ..request(&[]) };
        assert!(super::plan(&old, without_counter, "new", &allowed).is_ok());
        // 'operators' applies only in place.
        let refused = super::plan(&old, graph("event-time", true), "new", &request(&["counter"]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.contains("only to in-place")));
    }

    #[test]
    fn another_max_parallelism_is_refused() {
        let mut new = graph("event-time 1.1", false);
        new.max_parallelism = 256;
        let refused = plan(&record(graph("event-time", false)), new, "new", &request(&[]));
        assert!(matches!(refused, Err(DispatchError::BadRequest(m)) if m.contains("max parallelism")));
    }
}
