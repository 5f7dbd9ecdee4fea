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
use weir_cluster::jobmanager::{ClusterState, JobEntry, JobManager, Subtask};
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
pub(crate) fn subtasks(job: &JobEntry) -> &[Vec<Subtask>] {
    if job.subtasks.is_empty() { job.record.final_subtasks.as_deref().unwrap_or(&[]) } else { &job.subtasks }
}

/// The job `id` from a path, checked (400) and looked up (404).
pub(crate) fn find_job<'a>(state: &'a ClusterState, id: &str) -> Result<&'a JobEntry, RestError> {
    let id = job_id(id)?;
    state.jobs.get(&id).ok_or_else(|| not_found(&id))
}

/// The index of vertex `vid` in the job's graph, or a 404.
pub(crate) fn find_vertex(job: &JobEntry, vid: &str) -> Result<usize, RestError> {
    job.record
        .graph
        .vertices
        .iter()
        .position(|v| v.id == vid)
        .ok_or_else(|| RestError::not_found(format!("JobVertex {vid} not found in job {}", job.record.id())))
}

/// The subtasks of vertex `v` to report.
pub(crate) fn vertex_subtasks(job: &JobEntry, v: usize) -> &[Subtask] {
    subtasks(job).get(v).map(Vec::as_slice).unwrap_or(&[])
}

fn duration(job: &JobEntry, now: i64) -> i64 {
    let end = if job.record.end_time > 0 { job.record.end_time } else { now };
    end - job.record.start_time
}

fn last_modification(job: &JobEntry) -> i64 {
    job.record.timestamps.values().copied().max().unwrap_or(job.record.start_time)
}

/// Per-state counts, with the state names written by `name`.
pub(crate) fn counts<'a>(
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
        "job-type": "STREAMING",
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
pub(crate) fn io_metrics(subtasks: &[Subtask]) -> Value {
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
pub(crate) fn subtask_times(s: &Subtask, now: i64) -> (i64, i64, i64) {
    let start = s.timestamps[ExecutionState::Deploying as usize];
    let start = if start > 0 { start } else { -1 };
    let end = if s.state.is_terminal() { s.timestamps[s.state as usize] } else { -1 };
    (start, end, span(start, end, now))
}

pub(crate) fn vertex_times(subtasks: &[Subtask], now: i64) -> (i64, i64, i64) {
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
    json!({ "name": state.component_name(job, hash).unwrap_or_default(), "hash": hash })
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
                // Slot i holds subtask i of every vertex: one slot sharing group per job.
                "slotSharingGroupId": id,
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
        "job-type": "STREAMING",
        "schedulerType": "Default",
        "start-time": job.record.start_time,
        "end-time": job.record.end_time,
        "duration": duration(job, now),
        "maxParallelism": -1,
        "now": now,
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": counts(all.iter().flatten(), |s| s.name().to_string()),
        "plan": plan_json(graph),
        // Weir's job graph is complete when the job starts (no adaptive graph).
        "pending-operators": 0,
    })))
}

pub async fn plan(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    Ok(ok(json!({ "plan": plan_json(&job.record.graph) })))
}

pub async fn config(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let graph = &job.record.graph;
    Ok(ok(json!({
        "jid": job.record.id(),
        "name": graph.name,
        "jobType": "STREAMING",
        "execution-config": {
            "execution-mode": "PIPELINED",
            // Checkpointed jobs restart after 1 s without limit; others fail (see the scheduler).
            "restart-strategy": if graph.checkpoint_interval_ms.is_some() {
                "Restart with fixed delay (1000 ms). #2147483647 restart attempts."
            } else {
                "Restart deactivated."
            },
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
        // Null until the job fails, as Flink's.
        "root-exception": null,
        "timestamp": null,
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
    let subs = vertex_subtasks(job, v);
    let list: Vec<Value> = subs.iter().enumerate().map(|(i, s)| subtask_json(&state, i, s, now)).collect();
    Ok(ok(json!({
        "id": vertex.id,
        "name": vertex.name,
        "parallelism": vertex.parallelism,
        "maxParallelism": graph.max_parallelism,
        "now": now,
        "subtasks": list,
        "taskName": task_name(job, v, 0),
        "aggregated": aggregated(subs, now),
    })))
}

/// Where a subtask runs: its TaskManager's host and data address (`(unassigned)` before).
pub(crate) fn location(state: &ClusterState, s: &Subtask) -> (String, String) {
    match s.taskmanager.as_ref().and_then(|t| state.taskmanagers.get(t)) {
        Some(tm) => {
            let host = tm.data_address.rsplit_once(':').map_or(tm.data_address.as_str(), |(h, _)| h);
            (host.to_string(), tm.data_address.clone())
        }
        None => ("(unassigned)".into(), "(unassigned)".into()),
    }
}

/// The states whose durations Flink reports per subtask.
const TIMED_STATES: [ExecutionState; 5] = [
    ExecutionState::Created,
    ExecutionState::Scheduled,
    ExecutionState::Deploying,
    ExecutionState::Initializing,
    ExecutionState::Running,
];

/// Flink's `SubtaskExecutionAttemptDetailsInfo` of subtask `i`.
pub(crate) fn subtask_json(state: &ClusterState, i: usize, s: &Subtask, now: i64) -> Value {
    let (start, end, duration) = subtask_times(s, now);
    let (host, endpoint) = location(state, s);
    let status_duration: serde_json::Map<String, Value> =
        TIMED_STATES.iter().map(|st| (st.name().to_string(), json!(state_duration(s, *st, now)))).collect();
    json!({
        "subtask": i,
        "status": s.state.name(),
        "attempt": s.attempt,
        "host": host,
        "endpoint": endpoint,
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "metrics": io_metrics(std::slice::from_ref(s)),
        "taskmanager-id": s.taskmanager.clone().unwrap_or_else(|| "(unassigned)".into()),
        "status-duration": status_duration,
        "other-concurrent-attempts": [],
        "start_time": start,
    })
}

/// min, max, avg, sum, median and quartiles of some values (Flink's `StatsSummaryDto` of
/// aggregated task details).
fn statistics(mut values: Vec<f64>) -> Value {
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "sum": 0, "median": 0, "p25": 0, "p75": 0, "p95": 0});
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let sum: f64 = values.iter().sum();
    // why: `p` is in [0, 1], so the rank is at most the last index.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pct = |p: f64| values[((p * (n - 1) as f64).round() as usize).min(n - 1)];
    json!({
        "min": values[0], "max": values[n - 1], "avg": sum / n as f64, "sum": sum,
        "median": pct(0.5), "p25": pct(0.25), "p75": pct(0.75), "p95": pct(0.95),
    })
}

/// Flink's `AggregatedTaskDetailsInfo`: the IO metrics and state durations of some subtasks,
/// summarised.
pub(crate) fn aggregated(subs: &[Subtask], now: i64) -> Value {
    let per: Vec<Value> = subs.iter().map(|s| io_metrics(std::slice::from_ref(s))).collect();
    let metrics: serde_json::Map<String, Value> = [
        "read-bytes",
        "write-bytes",
        "read-records",
        "write-records",
        "accumulated-backpressured-time",
        "accumulated-idle-time",
        "accumulated-busy-time",
    ]
    .iter()
    .map(|k| (k.to_string(), statistics(per.iter().filter_map(|m| m[*k].as_f64()).collect())))
    .collect();
    let durations: serde_json::Map<String, Value> = TIMED_STATES
        .iter()
        .map(|st| {
            let values = subs.iter().map(|s| state_duration(s, *st, now) as f64).collect();
            (st.name().to_string(), statistics(values))
        })
        .collect();
    json!({ "metrics": metrics, "status-duration": durations })
}

/// How long a subtask spent in `state` (0 if never there).
pub(crate) fn state_duration(s: &Subtask, state: ExecutionState, now: i64) -> i64 {
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

/// `GET /jobs/:jobid/status`: the job's status alone (what operators poll).
pub async fn status(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    Ok(ok(json!({ "status": job.record.status.name() })))
}

/// `GET /jobs/:jobid/execution-result`: `IN_PROGRESS` until the job has globally ended, then its
/// result as Flink's `JobResult` (with the keys of Flink's serializer and of the spec's schema).
pub async fn execution_result(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let record = &job.record;
    if !record.status.is_globally_terminal() {
        return Ok(ok(json!({ "status": { "id": "IN_PROGRESS" } })));
    }
    let application_status = match record.status {
        JobStatus::Finished => "SUCCEEDED",
        JobStatus::Canceled => "CANCELED",
        _ => "FAILED",
    };
    let net_runtime = (record.end_time - record.start_time).max(0);
    let accumulators: serde_json::Map<String, Value> = crate::accumulators::job_accumulators(job)
        .into_iter()
        .map(|(name, value)| (name, json!(value.to_string())))
        .collect();
    let id = record.id();
    let mut result = json!({
        "id": id,
        "application-status": application_status,
        "accumulator-results": accumulators,
        "net-runtime": net_runtime,
        "jobId": id,
        "applicationStatus": application_status,
        "accumulatorResults": accumulators,
        "netRuntime": net_runtime,
        "success": record.status == JobStatus::Finished,
    });
    if record.status == JobStatus::Failed {
        let cause = record.exceptions.last().map(|e| format!("{}: {}", e.name, e.message)).unwrap_or_default();
        let class = record.exceptions.last().map(|e| e.name.clone()).unwrap_or_default();
        result["failure-cause"] = json!({ "class": class, "stack-trace": cause, "serialized-throwable": "" });
        result["serializedThrowable"] = json!({ "serialized-throwable": "" });
    }
    Ok(ok(json!({ "status": { "id": "COMPLETED" }, "job-execution-result": result })))
}
