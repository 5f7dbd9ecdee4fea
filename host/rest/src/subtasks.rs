//! A vertex's subtasks: one subtask's details (current or a given attempt), the times each
//! entered its states, and the TaskManagers the vertex runs on.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::jobs::{
    aggregated, counts, find_job, find_vertex, io_metrics, location, subtask_json, vertex_subtasks, vertex_times,
};
use super::{RestError, ok};
use crate::routes::Routes;
use weir_cluster::jobmanager::{JobEntry, JobManager, Subtask};
use weir_core::execution::{ExecutionState, now_ms};

/// The subtask routes, merged into the REST API's.
pub(super) fn routes() -> Routes {
    Routes::new()
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}", get(subtask))
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}", get(attempt))
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasktimes", get(times))
        .route("/jobs/{jobid}/vertices/{vertexid}/taskmanagers", get(taskmanagers))
}

/// Subtask `index` of vertex `v`.
fn find_subtask<'a>(job: &'a JobEntry, v: usize, index: &str) -> Result<(usize, &'a Subtask), RestError> {
    let i: usize = index.parse().map_err(|_| {
        RestError::bad_request(format!("Invalid subtask index \"{index}\": not a non-negative number."))
    })?;
    let subs = vertex_subtasks(job, v);
    let s = subs.get(i).ok_or_else(|| {
        RestError::not_found(format!("Invalid subtask index {i}: the vertex has {} subtasks.", subs.len()))
    })?;
    Ok((i, s))
}

/// Attempt `attempt` of subtask `index`: Weir keeps each subtask's current attempt (the job's
/// attempt, counted up at every restart); an earlier one is not kept.
pub(crate) fn find_attempt<'a>(
    job: &'a JobEntry,
    v: usize,
    index: &str,
    attempt: &str,
) -> Result<(usize, &'a Subtask), RestError> {
    let (i, s) = find_subtask(job, v, index)?;
    let wanted: u32 =
        attempt.parse().map_err(|_| RestError::bad_request(format!("Invalid attempt number \"{attempt}\".")))?;
    if wanted != s.attempt {
        return Err(RestError::not_found(format!(
            "Attempt {wanted} of subtask {i} is not kept: Weir keeps the current attempt, {}.",
            s.attempt
        )));
    }
    Ok((i, s))
}

async fn subtask(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid, index)): Path<(String, String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let (i, s) = find_subtask(job, find_vertex(job, &vid)?, &index)?;
    Ok(ok(subtask_json(&state, i, s, now_ms())))
}

async fn attempt(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid, index, attempt)): Path<(String, String, String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let (i, s) = find_attempt(job, find_vertex(job, &vid)?, &index, &attempt)?;
    Ok(ok(subtask_json(&state, i, s, now_ms())))
}

async fn times(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let now = now_ms();
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let vertex = &job.record.graph.vertices[v];
    let subs = vertex_subtasks(job, v);
    let entries: Vec<Value> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // The states it entered, with when (Flink lists every state; 0 where never entered).
            let timestamps: serde_json::Map<String, Value> = ExecutionState::ALL
                .iter()
                .map(|st| (st.name().to_string(), json!(s.timestamps[*st as usize])))
                .collect();
            let (_, _, duration) = super::jobs::subtask_times(s, now);
            json!({ "subtask": i, "host": location(&state, s).0, "duration": duration, "timestamps": timestamps })
        })
        .collect();
    Ok(ok(json!({ "id": vid, "name": vertex.name, "now": now, "subtasks": entries })))
}

async fn taskmanagers(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let now = now_ms();
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let vertex = &job.record.graph.vertices[v];
    let subs = vertex_subtasks(job, v);
    let mut by_tm: BTreeMap<String, Vec<Subtask>> = BTreeMap::new();
    for s in subs {
        let tm = s.taskmanager.clone().unwrap_or_else(|| "(unassigned)".into());
        by_tm.entry(tm).or_default().push(s.clone());
    }
    let entries: Vec<Value> = by_tm
        .iter()
        .map(|(tm, group)| {
            let (start, end, duration) = vertex_times(group, now);
            let (host, endpoint) = location(&state, &group[0]);
            json!({
                "host": host,
                "endpoint": endpoint,
                "status": ExecutionState::aggregate(group.iter().map(|s| s.state)).name(),
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "metrics": io_metrics(group),
                "status-counts": counts(group.iter(), |s| s.name().to_string()),
                "taskmanager-id": tm,
                "aggregated": aggregated(group, now),
            })
        })
        .collect();
    Ok(ok(json!({ "id": vid, "name": vertex.name, "now": now, "taskmanagers": entries })))
}
