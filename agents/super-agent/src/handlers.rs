//! Message handlers and the registry `/message` dispatches through.
//!
//! A handler owns one message type: it reads the payload as its own type, does its work and
//! answers a `processing_result`. Adding a message type is one more [`MessageHandler`]
//! registered in [`Registry::standard`]; `/ready` lists what is registered.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::from_value;
use crate::api::views;
use crate::gate_handler;
use crate::jobs::Jobs;
use crate::messages::{
    Envelope, GateValidationRequest, GateValidationResponse, IncidentSignal, MessageType,
};
use crate::metrics::Metrics;
use crate::state::{NewIncident, StateStore};

/// A boxed future, so handlers can live behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a handler answers.
#[derive(Debug)]
pub struct Handled {
    /// 200 when done, 202 when queued.
    pub http_status: StatusCode,
    /// `processed` or `accepted`.
    pub status: &'static str,
    /// The `processing_result` of the reply.
    pub result: Value,
}

impl Handled {
    fn processed(result: Value) -> Self {
        Handled {
            http_status: StatusCode::OK,
            status: "processed",
            result,
        }
    }
}

/// One message type's handler.
pub trait MessageHandler: Send + Sync {
    /// The type it handles.
    fn message_type(&self) -> MessageType;
    /// One line for `/ready`.
    fn description(&self) -> &'static str;
    /// Handle a validated envelope; `wait` asks to answer only when the work is done.
    fn handle(&self, envelope: Envelope, wait: bool) -> BoxFuture<'_, Result<Handled, ApiError>>;
}

/// What the handlers share.
pub struct Services {
    /// The job manager.
    pub jobs: Arc<Jobs>,
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Canonical allowed roots.
    pub allowed_roots: Vec<PathBuf>,
    /// How long a waiting request waits.
    pub wait_timeout: Duration,
    /// Whether checks that run commands may run (the server has a token).
    pub commands_allowed: bool,
}

/// The registered handlers by type.
pub struct Registry {
    handlers: BTreeMap<MessageType, Arc<dyn MessageHandler>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            handlers: BTreeMap::new(),
        }
    }

    /// The three handlers of this server.
    pub fn standard(services: Arc<Services>) -> Self {
        let mut r = Registry::new();
        r.register(Arc::new(GateRequestHandler(services.clone())));
        r.register(Arc::new(GateResponseHandler(services.clone())));
        r.register(Arc::new(IncidentHandler(services)));
        r
    }

    /// Add (or replace) the handler of its type.
    pub fn register(&mut self, h: Arc<dyn MessageHandler>) {
        self.handlers.insert(h.message_type(), h);
    }

    /// The handler of `t`.
    pub fn get(&self, t: MessageType) -> Option<&Arc<dyn MessageHandler>> {
        self.handlers.get(&t)
    }

    /// `[{message_type, aliases, description}]` for `/ready`.
    pub fn describe(&self) -> Vec<Value> {
        self.handlers
            .values()
            .map(|h| {
                json!({
                    "message_type": h.message_type().as_str(),
                    "aliases": [h.message_type().alias()],
                    "description": h.description(),
                })
            })
            .collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Run the gate: `GateValidationRequest` → the `GateValidationResponse` (or a job reference).
struct GateRequestHandler(Arc<Services>);

impl MessageHandler for GateRequestHandler {
    fn message_type(&self) -> MessageType {
        MessageType::GateValidationRequest
    }

    fn description(&self) -> &'static str {
        "validate a repository through the gate; answers the GateValidationResponse (wait=false: 202 and a job link)"
    }

    fn handle(&self, env: Envelope, wait: bool) -> BoxFuture<'_, Result<Handled, ApiError>> {
        Box::pin(async move {
            let s = &self.0;
            let req: GateValidationRequest = from_value("payload", env.payload)?;
            let v = gate_handler::validate(req, &s.allowed_roots, "payload.", s.commands_allowed)?;
            let mut sub = s
                .jobs
                .submit(v, &env.meta.trace_id, &env.meta.source_agent)?;
            if wait && Jobs::wait(&mut sub.done, s.wait_timeout).await {
                let job = s.store.get_job(&sub.job.validation_id)?.ok_or_else(|| {
                    ApiError::internal(format!(
                        "{}: finished but not stored",
                        sub.job.validation_id
                    ))
                })?;
                let result = match &job.response {
                    Some(r) => serde_json::to_value(r).unwrap_or_default(),
                    None => views::job_ref(&job),
                };
                return Ok(Handled::processed(result));
            }
            Ok(Handled {
                http_status: StatusCode::ACCEPTED,
                status: "accepted",
                result: views::job_ref(&sub.job),
            })
        })
    }
}

/// Record a result computed elsewhere as a finished job.
struct GateResponseHandler(Arc<Services>);

impl MessageHandler for GateResponseHandler {
    fn message_type(&self) -> MessageType {
        MessageType::GateValidationResponse
    }

    fn description(&self) -> &'static str {
        "record a gate result computed elsewhere; GET /api/v1/gates/{validation_id} then shows it"
    }

    fn handle(&self, env: Envelope, _wait: bool) -> BoxFuture<'_, Result<Handled, ApiError>> {
        Box::pin(async move {
            let s = &self.0;
            let resp: GateValidationResponse = from_value("payload", env.payload)?;
            let expected = gate_handler::validation_id(&resp.metadata, "payload.")?;
            if resp.validation_id != expected {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!(
                        "payload.validation_id: {:?} does not match its metadata (expected {expected:?})",
                        resp.validation_id
                    ),
                )
                .with("field", "payload.validation_id"));
            }
            let job = s
                .jobs
                .record_external(resp, &env.meta.trace_id, &env.meta.source_agent)?;
            Ok(Handled::processed(json!({
                "recorded": true,
                "validation_id": job.validation_id,
                "status": job.status.as_str(),
                "links": views::links(&job.validation_id),
            })))
        })
    }
}

/// Record an alert as an incident (listed at `GET /incidents`).
struct IncidentHandler(Arc<Services>);

impl MessageHandler for IncidentHandler {
    fn message_type(&self) -> MessageType {
        MessageType::IncidentSignal
    }

    fn description(&self) -> &'static str {
        "record an Auto-Monitor alert as an incident; listed newest first at GET /incidents"
    }

    fn handle(&self, env: Envelope, _wait: bool) -> BoxFuture<'_, Result<Handled, ApiError>> {
        Box::pin(async move {
            let s = &self.0;
            let signal: IncidentSignal = from_value("payload", env.payload)?;
            check_incident(&signal)?;
            let (rec, created) = s.store.record_incident(NewIncident {
                received_at: crate::now_rfc3339(),
                trace_id: env.meta.trace_id,
                source_agent: env.meta.source_agent,
                context: env.context,
                signal,
            })?;
            let sig = &rec.signal;
            s.metrics
                .incident(sig.severity.as_str(), sig.status.as_str());
            tracing::info!(
                incident_id = rec.id,
                alert = %sig.alert_name,
                severity = sig.severity.as_str(),
                status = sig.status.as_str(),
                source_agent = %rec.source_agent,
                state = rec.state.as_str(),
                created,
                "incident recorded"
            );
            Ok(Handled::processed(json!({
                "recorded": true,
                "incident_id": rec.id,
                "created": created,
                "state": rec.state.as_str(),
                "links": {"incidents": "/incidents", "incident": format!("/incidents/{}", rec.id)},
            })))
        })
    }
}

/// Field checks serde cannot express.
fn check_incident(s: &IncidentSignal) -> Result<(), ApiError> {
    let bad = |field: &str, why: String| {
        ApiError::bad_request("invalid_field", format!("payload.{field}: {why}"))
            .with("field", format!("payload.{field}"))
    };
    if s.alert_name.trim().is_empty() || s.alert_name.len() > 256 {
        return Err(bad("alert_name", "must be 1-256 characters".into()));
    }
    for (field, v) in [("starts_at", &s.starts_at), ("ends_at", &s.ends_at)] {
        if let Some(t) = v
            && chrono::DateTime::parse_from_rfc3339(t).is_err()
        {
            return Err(bad(field, format!("{t:?} is not an RFC 3339 time")));
        }
    }
    Ok(())
}
