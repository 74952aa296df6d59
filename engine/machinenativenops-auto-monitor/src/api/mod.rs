//! HTTP routes: the dashboard (`/`), `/metrics`, `/health`, `/ready`, the query API, the
//! alert API, and the OpenAPI document (`/openapi.json`) with Swagger UI (`/docs`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::agent::SnapshotRx;

pub mod dashboard;
pub mod openapi;
pub mod query;
mod tsdb;
use crate::exposition::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wants_openmetrics};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Latest tick.
    pub snapshots: SnapshotRx,
    /// When the process started serving.
    pub started: Instant,
    /// The local time-series store (`None` when it is not open, e.g. in unit tests).
    pub store: Option<Arc<crate::store::Store>>,
    /// The alert engine; its routes and the dashboard's alert tables (`None` in unit tests).
    pub alerts: Option<crate::alerts::Engine>,
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    // The PromQL API reads the store through mno_promql's Storage trait.
    let query_storage = state
        .store
        .clone()
        .map(|s| s as Arc<dyn mno_promql::Storage>);
    let alerts = state.alerts.clone();
    let mut app = Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/api/v1/status/tsdb", get(tsdb::status))
        .fallback(not_found)
        .with_state(Arc::new(state))
        .merge(query::routes_optional(query_storage))
        .merge(openapi::docs_router());
    if let Some(engine) = alerts {
        app = app.merge(crate::alerts::api::router(engine));
    }
    app
}

/// A JSON error body `{error, detail}` with a status.
pub fn error(status: StatusCode, error: &str, detail: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": error, "detail": detail.into() })),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}

/// The latest tick in the Prometheus text format (or OpenMetrics when asked; gzip when accepted).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    operation_id = "metrics",
    params(
        ("Accept" = Option<String>, Header, description = "`application/openmetrics-text` selects OpenMetrics 1.0"),
        ("Accept-Encoding" = Option<String>, Header, description = "`gzip` compresses the body"),
    ),
    responses(
        (status = 200, description = "Exposition text", content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )),
        (status = 503, description = "The first collection has not finished", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn metrics(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(snap) = st.snapshots.borrow().clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the first collection has not finished yet",
        );
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let r = &snap.rendered;
    let (ctype, body) = match (wants_openmetrics(accept), gzip) {
        (true, true) => (OPENMETRICS_CONTENT_TYPE, r.openmetrics_gz.clone()),
        (true, false) => (OPENMETRICS_CONTENT_TYPE, r.openmetrics.clone()),
        (false, true) => (TEXT_CONTENT_TYPE, r.text_gz.clone()),
        (false, false) => (TEXT_CONTENT_TYPE, r.text.clone()),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// Whether an `Accept-Encoding` header accepts gzip (and does not refuse it with q=0).
fn accepts_gzip(v: &str) -> bool {
    v.split(',').any(|part| {
        let mut it = part.split(';');
        let enc = it.next().unwrap_or("").trim();
        enc.eq_ignore_ascii_case("gzip")
            && !it.any(|p| {
                let p = p.trim();
                p.starts_with("q=") && p[2..].parse::<f32>().map(|q| q == 0.0).unwrap_or(false)
            })
    })
}

/// Liveness: always 200 while the process serves.
#[utoipa::path(
    get,
    path = "/health",
    tag = "metrics",
    operation_id = "health",
    responses((status = 200, description = "Alive", body = openapi::Health))
)]
pub(crate) async fn health(State(st): State<Arc<AppState>>) -> impl IntoResponse {
    Json(json!({
        "status": "ok",
        "service": "machinenativenops-auto-monitor",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": st.started.elapsed().as_secs_f64(),
    }))
}

/// Readiness: 200 once the first collection has finished.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "metrics",
    operation_id = "ready",
    responses(
        (status = 200, description = "Ready", body = openapi::Ready),
        (status = 503, description = "The first collection has not finished", body = openapi::NotReady),
    )
)]
pub(crate) async fn ready(State(st): State<Arc<AppState>>) -> Response {
    let snap = st.snapshots.borrow().clone();
    match snap {
        Some(s) => {
            let at = s
                .batch
                .collected_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            Json(json!({ "status": "ready", "last_collection": at })).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "error": "not_ready",
                "detail": "the first collection has not finished yet",
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Snapshot;
    use crate::exposition::Rendered;
    use crate::metrics::{Batch, Family};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status_of(app: &Router, path: &str) -> StatusCode {
        let req = Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn ready_and_metrics_are_503_until_the_first_batch() {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let app = router(AppState {
            snapshots: rx,
            started: Instant::now(),
            store: None,
            alerts: None,
        });
        assert_eq!(
            status_of(&app, "/ready").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&app, "/metrics").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status_of(&app, "/health").await, StatusCode::OK);
        let batch = Arc::new(Batch {
            collected_at: std::time::SystemTime::now(),
            families: vec![Family::gauge("x", "y").with(&[], 1.0)],
        });
        let rendered = Rendered::new(&batch);
        tx.send_replace(Some(Arc::new(Snapshot { batch, rendered })));
        assert_eq!(status_of(&app, "/ready").await, StatusCode::OK);
        assert_eq!(status_of(&app, "/metrics").await, StatusCode::OK);
        assert_eq!(status_of(&app, "/missing").await, StatusCode::NOT_FOUND);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("br, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
