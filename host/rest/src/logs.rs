//! Logs and thread dumps of the JobManager and the TaskManagers: `/jobmanager/logs` and
//! `/taskmanagers/:id/logs` list the log files (Flink's `LogListInfo`), `…/logs/:file` serves
//! one as plain text (`/jobmanager/log`, `/taskmanagers/:id/log`: the current one), the log-url
//! routes point at them, and `…/thread-dump` lists the process's threads (`ThreadDumpInfo`).
//! A TaskManager's are fetched from it over the control channel.
//!
//! A file is served only by a name its process's listing gives (`weir_cluster::logs`): any
//! other name, with a path or `..` or not, is a 404. `?start=<byte>` (Weir's addition, which
//! the web UI uses to follow a log as it grows) serves the file from that byte; the answer's
//! `X-Log-Size` header says how large the file is.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::jobs::{job_id, not_found};
use super::{RestError, ok};
use crate::routes::Routes;
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::taskmanager_gateway::GatewayError;
use weir_cluster::logs::{self, LogError, LogFile, LogPart};
use weir_cluster::rpc::{Request, Response as TmResponse};
use weir_cluster::thread_dump::{self, ThreadInfo};

/// The log and thread-dump routes, merged into the REST API's.
pub(super) fn routes() -> Routes {
    Routes::new()
        .route("/jobmanager/logs", get(jobmanager_logs))
        .route("/jobmanager/log", get(jobmanager_current_log))
        .route("/jobmanager/logs/{file}", get(jobmanager_log))
        .route("/jobmanager/thread-dump", get(jobmanager_thread_dump))
        .route("/taskmanagers/{taskmanagerid}/logs", get(taskmanager_logs))
        .route("/taskmanagers/{taskmanagerid}/log", get(taskmanager_current_log))
        .route("/taskmanagers/{taskmanagerid}/logs/{file}", get(taskmanager_log))
        .route("/taskmanagers/{taskmanagerid}/thread-dump", get(taskmanager_thread_dump))
        .route("/jobs/{jobid}/jobmanager/log-url", get(jobmanager_log_url))
        .route("/jobs/{jobid}/taskmanagers/{taskmanagerid}/log-url", get(taskmanager_log_url))
}

type Params = Query<HashMap<String, String>>;

fn log_list(files: &[LogFile]) -> Value {
    let logs: Vec<Value> = files.iter().map(|f| json!({ "name": f.name, "size": f.size, "mtime": f.mtime })).collect();
    json!({ "logs": logs })
}

fn thread_dump_json(threads: &[ThreadInfo]) -> Value {
    let infos: Vec<Value> =
        threads.iter().map(|t| json!({ "threadName": t.name, "stringifiedThreadInfo": t.stringified })).collect();
    json!({ "threadInfos": infos })
}

/// `?start=` as a byte offset (0 when absent).
fn start(params: &HashMap<String, String>) -> Result<u64, RestError> {
    params.get("start").map_or(Ok(0), |v| {
        v.parse().map_err(|_| RestError::bad_request(format!("Invalid value '{v}' for start: not a byte offset.")))
    })
}

/// A log file's text, as Flink serves it: plain text.
fn text(part: LogPart) -> Response {
    let mut response = (StatusCode::OK, part.text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    headers.insert("X-Log-Size", HeaderValue::from(part.size));
    headers.insert("X-Log-Start", HeaderValue::from(part.start));
    response
}

fn log_error(error: LogError) -> RestError {
    match error {
        LogError::NotFound(_) | LogError::NoLogs => RestError::not_found(error.to_string()),
        LogError::Io(e) => RestError::internal(e),
    }
}

fn gateway_error(error: GatewayError) -> RestError {
    match error {
        GatewayError::UnknownTaskManager(_) => RestError::not_found(error.to_string()),
        GatewayError::NoAnswer(_) => RestError::internal(error),
    }
}

/// A TaskManager's refusal as an answer.
fn refused(response: TmResponse) -> RestError {
    match response {
        TmResponse::Failed { reason, not_found: true } => RestError::not_found(reason),
        TmResponse::Failed { reason, .. } => RestError::internal(reason),
        other => RestError::internal(format!("unexpected answer from the TaskManager: {other:?}")),
    }
}

async fn jobmanager_logs() -> Response {
    ok(log_list(&logs::list()))
}

async fn jobmanager_log(Path(file): Path<String>, Query(params): Params) -> Result<Response, RestError> {
    let start = start(&params)?;
    let part = tokio::task::spawn_blocking(move || logs::read(&file, start)).await?.map_err(log_error)?;
    Ok(text(part))
}

async fn jobmanager_current_log(Query(params): Params) -> Result<Response, RestError> {
    let name = logs::current().map(|f| f.base.clone()).ok_or_else(|| log_error(LogError::NoLogs))?;
    jobmanager_log(Path(name), Query(params)).await
}

async fn jobmanager_thread_dump() -> Result<Response, RestError> {
    let threads = tokio::task::spawn_blocking(thread_dump::threads).await?;
    Ok(ok(thread_dump_json(&threads)))
}

async fn ask(jm: &JobManager, tm: &str, request: Request) -> Result<TmResponse, RestError> {
    jm.ask_taskmanager(tm, request).await.map_err(gateway_error)
}

async fn taskmanager_logs(State(jm): State<Arc<JobManager>>, Path(tm): Path<String>) -> Result<Response, RestError> {
    match ask(&jm, &tm, Request::LogList).await? {
        TmResponse::LogList(files) => Ok(ok(log_list(&files))),
        other => Err(refused(other)),
    }
}

async fn taskmanager_log(
    State(jm): State<Arc<JobManager>>,
    Path((tm, file)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let start = start(&params)?;
    match ask(&jm, &tm, Request::Log { name: file, start }).await? {
        TmResponse::Log(part) => Ok(text(part)),
        other => Err(refused(other)),
    }
}

async fn taskmanager_current_log(
    State(jm): State<Arc<JobManager>>,
    Path(tm): Path<String>,
    Query(params): Params,
) -> Result<Response, RestError> {
    // The current file is the shortest name the TaskManager lists (rotated ones end in `.<n>`).
    let current = match ask(&jm, &tm, Request::LogList).await? {
        TmResponse::LogList(files) => files.into_iter().next(),
        other => return Err(refused(other)),
    };
    let name = current.ok_or_else(|| RestError::not_found(format!("TaskManager {tm} keeps no log files.")))?;
    taskmanager_log(State(jm), Path((tm, name.name)), Query(params)).await
}

async fn taskmanager_thread_dump(
    State(jm): State<Arc<JobManager>>,
    Path(tm): Path<String>,
) -> Result<Response, RestError> {
    match ask(&jm, &tm, Request::ThreadDump).await? {
        TmResponse::ThreadDump(threads) => Ok(ok(thread_dump_json(&threads))),
        other => Err(refused(other)),
    }
}

/// This REST API's address as the client reached it (its `Host` header).
fn base_url(headers: &HeaderMap, jm: &JobManager) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string);
    format!("http://{}", host.unwrap_or_else(|| jm.options.rest_bind.to_string()))
}

async fn jobmanager_log_url(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    if !jm.state().jobs.contains_key(&id) {
        return Err(not_found(&id));
    }
    Ok(ok(json!({ "url": format!("{}/jobmanager/log", base_url(&headers, &jm)) })))
}

async fn taskmanager_log_url(
    State(jm): State<Arc<JobManager>>,
    Path((id, tm)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    {
        let state = jm.state();
        if !state.jobs.contains_key(&id) {
            return Err(not_found(&id));
        }
        if !state.taskmanagers.contains_key(&tm) {
            return Err(RestError::not_found(format!("Could not find TaskManager {tm}.")));
        }
    }
    Ok(ok(json!({ "url": format!("{}/taskmanagers/{tm}/log", base_url(&headers, &jm)) })))
}
