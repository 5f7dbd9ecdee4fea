//! REST errors: `{"errors":[…]}` with Flink's status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use weir_cluster::jobmanager::dispatcher::DispatchError;
use weir_cluster::jobmanager::scheduler::CancelError;

/// An error answer.
#[derive(Debug)]
pub struct RestError {
    /// The HTTP status Flink answers this error with.
    pub status: StatusCode,
    /// The lines of the `errors` array, most important first.
    pub messages: Vec<String>,
}

impl RestError {
    /// An answer with `status` and one error message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        RestError { status, messages: vec![message.into()] }
    }

    /// A 400: the request itself is wrong (a malformed parameter or body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404: the job, jar, checkpoint or trigger named in the request is unknown.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Flink's answer to an unexpected failure.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        RestError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            messages: vec![
                "Internal server error.".into(),
                format!("<Exception on server side:\n{detail}\nEnd of exception on server side>"),
            ],
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        super::json(self.status, serde_json::json!({ "errors": self.messages }))
    }
}

impl From<DispatchError> for RestError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::BadRequest(m) => RestError::bad_request(m),
            DispatchError::NotFound(m) => RestError::not_found(m),
            DispatchError::Conflict(m) => RestError::new(StatusCode::CONFLICT, m),
            DispatchError::Internal(m) => RestError::internal(m),
            DispatchError::Unavailable(m) => RestError::new(StatusCode::SERVICE_UNAVAILABLE, m),
        }
    }
}

impl From<CancelError> for RestError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound(_) => RestError::not_found(e.to_string()),
            CancelError::Terminal(_) => RestError::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for RestError {
    fn from(e: tokio::task::JoinError) -> Self {
        RestError::internal(e)
    }
}
