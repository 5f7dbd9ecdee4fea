//! The REST API, with Flink's routes and JSON shapes (`flink-rest-openapi.yml`), so that Flink's
//! clients, scripts and habits work against Weir.
//!
//! Conventions as Flink's: every route also answers under `/v1`; request bodies are JSON
//! whatever their Content-Type and an empty body is `{}`; errors are `{"errors":[…]}` with
//! 400, 404 (also for unknown routes and methods), 409 or 500. Unlike Flink, browsers on other
//! origins get no CORS headers and their state-changing requests are refused, unless
//! `web.access-control-allow-origin` allows them ([`security::AllowedOrigins`]).
//!
//! - [`cluster`]: `/config`, `/overview`, `/taskmanagers`, `/jobmanager/config`.
//! - [`jobs`]: `/jobs…`: lists, details, vertices, exceptions, plan, cancel.
//! - [`jars`]: `/jars…`: upload, list, plan, run, delete.
//! - [`checkpoints`]: savepoints, stop-with-savepoint, disposal, checkpoint statistics.
//! - [`metrics`]: the metric endpoints, vertex backpressure and watermarks.
//! - [`prometheus`]: `/metrics`, the cluster's metrics for a Prometheus scrape.
//! - [`upgrades`]: Weir's hot-swap upgrades: start one, poll it, a job's history.
//! - [`resource_requirements`]: Flink's per-vertex parallelism bounds; setting them rescales.
//! - [`web`]: the web UI at `/`.
//! - [`accumulators`], [`subtasks`], [`logs`], [`flamegraph`]: a job's accumulators, a vertex's
//!   subtasks and TaskManagers, the processes' logs and thread dumps, flame graphs.
//! - [`security`]: TLS and the bearer token (`security.ssl.rest.*`, `rest.authentication.*`).

mod accumulators;
mod body;
mod checkpoints;
mod cluster;
mod error;
mod flamegraph;
mod jars;
mod jobs;
mod logs;
mod metrics;
mod prometheus;
mod resource_requirements;
mod routes;
pub mod security;
mod subtasks;
mod upgrades;
mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use error::RestError;
pub use jobs::plan_json;

use routes::Routes;

use weir_cluster::jobmanager::JobManager;
use weir_core::cancel::CancelToken;

/// Flink's default for `rest.server.max-content-length`: uploads up to 100 MiB (components are
/// a few hundred KiB).
const DEFAULT_MAX_CONTENT_LENGTH: u64 = 104_857_600;

/// The largest upload the JobManager takes, from `rest.server.max-content-length`.
pub(crate) fn max_upload(jm: &JobManager) -> Result<usize, weir_config::ConfigError> {
    let limit =
        jm.options.config.get_u64(weir_config::keys::REST_SERVER_MAX_CONTENT_LENGTH, DEFAULT_MAX_CONTENT_LENGTH)?;
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// A JSON answer as Flink sends it.
pub(crate) fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    response
}

/// A 200 JSON answer.
pub(crate) fn ok(value: serde_json::Value) -> Response {
    json(StatusCode::OK, value)
}

fn routes(max_upload: usize) -> Routes {
    Routes::new()
        .route("/config", get(cluster::config))
        .route("/overview", get(cluster::overview))
        .route("/jobmanager/config", get(cluster::jobmanager_config))
        .route("/taskmanagers", get(cluster::taskmanagers))
        .route("/taskmanagers/{tmid}", get(cluster::taskmanager))
        .route("/jobs", get(jobs::list))
        .route("/jobs/overview", get(jobs::overview))
        .route("/jobs/{jobid}", get(jobs::details).patch(jobs::cancel))
        .route("/jobs/{jobid}/plan", get(jobs::plan))
        .route("/jobs/{jobid}/config", get(jobs::config))
        .route("/jobs/{jobid}/exceptions", get(jobs::exceptions))
        .route("/jobs/{jobid}/vertices/{vertexid}", get(jobs::vertex))
        .route("/jobs/{jobid}/stop", post(checkpoints::stop))
        .route("/jobs/{jobid}/upgrade", post(upgrades::upgrade))
        .route("/jobs/{jobid}/upgrade/{requestid}", get(upgrades::status))
        .route("/jobs/{jobid}/upgrades", get(upgrades::history))
        .route("/jobs/{jobid}/resource-requirements", get(resource_requirements::get).put(resource_requirements::put))
        .route("/jobs/{jobid}/savepoints", post(checkpoints::savepoint))
        .route("/jobs/{jobid}/savepoints/{triggerid}", get(checkpoints::savepoint_status))
        .route("/jobs/{jobid}/checkpoints", get(checkpoints::statistics).post(checkpoints::trigger_checkpoint))
        .route("/jobs/{jobid}/checkpoints/{triggerid}", get(checkpoints::checkpoint_status))
        .route("/jobs/{jobid}/checkpoints/config", get(checkpoints::config))
        .route("/jobs/{jobid}/checkpoints/details/{checkpointid}", get(checkpoints::details))
        .route("/savepoint-disposal", post(checkpoints::dispose))
        .route("/savepoint-disposal/{triggerid}", get(checkpoints::disposal_status))
        .route("/jars", get(jars::list))
        .route("/jars/upload", post(jars::upload).layer(DefaultBodyLimit::max(max_upload)))
        .route("/jars/{jarid}", axum::routing::delete(jars::delete))
        .route("/jars/{jarid}/plan", get(jars::plan).post(jars::plan))
        .route("/jars/{jarid}/run", post(jars::run))
        .merge(metrics::routes())
        .merge(more_routes())
}

/// The rest of Flink's GET routes: job status and results, accumulators, subtasks, logs,
/// thread dumps, environments, data sets and flame graphs.
fn more_routes() -> Routes {
    Routes::new()
        .route("/jobs/{jobid}/status", get(jobs::status))
        .route("/jobs/{jobid}/execution-result", get(jobs::execution_result))
        .route("/jobs/{jobid}/jobmanager/config", get(cluster::job_jobmanager_config))
        .route("/jobs/{jobid}/jobmanager/environment", get(cluster::job_jobmanager_environment))
        .route("/jobmanager/environment", get(cluster::jobmanager_environment))
        .route("/datasets", get(cluster::datasets))
        .route(
            "/jobs/{jobid}/checkpoints/details/{checkpointid}/subtasks/{vertexid}",
            get(checkpoints::subtask_details),
        )
        .route("/jobs/{jobid}/vertices/{vertexid}/flamegraph", get(flamegraph::flamegraph))
        .merge(accumulators::routes())
        .merge(subtasks::routes())
        .merge(logs::routes())
}

/// The REST API of `jm`, behind `token` when one is set, open to the browser origins `origins`
/// allows; fails on a malformed `rest.server.max-content-length`.
pub fn router(
    jm: Arc<JobManager>,
    token: Option<security::Token>,
    origins: security::AllowedOrigins,
) -> Result<Router, weir_config::ConfigError> {
    let (routes, _) = routes(max_upload(&jm)?).into_parts();
    let mut api = Router::new().merge(routes.clone()).nest("/v1", routes).route("/metrics", get(prometheus::metrics));
    if let Some(token) = token {
        // A route layer: unknown paths still get Flink's 404, the UI's files load without a token.
        api = api.route_layer(axum::middleware::from_fn_with_state(token, security::require_token));
    }
    let (web, _) = web::routes().into_parts();
    let router = Router::new()
        .merge(api)
        .merge(web)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(origins.clone(), security::refuse_cross_origin));
    let router = match origins.cors_layer() {
        Some(cors) => router.layer(cors),
        None => router,
    };
    Ok(router.with_state(jm))
}

/// Every path of the REST API that the token protects, as the router routes them: each of
/// Flink's routes, also under `/v1`, and `/metrics`. Path parameters stay as `{name}`.
pub fn api_paths() -> Vec<String> {
    let (_, paths) = routes(0).into_parts();
    let v1 = paths.iter().map(|p| format!("/v1{p}"));
    paths.iter().map(|p| p.to_string()).chain(v1).chain(["/metrics".to_string()]).collect()
}

/// Flink answers unknown routes and methods with 404.
async fn not_found(uri: Uri) -> Response {
    RestError::new(StatusCode::NOT_FOUND, format!("Not found: {}", uri.path())).into_response()
}

/// Runs a JobManager until `shutdown`: binds its RPC and REST ports, then [`serve`]s.
pub async fn run(jm: Arc<JobManager>, shutdown: CancelToken) -> anyhow::Result<()> {
    let rpc = tokio::net::TcpListener::bind(jm.options.rpc_bind).await?;
    let rest = tokio::net::TcpListener::bind(jm.options.rest_bind).await?;
    tracing::info!(rest = %rest.local_addr()?, rpc = %rpc.local_addr()?, "JobManager listening");
    serve(jm, rpc, rest, shutdown).await
}

/// Runs a JobManager on listeners already bound: its services on `rpc`, this REST API on `rest`
/// (with TLS and a token as `security.ssl.rest.*` and `rest.authentication.*` say).
pub async fn serve(
    jm: Arc<JobManager>,
    rpc: tokio::net::TcpListener,
    rest: tokio::net::TcpListener,
    shutdown: CancelToken,
) -> anyhow::Result<()> {
    let security = security::RestSecurity::from_config(&jm.options.config)?;
    let app = router(jm.clone(), security.token.clone(), security.origins.clone())?;
    if security.token.is_some() {
        tracing::info!("the REST API requires a bearer token (rest.authentication.token)");
    }
    weir_cluster::jobmanager::start(&jm, rpc);
    let stopped = async move {
        while !shutdown.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    match &security.tls {
        Some(tls) => {
            tracing::info!("the REST API serves HTTPS (security.ssl.rest.enabled)");
            let listener = security::TlsListener::new(rest, tls)?;
            axum::serve(listener, app).with_graceful_shutdown(stopped).await?
        }
        None => axum::serve(rest, app).with_graceful_shutdown(stopped).await?,
    }
    Ok(())
}
