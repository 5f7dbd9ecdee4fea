//! `GET`/`PUT /jobs/:jobid/resource-requirements` (Flink 1.18+, the adaptive scheduler's
//! per-vertex parallelism bounds): read the bounds a job runs under, or set them and rescale
//! it. The body maps vertex ids to `{"parallelism": {"lowerBound": l, "upperBound": u}}`; the
//! PUT answers at once with `{}`, and the rescale shows in `/jobs/:jobid` (the vertices'
//! parallelism), `/jobs/:jobid/upgrades` (a `RESCALE`) and the job's status.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{BodyName, FlinkJson};
use super::jobs::job_id;
use super::{RestError, ok};
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::rescale::{ParallelismBounds, ResourceRequirements};

/// Flink's `JobResourceRequirementsBody`: vertex id to its requirements.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RequirementsBody(BTreeMap<String, VertexBody>);

impl BodyName for RequirementsBody {
    const NAME: &'static str = "JobResourceRequirementsBody";
}

/// Flink's `JobVertexResourceRequirements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VertexBody {
    parallelism: ParallelismBody,
}

/// Flink's `JobVertexResourceRequirements.Parallelism`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParallelismBody {
    lower_bound: u32,
    upper_bound: u32,
}

/// How Flink writes a job's requirements.
fn requirements_json(requirements: &ResourceRequirements) -> Value {
    let vertices: serde_json::Map<String, Value> = requirements
        .iter()
        .map(|(id, b)| (id.clone(), json!({"parallelism": {"lowerBound": b.lower, "upperBound": b.upper}})))
        .collect();
    Value::Object(vertices)
}

pub async fn get(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    Ok(ok(requirements_json(&jm.resource_requirements(&id)?)))
}

pub async fn put(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    FlinkJson(RequirementsBody(body)): FlinkJson<RequirementsBody>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    if body.is_empty() {
        return Err(RestError::bad_request("The request names no vertex: nothing to set."));
    }
    let requested: ResourceRequirements = body
        .into_iter()
        .map(|(vertex, v)| {
            (vertex, ParallelismBounds { lower: v.parallelism.lower_bound, upper: v.parallelism.upper_bound })
        })
        .collect();
    tokio::task::spawn_blocking(move || jm.rescale(&id, requested)).await??;
    Ok(ok(json!({})))
}
