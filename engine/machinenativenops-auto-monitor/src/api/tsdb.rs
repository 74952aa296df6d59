//! `GET /api/v1/status/tsdb`: what the local store holds, in Prometheus' envelope.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::AppState;

/// A Prometheus-style error body `{status, errorType, error}`.
fn prom_error(status: StatusCode, kind: &str, msg: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"status": "error", "errorType": kind, "error": msg.into()})),
    )
        .into_response()
}

/// Store statistics: series, samples, bytes on disk and per sample, oldest and newest times.
#[utoipa::path(
    get,
    path = "/api/v1/status/tsdb",
    tag = "query",
    operation_id = "tsdb_status",
    responses(
        (status = 200, description = "Store statistics in Prometheus' envelope", body = super::openapi::PromSuccess),
        (status = 500, description = "The store failed", body = super::openapi::PromError),
        (status = 503, description = "No store is open", body = super::openapi::PromError),
    )
)]
pub async fn status(State(st): State<Arc<AppState>>) -> Response {
    let Some(store) = st.store.clone() else {
        return prom_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the local store is not open",
        );
    };
    match tokio::task::spawn_blocking(move || store.tsdb_status()).await {
        Ok(Ok(data)) => Json(json!({"status": "success", "data": data})).into_response(),
        Ok(Err(e)) => prom_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        Err(e) => prom_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
