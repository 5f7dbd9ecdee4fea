//! Jars, which in Weir are job components: `POST /jars/upload`, `GET /jars`,
//! `POST /jars/:jarid/run`, `GET|POST /jars/:jarid/plan`, `DELETE /jars/:jarid`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{BodyName, FlinkJson};
use super::jobs::plan_json;
use super::{RestError, ok};
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::dispatcher::RunOptions;

pub async fn list(State(jm): State<Arc<JobManager>>, headers: HeaderMap) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost:8081").to_string();
    let files: Vec<Value> = jm
        .jars()
        .into_iter()
        .map(|j| {
            json!({
                "id": j.id,
                "name": j.name,
                "uploaded": j.uploaded,
                "entry": [{"name": "weir:job/plan", "description": "the component's plan"}],
            })
        })
        .collect();
    ok(json!({ "address": format!("http://{host}"), "files": files }))
}

pub async fn upload(State(jm): State<Arc<JobManager>>, mut multipart: Multipart) -> Result<Response, RestError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    // Over the limit, the body stops being read and nothing is stored: 413, naming the limit.
    let refused = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = crate::max_upload(&jm).unwrap_or_default();
            RestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The upload is larger than the limit of {limit} bytes (rest.server.max-content-length)."),
            )
        } else {
            RestError::bad_request(e.body_text())
        }
    };
    loop {
        let field = multipart.next_field().await.map_err(refused)?;
        let Some(field) = field else { break };
        let Some(name) = field.file_name().map(str::to_string) else { continue };
        let bytes = field.bytes().await.map_err(refused)?;
        files.push((name, bytes.to_vec()));
    }
    if files.len() != 1 {
        return Err(RestError::bad_request(format!("Exactly 1 file must be sent, received {}.", files.len())));
    }
    let (name, bytes) = files.remove(0);
    let meta = {
        let jm = jm.clone();
        tokio::task::spawn_blocking(move || jm.upload_jar(&name, bytes)).await??
    };
    Ok(ok(json!({ "filename": jm.jar_file(&meta.id).display().to_string(), "status": "success" })))
}

pub async fn delete(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    jm.delete_jar(&id)?;
    Ok(ok(json!({})))
}

/// Flink's `JarRunRequestBody` (and `JarPlanRequestBody`, a subset).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunBody {
    entry_class: Option<String>,
    program_args: Option<String>,
    program_args_list: Option<Vec<String>>,
    parallelism: Option<i64>,
    job_id: Option<String>,
    allow_non_restored_state: Option<bool>,
    savepoint_path: Option<String>,
    restore_mode: Option<String>,
    flink_configuration: Option<HashMap<String, String>>,
}

impl BodyName for RunBody {
    const NAME: &'static str = "JarRunRequestBody";
}

/// Splits program arguments as Flink does: on white space, keeping quoted parts together.
pub fn tokenize(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => current.push(c),
        }
    }
    if started || !current.is_empty() {
        out.push(current);
    }
    out
}

/// Body fields win over the deprecated query parameters.
fn run_options(body: RunBody, query: &HashMap<String, String>) -> Result<RunOptions, RestError> {
    let _ = (&body.entry_class, &body.restore_mode, &body.flink_configuration); // accepted, not used
    let program_args = match (body.program_args_list, body.program_args) {
        (Some(list), _) if !list.is_empty() => list,
        (_, Some(args)) => tokenize(&args),
        _ => match (query.get("programArg"), query.get("program-args")) {
            (Some(list), _) => list.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect(),
            (None, Some(args)) => tokenize(args),
            (None, None) => Vec::new(),
        },
    };
    let parallelism = match body.parallelism {
        Some(p) => Some(p),
        None => match query.get("parallelism") {
            Some(p) => Some(
                p.trim().parse::<i64>().map_err(|_| RestError::bad_request(format!("Invalid parallelism \"{p}\".")))?,
            ),
            None => None,
        },
    };
    let parallelism = match parallelism {
        None | Some(-1) => None,
        Some(p) => match u32::try_from(p) {
            Ok(parallelism) if parallelism >= 1 => Some(parallelism),
            _ => {
                return Err(RestError::bad_request(format!(
                    "The parallelism must be a positive number (or -1 for the default), was {p}."
                )));
            }
        },
    };
    let allow_non_restored_state = body
        .allow_non_restored_state
        .or_else(|| query.get("allowNonRestoredState").map(|v| v == "true"))
        .unwrap_or(false);
    Ok(RunOptions {
        program_args,
        parallelism,
        job_id: body.job_id,
        savepoint_path: body.savepoint_path.or_else(|| query.get("savepointPath").cloned()),
        allow_non_restored_state,
    })
}

pub async fn run(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    FlinkJson(body): FlinkJson<RunBody>,
) -> Result<Response, RestError> {
    let options = run_options(body, &query)?;
    let job = tokio::task::spawn_blocking(move || jm.run_jar(&id, options)).await??;
    Ok(ok(json!({ "jobid": job })))
}

pub async fn plan(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    FlinkJson(body): FlinkJson<RunBody>,
) -> Result<Response, RestError> {
    let options = run_options(body, &query)?;
    let graph = tokio::task::spawn_blocking(move || jm.plan_jar(&id, &options)).await??;
    Ok(ok(json!({ "plan": plan_json(&graph) })))
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn program_args_split_like_flink() {
        assert_eq!(
            tokenize("--bootstrap.servers kafka:9092  --checkpointing"),
            ["--bootstrap.servers", "kafka:9092", "--checkpointing"]
        );
        assert_eq!(
            tokenize(r#"--name "two words" --x 'a b' --e """#),
            ["--name", "two words", "--x", "a b", "--e", ""]
        );
        assert!(tokenize("   ").is_empty());
    }
}
