//! Deploying jobs and following them (Flink's scheduler and execution graph).
//!
//! Slot sharing as in Flink: slot `i` holds subtask `i` of every vertex, so a job at
//! parallelism `p` needs `p` slots. A job is RUNNING as soon as it is scheduled; its subtasks
//! stay SCHEDULED until enough slots are free, then all deploy together.
//!
//! Restarts as Flink's defaults in the playground: with checkpointing, a failure (a task, a lost
//! TaskManager) restarts the whole job — RESTARTING, every subtask cancelled, then after 1 s
//! RUNNING again from the latest completed checkpoint, with as many attempts as it takes. Without
//! checkpointing there is no restart: the job FAILS.

use std::collections::BTreeSet;

use super::resource_manager::{data_addresses, free_slots, release_slots};
use std::time::{Duration, Instant};

use super::checkpoint_coordinator::{fail_pending, latest_restore_point};
use super::{ClusterState, JobEntry, JobException, JobManager, upgrade};
use crate::rpc::{Deployment, Placement, ToTaskManager};
use weir_core::execution::{ExecutionState, JobStatus, now_ms};

/// Why a subtask failed, as its TaskManager reported it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The failure's message.
    pub message: String,
    /// The failure only follows another task's (a channel partner went away).
    pub consequence: bool,
}

/// Which execution of which subtask a report is about.
#[derive(Clone, Copy, Debug)]
pub struct SubtaskAttempt<'a> {
    /// The job's ID.
    pub job: &'a str,
    /// The index of the subtask's vertex in the job graph.
    pub vertex: usize,
    /// The subtask's index within its vertex (0-based).
    pub subtask: u32,
    /// The job's execution attempt the report comes from.
    pub attempt: u32,
}

/// Why a job cannot be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No job has this ID.
    #[error("Job {0} not found")]
    NotFound(String),
    /// The job already ended, in the named status.
    #[error("Job cancellation failed because the job has already reached another terminal state ({0}).")]
    Terminal(&'static str),
}

/// A subtask's name as Flink prints it: `<vertex> (<subtask + 1>/<parallelism>)`.
pub fn task_name(job: &JobEntry, vertex: usize, subtask: usize) -> String {
    match job.record.graph.vertices.get(vertex) {
        Some(v) => format!("{} ({}/{})", v.name, subtask + 1, v.parallelism),
        None => format!("vertex {vertex} ({})", subtask + 1),
    }
}

/// The TaskManagers holding a job's slots.
fn job_taskmanagers(job: &JobEntry) -> BTreeSet<String> {
    job.slots.iter().cloned().collect()
}

impl JobManager {
    /// Deploys every RUNNING job that waits for slots, if there are enough free slots now.
    pub fn schedule(&self) {
        let mut state = self.state();
        let mut waiting: Vec<(i64, String)> = state
            .jobs
            .values()
            .filter(|j| {
                j.record.status == JobStatus::Running
                    && j.slots.is_empty()
                    && !j.preparing_topics
                    && j.all_subtasks().all(|s| s.state == ExecutionState::Scheduled)
            })
            .map(|j| (j.record.start_time, j.record.id().to_string()))
            .collect();
        waiting.sort();
        for (_, id) in waiting {
            deploy(&mut state, &id);
        }
    }

    /// A TaskManager reports a subtask's new state.
    pub fn task_state(&self, tm: &str, task: SubtaskAttempt<'_>, new: ExecutionState, failure: Option<Failure>) {
        let SubtaskAttempt { job: job_id, vertex, subtask, attempt } = task;
        let finished = {
            let mut state = self.state();
            let location = state.taskmanagers.get(tm).map(|t| t.data_address.clone());
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            // A report from a graph that a rollback has just replaced (a redeploy's new graph,
            // whose tasks are being cancelled) may name a vertex the job's graph no longer has.
            if vertex >= job.record.graph.vertices.len() {
                return;
            }
            let Some(entry) = job.subtasks.get_mut(vertex).and_then(|v| v.get_mut(subtask as usize)) else { return };
            // Reports from a TaskManager that no longer runs the subtask are stale.
            if entry.taskmanager.as_deref() != Some(tm) || entry.attempt != attempt || entry.state.is_terminal() {
                return;
            }
            // A subtask being cancelled stays so until it ends, whatever it was doing.
            if entry.state == ExecutionState::Canceling && !new.is_terminal() {
                return;
            }
            entry.transition(new);
            if new == ExecutionState::Failed {
                let name = task_name(job, vertex, subtask as usize);
                let Failure { message, consequence } =
                    failure.unwrap_or_else(|| Failure { message: "the task failed".into(), consequence: false });
                tracing::warn!(job = job_id, task = name, message, "task failed");
                let exception = JobException {
                    timestamp: now_ms(),
                    name: "weir.TaskFailure".into(),
                    message: message.clone(),
                    task: Some(name.clone()),
                    location,
                    taskmanager: Some(tm.to_string()),
                };
                if job.record.status == JobStatus::Running {
                    job.record.exceptions.push(exception);
                    job.root_is_consequence = consequence;
                    if !upgrade::rollback_on_failure(&mut state, job_id, &format!("{name}: {message}")) {
                        begin_failing(&mut state, job_id);
                    }
                } else if job.root_is_consequence && !consequence {
                    // The first failure reported only followed this one (a partner on another
                    // TaskManager saw its channel close first): this is the root cause.
                    if let Some(root) = job.record.exceptions.last_mut() {
                        *root = exception;
                    }
                    job.root_is_consequence = false;
                }
            }
            finish_if_done(&mut state, job_id)
        };
        if let Some(record) = finished {
            self.persist(&record);
            self.schedule();
        }
    }

    /// The TaskManager `tm` is lost: the subtasks it ran fail, and with them the job.
    pub(super) fn fail_job_tasks_on(&self, job_id: &str, tm: &str, address: &str, reason: &str) {
        let finished = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            let mut lost = None;
            for (v, subtasks) in job.subtasks.iter_mut().enumerate() {
                for (s, subtask) in subtasks.iter_mut().enumerate() {
                    if subtask.taskmanager.as_deref() == Some(tm) && !subtask.state.is_terminal() {
                        subtask.transition(ExecutionState::Failed);
                        lost.get_or_insert((v, s));
                    }
                }
            }
            if let Some((v, s)) = lost
                && job.record.status == JobStatus::Running
            {
                let task = task_name(job, v, s);
                job.record.exceptions.push(JobException {
                    timestamp: now_ms(),
                    name: "java.util.concurrent.TimeoutException".into(),
                    message: reason.to_string(),
                    task: Some(task),
                    location: Some(address.to_string()),
                    taskmanager: Some(tm.to_string()),
                });
            }
            // Slots on the lost TaskManager are gone with it; the job's others free at its end.
            job.slots.retain(|t| t != tm);
            if job.record.status == JobStatus::Running {
                let cause = format!("TaskManager {tm} was lost during the upgrade");
                if !upgrade::rollback_on_failure(&mut state, job_id, &cause) {
                    upgrade::refuse(&mut state, job_id, &cause);
                    begin_failing(&mut state, job_id);
                }
            }
            finish_if_done(&mut state, job_id)
        };
        if let Some(record) = finished {
            self.persist(&record);
            self.schedule();
        }
    }

    /// Cancels a job (`PATCH /jobs/:id?mode=cancel`, `flink cancel`).
    pub fn cancel_job(&self, job_id: &str) -> Result<(), CancelError> {
        let finished = {
            let mut state = self.state();
            let job = state.jobs.get_mut(job_id).ok_or_else(|| CancelError::NotFound(job_id.to_string()))?;
            match job.record.status {
                s if s.is_globally_terminal() => return Err(CancelError::Terminal(s.name())),
                JobStatus::Cancelling => return Ok(()),
                _ => {}
            }
            job.record.transition(JobStatus::Cancelling);
            upgrade::refuse(&mut state, job_id, "the job was cancelled during the upgrade");
            fail_pending(&mut state, job_id, "the job was cancelled");
            cancel_subtasks(&mut state, job_id);
            finish_if_done(&mut state, job_id)
        };
        if let Some(record) = finished {
            self.persist(&record);
            self.schedule();
        }
        Ok(())
    }

    pub(super) fn persist(&self, record: &super::JobRecord) {
        if let Err(error) = self.store.put_job(record) {
            tracing::error!(job = record.id(), %error, "could not save the job");
        }
    }
}

/// A RUNNING job's subtask failed: RESTARTING with checkpointing, else FAILING; either way the
/// other subtasks are cancelled and a checkpoint in flight is lost.
fn begin_failing(state: &mut ClusterState, job_id: &str) {
    fail_pending(state, job_id, "the job failed");
    let Some(job) = state.jobs.get_mut(job_id) else { return };
    let next =
        if job.record.graph.checkpoint_interval_ms.is_some() { JobStatus::Restarting } else { JobStatus::Failing };
    job.record.transition(next);
    cancel_subtasks(state, job_id);
}

/// Cancels the job's subtasks: those not deployed at once, the others on their TaskManagers.
pub(super) fn cancel_subtasks(state: &mut ClusterState, job_id: &str) {
    let Some(job) = state.jobs.get_mut(job_id) else { return };
    for subtask in job.subtasks.iter_mut().flatten() {
        match subtask.state {
            ExecutionState::Created | ExecutionState::Scheduled => subtask.transition(ExecutionState::Canceled),
            s if !s.is_terminal() => subtask.transition(ExecutionState::Canceling),
            _ => {}
        }
    }
    for tm in job_taskmanagers(job) {
        if let Some(entry) = state.taskmanagers.get(&tm) {
            entry.send(ToTaskManager::CancelJob { job: job_id.to_string() });
        }
    }
}

/// Ends the job if every subtask has ended; returns its record to save. A restarting job
/// instead frees its slots and waits out the restart delay.
fn finish_if_done(state: &mut ClusterState, job_id: &str) -> Option<super::JobRecord> {
    let job = state.jobs.get_mut(job_id)?;
    if job.record.status.is_globally_terminal() || !job.all_subtasks().all(|s| s.state.is_terminal()) {
        return None;
    }
    if job.record.status == JobStatus::Running && upgrade::redeploy_if_stopped(state, job_id) {
        // An upgrade that changes the graph: the job goes on with its new graph.
        return state.jobs.get(job_id).map(|j| j.record.clone());
    }
    let job = state.jobs.get_mut(job_id)?;
    if job.record.status == JobStatus::Restarting {
        if job.restart_at.is_none() {
            let delay = if std::mem::take(&mut job.immediate_restart) { Duration::ZERO } else { RESTART_DELAY };
            job.restart_at = Some(Instant::now() + delay);
            job.slots.clear();
            release_slots(&mut state.taskmanagers, job_id);
        }
        return None;
    }
    job.restart_at = None;
    job.checkpoints.discard_all();
    let end = match job.record.status {
        JobStatus::Failing => JobStatus::Failed,
        JobStatus::Cancelling => JobStatus::Canceled,
        _ if job.all_subtasks().all(|s| s.state == ExecutionState::Finished) => JobStatus::Finished,
        _ if job.all_subtasks().any(|s| s.state == ExecutionState::Failed) => JobStatus::Failed,
        _ => JobStatus::Canceled,
    };
    job.record.transition(end);
    job.record.final_subtasks = Some(job.subtasks.clone());
    job.slots.clear();
    job.components.clear();
    upgrade::refuse_job(job, "the job ended during the upgrade");
    let record = job.record.clone();
    release_slots(&mut state.taskmanagers, job_id);
    Some(record)
}

/// Flink's fixed-delay restart strategy delay in the playground.
const RESTART_DELAY: Duration = Duration::from_secs(1);

impl JobManager {
    /// Lets a job whose Kafka topics now exist deploy.
    pub(super) fn topics_prepared(&self, job_id: &str) {
        if let Some(job) = self.state().jobs.get_mut(job_id) {
            job.preparing_topics = false;
        }
        self.schedule();
    }

    /// Fails a job that could not start before any of its tasks deployed (its Kafka topics
    /// could not be made), with `exception` as its cause; one cancelled meanwhile stays so.
    pub(super) fn fail_undeployed(&self, job_id: &str, exception: super::JobException) {
        let finished = {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            job.preparing_topics = false;
            if job.record.status == JobStatus::Running {
                job.record.exceptions.push(exception);
                job.record.transition(JobStatus::Failing);
                cancel_subtasks(&mut state, job_id);
            }
            finish_if_done(&mut state, job_id)
        };
        if let Some(record) = finished {
            self.persist(&record);
        }
        self.schedule();
    }

    /// Redeploys a restarting job from its latest completed checkpoint (or the savepoint it was
    /// started from), once its restart delay has passed.
    pub fn restart(&self, job_id: &str) {
        {
            let mut state = self.state();
            let Some(job) = state.jobs.get_mut(job_id) else { return };
            if job.record.status != JobStatus::Restarting || job.restart_at.is_none_or(|at| Instant::now() < at) {
                return;
            }
            job.restart_at = None;
            if let Some(point) = latest_restore_point(job) {
                job.checkpoints.continue_after(point.metadata.checkpoint_id);
                job.restore = Some(point);
            }
            job.record.attempt += 1;
            job.record.num_restarts += 1;
            job.schedule_fresh_subtasks();
            job.record.transition(JobStatus::Running);
            tracing::info!(
                job = job_id,
                attempt = job.record.attempt,
                from = ?job.restore.as_ref().map(|r| r.directory.display().to_string()),
                "restarting the job"
            );
        }
        self.schedule();
    }
}

/// Tries to deploy the waiting job `id` onto free slots.
fn deploy(state: &mut ClusterState, id: &str) {
    let free = free_slots(&state.taskmanagers);
    let addresses = data_addresses(&state.taskmanagers);
    let Some(job) = state.jobs.get_mut(id) else { return };
    let needed = job.record.graph.slots_needed() as usize;
    if free.len() < needed {
        tracing::info!(job = id, "waiting for task slots: {} available, {needed} needed", free.len());
        return;
    }
    let hashes = job.record.component_hashes();
    if !hashes.iter().all(|h| job.components.contains_key(h)) {
        return;
    }
    let chosen = &free[..needed];
    // The TaskManagers involved, in slot order; `hosts` indexes into them.
    let mut involved: Vec<String> = Vec::new();
    for (tm, _) in chosen {
        if !involved.contains(tm) {
            involved.push(tm.clone());
        }
    }
    let host_of_slot: Vec<usize> =
        chosen.iter().map(|(tm, _)| involved.iter().position(|t| t == tm).unwrap_or_default()).collect();
    let hosts: Vec<Vec<usize>> =
        job.record.graph.vertices.iter().map(|v| host_of_slot[..v.parallelism as usize].to_vec()).collect();
    job.slots = chosen.iter().map(|(tm, _)| tm.clone()).collect();
    for (v, subtasks) in job.subtasks.iter_mut().enumerate() {
        for (s, subtask) in subtasks.iter_mut().enumerate() {
            subtask.taskmanager = Some(involved[hosts[v][s]].clone());
            subtask.transition(ExecutionState::Deploying);
        }
    }
    let placement = Placement {
        addresses: involved.iter().map(|tm| addresses.get(tm).cloned().unwrap_or_default()).collect(),
        hosts,
    };
    let vertex_components: Vec<String> =
        job.record.graph.vertices.iter().map(|v| job.record.component_of(&v.uid).to_string()).collect();
    let graph = job.record.graph.clone();
    let attempt = job.record.attempt;
    let restore = job.restore.clone();
    tracing::info!(job = id, slots = needed, taskmanagers = ?involved, "deploying the job");
    for (tm, slot) in chosen {
        if let Some(entry) = state.taskmanagers.get_mut(tm) {
            entry.slots[*slot] = Some(id.to_string());
        }
    }
    for (local, tm) in involved.iter().enumerate() {
        if let Some(entry) = state.taskmanagers.get(tm) {
            entry.send(ToTaskManager::Deploy(Box::new(Deployment {
                graph: graph.clone(),
                vertex_components: vertex_components.clone(),
                placement: placement.clone(),
                local,
                attempt,
                restore: restore.clone(),
            })));
        }
    }
}
