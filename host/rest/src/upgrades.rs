//! Hot-swap upgrades over REST, in Flink's asynchronous-operation style (Weir's own routes):
//! `POST /jobs/:id/upgrade` answers a request id (or, for a dry run, the change it would make),
//! `GET /jobs/:id/upgrade/:requestid` its progress and result, `GET /jobs/:id/upgrades` the
//! job's history, newest first.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{BodyName, FlinkJson};
use super::jars::tokenize;
use super::jobs::{job_id, not_found};
use super::{RestError, json, ok};
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::upgrade::{Plan, Started, UpgradeMode, UpgradeRecord, UpgradeRequest};

/// The upgrade request (camelCase keys, as Flink's `JarRunRequestBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradeBody {
    jar_id: Option<String>,
    program_args: Option<String>,
    program_args_list: Option<Vec<String>>,
    operators: Option<Vec<String>>,
    allow_non_restored_state: Option<bool>,
    dry_run: Option<bool>,
}

impl BodyName for UpgradeBody {
    const NAME: &'static str = "JobUpgradeRequestBody";
}

fn mode_name(mode: UpgradeMode) -> &'static str {
    match mode {
        UpgradeMode::InPlace => "IN_PLACE",
        UpgradeMode::Redeploy => "REDEPLOY",
        UpgradeMode::Rescale => "RESCALE",
    }
}

/// One upgrade as the API shows it.
pub fn upgrade_json(h: &UpgradeRecord) -> Value {
    let mut op = json!({
        "id": h.id,
        "jar-id": h.jar_id,
        "component": {"name": h.component_name, "hash": h.component_hash},
        "program-args": h.program_args,
        "mode": mode_name(h.mode),
        "operators": h.operators,
        "added-operators": h.added,
        "removed-operators": h.removed,
        "request-time": h.requested,
        "end-time": h.completed.unwrap_or(-1),
        "duration": h.duration_ms().unwrap_or(-1),
        "swap-duration": h.swap_ms.unwrap_or(-1),
        "checkpoint-id": h.checkpoint,
        "swap-point": if h.immediate { "IMMEDIATE" } else { "BARRIER" },
    });
    if let Some(result) = h.result {
        op["result"] = json!(result.name());
    }
    if let Some((from, to)) = &h.parallelism {
        op["parallelism"] = json!({"from": from, "to": to});
    }
    if let Some(cause) = &h.failure {
        op["failure-cause"] = super::checkpoints::failure_cause(cause);
    }
    let status = if h.completed.is_some() { "COMPLETED" } else { "IN_PROGRESS" };
    json!({"status": {"id": status}, "operation": op})
}

/// What a dry run answers: the change the upgrade would make, nothing done.
fn dry_run_json(plan: &Plan, h: &UpgradeRecord) -> Value {
    let vertices: Vec<Value> = plan
        .graph
        .vertices
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "uid": v.uid,
                "name": v.name,
                "parallelism": v.parallelism,
                "component": plan.vertex_components.get(&v.uid),
                "changes": plan.operators.contains(&v.uid),
            })
        })
        .collect();
    json!({
        "dry-run": true,
        "mode": mode_name(plan.mode),
        "component": {"name": h.component_name, "hash": h.component_hash},
        "program-args": h.program_args,
        "operators": plan.operators,
        "added-operators": plan.added,
        "removed-operators": plan.removed,
        "vertices": vertices,
    })
}

pub async fn upgrade(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    FlinkJson(body): FlinkJson<UpgradeBody>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let jar_id = body
        .jar_id
        .filter(|j| !j.is_empty())
        .ok_or_else(|| RestError::bad_request("Field 'jarId' is missing: name an uploaded jar (POST /jars/upload)."))?;
    let program_args = match (body.program_args_list, body.program_args) {
        (Some(list), _) if !list.is_empty() => Some(list),
        (_, Some(args)) => Some(tokenize(&args)),
        _ => None,
    };
    let request = UpgradeRequest {
        jar_id,
        program_args,
        operators: body.operators.unwrap_or_default(),
        allow_non_restored_state: body.allow_non_restored_state.unwrap_or(false),
        dry_run: body.dry_run.unwrap_or(false),
    };
    let started = tokio::task::spawn_blocking(move || jm.upgrade(&id, request)).await??;
    Ok(match started {
        Started::Running(request_id) => json(StatusCode::ACCEPTED, json!({ "request-id": request_id })),
        Started::DryRun(dry) => ok(dry_run_json(&dry.0, &dry.1)),
    })
}

pub async fn status(
    State(jm): State<Arc<JobManager>>,
    Path((id, request)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let h = job.record.upgrades.iter().rev().find(|h| h.id == request).ok_or_else(|| {
        RestError::not_found(format!("There is no upgrade operation with request id {request} for job {id}."))
    })?;
    Ok(ok(upgrade_json(h)))
}

pub async fn history(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let state = jm.state();
    let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let upgrades: Vec<Value> = job.record.upgrades.iter().rev().map(upgrade_json).collect();
    Ok(ok(json!({ "upgrades": upgrades })))
}
