//! The OpenAPI 3.1 document of the Auto-Monitor (`GET /openapi.json`) and Swagger UI at
//! `/docs`, every asset compiled into the binary.
//!
//! The document is generated from the `#[utoipa::path]` attribute on each handler. To add a
//! route: annotate its handler and name it in [`ApiDoc`]'s `paths(...)` list (docs/api.md).
//! `tests/openapi.rs` fails when a `.route(...)` in `src/` is missing from the document.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// `{error, detail}`: the body of every error outside the Prometheus-compatible routes.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable snake_case code (`not_found`, `not_ready`, `bad_request`, …).
    pub error: String,
    /// What went wrong, for people.
    pub detail: String,
}

/// Prometheus' success envelope `{status: "success", data}`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct PromSuccess {
    /// Always `success`.
    #[schema(pattern = "^success$")]
    pub status: String,
    /// The answer; its shape depends on the route (Prometheus HTTP API).
    pub data: serde_json::Value,
}

/// Prometheus' error envelope `{status: "error", errorType, error}`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct PromError {
    /// Always `error`.
    #[schema(pattern = "^error$")]
    pub status: String,
    /// `bad_data`, `execution`, `timeout`, `internal`, `unavailable`, …
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// The message.
    pub error: String,
}

/// The answers every Prometheus query route gives (`responses(PromResponses)` on each).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum PromResponses {
    /// Prometheus success envelope
    #[response(status = 200)]
    Success(PromSuccess),
    /// A parameter is missing or invalid (`bad_data`)
    #[response(status = 400)]
    BadData(PromError),
    /// The expression could not be evaluated (`execution`)
    #[response(status = 422)]
    Execution(PromError),
    /// No store, or the query timed out
    #[response(status = 503)]
    Unavailable(PromError),
}

/// Errors of the alert API: Prometheus' envelope plus `detail`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct AlertError {
    /// Always `error`.
    #[schema(pattern = "^error$")]
    pub status: String,
    /// `bad_data`, `unauthorized`, `not_found`, `bad_config`, `internal`.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// The same code as `errorType`.
    pub error: String,
    /// What went wrong, for people.
    pub detail: String,
}

/// `GET /health`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// `machinenativenops-auto-monitor`.
    pub service: String,
    /// Version of the binary.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
}

/// `GET /ready` once the first collection has finished.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// Unix time of the last collection tick.
    pub last_collection: f64,
}

/// `GET /ready` before the first collection.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct NotReady {
    /// `not_ready`.
    pub status: String,
    /// `not_ready`.
    pub error: String,
    /// Why.
    pub detail: String,
}

/// Every documented route; adding a route means one line in `paths(...)`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MachineNativeOps Auto-Monitor",
        description = "Host monitoring agent: Prometheus /metrics, a local time-series store with \
                       the Prometheus query API, threshold alerting and a dashboard.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::dashboard::dashboard,
        super::metrics,
        super::health,
        super::ready,
        openapi_json,
        super::tsdb::status,
        super::query::query,
        super::query::query_post,
        super::query::query_range,
        super::query::query_range_post,
        super::query::series,
        super::query::series_post,
        super::query::label_names,
        super::query::label_names_post,
        super::query::label_values,
        super::query::metadata,
        super::query::exemplars,
        super::query::exemplars_post,
        super::query::buildinfo,
        crate::alerts::api::alerts,
        crate::alerts::api::rules,
        crate::alerts::api::history,
        crate::alerts::api::list_silences,
        crate::alerts::api::add_silence,
        crate::alerts::api::expire_silence,
        crate::alerts::api::reload,
    ),
    components(schemas(ErrorBody, PromSuccess, PromError, AlertError, Health, Ready, NotReady)),
    modifiers(&BearerAuth),
    tags(
        (name = "ui", description = "Dashboard and this document"),
        (name = "metrics", description = "Prometheus exposition, liveness and readiness"),
        (name = "query", description = "Prometheus HTTP API over the local store"),
        (name = "alerts", description = "Alert state, rules, history and silences"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token scheme that state-changing alert routes use.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, with this binary's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ui",
    operation_id = "openapi",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    // Rendered once: the document is fixed for the life of the binary.
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = JSON.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".into()));
    let mut resp = body.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Swagger UI at `/docs` (assets from the binary), reading `/openapi.json`.
pub fn docs_router() -> Router {
    let config = Config::new(["/openapi.json"])
        .validator_url("none")
        .try_it_out_enabled(true);
    SwaggerUi::new("/docs").config(config).into()
}
