//! The REST client the `flink` command talks to the JobManager with: the endpoints of Flink's
//! REST API the CLI needs, over plain blocking HTTP.
//!
//! Flink's own CLI submits a serialized `JobGraph`; Weir's jobs are components that the
//! JobManager plans itself, so `run` and `info` go through the web UI's jar endpoints
//! (`/jars/upload`, `/jars/:id/run`, `/jars/:id/plan`) instead.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Failure, class};
use super::format::JobStatusMessage;

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No connection to the REST endpoint.
    #[error("{detail}: {endpoint}")]
    Connect {
        /// `host:port`.
        endpoint: String,
        /// What went wrong (`Connection refused`, ...).
        detail: String,
    },
    /// The server answered with an error: Flink's `{"errors": [...]}`.
    #[error("[{}]", .errors.join(", "))]
    Server {
        /// The HTTP status.
        status: u16,
        /// The messages.
        errors: Vec<String>,
    },
    /// The answer is not what the endpoint returns.
    #[error("{0}")]
    Response(String),
    /// The file to upload could not be read.
    #[error("Could not read {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RestError {
    /// The exception Flink's client would report for this.
    pub fn to_failure(&self) -> Failure {
        match self {
            RestError::Connect { .. } => Failure::new(class::CONNECT_EXCEPTION, self.to_string()),
            RestError::Server { .. } | RestError::Response(_) => {
                Failure::new(class::REST_CLIENT_EXCEPTION, self.to_string())
            }
            RestError::ReadFile { .. } => Failure::new("java.io.IOException", self.to_string()),
        }
    }
}

/// The body of `POST /jobs/:id/upgrade`; unset fields are left out.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRequest {
    /// The uploaded jar holding the new component.
    pub jar_id: String,
    /// The new program arguments; `None` keeps the job's current ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_args_list: Option<Vec<String>>,
    /// Limit an in-place swap to these operators (uids); empty: every changed operator.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
    /// Redeploy even if operators with state are dropped (Flink's `--allowNonRestoredState`).
    pub allow_non_restored_state: bool,
    /// Only plan the upgrade and say what it would do.
    pub dry_run: bool,
}

/// The body of `POST /jars/:id/run`; unset fields are left out so the server's defaults apply.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    /// The program arguments, unchanged.
    pub program_args_list: Vec<String>,
    /// `-p`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// `-s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    /// `-n` (sent with `-s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    /// `-c`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// `-rm` (sent with `-s`): `CLAIM`, `NO_CLAIM` or `LEGACY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_mode: Option<String>,
}

/// What `GET /jobs/:id` tells the attached `run`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct JobDetails {
    /// The job status.
    pub state: String,
    /// Milliseconds the job ran (to its end once it ended).
    #[serde(default)]
    pub duration: i64,
}

/// The state of an asynchronous operation (savepoint, stop-with-savepoint, disposal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Still running.
    InProgress,
    /// Done; a savepoint's location.
    Completed(Option<String>),
    /// Done, and failed.
    Failed(Failure),
}

/// A blocking client for one JobManager's REST endpoint.
pub struct RestClient {
    base: String,
    endpoint: String,
    agent: ureq::Agent,
    /// The `Authorization` header's value, when the cluster wants a token.
    authorization: Option<String>,
}

/// How the CLI reaches a secured REST API: HTTPS trusting `trusted`'s certificates, and a token.
#[derive(Default)]
pub struct ClientSecurity {
    /// With TLS: the CA certificates (DER) the server's certificate must chain to.
    pub trusted: Option<Vec<Vec<u8>>>,
    /// The bearer token to send.
    pub token: Option<String>,
}

/// Flink's `rest.client.max-content-length` default.
const MAX_CONTENT_LENGTH: u64 = 100 * 1024 * 1024;

impl RestClient {
    /// A client for `http://host:port`.
    pub fn new(host: &str, port: u16) -> Self {
        Self::secured(host, port, ClientSecurity::default())
    }

    /// A client for `host:port` over HTTPS when `security.trusted` is set, sending its token.
    pub fn secured(host: &str, port: u16, security: ClientSecurity) -> Self {
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
        let endpoint = format!("{host}:{port}");
        let scheme = if security.trusted.is_some() { "https" } else { "http" };
        let mut config = ureq::Agent::config_builder();
        if let Some(trusted) = security.trusted {
            let certificates: Vec<_> =
                trusted.iter().map(|der| ureq::tls::Certificate::from_der(der).to_owned()).collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certificates))
                    .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                    .build(),
            );
        }
        let config = config
            // Error answers carry Flink's `{"errors": [...]}`, which we want to read.
            .http_status_as_error(false)
            // Flink's REST client ignores proxy variables; a proxy would not reach a local cluster.
            .proxy(None)
            // Flink's `rest.connection-timeout` and `rest.idleness-timeout` defaults.
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .build();
        RestClient {
            base: format!("{scheme}://{endpoint}"),
            endpoint,
            agent: config.into(),
            authorization: security.token.map(|t| format!("Bearer {t}")),
        }
    }

    /// `host:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `POST /jars/upload` of `path` as the multipart field `jarfile`; returns the jar id.
    pub fn upload_jar(&self, path: &Path) -> Result<String, RestError> {
        let bytes =
            std::fs::read(path).map_err(|source| RestError::ReadFile { path: path.display().to_string(), source })?;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let boundary = format!("----WeirFormBoundary{:032x}", rand::random::<u128>());
        let body = multipart_body(&boundary, "jarfile", &file_name, &bytes);
        #[derive(Deserialize)]
        struct Uploaded {
            filename: String,
        }
        let uploaded: Uploaded = self.json(
            Method::Post,
            "/jars/upload",
            Some((&format!("multipart/form-data; boundary={boundary}"), body)),
        )?;
        // The jar id is the last path component of where the server stored the file.
        let id = uploaded.filename.rsplit(['/', '\\']).next().unwrap_or_default();
        if id.is_empty() {
            return Err(RestError::Response(format!("The upload answer names no file: {:?}", uploaded.filename)));
        }
        Ok(id.to_string())
    }

    /// `POST /jars/:id/run`; returns the job id.
    pub fn run_jar(&self, jar_id: &str, request: &RunRequest) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Submitted {
            jobid: String,
        }
        let submitted: Submitted = self.post_json(&format!("/jars/{}/run", segment(jar_id)), request)?;
        Ok(submitted.jobid)
    }

    /// `GET /jobs/overview`.
    pub fn jobs_overview(&self) -> Result<Vec<JobStatusMessage>, RestError> {
        #[derive(Deserialize)]
        struct Overview {
            jobs: Vec<JobStatusMessage>,
        }
        Ok(self.json::<Overview>(Method::Get, "/jobs/overview", None)?.jobs)
    }

    /// `GET /jobs/:id`.
    pub fn job_details(&self, job_id: &str) -> Result<JobDetails, RestError> {
        self.json(Method::Get, &format!("/jobs/{job_id}"), None)
    }

    /// `GET /jobs/:id/status`: the job's status (`RUNNING`, `FINISHED`, ...).
    pub fn job_status(&self, job_id: &str) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Status {
            status: String,
        }
        Ok(self.json::<Status>(Method::Get, &format!("/jobs/{job_id}/status"), None)?.status)
    }

    /// The root exception of `GET /jobs/:id/exceptions`, if the job has one.
    pub fn root_exception(&self, job_id: &str) -> Result<Option<String>, RestError> {
        #[derive(Deserialize)]
        struct Exceptions {
            #[serde(rename = "root-exception")]
            root_exception: Option<String>,
        }
        Ok(self.json::<Exceptions>(Method::Get, &format!("/jobs/{job_id}/exceptions"), None)?.root_exception)
    }

    /// `PATCH /jobs/:id?mode=cancel`.
    pub fn cancel(&self, job_id: &str) -> Result<(), RestError> {
        self.json::<serde::de::IgnoredAny>(Method::Patch, &format!("/jobs/{job_id}?mode=cancel"), None).map(drop)
    }

    /// `POST /jobs/:id/stop`; returns the trigger id.
    pub fn stop_with_savepoint(
        &self,
        job_id: &str,
        drain: bool,
        target_directory: Option<&str>,
        format_type: Option<&str>,
    ) -> Result<String, RestError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Stop<'a> {
            drain: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            target_directory: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            format_type: Option<&'a str>,
        }
        let body = Stop { drain, target_directory, format_type };
        self.trigger(&format!("/jobs/{job_id}/stop"), &body)
    }

    /// `POST /jobs/:id/savepoints`; returns the trigger id.
    pub fn trigger_savepoint(
        &self,
        job_id: &str,
        target_directory: Option<&str>,
        cancel_job: bool,
        format_type: Option<&str>,
    ) -> Result<String, RestError> {
        #[derive(Serialize)]
        struct Trigger<'a> {
            #[serde(rename = "target-directory", skip_serializing_if = "Option::is_none")]
            target_directory: Option<&'a str>,
            #[serde(rename = "cancel-job")]
            cancel_job: bool,
            #[serde(rename = "formatType", skip_serializing_if = "Option::is_none")]
            format_type: Option<&'a str>,
        }
        let body = Trigger { target_directory, cancel_job, format_type };
        self.trigger(&format!("/jobs/{job_id}/savepoints"), &body)
    }

    /// `GET /jobs/:id/savepoints/:trigger` (also for stop-with-savepoint).
    pub fn savepoint_status(&self, job_id: &str, trigger_id: &str) -> Result<Operation, RestError> {
        self.operation(&format!("/jobs/{job_id}/savepoints/{}", segment(trigger_id)))
    }

    /// `POST /jobs/:id/upgrade` (Weir's own): the request id, or a dry run's answer.
    pub fn upgrade(&self, job_id: &str, request: &UpgradeRequest) -> Result<serde_json::Value, RestError> {
        self.post_json(&format!("/jobs/{job_id}/upgrade"), request)
    }

    /// `PUT /jobs/:id/resource-requirements` (Flink 1.18+): sets each vertex's parallelism
    /// bounds, `(vertex id, lower, upper)`, which rescales the job.
    pub fn set_resource_requirements(&self, job_id: &str, bounds: &[(String, u32, u32)]) -> Result<(), RestError> {
        let body: serde_json::Map<String, serde_json::Value> = bounds
            .iter()
            .map(|(vertex, lower, upper)| {
                (vertex.clone(), serde_json::json!({"parallelism": {"lowerBound": lower, "upperBound": upper}}))
            })
            .collect();
        let bytes = serde_json::to_vec(&body).map_err(|e| RestError::Response(e.to_string()))?;
        let path = format!("/jobs/{job_id}/resource-requirements");
        self.json::<serde_json::Value>(Method::Put, &path, Some(("application/json", bytes))).map(|_| ())
    }

    /// `GET /jobs/:id/upgrade/:requestid`.
    pub fn upgrade_status(&self, job_id: &str, request_id: &str) -> Result<serde_json::Value, RestError> {
        self.json(Method::Get, &format!("/jobs/{job_id}/upgrade/{}", segment(request_id)), None)
    }

    /// `GET` of any REST path, its JSON answer as it came (for monitoring routes this client has
    /// no typed call for).
    pub fn get(&self, path: &str) -> Result<serde_json::Value, RestError> {
        self.json(Method::Get, path, None)
    }

    /// `POST /savepoint-disposal`; returns the trigger id.
    pub fn dispose_savepoint(&self, savepoint_path: &str) -> Result<String, RestError> {
        #[derive(Serialize)]
        struct Dispose<'a> {
            #[serde(rename = "savepoint-path")]
            savepoint_path: &'a str,
        }
        self.trigger("/savepoint-disposal", &Dispose { savepoint_path })
    }

    /// `GET /savepoint-disposal/:trigger`.
    pub fn disposal_status(&self, trigger_id: &str) -> Result<Operation, RestError> {
        self.operation(&format!("/savepoint-disposal/{}", segment(trigger_id)))
    }

    fn trigger(&self, path: &str, body: &impl Serialize) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Triggered {
            #[serde(rename = "request-id")]
            request_id: String,
        }
        Ok(self.post_json::<Triggered>(path, body)?.request_id)
    }

    fn operation(&self, path: &str) -> Result<Operation, RestError> {
        #[derive(Deserialize)]
        struct Status {
            id: String,
        }
        #[derive(Deserialize)]
        struct Info {
            location: Option<String>,
            #[serde(rename = "failure-cause")]
            failure_cause: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Answer {
            status: Status,
            operation: Option<Info>,
        }
        let answer: Answer = self.json(Method::Get, path, None)?;
        if answer.status.id != "COMPLETED" {
            return Ok(Operation::InProgress);
        }
        let info = answer.operation.unwrap_or(Info { location: None, failure_cause: None });
        Ok(match info.failure_cause {
            Some(cause) => Operation::Failed(failure_from_serialized(&cause)),
            None => Operation::Completed(info.location),
        })
    }

    fn post_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, RestError> {
        let bytes = serde_json::to_vec(body).map_err(|e| RestError::Response(e.to_string()))?;
        self.json(Method::Post, path, Some(("application/json", bytes)))
    }

    /// Sends a request and reads the JSON answer, or the error the server sent instead.
    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<T, RestError> {
        let url = format!("{}{path}", self.base);
        let authorization = self.authorization.as_deref();
        let result = match (method, body) {
            (Method::Get, _) => authorize(self.agent.get(&url), authorization).call(),
            (Method::Post, Some((content_type, bytes))) => {
                authorize(self.agent.post(&url), authorization).header("Content-Type", content_type).send(&bytes[..])
            }
            (Method::Post, None) => authorize(self.agent.post(&url), authorization).send_empty(),
            (Method::Patch, _) => authorize(self.agent.patch(&url), authorization).send_empty(),
            (Method::Put, Some((content_type, bytes))) => {
                authorize(self.agent.put(&url), authorization).header("Content-Type", content_type).send(&bytes[..])
            }
            (Method::Put, None) => authorize(self.agent.put(&url), authorization).send_empty(),
        };
        let mut response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_CONTENT_LENGTH)
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        if status >= 400 {
            return Err(server_error(status, &text));
        }
        // Flink answers 202 with `{}` or nothing at all to some triggers.
        let text = if text.trim().is_empty() { "{}" } else { &text };
        serde_json::from_str(text).map_err(|e| {
            RestError::Response(format!("Response was neither of the expected type nor an error: {e}: {text}"))
        })
    }

    fn transport_error(&self, error: ureq::Error) -> RestError {
        let detail = match &error {
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "Connection refused".to_string(),
            ureq::Error::HostNotFound => "Unknown host".to_string(),
            ureq::Error::ConnectionFailed => "Connection failed".to_string(),
            ureq::Error::Io(e) => e.to_string(),
            ureq::Error::Timeout(t) => format!("Timeout ({t})"),
            other => return RestError::Response(other.to_string()),
        };
        RestError::Connect { endpoint: self.endpoint.clone(), detail }
    }
}

/// Adds the `Authorization` header when there is one.
fn authorize<B>(request: ureq::RequestBuilder<B>, authorization: Option<&str>) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(value) => request.header("Authorization", value),
        None => request,
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Put,
}

/// The error of an error answer: Flink's `{"errors": [...]}`, else the body itself.
fn server_error(status: u16, text: &str) -> RestError {
    #[derive(Deserialize)]
    struct ErrorBody {
        errors: Vec<String>,
    }
    let errors = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => body.errors,
        Err(_) if text.trim().is_empty() => vec![format!("HTTP {status}")],
        Err(_) => vec![text.trim().to_string()],
    };
    RestError::Server { status, errors }
}

/// A `SerializedThrowable` (`{"class", "stack-trace", ...}`) as the exception it stands for.
fn failure_from_serialized(cause: &serde_json::Value) -> Failure {
    let field = |name: &str| cause.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    match (field("stack-trace"), field("class"), field("message")) {
        (Some(trace), _, _) => Failure::raw(trace.trim_end()),
        (None, Some(class), Some(message)) => Failure::new(class, message),
        (None, Some(class), None) => Failure::bare(class),
        (None, None, Some(message)) => Failure::raw(message),
        (None, None, None) => Failure::raw(cause.to_string()),
    }
}

/// A multipart/form-data body with one file part, as `curl -F name=@file` sends it.
/// The boundary is 128 random bits, so it cannot plausibly occur in the file.
fn multipart_body(boundary: &str, field: &str, file_name: &str, content: &[u8]) -> Vec<u8> {
    // Quotes and line breaks would end the header value; browsers percent-encode them.
    let file_name = file_name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A");
    let mut body = Vec::with_capacity(content.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Percent-encodes a path segment (jar ids carry the uploaded file's name).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let body = multipart_body("B", "jarfile", "my \"job\".wasm", b"\0asm");
        assert_eq!(
            body,
            b"--B\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"my %22job%22.wasm\"\r\nContent-Type: application/octet-stream\r\n\r\n\0asm\r\n--B--\r\n"
        );
        let run =
            RunRequest { program_args_list: vec!["--event-time".into()], parallelism: Some(2), ..Default::default() };
        assert_eq!(
            serde_json::to_string(&run).ok().as_deref(),
            Some(r#"{"programArgsList":["--event-time"],"parallelism":2}"#)
        );
        assert_eq!(segment("1f_my job.wasm"), "1f_my%20job.wasm");
    }

    #[test]
    fn errors() {
        match server_error(404, r#"{"errors":["Job could not be found."]}"#) {
            RestError::Server { status: 404, errors } => assert_eq!(errors, ["Job could not be found."]),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(server_error(500, "").to_string(), "[HTTP 500]");
        let cause =
            serde_json::json!({"class": "java.lang.Exception", "stack-trace": "java.lang.Exception: boom\n\tat x\n"});
        assert_eq!(failure_from_serialized(&cause).to_string(), "java.lang.Exception: boom\n\tat x");
    }
}
