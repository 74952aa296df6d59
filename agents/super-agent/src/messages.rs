//! The message envelope and the message types the SuperAgent handles.
//!
//! Every message is `{meta, context, payload}`; `meta.message_type` picks the handler and
//! the handler reads `payload` as its own type. The JSON Schemas in `schemas/` are generated
//! from these types ([`schemas`]), and a test keeps them current.

use std::collections::BTreeMap;

use mno_gates::CheckResult;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Schema versions of the envelope this server reads (the major version must match).
pub const SUPPORTED_SCHEMA_VERSIONS: &[&str] = &["1", "1.0"];

/// The envelope every message travels in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "MachineNativeOps message envelope")]
pub struct Envelope {
    /// Routing and tracing.
    pub meta: Meta,
    /// Where the message is about (informational; recorded with incidents).
    #[serde(default)]
    pub context: Context,
    /// The message itself; its shape depends on `meta.message_type`.
    pub payload: Value,
}

/// Routing and tracing fields of an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meta {
    /// The caller's trace id, echoed in the answer and in logs (1-128 printable characters).
    pub trace_id: String,
    /// Who sent it (`ci`, `auto-monitor`, another agent's name).
    pub source_agent: String,
    /// Who it is for (informational; normally `super-agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_agent: Option<String>,
    /// `GateValidationRequest`, `GateValidationResponse` or `IncidentSignal` (the
    /// `GATE_VALIDATION_REQUEST` / `GATE_VALIDATION_RESPONSE` / `INCIDENT_SIGNAL` spellings too).
    pub message_type: String,
    /// Envelope version: `1.0` (default) or `1`.
    #[serde(default = "default_schema_version")]
    pub schema_version: String,
}

fn default_schema_version() -> String {
    "1.0".into()
}

/// Where a message is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Context {
    /// Kubernetes namespace or similar grouping.
    pub namespace: String,
    /// Cluster name.
    pub cluster: String,
    /// How urgent the sender thinks it is.
    pub urgency: Urgency,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            namespace: "default".into(),
            cluster: String::new(),
            urgency: Urgency::Normal,
        }
    }
}

/// How urgent a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Whenever.
    Low,
    /// The default.
    Normal,
    /// Soon.
    High,
    /// Now.
    Critical,
}

/// The message types this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// Validate a repository through the gate.
    GateValidationRequest,
    /// A gate result computed elsewhere, recorded as a finished job.
    GateValidationResponse,
    /// An alert from the Auto-Monitor (or Alertmanager), recorded as an incident.
    IncidentSignal,
}

impl MessageType {
    /// Every type, in the order listed to clients.
    pub const ALL: [MessageType; 3] = [
        MessageType::GateValidationRequest,
        MessageType::GateValidationResponse,
        MessageType::IncidentSignal,
    ];

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::GateValidationRequest => "GateValidationRequest",
            MessageType::GateValidationResponse => "GateValidationResponse",
            MessageType::IncidentSignal => "IncidentSignal",
        }
    }

    /// The other accepted spelling (the seed documents' upper snake case).
    pub fn alias(self) -> &'static str {
        match self {
            MessageType::GateValidationRequest => "GATE_VALIDATION_REQUEST",
            MessageType::GateValidationResponse => "GATE_VALIDATION_RESPONSE",
            MessageType::IncidentSignal => "INCIDENT_SIGNAL",
        }
    }

    /// The type named `s` (canonical name or alias, exactly).
    pub fn parse(s: &str) -> Option<MessageType> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s || t.alias() == s)
    }

    /// Every accepted spelling, for error messages.
    pub fn known_names() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .flat_map(|t| [t.as_str(), t.alias()])
            .collect()
    }
}

/// Payload of a `GateValidationRequest`: validate one commit of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "GateValidationRequest payload")]
pub struct GateValidationRequest {
    /// Which pull request and commit.
    pub metadata: GateMetadata,
    /// Checks to run, by name, `true` to run; a check set to `false` is reported SKIPPED.
    /// Absent: every check. An unknown name is rejected (400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_requirements: Option<BTreeMap<String, bool>>,
    /// What to validate: the checked-out tree.
    pub artifacts: Artifacts,
}

/// Which pull request and commit a gate run is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GateMetadata {
    /// Pull request number (1 or more).
    #[schemars(range(min = 1))]
    pub pr_number: u64,
    /// The commit validated: hexadecimal, 8 to 64 characters.
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{8,64}$"))]
    pub commit_sha: String,
    /// `owner/name` or any repository name.
    pub repository: String,
    /// Target branch (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// Source branch (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_ref: Option<String>,
}

/// Where the tree to validate is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Artifacts {
    /// The checked-out repository: absolute, or relative to the first `allowed_roots` entry;
    /// must resolve inside an allowed root; `..` is refused.
    pub root: String,
    /// The module registry file, relative to `root` (default: root.gates.yaml's
    /// `module_registry.file`, normally `root.modules.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Other artifacts (informational, echoed back).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The overall outcome of a gate run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OverallStatus {
    /// No check failed or errored.
    Passed,
    /// A check failed.
    Failed,
    /// A check, or the gate itself, could not run.
    Error,
}

impl OverallStatus {
    /// The uppercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            OverallStatus::Passed => "PASSED",
            OverallStatus::Failed => "FAILED",
            OverallStatus::Error => "ERROR",
        }
    }
}

impl From<mno_gates::Status> for OverallStatus {
    fn from(s: mno_gates::Status) -> Self {
        match s {
            mno_gates::Status::Passed | mno_gates::Status::Skipped => OverallStatus::Passed,
            mno_gates::Status::Failed => OverallStatus::Failed,
            mno_gates::Status::Error => OverallStatus::Error,
        }
    }
}

/// The constant `message_type` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ResponseType {
    /// The only value.
    #[serde(alias = "GATE_VALIDATION_RESPONSE")]
    GateValidationResponse,
}

/// Payload of a `GateValidationResponse`: the result of one gate run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "GateValidationResponse payload")]
pub struct GateValidationResponse {
    /// Always `GateValidationResponse`.
    pub message_type: ResponseType,
    /// `gate-<pr_number>-<first 8 characters of commit_sha>`.
    #[schemars(regex(pattern = r"^gate-[0-9]+-[0-9a-f]{8}$"))]
    pub validation_id: String,
    /// ERROR if a check errored (or the gate could not run), else FAILED if one failed, else PASSED.
    pub overall_status: OverallStatus,
    /// Each check's result: status, findings (check, rule_id, severity, file, line, column,
    /// message, suggested_fix), duration_ms, detail and stats.
    pub validation_results: BTreeMap<String, CheckResult>,
    /// The request's metadata, echoed.
    pub metadata: GateMetadata,
    /// RFC 3339 time the run finished.
    pub timestamp: String,
    /// Counts of findings by severity.
    #[serde(default)]
    pub summary: Summary,
    /// Digests (sha256, sha3_512) over the files the checks read and the report, and the
    /// record appended to the server's evidence chain; absent only when the digest could not
    /// be taken (a file failed to read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::gate_handler::EvidenceSection>,
    /// The Auto-Monitor's state at the time of the run (when `monitor_url` is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<mno_gates::MonitorSection>,
    /// Every monitored host's latest snapshot from Redis (when `redis.url` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitor_hosts: Vec<mno_gates::MonitorSection>,
    /// Why the gate could not run (overall_status ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Warnings about root.gates.yaml (unknown keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_warnings: Vec<String>,
}

/// Counts of findings by severity over all checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Findings that fail their check.
    pub errors: usize,
    /// Findings that only warn.
    pub warnings: usize,
    /// Informational findings.
    pub notes: usize,
}

impl Summary {
    /// Count the findings of `results`.
    pub fn of(results: &BTreeMap<String, CheckResult>) -> Summary {
        let mut s = Summary::default();
        for f in results.values().flat_map(|r| &r.findings) {
            match f.severity {
                mno_gates::Severity::Error => s.errors += 1,
                mno_gates::Severity::Warning => s.warnings += 1,
                mno_gates::Severity::Note => s.notes += 1,
            }
        }
        s
    }
}

/// Payload of an `IncidentSignal`: an alert firing or resolved (the Auto-Monitor's and
/// Alertmanager's alert fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "IncidentSignal payload")]
pub struct IncidentSignal {
    /// The alert's name (`alertname` is accepted too).
    #[serde(alias = "alertname")]
    pub alert_name: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: IncidentSeverity,
    /// `firing` or `resolved`.
    pub status: IncidentStatus,
    /// The alert's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations (summary, description, runbook_url, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 time it started firing.
    #[serde(default, alias = "startsAt", skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// RFC 3339 time it resolved.
    #[serde(default, alias = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// What raised it (host, monitor instance, generator URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A stable identity of the alert, when the sender has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl IncidentSignal {
    /// What makes two signals the same alert: the fingerprint when the sender gives one,
    /// else the name and the labels.
    pub fn identity(&self) -> String {
        match &self.fingerprint {
            Some(f) if !f.is_empty() => format!("fp:{f}"),
            _ => format!(
                "name:{}:{}",
                self.alert_name,
                serde_json::to_string(&self.labels).unwrap_or_default()
            ),
        }
    }
}

/// How serious an incident is (the Auto-Monitor's rule severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentSeverity {
    /// Page someone.
    Critical,
    /// Broken.
    Error,
    /// Degrading.
    Warning,
    /// For the record.
    Info,
}

impl IncidentSeverity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSeverity::Critical => "critical",
            IncidentSeverity::Error => "error",
            IncidentSeverity::Warning => "warning",
            IncidentSeverity::Info => "info",
        }
    }
}

/// Whether the alert is firing or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Active.
    Firing,
    /// Over.
    Resolved,
}

impl IncidentStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Firing => "firing",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

/// What `POST /message` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReply {
    /// `processed` (the handler finished) or `accepted` (queued; poll the links).
    pub status: String,
    /// The request's trace id.
    pub trace_id: String,
    /// RFC 3339 time of the answer.
    pub timestamp: String,
    /// The handler's result: a GateValidationResponse, a job reference, an incident id.
    pub processing_result: Value,
}

/// A schema generated from `T` with its `$id` under the project's schema URL.
pub fn schema_with_id<T: JsonSchema>(file: &str) -> Value {
    let schema = schemars::schema_for!(T);
    let mut v = serde_json::to_value(schema).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "$id".into(),
            format!("https://machinenativeops.dev/schemas/{file}").into(),
        );
    }
    v
}

/// The committed schemas of this crate: (file name under `schemas/`, schema).
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("message-envelope.schema.json", envelope_schema()),
        ("gate-validation-request.schema.json", request_schema()),
        (
            "gate-validation-response.schema.json",
            schema_with_id::<GateValidationResponse>("gate-validation-response.schema.json"),
        ),
        (
            "incident-signal.schema.json",
            schema_with_id::<IncidentSignal>("incident-signal.schema.json"),
        ),
        (
            "super-agent-config.schema.json",
            crate::config::json_schema(),
        ),
    ]
}

/// The request's schema, with `validation_requirements` keys limited to the known checks.
fn request_schema() -> Value {
    let mut v = schema_with_id::<GateValidationRequest>("gate-validation-request.schema.json");
    if let Some(vr) = v
        .pointer_mut("/properties/validation_requirements")
        .and_then(Value::as_object_mut)
    {
        vr.insert(
            "propertyNames".into(),
            serde_json::json!({ "enum": mno_gates::KNOWN_CHECKS }),
        );
    }
    v
}

/// The envelope's schema, with `meta.message_type` limited to the known spellings.
fn envelope_schema() -> Value {
    let mut v = schema_with_id::<Envelope>("message-envelope.schema.json");
    if let Some(mt) = v
        .pointer_mut("/$defs/Meta/properties/message_type")
        .and_then(Value::as_object_mut)
    {
        mt.insert("enum".into(), MessageType::known_names().into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_parse_by_name_and_alias_only() {
        assert_eq!(
            MessageType::parse("GATE_VALIDATION_REQUEST"),
            Some(MessageType::GateValidationRequest)
        );
        assert_eq!(
            MessageType::parse("IncidentSignal"),
            Some(MessageType::IncidentSignal)
        );
        assert_eq!(MessageType::parse("gatevalidationrequest"), None);
        assert_eq!(MessageType::known_names().len(), 6);
    }

    #[test]
    fn incident_accepts_alertmanager_spellings() {
        let s: IncidentSignal = serde_json::from_str(
            r#"{"alertname":"HighCPU","severity":"warning","status":"firing","startsAt":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(s.alert_name, "HighCPU");
        assert_eq!(s.starts_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn envelope_schema_lists_the_message_types() {
        let v = envelope_schema();
        let e = v.pointer("/$defs/Meta/properties/message_type/enum");
        assert!(e.is_some(), "{v:#}");
    }
}
