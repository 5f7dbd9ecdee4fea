//! Savepoints and checkpoints over REST, with Flink's trigger-and-poll protocol:
//! `POST /jobs/:id/savepoints`, `POST /jobs/:id/stop`, `GET /jobs/:id/savepoints/:trigger`,
//! `POST /savepoint-disposal`, `GET /savepoint-disposal/:trigger`, and the statistics of
//! `/jobs/:id/checkpoints` (with `/config` and `/details/:checkpointid`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{BodyName, FlinkJson};
use super::jobs::{find_job, job_id};
use super::{RestError, json, ok};
use weir_cluster::jobmanager::checkpoint_coordinator::{
    Acknowledgement, CheckpointStats, CheckpointStatus, Operation, SavepointError,
};
use weir_cluster::jobmanager::{ClusterState, JobEntry, JobManager};
use weir_core::checkpoint::storage;
use weir_core::checkpoint::{BarrierKind, SnapshotFormat};
use weir_core::jobgraph::JobGraph;

impl From<SavepointError> for RestError {
    fn from(e: SavepointError) -> Self {
        match e {
            SavepointError::NotFound(_) => RestError::not_found(e.to_string()),
            SavepointError::NoDirectory => RestError::bad_request(e.to_string()),
            SavepointError::NotRunning(_) => RestError::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

/// Flink's `SavepointTriggerRequestBody` (kebab-case keys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SavepointBody {
    target_directory: Option<String>,
    cancel_job: Option<bool>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
}

impl BodyName for SavepointBody {
    const NAME: &'static str = "SavepointTriggerRequestBody";
}

/// Flink's `StopWithSavepointRequestBody` (camelCase keys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StopBody {
    target_directory: Option<String>,
    drain: Option<bool>,
    trigger_id: Option<String>,
    format_type: Option<String>,
}

impl BodyName for StopBody {
    const NAME: &'static str = "StopWithSavepointRequestBody";
}

/// Flink's `SavepointFormatType`: `CANONICAL` (the default) or `NATIVE`.
fn check_format(format: Option<&str>) -> Result<SnapshotFormat, RestError> {
    match format {
        None | Some("CANONICAL") => Ok(SnapshotFormat::Canonical),
        Some("NATIVE") => Ok(SnapshotFormat::Native),
        Some(other) => Err(RestError::bad_request(format!(
            "Savepoint format {other} is not supported: it is CANONICAL or NATIVE."
        ))),
    }
}

pub async fn savepoint(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    FlinkJson(body): FlinkJson<SavepointBody>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let format = check_format(body.format_type.as_deref())?;
    let trigger = jm.trigger_savepoint(
        &id,
        body.target_directory.as_deref(),
        BarrierKind::Savepoint,
        body.cancel_job.unwrap_or(false),
        body.trigger_id,
        format,
    )?;
    Ok(json(StatusCode::ACCEPTED, json!({ "request-id": trigger })))
}

pub async fn stop(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    FlinkJson(body): FlinkJson<StopBody>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let format = check_format(body.format_type.as_deref())?;
    let kind = BarrierKind::Stop { drain: body.drain.unwrap_or(false) };
    let trigger = jm.trigger_savepoint(&id, body.target_directory.as_deref(), kind, false, body.trigger_id, format)?;
    Ok(json(StatusCode::ACCEPTED, json!({ "request-id": trigger })))
}

/// Flink's `CheckpointTriggerRequestBody`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    #[serde(rename = "checkpointType")]
    checkpoint_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

impl BodyName for CheckpointBody {
    const NAME: &'static str = "CheckpointTriggerRequestBody";
}

/// `POST /jobs/:id/checkpoints`: a checkpoint now (Flink 1.19's manual checkpoint):
/// `CONFIGURED` and `INCREMENTAL` as the periodic ones, `FULL` with each keyed subtask's state
/// in one file.
pub async fn trigger_checkpoint(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    FlinkJson(body): FlinkJson<CheckpointBody>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let full = match body.checkpoint_type.as_deref() {
        None | Some("CONFIGURED") | Some("INCREMENTAL") => false,
        Some("FULL") => true,
        Some(other) => {
            return Err(RestError::bad_request(format!(
                "checkpointType {other} is not supported: it is CONFIGURED, INCREMENTAL or FULL"
            )));
        }
    };
    let trigger = jm.trigger_checkpoint(&id, body.trigger_id, full)?;
    Ok(json(StatusCode::ACCEPTED, json!({ "request-id": trigger })))
}

/// `GET /jobs/:id/checkpoints/:triggerid`: a manual checkpoint's progress, in Flink's
/// `CheckpointStatusResponse` shape.
pub async fn checkpoint_status(
    State(jm): State<Arc<JobManager>>,
    Path((id, trigger)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let op = find_operation(&state, &id, &trigger, "checkpoint")?;
    Ok(ok(match op {
        Operation::InProgress => operation(op),
        Operation::Completed { checkpoint, .. } => {
            json!({"status": {"id": "COMPLETED"}, "operation": {"checkpointId": checkpoint}})
        }
        Operation::Failed { cause } => {
            json!({"status": {"id": "COMPLETED"}, "operation": {"failureCause": failure_cause(cause)}})
        }
    }))
}

/// Flink's `SerializedThrowable` on the wire.
pub(super) fn failure_cause(cause: &str) -> Value {
    json!({
        "class": "org.apache.flink.util.FlinkException",
        "stack-trace": format!("org.apache.flink.util.FlinkException: {cause}"),
        "serialized-throwable": "",
    })
}

fn operation(op: &Operation) -> Value {
    match op {
        Operation::InProgress => json!({"status": {"id": "IN_PROGRESS"}, "operation": null}),
        Operation::Completed { location, .. } => {
            json!({"status": {"id": "COMPLETED"}, "operation": {"location": location}})
        }
        Operation::Failed { cause } => {
            json!({"status": {"id": "COMPLETED"}, "operation": {"failure-cause": failure_cause(cause)}})
        }
    }
}

pub async fn savepoint_status(
    State(jm): State<Arc<JobManager>>,
    Path((id, trigger)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    Ok(ok(operation(find_operation(&state, &id, &trigger, "savepoint")?)))
}

/// The operation a savepoint or checkpoint trigger started, with Flink's 404 if there is none.
fn find_operation<'a>(
    state: &'a ClusterState,
    id: &str,
    trigger: &str,
    what: &str,
) -> Result<&'a Operation, RestError> {
    let job = find_job(state, id)?;
    job.checkpoints.operations.get(trigger).ok_or_else(|| {
        RestError::not_found(format!(
            "There is no {what} operation with triggerId={trigger} for job {}.",
            job.record.id()
        ))
    })
}

/// Flink's `SavepointDisposalRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposalBody {
    #[serde(rename = "savepoint-path")]
    savepoint_path: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

impl BodyName for DisposalBody {
    const NAME: &'static str = "SavepointDisposalRequest";
}

pub async fn dispose(
    State(jm): State<Arc<JobManager>>,
    FlinkJson(body): FlinkJson<DisposalBody>,
) -> Result<Response, RestError> {
    let path = body.savepoint_path.ok_or_else(|| RestError::bad_request("Field savepoint-path must be provided."))?;
    let trigger = body.trigger_id.unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    jm.state().disposals.insert(trigger.clone(), Operation::InProgress);
    let result = tokio::task::spawn_blocking(move || storage::dispose(&path)).await?;
    let op = match result {
        Ok(()) => Operation::Completed { location: String::new(), checkpoint: 0 },
        Err(e) => Operation::Failed { cause: e.to_string() },
    };
    jm.state().disposals.insert(trigger.clone(), op);
    Ok(json(StatusCode::ACCEPTED, json!({ "request-id": trigger })))
}

pub async fn disposal_status(
    State(jm): State<Arc<JobManager>>,
    Path(trigger): Path<String>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let op = state
        .disposals
        .get(&trigger)
        .ok_or_else(|| RestError::not_found(format!("There is no savepoint disposal with triggerId={trigger}.")))?;
    Ok(ok(match op {
        // A disposal completes with an empty operation.
        Operation::Completed { .. } => json!({"status": {"id": "COMPLETED"}, "operation": {}}),
        other => operation(other),
    }))
}

/// One checkpoint as Flink's `CheckpointStatistics`.
fn checkpoint_json(c: &CheckpointStats, graph: &JobGraph) -> Value {
    let (class, status) = match c.status {
        CheckpointStatus::InProgress => ("in_progress", "IN_PROGRESS"),
        CheckpointStatus::Completed => ("completed", "COMPLETED"),
        CheckpointStatus::Failed => ("failed", "FAILED"),
    };
    let mut v = json!({
        "@class": class,
        "id": c.id,
        "status": status,
        "is_savepoint": c.kind.is_savepoint(),
        "savepointFormat": match (c.kind.is_savepoint(), c.format) {
            (false, _) => Value::Null,
            (true, SnapshotFormat::Canonical) => json!("CANONICAL"),
            (true, SnapshotFormat::Native) => json!("NATIVE"),
        },
        "trigger_timestamp": c.trigger_timestamp,
        "latest_ack_timestamp": c.latest_ack_timestamp,
        "checkpointed_size": c.size,
        "state_size": c.state_size.max(c.size),
        "end_to_end_duration": c.duration(),
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": c.num_subtasks,
        "num_acknowledged_subtasks": c.num_acknowledged,
        "checkpoint_type": c.kind.flink_name(),
        "className": class,
        "tasks": graph.vertices.iter().enumerate().map(|(v, vertex)| (vertex.id.clone(), task_json(c, v, vertex.parallelism))).collect::<serde_json::Map<_, _>>(),
    });
    if c.status == CheckpointStatus::Completed {
        v["external_path"] = json!(c.external_path);
        v["discarded"] = json!(c.discarded);
    }
    if let Some((at, message)) = &c.failure {
        v["failure_timestamp"] = json!(at);
        v["failure_message"] = json!(message);
    }
    v
}

/// min/max/avg and percentiles of some values, as Flink's `StatsSummaryDto`.
fn summary(values: &[i64]) -> Value {
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    // why: `p` is in [0, 1], so the rounded rank is a non-negative f64 no greater than the last
    // index; the `min` keeps it in bounds regardless.
    #[allow(clippy::cast_possible_truncation)]
    let pct = |p: f64| sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)] as f64;
    json!({
        "min": sorted[0],
        "max": sorted[sorted.len() - 1],
        "avg": sorted.iter().sum::<i64>() / sorted.len() as i64,
        "p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99), "p999": pct(0.999),
    })
}

pub async fn statistics(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let c = &job.checkpoints;
    let graph = &job.record.graph;
    let completed: Vec<&CheckpointStats> =
        c.history.iter().filter(|s| s.status == CheckpointStatus::Completed).collect();
    let sizes: Vec<i64> = completed.iter().map(|s| s.size as i64).collect();
    let state_sizes: Vec<i64> = completed.iter().map(|s| s.state_size.max(s.size) as i64).collect();
    let durations: Vec<i64> = completed.iter().map(|s| s.duration()).collect();
    let zeros: Vec<i64> = completed.iter().map(|_| 0).collect();
    let restored = c.restored.as_ref().map(|(cid, at, savepoint, path)| {
        json!({"id": cid, "restore_timestamp": at, "is_savepoint": savepoint, "external_path": path})
    });
    Ok(ok(json!({
        "counts": {
            "restored": u64::from(c.restored.is_some()) + u64::from(job.record.num_restarts),
            "total": c.total(),
            "in_progress": c.in_progress(),
            "completed": c.completed,
            "failed": c.failed,
        },
        "summary": {
            "checkpointed_size": summary(&sizes),
            "state_size": summary(&state_sizes),
            "end_to_end_duration": summary(&durations),
            "alignment_buffered": summary(&zeros),
            "processed_data": summary(&zeros),
            "persisted_data": summary(&zeros),
        },
        "latest": {
            "completed": c.latest_completed(false).map(|c| checkpoint_json(c, graph)),
            "savepoint": c.latest_completed(true).map(|c| checkpoint_json(c, graph)),
            "failed": c.latest_failed().map(|c| checkpoint_json(c, graph)),
            "restored": restored,
        },
        "history": c.history.iter().map(|c| checkpoint_json(c, graph)).collect::<Vec<_>>(),
    })))
}

pub async fn config(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let Some(interval) = job.record.graph.checkpoint_interval_ms else {
        return Err(RestError::not_found("Checkpointing is not enabled for this job."));
    };
    Ok(ok(json!({
        "mode": "exactly_once",
        "interval": interval,
        "timeout": 600_000,
        "min_pause": 0,
        "max_concurrent": 1,
        "externalization": {"enabled": false, "delete_on_cancellation": true},
        "state_backend": "WeirSledStateBackend",
        "checkpoint_storage": "FileSystemCheckpointStorage",
        "unaligned_checkpoints": false,
        "tolerable_failed_checkpoints": 0,
        "aligned_checkpoint_timeout": 0,
        "checkpoints_after_tasks_finish": false,
        "state_changelog_enabled": false,
        "changelog_periodic_materialization_interval": 600_000,
        "changelog_storage": "memory",
    })))
}

pub async fn details(
    State(jm): State<Arc<JobManager>>,
    Path((id, checkpoint)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let c = find_checkpoint(job, &checkpoint)?;
    Ok(ok(checkpoint_json(c, &job.record.graph)))
}

/// Checkpoint `checkpoint` (its id as text) of the job's history, or a 400 / 404.
fn find_checkpoint<'a>(job: &'a JobEntry, checkpoint: &str) -> Result<&'a CheckpointStats, RestError> {
    let wanted: u64 =
        checkpoint.parse().map_err(|_| RestError::bad_request(format!("Invalid checkpoint id \"{checkpoint}\".")))?;
    job.checkpoints.history.iter().find(|c| c.id == wanted).ok_or_else(|| {
        RestError::not_found(format!("Could not find checkpointing statistics for checkpoint {wanted}."))
    })
}

/// Flink's status name of a checkpoint.
fn status_name(status: CheckpointStatus) -> &'static str {
    match status {
        CheckpointStatus::InProgress => "IN_PROGRESS",
        CheckpointStatus::Completed => "COMPLETED",
        CheckpointStatus::Failed => "FAILED",
    }
}

/// The acknowledgements of vertex `v`'s subtasks, by subtask.
fn vertex_acks(c: &CheckpointStats, v: usize) -> Vec<(u32, Acknowledgement)> {
    c.acknowledgements.range((v, 0)..=(v, u32::MAX)).map(|((_, s), ack)| (*s, *ack)).collect()
}

/// Flink's `TaskCheckpointStatistics` of vertex `v` in checkpoint `c`.
fn task_json(c: &CheckpointStats, v: usize, parallelism: u32) -> Value {
    let acks = vertex_acks(c, v);
    let latest = acks.iter().map(|a| a.1.timestamp).max().unwrap_or(0);
    let size: u64 = acks.iter().map(|a| a.1.size).sum();
    let state_size: u64 = acks.iter().map(|a| a.1.state_size).sum();
    let status = if c.status == CheckpointStatus::InProgress && acks.len() == parallelism as usize {
        // This vertex is done, others are not yet.
        "COMPLETED"
    } else {
        status_name(c.status)
    };
    json!({
        "id": c.id,
        "status": status,
        "latest_ack_timestamp": latest,
        "checkpointed_size": size,
        "state_size": state_size,
        "end_to_end_duration": if latest > 0 { (latest - c.trigger_timestamp).max(0) } else { 0 },
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": parallelism,
        "num_acknowledged_subtasks": acks.len(),
    })
}

/// `GET /jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid`: each subtask's part
/// of a checkpoint (Flink's `TaskCheckpointStatisticsWithSubtaskDetails`).
pub async fn subtask_details(
    State(jm): State<Arc<JobManager>>,
    Path((id, checkpoint, vid)): Path<(String, String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let c = find_checkpoint(job, &checkpoint)?;
    let graph = &job.record.graph;
    let (v, vertex) = graph
        .vertices
        .iter()
        .enumerate()
        .find(|(_, x)| x.id == vid)
        .ok_or_else(|| RestError::not_found(format!("There is no checkpoint statistics for task {vid}.")))?;
    let acks = vertex_acks(c, v);
    let subtasks: Vec<Value> = (0..vertex.parallelism)
        .map(|i| match acks.iter().find(|a| a.0 == i) {
            Some((_, ack)) => json!({
                "@class": "completed",
                "className": "completed",
                "index": i,
                "status": "completed",
                "ack_timestamp": ack.timestamp,
                "end_to_end_duration": (ack.timestamp - c.trigger_timestamp).max(0),
                "state_size": ack.state_size,
                "checkpointed_size": ack.size,
                "checkpoint": {"sync": ack.sync_ms, "async": ack.async_ms},
                "alignment": {"buffered": 0, "processed": 0, "persisted": 0, "duration": 0},
                "start_delay": 0,
                "unaligned_checkpoint": false,
                "aborted": false,
            }),
            None => json!({ "@class": "pending_or_failed", "className": "pending_or_failed", "index": i, "status": "pending_or_failed" }),
        })
        .collect();
    let durations: Vec<i64> = acks.iter().map(|a| (a.1.timestamp - c.trigger_timestamp).max(0)).collect();
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let sizes: Vec<i64> = acks.iter().map(|a| int(a.1.size)).collect();
    let state_sizes: Vec<i64> = acks.iter().map(|a| int(a.1.state_size)).collect();
    let syncs: Vec<i64> = acks.iter().map(|a| int(a.1.sync_ms)).collect();
    let asyncs: Vec<i64> = acks.iter().map(|a| int(a.1.async_ms)).collect();
    let zeros: Vec<i64> = acks.iter().map(|_| 0).collect();
    let mut body = task_json(c, v, vertex.parallelism);
    body["summary"] = json!({
        "checkpointed_size": summary(&sizes),
        "state_size": summary(&state_sizes),
        "end_to_end_duration": summary(&durations),
        // Weir does not buffer during alignment: those are zero.
        "checkpoint_duration": {"sync": summary(&syncs), "async": summary(&asyncs)},
        "alignment": {"buffered": summary(&zeros), "processed": summary(&zeros), "persisted": summary(&zeros), "duration": summary(&zeros)},
        "start_delay": summary(&zeros),
    });
    body["subtasks"] = Value::Array(subtasks);
    Ok(ok(body))
}
