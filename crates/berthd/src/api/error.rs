use crate::engine::EngineError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::ErrorResponse;
use berth_net::{ErrorKind, NetError};

/// An error as the Docker API returns it: a status code and `{"message": …}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    // No route of this branch answers 500 itself since inspect encodes typed; routes on
    // other branches (system df) do.
    #[allow(dead_code)]
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

/// The one mapping from an error's kind to Docker's status code.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// An error of any layer, by its kind; a server error is logged with its causes.
    pub fn from_error(kind: ErrorKind, e: &(dyn std::error::Error + 'static)) -> Self {
        let status = status_of(kind);
        if status.is_server_error() {
            let mut causes = String::new();
            let mut next = e.source();
            while let Some(c) = next {
                causes.push_str(": ");
                causes.push_str(&c.to_string());
                next = c.source();
            }
            tracing::error!(error = %e, causes = %causes, "request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        ApiError::from_error(e.kind(), &e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::from_error(e.kind(), &e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), message = %self.message, "request refused");
        (
            self.status,
            Json(ErrorResponse {
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// Rewrites an error response whose body is not JSON into `{"message": …}`, keeping its
/// status; the text becomes the message (or the status's reason when there is none).
pub async fn json_error_body(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    // Refusals are a line of text; a bound keeps a misbehaving handler from costing memory.
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body too large: {text}")
    } else {
        text
    };
    ApiError { status, message }.into_response()
}
