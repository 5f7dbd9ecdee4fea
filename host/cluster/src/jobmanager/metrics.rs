//! The cluster's metrics as the JobManager sees them (Flink's `MetricStore`): per scope, with
//! Flink's ids, built from what TaskManagers report with their heartbeats and from the
//! JobManager's own state. The REST metric endpoints and the Prometheus endpoint read these.
//!
//! Scopes and ids (reference §8): job metrics by bare name; a subtask's metrics by bare name
//! (task scope) or `<operator>.<name>` (operator scope, see [`weir_core::metrics::scope`]); a
//! vertex's as `<subtask>.<id>`; TaskManager and JobManager metrics by their full dotted names.
//! TaskManagers sample values and per-second rates when they heartbeat, so a value is at most
//! one heartbeat interval old (Flink's are up to 10 s old).

use super::{ClusterState, JobEntry, Subtask, TaskManagerEntry};
use weir_core::execution::JobStatus;
use weir_core::metrics::process::{self, CpuLoad};
use weir_core::metrics::scope::{self, Scope};

/// A metric id in its scope and the metric's value.
pub type Metric = (String, f64);

/// Flink's `NO_LONGER_RUNNING` for the availability gauges of a job that has ended.
const NO_LONGER_RUNNING: f64 = -1.0;

/// The job-scope metrics of `job` at `now` (ms since the epoch): Flink's availability metrics
/// (`uptime`, `downtime`, `restartingTime`, `numRestarts` and its deprecated twin
/// `fullRestarts`).
///
/// and the checkpoint statistics gauges (`lastCheckpointSize`, `numberOfCompletedCheckpoints`,
/// …). The one place that builds job metrics.
pub fn job_metrics(job: &JobEntry, now: i64) -> Vec<Metric> {
    let status = job.record.status;
    let entered = |s: JobStatus| job.record.timestamps.get(&s).copied().filter(|t| *t > 0);
    let since = |t: i64| (now - t).max(0) as f64;
    let terminal = status.is_globally_terminal();
    // Flink's UpTimeGauge: time since RUNNING while running.
    let uptime = match status {
        JobStatus::Running => entered(JobStatus::Running).map_or(0.0, since),
        _ if terminal => NO_LONGER_RUNNING,
        _ => 0.0,
    };
    // DownTimeGauge: time since the job began failing or restarting, while it is.
    let downtime = match status {
        JobStatus::Failing | JobStatus::Restarting => {
            entered(JobStatus::Failing).or(entered(JobStatus::Restarting)).map_or(0.0, since)
        }
        _ if terminal => NO_LONGER_RUNNING,
        _ => 0.0,
    };
    // RestartTimeGauge: the current restart's duration, or the last one's.
    let restarting_time = match (status, entered(JobStatus::Restarting), entered(JobStatus::Running)) {
        (JobStatus::Restarting, Some(t), _) => since(t),
        (_, Some(restarting), Some(running)) if running > restarting => (running - restarting) as f64,
        _ => 0.0,
    };
    let restarts = f64::from(job.record.num_restarts);
    let mut metrics = vec![
        ("uptime".into(), uptime),
        ("downtime".into(), downtime),
        ("restartingTime".into(), restarting_time),
        ("numRestarts".into(), restarts),
        ("fullRestarts".into(), restarts),
    ];
    // Flink's checkpoint statistics gauges, from the coordinator's statistics.
    let c = &job.checkpoints;
    let latest = c.latest_completed(false);
    let size = latest.map_or(-1.0, |l| l.size as f64);
    metrics.extend([
        ("lastCheckpointSize".into(), size),
        ("lastCheckpointFullSize".into(), size),
        ("lastCheckpointDuration".into(), latest.map_or(-1.0, |l| l.duration() as f64)),
        ("lastCheckpointProcessedData".into(), latest.map_or(-1.0, |_| 0.0)),
        ("lastCheckpointPersistedData".into(), latest.map_or(-1.0, |_| 0.0)),
        ("lastCheckpointRestoreTimestamp".into(), c.restored.as_ref().map_or(-1.0, |r| r.1 as f64)),
        ("numberOfCompletedCheckpoints".into(), c.completed as f64),
        ("numberOfFailedCheckpoints".into(), c.failed as f64),
        ("numberOfInProgressCheckpoints".into(), c.in_progress() as f64),
        ("totalNumberOfCheckpoints".into(), c.total() as f64),
    ]);
    // Weir's hot-swap upgrades, counted from the job's upgrade history.
    let counts = super::upgrade::UpgradeCounts::of(&job.record);
    metrics.extend([
        ("numUpgrades".into(), f64::from(counts.completed)),
        ("numUpgradeRollbacks".into(), f64::from(counts.rolled_back)),
        ("lastUpgradeDurationMs".into(), counts.last_duration_ms.map_or(-1.0, |d| d as f64)),
    ]);
    metrics
}

/// Job metrics whose values are text: `lastCheckpointExternalPath` (`n/a` before the first).
pub fn job_text_metrics(job: &JobEntry) -> Vec<(String, String)> {
    let path = job.checkpoints.latest_completed(false).and_then(|l| l.external_path.clone());
    vec![("lastCheckpointExternalPath".into(), path.unwrap_or_else(|| "n/a".into()))]
}

/// The subtasks as last reported: live ones while the job runs, the final ones after.
pub fn reported_subtasks(job: &JobEntry) -> &[Vec<Subtask>] {
    if job.subtasks.is_empty() { job.record.final_subtasks.as_deref().unwrap_or(&[]) } else { &job.subtasks }
}

/// The subtasks of vertex `vertex`, as last reported.
pub fn vertex_subtasks(job: &JobEntry, vertex: usize) -> &[Subtask] {
    reported_subtasks(job).get(vertex).map(Vec::as_slice).unwrap_or(&[])
}

/// The metrics of one subtask of vertex `vertex`, with the ids Flink gives them within the
/// subtask: task metrics bare, operator metrics as `<operator>.<name>`. Once the subtask has
/// ended, rates and buffer levels are zero whatever it last reported.
pub fn subtask_metrics(job: &JobEntry, vertex: usize, subtask: &Subtask) -> Vec<Metric> {
    let operator = job.record.graph.vertices.get(vertex).map(|v| scope::operator_component(&v.name));
    let ended = subtask.state.is_terminal();
    let mut task = Vec::with_capacity(subtask.metrics.len());
    let mut op = Vec::new();
    for (name, value) in &subtask.metrics {
        let value = if ended && scope::is_momentary(name) { 0.0 } else { *value };
        let scope = scope::scope_of(name);
        if matches!(scope, Scope::Task | Scope::Both) {
            task.push((name.clone(), value));
        }
        if let (Some(operator), Scope::Operator | Scope::Both) = (&operator, scope) {
            op.push((format!("{operator}.{name}"), value));
        }
    }
    task.extend(op);
    task
}

/// The vertex-scope metrics: each subtask's metrics under `<subtask index>.`.
pub fn vertex_metrics(job: &JobEntry, vertex: usize) -> Vec<Metric> {
    vertex_subtasks(job, vertex)
        .iter()
        .enumerate()
        .flat_map(|(i, s)| subtask_metrics(job, vertex, s).into_iter().map(move |(id, v)| (format!("{i}.{id}"), v)))
        .collect()
}

/// A TaskManager's metrics: what it reported of itself, and its slots as the JobManager
/// allocates them.
pub fn taskmanager_metrics(tm: &TaskManagerEntry) -> Vec<Metric> {
    let mut metrics = tm.metrics.clone();
    metrics.extend([
        ("Status.Slots.Total".to_string(), tm.slots.len() as f64),
        ("Status.Slots.Free".to_string(), tm.free_slots() as f64),
        ("Status.Hardware.CpuCores".to_string(), f64::from(tm.hardware.cpu_cores)),
        ("Status.Hardware.PhysicalMemory".to_string(), tm.hardware.physical_memory as f64),
        ("Status.Hardware.FreeMemory".to_string(), tm.hardware.free_memory as f64),
    ]);
    metrics
}

/// The JobManager's metrics: its process, and Flink's cluster gauges
/// (`numRegisteredTaskManagers`, `numRunningJobs`, `taskSlotsAvailable`, `taskSlotsTotal`).
pub fn jobmanager_metrics(state: &ClusterState) -> Vec<Metric> {
    static CPU_LOAD: CpuLoad = CpuLoad::new();
    let mut metrics = process::metrics(&CPU_LOAD);
    let slots_total: usize = state.taskmanagers.values().map(|t| t.slots.len()).sum();
    let slots_free: usize = state.taskmanagers.values().map(TaskManagerEntry::free_slots).sum();
    let running = state.jobs.values().filter(|j| !j.record.status.is_globally_terminal()).count();
    metrics.extend([
        ("numRegisteredTaskManagers".to_string(), state.taskmanagers.len() as f64),
        ("numRunningJobs".to_string(), running as f64),
        ("taskSlotsAvailable".to_string(), slots_free as f64),
        ("taskSlotsTotal".to_string(), slots_total as f64),
    ]);
    metrics
}
