//! Accumulators: the counters and gauges a job's user code registers (guest metrics and the
//! SDK's, such as `numMalformedRecordsSkipped`) are its user accumulators, as Flink shows a
//! job's `LongCounter`s: per subtask, summed per vertex and per job.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::jobs::{find_job, find_vertex, location, subtasks, vertex_subtasks};
use super::{RestError, ok};
use crate::routes::Routes;
use weir_cluster::jobmanager::{JobEntry, JobManager, Subtask};
use weir_core::metrics::TaskMetrics;

/// The accumulator routes, merged into the REST API's.
pub(super) fn routes() -> Routes {
    Routes::new()
        .route("/jobs/{jobid}/accumulators", get(job))
        .route("/jobs/{jobid}/vertices/{vertexid}/accumulators", get(vertex))
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasks/accumulators", get(all_subtasks))
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}/accumulators",
            get(attempt),
        )
}

/// The names of the engine's own task metrics: everything else a subtask reports was registered
/// by its operator's code.
fn builtin() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| TaskMetrics::default().values().into_iter().map(|(name, _)| name).collect())
}

/// A subtask's user accumulators, by name.
fn of_subtask(s: &Subtask) -> BTreeMap<String, f64> {
    s.metrics.iter().filter(|(name, _)| !builtin().contains(name)).map(|(n, v)| (n.clone(), *v)).collect()
}

/// Sums accumulators of the same name.
fn merged<'a>(subs: impl Iterator<Item = &'a Subtask>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in subs {
        for (name, value) in of_subtask(s) {
            *out.entry(name).or_insert(0.0) += value;
        }
    }
    out
}

/// Every user accumulator of a job, summed over its subtasks.
pub(crate) fn job_accumulators(job: &JobEntry) -> BTreeMap<String, f64> {
    merged(subtasks(job).iter().flatten())
}

/// Flink's `UserAccumulator` list: name, type and value as text.
fn list(accumulators: BTreeMap<String, f64>) -> Vec<Value> {
    accumulators
        .into_iter()
        .map(|(name, value)| {
            let kind = if value.fract() == 0.0 { "LongCounter" } else { "DoubleCounter" };
            json!({ "name": name, "type": kind, "value": value.to_string() })
        })
        .collect()
}

async fn job(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let accumulators = job_accumulators(job);
    // Flink's serialized values are Java objects; Weir's are the values as text, base64-free.
    let serialized: serde_json::Map<String, Value> = if query.get("includeSerializedValue").is_some_and(|v| v == "true")
    {
        accumulators.iter().map(|(n, v)| (n.clone(), json!(v.to_string()))).collect()
    } else {
        serde_json::Map::new()
    };
    Ok(ok(json!({
        "job-accumulators": [],
        "user-task-accumulators": list(accumulators),
        "serialized-user-task-accumulators": serialized,
    })))
}

async fn vertex(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let subs = vertex_subtasks(job, v);
    Ok(ok(json!({ "id": vid, "user-accumulators": list(merged(subs.iter())) })))
}

async fn all_subtasks(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let subs = vertex_subtasks(job, v);
    let entries: Vec<Value> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "subtask": i,
                "attempt": s.attempt,
                "host": location(&state, s).0,
                "user-accumulators": list(of_subtask(s)),
            })
        })
        .collect();
    Ok(ok(json!({ "id": vid, "parallelism": subs.len(), "subtasks": entries })))
}

async fn attempt(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid, index, attempt)): Path<(String, String, String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let (i, s) = crate::subtasks::find_attempt(job, v, &index, &attempt)?;
    Ok(ok(json!({
        "subtask": i,
        "attempt": s.attempt,
        "id": format!("{vid}_{i}_{}", s.attempt),
        "user-accumulators": list(of_subtask(s)),
    })))
}
