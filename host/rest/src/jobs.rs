//! Jobs: `/jobs`, `/jobs/overview`, `/jobs/:jobid` and its plan, config, exceptions and
//! vertices, and cancelling with `PATCH /jobs/:jobid?mode=cancel`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{RestError, json, ok};
use weir_cluster::jobmanager::dispatcher::is_id;
use weir_cluster::jobmanager::scheduler::task_name;
use weir_cluster::jobmanager::{JobEntry, JobManager, Subtask};
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_core::jobgraph::JobGraph;

/// Checks a job ID from a path.
pub(crate) fn job_id(id: &str) -> Result<String, RestError> {
    if is_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(RestError::bad_request(format!(
            "Cannot parse JobID from \"{id}\". The expected format is [0-9a-fA-F]{{32}}, e.g. fd72014d4c864993a2e5a9287b4a9c5d."
        )))
    }
}

/// Flink's answer for an unknown job.
pub(crate) fn not_found(id: &str) -> RestError {
    RestError::not_found(format!("Job {id} not found"))
}

/// The subtasks to report: live ones while running, the final ones after.
fn subtasks(job: &JobEntry) -> &[Vec<Subtask>] {
    if job.subtasks.is_empty() { job.record.final_subtasks.as_deref().unwrap_or(&[]) } else { &job.subtasks }
}

fn duration(job: &JobEntry, now: i64) -> i64 {
    let end = if job.record.end_time > 0 { job.record.end_time } else { now };
    end - job.record.start_time
}

fn last_modification(job: &JobEntry) -> i64 {
    job.record.timestamps.values().copied().max().unwrap_or(job.record.start_time)
}

/// Per-state counts, with the state names written by `name`.
fn counts<'a>(
    states: impl Iterator<Item = &'a Subtask>,
    name: impl Fn(ExecutionState) -> String,
) -> serde_json::Map<String, Value> {
    let mut n = [0u64; 10];
    for s in states {
        n[s.state as usize] += 1;
    }
    ExecutionState::ALL.iter().map(|s| (name(*s), json!(n[*s as usize]))).collect()
}

/// Flink's `JobDetails` for `/jobs/overview`.
fn job_summary(job: &JobEntry, now: i64) -> Value {
    let all = subtasks(job);
    let mut tasks = serde_json::Map::new();
    tasks.insert("total".into(), json!(all.iter().map(Vec::len).sum::<usize>()));
    tasks.extend(counts(all.iter().flatten(), |s| s.name().to_ascii_lowercase()));
    json!({
        "jid": job.record.id(),
        "name": job.record.name(),
        "state": job.record.status.name(),
        "start-time": job.record.start_time,
        "end-time": job.record.end_time,
        "duration": duration(job, now),
        "last-modification": last_modification(job),
        "tasks": tasks,
    })
}

pub async fn list(State(jm): State<Arc<JobManager>>) -> Response {
    let state = jm.state();
    let jobs: Vec<Value> =
        state.jobs.values().map(|j| json!({"id": j.record.id(), "status": j.record.status.name()})).collect();
    ok(json!({ "jobs": jobs }))
}

pub async fn overview(State(jm): State<Arc<JobManager>>) -> Response {
    let now = now_ms();
    let state = jm.state();
    let mut jobs: Vec<&JobEntry> = state.jobs.values().collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.record.start_time));
    ok(json!({ "jobs": jobs.iter().map(|j| job_summary(j, now)).collect::<Vec<_>>() }))
}

/// Flink's plan JSON: nodes sinks first, each with its inputs' ship strategies.
pub fn plan_json(graph: &JobGraph) -> Value {
    let nodes: Vec<Value> = graph
        .vertices
        .iter()
        .rev()
        .map(|v| {
            let mut node = json!({
                "id": v.id,
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": v.name,
            });
            if !v.inputs.is_empty() {
                node["inputs"] = v
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(num, e)| {
                        json!({
                            "num": num,
                            "id": graph.vertices[e.source].id,
                            "ship_strategy": e.strategy.flink_name(),
                            "exchange": "pipelined_bounded",
                        })
                    })
                    .collect();
            }
            node["optimizer_properties"] = json!({});
            node
        })
        .collect();
    json!({"jid": graph.job_id, "name": graph.name, "type": "STREAMING", "nodes": nodes})
}

/// The sum of a metric over subtasks.
fn sum(subtasks: &[Subtask], metric: &str) -> f64 {
    subtasks.iter().filter_map(|s| s.metric(metric)).sum()
}

/// A summed counter as the whole number Flink reports (negative or NaN gives 0).
// why: the sums are of non-negative integer counters carried as f64, and a float-to-int `as`
// saturates, which is the right answer for one beyond u64 (there is no checked f64 conversion).
#[allow(clippy::cast_possible_truncation)]
fn whole(value: f64) -> u64 {
    value as u64
}

/// Flink's `IOMetricsInfo` for some subtasks.
fn io_metrics(subtasks: &[Subtask]) -> Value {
    json!({
        "read-bytes": whole(sum(subtasks, "numBytesIn")),
        "read-bytes-complete": true,
        "write-bytes": whole(sum(subtasks, "numBytesOut")),
        "write-bytes-complete": true,
        "read-records": whole(sum(subtasks, "numRecordsIn")),
        "read-records-complete": true,
        "write-records": whole(sum(subtasks, "numRecordsOut")),
        "write-records-complete": true,
        "accumulated-backpressured-time": whole(sum(subtasks, "accumulatedBackPressuredTimeMs")),
        "accumulated-idle-time": whole(sum(subtasks, "accumulatedIdleTimeMs")),
        "accumulated-busy-time": sum(subtasks, "accumulatedBusyTimeMs"),
    })
}

/// Flink's duration: -1 before the start, the time until the end, or until now.
fn span(start: i64, end: i64, now: i64) -> i64 {
    if start < 0 {
        -1
    } else if end > 0 {
        end - start
    } else {
        now - start
    }
}

/// When a subtask started (deployment) and ended.
fn subtask_times(s: &Subtask, now: i64) -> (i64, i64, i64) {
    let start = s.timestamps[ExecutionState::Deploying as usize];
    let start = if start > 0 { start } else { -1 };
    let end = if s.state.is_terminal() { s.timestamps[s.state as usize] } else { -1 };
    (start, end, span(start, end, now))
}

fn vertex_times(subtasks: &[Subtask], now: i64) -> (i64, i64, i64) {
    let times: Vec<(i64, i64, i64)> = subtasks.iter().map(|s| subtask_times(s, now)).collect();
    let start = times.iter().map(|t| t.0).filter(|t| *t > 0).min().unwrap_or(-1);
    let end = if times.iter().all(|t| t.1 > 0) { times.iter().map(|t| t.1).max().unwrap_or(-1) } else { -1 };
    (start, end, span(start, end, now))
}

/// Which component an operator runs (Weir's own key): its file name and content hash.
fn component_json(
    state: &weir_cluster::jobmanager::ClusterState,
    job: &weir_cluster::jobmanager::JobEntry,
    uid: &str,
) -> Value {
    let hash = job.record.component_of(uid);
    let upgraded =
        job.record.upgrades.iter().rev().find(|u| u.component_hash == hash).map(|u| u.component_name.clone());
    let uploaded = || {
        let jar = job.record.jar_id.as_ref().and_then(|j| state.jars.get(j)).filter(|m| m.hash == hash);
        jar.map(|m| m.name.clone())
    };
    json!({ "name": upgraded.or_else(uploaded).unwrap_or_default(), "hash": hash })
}

pub async fn details(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let now = now_ms();
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let graph = &job.record.graph;
    let all = subtasks(job);
    let vertices: Vec<Value> = graph
        .vertices
        .iter()
        .enumerate()
        .map(|(v, vertex)| {
            let subs = all.get(v).map(Vec::as_slice).unwrap_or(&[]);
            let (start, end, duration) = vertex_times(subs, now);
            json!({
                "id": vertex.id,
                "name": vertex.name,
                "maxParallelism": graph.max_parallelism,
                "parallelism": vertex.parallelism,
                "status": ExecutionState::aggregate(subs.iter().map(|s| s.state)).name(),
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "tasks": counts(subs.iter(), |s| s.name().to_string()),
                "metrics": io_metrics(subs),
                "component": vertex.function().map(|_| component_json(&state, job, &vertex.uid)),
            })
        })
        .collect();
    let timestamps: serde_json::Map<String, Value> = JobStatus::ALL
        .iter()
        .map(|s| (s.name().to_string(), json!(job.record.timestamps.get(s).copied().unwrap_or(0))))
        .collect();
    Ok(ok(json!({
        "jid": id,
        "name": graph.name,
        "isStoppable": false,
        "state": job.record.status.name(),
        "start-time": job.record.start_time,
        "end-time": job.record.end_time,
        "duration": duration(job, now),
        "maxParallelism": -1,
        "now": now,
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": counts(all.iter().flatten(), |s| s.name().to_string()),
        "plan": plan_json(graph),
    })))
}

pub async fn plan(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(ok(json!({ "plan": plan_json(&job.record.graph) })))
}

pub async fn config(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let graph = &job.record.graph;
    Ok(ok(json!({
        "jid": id,
        "name": graph.name,
        "execution-config": {
            "execution-mode": "PIPELINED",
            "restart-strategy": "Restart deactivated.",
            "job-parallelism": graph.vertices.iter().map(|v| v.parallelism).max().unwrap_or(1),
            "object-reuse-mode": false,
            "user-config": { "program-args": job.record.program_args.join(" ") },
        },
    })))
}

pub async fn exceptions(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let max: usize = match query.get("maxExceptions") {
        None => 16,
        Some(v) => v.parse().map_err(|_| RestError::bad_request(format!("Invalid value '{v}' for maxExceptions.")))?,
    };
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let history = &job.record.exceptions;
    let entries: Vec<Value> = history
        .iter()
        .rev()
        .take(max)
        .map(|e| {
            json!({
                "exceptionName": e.name,
                "stacktrace": format!("{}: {}", e.name, e.message),
                "timestamp": e.timestamp,
                "taskName": e.task,
                "location": e.location,
                "taskManagerId": e.taskmanager,
                "concurrentExceptions": [],
            })
        })
        .collect();
    let mut body = json!({
        "all-exceptions": [],
        "truncated": false,
        "exceptionHistory": { "entries": entries, "truncated": history.len() > max },
    });
    if let Some(root) = history.last() {
        body["root-exception"] = json!(format!("{}: {}", root.name, root.message));
        body["timestamp"] = json!(root.timestamp);
    }
    Ok(ok(body))
}

pub async fn vertex(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let now = now_ms();
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let graph = &job.record.graph;
    let (v, vertex) = graph
        .vertices
        .iter()
        .enumerate()
        .find(|(_, x)| x.id == vid)
        .ok_or_else(|| RestError::not_found(format!("JobVertex {vid} not found in job {id}")))?;
    let subs = subtasks(job).get(v).map(Vec::as_slice).unwrap_or(&[]);
    let list: Vec<Value> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (start, end, duration) = subtask_times(s, now);
            let tm = s.taskmanager.as_ref().and_then(|t| state.taskmanagers.get(t));
            let host = tm
                .map(|t| t.data_address.rsplit_once(':').map_or(t.data_address.as_str(), |(h, _)| h))
                .unwrap_or("(unassigned)");
            let status_duration: serde_json::Map<String, Value> = [
                ExecutionState::Created,
                ExecutionState::Scheduled,
                ExecutionState::Deploying,
                ExecutionState::Initializing,
                ExecutionState::Running,
            ]
            .iter()
            .map(|st| (st.name().to_string(), json!(state_duration(s, *st, now))))
            .collect();
            json!({
                "subtask": i,
                "status": s.state.name(),
                "attempt": s.attempt,
                "host": host,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "metrics": io_metrics(std::slice::from_ref(s)),
                "taskmanager-id": s.taskmanager.clone().unwrap_or_else(|| "(unassigned)".into()),
                "status-duration": status_duration,
                "start_time": start,
            })
        })
        .collect();
    Ok(ok(json!({
        "id": vertex.id,
        "name": vertex.name,
        "parallelism": vertex.parallelism,
        "maxParallelism": graph.max_parallelism,
        "now": now,
        "subtasks": list,
        "taskName": task_name(job, v, 0),
    })))
}

/// How long a subtask spent in `state` (0 if never there).
fn state_duration(s: &Subtask, state: ExecutionState, now: i64) -> i64 {
    let entered = s.timestamps[state as usize];
    if entered == 0 {
        return 0;
    }
    // It left at the earliest later state it entered.
    let left = s.timestamps.iter().copied().filter(|t| *t > entered).min();
    left.unwrap_or(if s.state == state { now } else { entered }) - entered
}

/// `PATCH /jobs/:jobid?mode=cancel`.
pub async fn cancel(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    match query.get("mode").map(String::as_str) {
        None | Some("cancel") => {}
        Some("stop") => {
            return Err(RestError::bad_request(
                "The termination mode \"stop\" has been removed. For stopping a job, please use the stop-with-savepoint endpoint (/jobs/:jobid/stop).",
            ));
        }
        Some(other) => return Err(RestError::bad_request(format!("Invalid termination mode \"{other}\"."))),
    }
    jm.cancel_job(&id)?;
    Ok(json(StatusCode::ACCEPTED, json!({})))
}
