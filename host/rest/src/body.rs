//! Request bodies as Flink reads them: JSON whatever the Content-Type, an empty body is `{}`,
//! and unknown fields are refused with Flink's message.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::RestError;

/// Bodies beyond this are refused (the upload route has its own, larger limit).
const MAX_BODY: usize = 16 << 20;

/// A request body of type `T`, named `NAME` in error messages (Flink's class names).
pub struct FlinkJson<T>(pub T);

/// Names the request body type in errors.
pub trait BodyName {
    const NAME: &'static str;
}

impl<S, T> FromRequest<S> for FlinkJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + BodyName,
{
    type Rejection = RestError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| RestError::bad_request(format!("Cannot read the request body: {e}")))?;
        if bytes.len() > MAX_BODY {
            return Err(RestError::bad_request("The request body is too large."));
        }
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(text)
            .map(FlinkJson)
            .map_err(|e| RestError::bad_request(format!("Request did not match expected format {}: {e}", T::NAME)))
    }
}
