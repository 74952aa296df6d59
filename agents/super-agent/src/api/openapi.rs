//! The OpenAPI 3.1 document of `super-agent serve` (`GET /openapi.json`) and Swagger UI at
//! `/docs`, every asset compiled into the binary.
//!
//! Paths come from the `#[utoipa::path]` attribute on each handler. The message types keep
//! one schema: their `schemars` JSON Schema (the one `schemas/` is generated from) is put into
//! `components.schemas` when the document is built, so the document and the message
//! validation cannot drift. To add a route: annotate its handler and name it in [`ApiDoc`]'s
//! `paths(...)` list (docs/api.md); `tests/openapi.rs` fails when a `.route(...)` in `src/`
//! is missing from the document.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::messages::{Envelope, GateValidationRequest, GateValidationResponse, MessageReply};
use crate::state::IncidentRecord;

/// The JSON error body: `{error, detail}`, sometimes with more keys (`trace_id`, `known`, `field`).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable snake_case code (`invalid_json`, `unauthorized`, `unknown_validation_id`, …).
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
    /// `super-agent`.
    pub service: String,
    /// Version of the binary.
    pub version: String,
    /// Seconds since serving began.
    pub uptime_seconds: f64,
}

/// Links of a gate job.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct JobLinks {
    /// `/api/v1/gates/{validation_id}`.
    #[serde(rename = "self")]
    pub self_: String,
}

/// A gate job in short: the 202 answer and list entries.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct JobRef {
    /// `gate-<pr_number>-<sha8>`.
    pub validation_id: String,
    /// QUEUED, RUNNING, PASSED, FAILED or ERROR.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// Links.
    pub links: JobLinks,
    /// PASSED, FAILED or ERROR once finished.
    pub overall_status: Option<String>,
    /// Why the job ended in ERROR without a result.
    pub error: Option<String>,
    /// The request's trace id (POST answers).
    pub trace_id: Option<String>,
}

/// One report file of a job.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ReportLink {
    /// Where it lies on the server.
    pub path: Option<String>,
    /// `/api/v1/gates/{validation_id}/reports/{file}`.
    pub url: String,
}

/// A whole gate job: status, times, request, the response once finished, report files.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct JobView {
    /// `gate-<pr_number>-<sha8>`.
    pub validation_id: String,
    /// QUEUED, RUNNING, PASSED, FAILED or ERROR.
    pub status: String,
    /// The trace id of the request that started it.
    pub trace_id: String,
    /// Who asked.
    pub source_agent: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once started.
    pub started_at: Option<String>,
    /// RFC 3339, once ended.
    pub finished_at: Option<String>,
    /// The request.
    pub request: Option<GateValidationRequest>,
    /// The canonical root the gate ran over.
    pub root: Option<String>,
    /// The result, once finished.
    pub response: Option<GateValidationResponse>,
    /// Why it ended in ERROR without a result.
    pub error: Option<String>,
    /// The folder holding its report files.
    pub reports_dir: Option<String>,
    /// Report files by name.
    pub reports: BTreeMap<String, ReportLink>,
    /// Links.
    pub links: JobLinks,
}

/// `GET /api/v1/gates`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct JobList {
    /// Newest first.
    pub gates: Vec<JobRef>,
}

/// `GET /incidents`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct IncidentList {
    /// Newest first.
    pub incidents: Vec<IncidentRecord>,
}

/// Types whose schema is their `schemars` JSON Schema: utoipa sees a named placeholder
/// (so `body = T` becomes a `$ref`), which [`document`] replaces.
macro_rules! schemars_components {
    ($($t:ty),* $(,)?) => {
        $(
            impl utoipa::PartialSchema for $t {
                fn schema() -> RefOr<Schema> {
                    utoipa::openapi::ObjectBuilder::new().into()
                }
            }
            impl ToSchema for $t {
                fn name() -> Cow<'static, str> {
                    <$t as JsonSchema>::schema_name()
                }
            }
        )*
        /// Put the `schemars` schemas of the message types into `components.schemas`.
        fn add_schemars_components(doc: &mut Value) {
            let mut g = schemars::generate::SchemaSettings::draft2020_12()
                .with(|s| s.definitions_path = "/components/schemas".into())
                .into_generator();
            $( g.subschema_for::<$t>(); )*
            let defs = g.take_definitions(true);
            if let Some(schemas) = doc
                .pointer_mut("/components/schemas")
                .and_then(Value::as_object_mut)
            {
                schemas.extend(defs);
            }
        }
    };
}

schemars_components!(
    Envelope,
    MessageReply,
    GateValidationRequest,
    GateValidationResponse,
    IncidentRecord,
);

/// Every documented route; adding a route means one line in `paths(...)`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MachineNativeOps SuperAgent",
        description = "Message-driven orchestrator: gate validation jobs with reports and signed \
                       evidence, incidents, and their web page.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::index,
        super::ui::page,
        super::ui::gate_page,
        super::health,
        super::ready,
        super::metrics,
        openapi_json,
        super::message,
        super::incidents,
        super::get_incident,
        super::list_gates,
        super::post_gate,
        super::get_gate,
        super::get_report,
    ),
    components(schemas(
        ErrorBody, Health, JobLinks, JobRef, ReportLink, JobView, JobList, IncidentList,
        Envelope, MessageReply, GateValidationRequest, GateValidationResponse, IncidentRecord,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "ui", description = "The web page and this document"),
        (name = "service", description = "Liveness, readiness, metrics"),
        (name = "messages", description = "Envelopes and incidents"),
        (name = "gates", description = "Gate validation jobs and their reports"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token that guards every POST.
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

/// The document as JSON, with this binary's version and the message schemas.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    add_schemars_components(&mut doc);
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
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = JSON.get_or_init(|| document().to_string());
    let mut resp = body.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Swagger UI at `/docs` (assets from the binary), reading `/openapi.json`.
pub fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let config = Config::new(["/openapi.json"])
        .validator_url("none")
        .try_it_out_enabled(true);
    SwaggerUi::new("/docs").config(config).into()
}
