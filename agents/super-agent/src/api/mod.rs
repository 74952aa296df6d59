//! HTTP routes of `super-agent serve`.
//!
//! | route | what |
//! |---|---|
//! | `POST /message` | an envelope, dispatched by `meta.message_type` (token) |
//! | `POST /api/v1/gates` | a GateValidationRequest payload as a job (token) |
//! | `GET /api/v1/gates[/{id}[/reports/{file}]]` | jobs, one job, its report files |
//! | `GET /incidents` | recorded incidents (firing/resolved), newest first |
//! | `GET /incidents/{id}` | one incident with its state |
//! | `GET /health`, `/ready`, `/metrics` | liveness, readiness (handlers), Prometheus text |
//! | `GET /ui`, `/ui/gates/{id}` | the web page: runs and incidents; one run's report ([`ui`]) |
//! | `GET /openapi.json`, `/docs` | the OpenAPI 3.1 document and Swagger UI ([`openapi`]) |
//!
//! Every error is JSON ([`error::ApiError`]); axum's own rejections are replaced by the
//! extractors in [`extract`].

pub mod error;
pub mod extract;
pub mod openapi;
pub mod ui;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use mno_common::server::constant_time_eq;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gate_handler;
use crate::handlers::Registry;
use crate::jobs::Jobs;
use crate::messages::{Envelope, GateValidationRequest, MessageReply, MessageType};
use crate::metrics::Metrics;
use crate::state::StateStore;
use error::ApiError;
use extract::{PathParams, QueryParams, parse_json};

/// What the routes share.
pub struct App {
    /// Bearer token for POSTs, when set.
    pub token: Option<String>,
    /// Largest accepted body.
    pub max_body_bytes: u64,
    /// How long `wait=true` waits.
    pub wait_timeout: Duration,
    /// Canonical allowed roots.
    pub allowed_roots: Vec<PathBuf>,
    /// Jobs and incidents.
    pub store: Arc<dyn StateStore>,
    /// The gate job manager.
    pub jobs: Arc<Jobs>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Message handlers.
    pub registry: Registry,
    /// When serving began.
    pub started: Instant,
}

/// The router with every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(ui::page))
        .route("/ui/gates/{validation_id}", get(ui::gate_page))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/message", axum::routing::post(message))
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/api/v1/gates", get(list_gates).post(post_gate))
        .route("/api/v1/gates/{validation_id}", get(get_gate))
        .route(
            "/api/v1/gates/{validation_id}/reports/{file}",
            get(get_report),
        )
        .merge(openapi::docs_router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// Proof that the request carries the bearer token (or that none is configured).
///
/// An extractor, listed before the body in a handler's arguments, so an unauthorized
/// request is answered before its body is read.
pub struct Authorized;

impl FromRequestParts<Arc<App>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Some(token) = &app.token else {
            return Ok(Authorized);
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match given {
            Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(Authorized),
            Some(_) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong bearer token",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server requires Authorization: Bearer <token> (token / MNO_AGENT_TOKEN) on POST requests",
            )),
        }
    }
}

/// A JSON body's bytes (content type and size checked), parsed by the handler itself so that
/// a rejected message is counted.
struct JsonBytes(Bytes);

impl FromRequest<Arc<App>> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        extract::json_bytes(req, app.max_body_bytes)
            .await
            .map(JsonBytes)
    }
}

/// `?wait=true|false`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    wait: Option<bool>,
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// What this service is and where its routes are.
#[utoipa::path(
    get,
    path = "/",
    tag = "service",
    operation_id = "index",
    responses((status = 200, description = "Service name, version, endpoints, message types", body = Object))
)]
async fn index() -> Json<Value> {
    Json(json!({
        "service": "super-agent",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": [
            "POST /message", "POST /api/v1/gates", "GET /api/v1/gates",
            "GET /api/v1/gates/{validation_id}", "GET /api/v1/gates/{validation_id}/reports/{file}",
            "GET /incidents", "GET /incidents/{id}", "GET /health", "GET /ready", "GET /metrics",
            "GET /ui", "GET /ui/gates/{validation_id}", "GET /openapi.json", "GET /docs"
        ],
        "message_types": MessageType::known_names(),
    }))
}

/// Liveness.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    operation_id = "health",
    responses((status = 200, description = "Alive", body = openapi::Health))
)]
async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "service": "super-agent",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs_f64(),
    }))
}

/// Readiness: handlers, state store, gate slots.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "service",
    operation_id = "ready",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Shutting down", body = Object),
    )
)]
async fn ready(State(app): State<Arc<App>>) -> Response {
    let g = app.jobs.gauges();
    let closing = app.jobs.closing();
    let body = json!({
        "status": if closing { "shutting_down" } else { "ready" },
        "handlers": app.registry.describe(),
        "store": app.store.backend(),
        "checks": mno_gates::KNOWN_CHECKS,
        "gates": {"running": g.running, "queued": g.queued, "max_concurrent": g.max_concurrent},
        "auth": if app.token.is_some() { "bearer" } else { "none" },
    });
    let status = if closing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    operation_id = "metrics",
    responses((status = 200, description = "Exposition text", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String))
)]
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(app.jobs.gauges());
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Check the envelope's own fields (serde has checked the shape).
fn check_meta(env: &Envelope) -> Result<MessageType, ApiError> {
    let m = &env.meta;
    for (field, v) in [
        ("meta.trace_id", &m.trace_id),
        ("meta.source_agent", &m.source_agent),
    ] {
        if v.trim().is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("{field}: must be 1-128 printable characters"),
            )
            .with("field", field));
        }
    }
    let major = m.schema_version.split('.').next().unwrap_or("");
    if !crate::messages::SUPPORTED_SCHEMA_VERSIONS.contains(&major) {
        return Err(ApiError::bad_request(
            "unsupported_schema_version",
            format!(
                "meta.schema_version: {:?} is not supported (supported: {})",
                m.schema_version,
                crate::messages::SUPPORTED_SCHEMA_VERSIONS.join(", ")
            ),
        )
        .with("field", "meta.schema_version")
        .with(
            "supported",
            crate::messages::SUPPORTED_SCHEMA_VERSIONS.to_vec(),
        ));
    }
    MessageType::parse(&m.message_type).ok_or_else(|| {
        let known = MessageType::known_names();
        ApiError::bad_request(
            "unknown_message_type",
            format!(
                "meta.message_type: unknown message type {:?} (known: {})",
                m.message_type,
                known.join(", ")
            ),
        )
        .with("field", "meta.message_type")
        .with("known", known)
    })
}

/// `POST /message`: validate the envelope, dispatch it, answer `{status, trace_id, timestamp,
/// processing_result}`. A GateValidationRequest waits for its result unless `?wait=false`.
#[utoipa::path(
    post,
    path = "/message",
    tag = "messages",
    operation_id = "message",
    params(("wait" = Option<bool>, Query, description = "A GateValidationRequest waits for its result unless false")),
    request_body(content = Envelope, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Processed", body = MessageReply),
        (status = 202, description = "Accepted (a gate job runs on)", body = MessageReply),
        (status = 400, description = "Invalid envelope or payload", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = openapi::ErrorBody),
        (status = 403, description = "The repository is outside allowed_roots", body = openapi::ErrorBody),
        (status = 404, description = "The repository root does not exist", body = openapi::ErrorBody),
        (status = 409, description = "A job with this validation id is running", body = openapi::ErrorBody),
        (status = 413, description = "Body too large", body = openapi::ErrorBody),
        (status = 415, description = "Not JSON", body = openapi::ErrorBody),
        (status = 501, description = "No handler for this message type", body = openapi::ErrorBody),
        (status = 503, description = "Queue full or shutting down", body = openapi::ErrorBody),
    )
)]
async fn message(
    State(app): State<Arc<App>>,
    _: Authorized,
    QueryParams(q): QueryParams<WaitQuery>,
    JsonBytes(body): JsonBytes,
) -> Response {
    let env: Envelope = match parse_json(&body) {
        Ok(e) => e,
        Err(e) => {
            app.metrics.message("invalid", "rejected");
            return e.into_response();
        }
    };
    let trace_id = env.meta.trace_id.clone();
    let t = match check_meta(&env) {
        Ok(t) => t,
        Err(e) => {
            app.metrics.message("invalid", "rejected");
            return e.with("trace_id", trace_id).into_response();
        }
    };
    let Some(handler) = app.registry.get(t).cloned() else {
        app.metrics.message(t.as_str(), "rejected");
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_handler",
            format!("no handler is registered for {}", t.as_str()),
        )
        .with("trace_id", trace_id)
        .into_response();
    };
    match handler.handle(env, q.wait.unwrap_or(true)).await {
        Ok(h) => {
            app.metrics.message(t.as_str(), h.status);
            let reply = MessageReply {
                status: h.status.to_string(),
                trace_id,
                timestamp: crate::now_rfc3339(),
                processing_result: h.result,
            };
            (h.http_status, Json(reply)).into_response()
        }
        Err(e) => {
            app.metrics.message(t.as_str(), "rejected");
            if e.status.is_server_error() {
                tracing::warn!(trace_id, "{e}");
            }
            e.with("trace_id", trace_id).into_response()
        }
    }
}

/// A random trace id for requests that bring none.
fn new_trace_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes();
    }
    hex::encode(b)
}

/// `POST /api/v1/gates`: the payload of a GateValidationRequest as a job; 202 with the job's
/// link at once, or (`?wait=true`) 200 with the finished job.
#[utoipa::path(
    post,
    path = "/api/v1/gates",
    tag = "gates",
    operation_id = "post_gate",
    params(
        ("wait" = Option<bool>, Query, description = "Wait for the finished job (up to wait_timeout)"),
        ("X-Trace-Id" = Option<String>, Header, description = "Trace id to record (1-128 characters)"),
    ),
    request_body(content = GateValidationRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The finished job (wait=true)", body = openapi::JobView),
        (status = 202, description = "Queued; Location names the job", body = openapi::JobRef),
        (status = 400, description = "Invalid request", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = openapi::ErrorBody),
        (status = 403, description = "The repository is outside allowed_roots", body = openapi::ErrorBody),
        (status = 404, description = "The repository root does not exist", body = openapi::ErrorBody),
        (status = 409, description = "A job with this validation id is running", body = openapi::ErrorBody),
        (status = 413, description = "Body too large", body = openapi::ErrorBody),
        (status = 415, description = "Not JSON", body = openapi::ErrorBody),
        (status = 503, description = "Queue full or shutting down", body = openapi::ErrorBody),
    )
)]
async fn post_gate(
    State(app): State<Arc<App>>,
    _: Authorized,
    QueryParams(q): QueryParams<WaitQuery>,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Response {
    let kind = MessageType::GateValidationRequest.as_str();
    let trace_id = headers
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(new_trace_id);
    let result = async {
        let req: GateValidationRequest = parse_json(&body)?;
        let v = gate_handler::validate(req, &app.allowed_roots, "", app.token.is_some())?;
        let mut sub = app.jobs.submit(v, &trace_id, "api")?;
        if q.wait == Some(true) && Jobs::wait(&mut sub.done, app.wait_timeout).await {
            let job = app
                .store
                .get_job(&sub.job.validation_id)?
                .unwrap_or(sub.job);
            return Ok::<_, ApiError>((StatusCode::OK, views::job_view(&job), job.validation_id));
        }
        let id = sub.job.validation_id.clone();
        Ok((StatusCode::ACCEPTED, views::job_ref(&sub.job), id))
    }
    .await;
    match result {
        Ok((status, mut body, id)) => {
            app.metrics.message(
                kind,
                if status == StatusCode::OK {
                    "processed"
                } else {
                    "accepted"
                },
            );
            body["trace_id"] = trace_id.into();
            let mut resp = (status, Json(body)).into_response();
            if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/gates/{id}")) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
        Err(e) => {
            app.metrics.message(kind, "rejected");
            e.with("trace_id", trace_id).into_response()
        }
    }
}

/// `?limit=N`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<usize>,
}

fn limit(q: &LimitQuery) -> Result<usize, ApiError> {
    match q.limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-1000 (got {n})"),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/gates",
    tag = "gates",
    operation_id = "list_gates",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Most jobs (default 100)")),
    responses(
        (status = 200, description = "Jobs, newest first", body = openapi::JobList),
        (status = 400, description = "Invalid query", body = openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = openapi::ErrorBody),
    )
)]
async fn list_gates(
    State(app): State<Arc<App>>,
    QueryParams(q): QueryParams<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let jobs = app.store.list_jobs(limit(&q)?)?;
    Ok(Json(json!({
        "gates": jobs.iter().map(views::job_ref).collect::<Vec<_>>(),
    })))
}

fn unknown_job(id: &str) -> ApiError {
    ApiError::not_found(
        "unknown_validation_id",
        format!("no gate job {id:?} (ids look like gate-<pr_number>-<sha8>)"),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/gates/{validation_id}",
    tag = "gates",
    operation_id = "get_gate",
    params(("validation_id" = String, Path, description = "gate-<pr_number>-<sha8>")),
    responses(
        (status = 200, description = "The job", body = openapi::JobView),
        (status = 404, description = "No such job", body = openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = openapi::ErrorBody),
    )
)]
async fn get_gate(
    State(app): State<Arc<App>>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    if !gate_handler::is_validation_id(&id) {
        return Err(unknown_job(&id));
    }
    let job = app.store.get_job(&id)?.ok_or_else(|| unknown_job(&id))?;
    Ok(Json(views::job_view(&job)))
}

#[utoipa::path(
    get,
    path = "/api/v1/gates/{validation_id}/reports/{file}",
    tag = "gates",
    operation_id = "get_report",
    params(
        ("validation_id" = String, Path, description = "gate-<pr_number>-<sha8>"),
        ("file" = String, Path, description = "report.json, report.md, report.sarif or junit.xml"),
    ),
    responses(
        (status = 200, description = "The report file", content(
            (Object = "application/json"),
            (String = "text/markdown; charset=utf-8"),
            (Object = "application/sarif+json"),
            (String = "application/xml"),
        )),
        (status = 404, description = "No such job or report", body = openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = openapi::ErrorBody),
    )
)]
async fn get_report(
    State(app): State<Arc<App>>,
    PathParams((id, file)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let Some((name, ctype)) = views::REPORT_FILES.iter().find(|(n, _)| *n == file) else {
        return Err(ApiError::not_found(
            "unknown_report",
            format!(
                "no report {file:?} (known: {})",
                views::REPORT_FILES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    if !gate_handler::is_validation_id(&id) {
        return Err(unknown_job(&id));
    }
    let job = app.store.get_job(&id)?.ok_or_else(|| unknown_job(&id))?;
    let (Some(dir), true) = (&job.reports_dir, job.reports.iter().any(|r| r == name)) else {
        return Err(ApiError::not_found(
            "report_not_ready",
            format!("{id} has no {name} (status {})", job.status.as_str()),
        ));
    };
    let path = std::path::Path::new(dir).join(name);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        // Run by another server on a shared store: the store keeps the files.
        Err(e) => app.store.get_report(&id, name)?.ok_or_else(|| {
            ApiError::not_found("report_missing", format!("{}: {e}", path.display()))
        })?,
    };
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/incidents/{id}",
    tag = "messages",
    operation_id = "get_incident",
    params(("id" = String, Path, description = "The incident's number, as listed at GET /incidents")),
    responses(
        (status = 200, description = "The incident with its state (firing or resolved) and its signals", body = crate::state::IncidentRecord),
        (status = 404, description = "No such incident", body = openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = openapi::ErrorBody),
        (status = 503, description = "The state store (Redis) is unreachable", body = openapi::ErrorBody),
    )
)]
async fn get_incident(
    State(app): State<Arc<App>>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || {
        ApiError::not_found(
            "unknown_incident",
            format!("no incident {id:?} (ids are the numbers listed at GET /incidents)"),
        )
    };
    let n: u64 = id.parse().map_err(|_| unknown())?;
    let rec = app.store.get_incident(n)?.ok_or_else(unknown)?;
    Ok(Json(serde_json::to_value(rec).unwrap_or_default()))
}

#[utoipa::path(
    get,
    path = "/incidents",
    tag = "messages",
    operation_id = "incidents",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Most incidents (default 100)")),
    responses(
        (status = 200, description = "Incidents, newest first", body = openapi::IncidentList),
        (status = 400, description = "Invalid query", body = openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = openapi::ErrorBody),
        (status = 503, description = "The state store (Redis) is unreachable", body = openapi::ErrorBody),
    )
)]
async fn incidents(
    State(app): State<Arc<App>>,
    QueryParams(q): QueryParams<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = app.store.list_incidents(limit(&q)?)?;
    Ok(Json(json!({ "incidents": list })))
}
