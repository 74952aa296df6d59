//! Extractors whose rejections are JSON errors, never axum's plain-text ones.
//!
//! A request body is read here rather than by axum's `Json`: the content type must be JSON,
//! the size is limited by `max_body_bytes` (413), and a syntax or type error names the field
//! path, the line and the column. A body over the limit is read to its end (up to a bound)
//! before the 413 goes out: closing a connection with unread data makes the kernel reset
//! it, and the client would see "connection reset" instead of the JSON answer.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::App;
use super::error::ApiError;

/// Past the limit, read (and drop) at most this much more before answering 413.
const DRAIN_MAX: u64 = 64 << 20;
/// The whole body must arrive within this time.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON request body deserialized into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, app.max_body_bytes).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Check the content type and read the body within `limit` bytes.
pub async fn json_bytes(req: Request, limit: u64) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        let got = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the body as JSON with Content-Type: application/json (got {got})"),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than max_body_bytes ({limit} bytes)"),
        )
        .with("max_body_bytes", limit)
    };
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_MAX)) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, read_limited(req.into_body(), limit)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {}s",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(e)) => Err(ApiError::bad_request(
            "body_unreadable",
            format!("cannot read the request body: {e}"),
        )),
        Ok(Ok(None)) => Err(too_large()),
        Ok(Ok(Some(b))) => Ok(b),
    }
}

/// The body, or `None` when it passed `limit` (then read on, up to `DRAIN_MAX`, and dropped).
async fn read_limited(mut body: Body, limit: u64) -> Result<Option<Bytes>, axum::Error> {
    let mut buf: Vec<u8> = Vec::new();
    let mut seen: u64 = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > limit {
            buf = Vec::new();
            if seen > limit.saturating_add(DRAIN_MAX) {
                break;
            }
        } else {
            buf.extend_from_slice(&data);
        }
    }
    Ok((seen <= limit).then(|| Bytes::from(buf)))
}

/// Whether the content type is JSON (`application/json`, `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialize `bytes` as JSON into `T`; errors name the field path, line and column.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, e.inner())
    })?;
    de.end().map_err(|e| json_error("", &e))?;
    Ok(value)
}

/// Deserialize an already parsed value (a payload) into `T`; errors name `prefix.path`.
pub fn from_value<T: DeserializeOwned>(prefix: &str, v: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let full = if path == "." || path.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{path}")
            };
            json_error(&full, e.inner())
        },
    )
}

/// The ApiError for a serde_json error found at `path`.
fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    // serde_json appends " at line L column C"; say it our way.
    let msg = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let at = if e.line() > 0 {
        format!(" (line {}, column {})", e.line(), e.column())
    } else {
        String::new()
    };
    let path = if path == "." { "" } else { path };
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {msg}{at}"),
        )
        .with("line", e.line())
        .with("column", e.column()),
        Category::Data => {
            let missing = msg
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'));
            let (code, field) = match missing {
                Some(name) if path.is_empty() => ("missing_field", name.to_string()),
                Some(name) => ("missing_field", format!("{path}.{name}")),
                None => ("invalid_field", path.to_string()),
            };
            let detail = match missing {
                Some(_) => format!("{field}: required field is missing{at}"),
                None if field.is_empty() => format!("{msg}{at}"),
                None => format!("{field}: {msg}{at}"),
            };
            let mut err = ApiError::bad_request(code, detail).with("field", field);
            if e.line() > 0 {
                err = err.with("line", e.line()).with("column", e.column());
            }
            err
        }
    }
}

/// Query parameters deserialized into `T`; a bad one is a JSON 400.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Path parameters deserialized into `T`; a bad one is a JSON 400.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Envelope;

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = parse_json::<Envelope>(b"{\n  \"meta\": {,\n}").unwrap_err();
        assert_eq!(err.code, "invalid_json");
        assert!(err.detail.contains("line 2, column"), "{}", err.detail);
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        let err = parse_json::<Envelope>(
            br#"{"meta": {"source_agent": "ci", "message_type": "IncidentSignal"}, "payload": {}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code, "missing_field");
        assert_eq!(err.extra["field"], "meta.trace_id");
        assert!(
            err.detail.starts_with("meta.trace_id: required"),
            "{}",
            err.detail
        );
        let err = from_value::<crate::messages::GateValidationRequest>(
            "payload",
            serde_json::json!({"metadata": {"pr_number": "x"}}),
        )
        .unwrap_err();
        assert_eq!(err.extra["field"], "payload.metadata.pr_number");
    }

    #[test]
    fn trailing_garbage_is_a_syntax_error() {
        let err = parse_json::<serde_json::Value>(b"{} x").unwrap_err();
        assert_eq!(err.code, "invalid_json");
    }
}
