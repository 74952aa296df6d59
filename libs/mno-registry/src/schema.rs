//! The canonical shape of root.modules.yaml as Rust types, for its JSON Schema.
//!
//! These types exist to generate `schemas/root-modules.schema.json` (editors
//! and the gate validate against it); the loader reads the file through a
//! located tree instead, so that legacy shapes map and every finding has a
//! line. A test keeps the two in step: each object's properties here equal the
//! key list the loader accepts for it.

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// root.modules.yaml: the module registry.
#[derive(JsonSchema)]
#[schemars(title = "MachineNativeOps module registry (root.modules.yaml)")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RegistryFile {
    /// The registered modules.
    modules: Vec<ModuleEntry>,
    /// Stage number → name (or `{name, capacity}`). Stages load in ascending order.
    #[serde(default)]
    stages: BTreeMap<String, StageEntry>,
    /// Resources available to all modules together: name → quantity (`cpu: 4`, `memory: 8Gi`).
    #[serde(default)]
    capacity: Option<BTreeMap<String, QuantityValue>>,
}

/// A stage: a name, or a name with a capacity of its own.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum StageEntry {
    /// Just the name.
    Name(String),
    /// Name and capacity.
    Full(StageObject),
}

/// A stage with a capacity.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StageObject {
    /// Display name.
    #[serde(default)]
    name: Option<String>,
    /// Requests of this stage's modules must fit in this: name → quantity.
    #[serde(default)]
    capacity: Option<BTreeMap<String, QuantityValue>>,
}

/// A Kubernetes quantity: `200m`, `1.5`, `256Mi`, `1Gi`, `1e3`, or a number.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum QuantityValue {
    /// Text with an optional suffix.
    Text(
        #[schemars(regex(
            pattern = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([numkMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]+)?$"
        ))]
        String,
    ),
    /// A plain number.
    Number(f64),
}

/// A duration: `500ms`, `5s`, `1m30s`, `2h`, or a number of seconds.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum DurationValue {
    /// Text with units.
    Text(#[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))] String),
    /// Seconds.
    Seconds(f64),
}

/// One module.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ModuleEntry {
    /// Unique name: lowercase letters, digits, `-`, `_`, `.`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]*$"))]
    name: String,
    /// Semantic version (MAJOR.MINOR.PATCH).
    version: String,
    /// What the module is.
    #[serde(default)]
    description: Option<String>,
    /// Group; priorities are unique within a group.
    #[serde(default)]
    group: Option<String>,
    /// Priority 0–100, unique within the group unless shared priorities are allowed.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    priority: Option<i64>,
    /// This module may share its priority with other modules of its group that allow it too.
    #[serde(default)]
    allow_shared_priority: bool,
    /// Skip this module (with a note) when its program is not installed.
    #[serde(default)]
    optional: bool,
    /// Source directory in the repository (informational).
    #[serde(default)]
    path: Option<String>,
    /// Dependencies: `name (constraint)` such as `config-manager (>=1.0.0)`, or a plain name.
    #[serde(default)]
    dependencies: Vec<String>,
    /// Resource name → request and limit (`cpu`, `memory`, `storage`, …).
    #[serde(default)]
    resources: BTreeMap<String, ResourcePair>,
    /// Stage and whether `registry up` starts the module.
    #[serde(default)]
    load_sequence: Option<LoadSequence>,
    /// How to tell the module is up: exactly one of `http`, `tcp`, `command`.
    #[serde(default)]
    health_check: Option<HealthCheckEntry>,
    /// How to run the module.
    #[serde(default)]
    run: Option<RunEntry>,
    /// How to build the module.
    #[serde(default)]
    build: Option<BuildEntry>,
}

/// Request and limit of one resource.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResourcePair {
    /// What the module needs; counted against capacity.
    #[serde(default)]
    request: Option<QuantityValue>,
    /// The most it may use; at least the request.
    #[serde(default)]
    limit: Option<QuantityValue>,
}

/// Where the module loads.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LoadSequence {
    /// Stage number (see `stages`); dependencies load in the same or an earlier stage.
    #[serde(default)]
    #[schemars(range(min = 0))]
    stage: Option<u32>,
    /// `registry up` starts this module.
    #[serde(default)]
    auto_start: bool,
}

/// A health check.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HealthCheckEntry {
    /// URL to GET; healthy on 2xx (or `expect_status`).
    #[serde(default)]
    http: Option<String>,
    /// `host:port` to connect to.
    #[serde(default)]
    tcp: Option<String>,
    /// Command (argument list) that exits 0 when healthy.
    #[serde(default)]
    command: Option<Vec<String>>,
    /// HTTP statuses that count as healthy (default: any 2xx).
    #[serde(default)]
    expect_status: Vec<u16>,
    /// Time between checks (default 5s).
    #[serde(default)]
    interval: Option<DurationValue>,
    /// Time one check may take (default 2s).
    #[serde(default)]
    timeout: Option<DurationValue>,
    /// Consecutive failures after `start_period` that make the module unhealthy (default 3).
    #[serde(default)]
    #[schemars(range(min = 1))]
    retries: Option<u32>,
    /// Time after start during which failures do not count (default 0s).
    #[serde(default)]
    start_period: Option<DurationValue>,
    /// Time between checks during `start_period` (default: 1s or `interval` if shorter).
    #[serde(default)]
    start_interval: Option<DurationValue>,
}

/// How to run a module.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RunEntry {
    /// Program and arguments (never run through a shell).
    command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory, relative to the registry file's directory (default: that directory).
    #[serde(default)]
    cwd: Option<String>,
    /// What to do when the process exits.
    #[serde(default)]
    restart: Option<RestartEntry>,
    /// Time between SIGTERM and SIGKILL when stopping (default 10s).
    #[serde(default)]
    grace_period: Option<DurationValue>,
}

/// How to build a module.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BuildEntry {
    /// Program and arguments.
    command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory, relative to the registry file's directory.
    #[serde(default)]
    cwd: Option<String>,
    /// Longest time the build may take (the gate's `build_verification.timeout_seconds` otherwise).
    #[serde(default)]
    timeout: Option<DurationValue>,
}

/// Restart policy.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RestartEntry {
    /// `never`, `on-failure` (default) or `always`.
    #[serde(default)]
    policy: Option<RestartPolicyName>,
    /// Restarts before the module is marked failed (default 5).
    #[serde(default)]
    limit: Option<u32>,
    /// Delay before the first restart, doubled each time (default 1s).
    #[serde(default)]
    backoff: Option<DurationValue>,
    /// Largest delay (default 30s).
    #[serde(default)]
    max_backoff: Option<DurationValue>,
}

/// When to restart.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum RestartPolicyName {
    /// Never restart.
    Never,
    /// Restart on a non-zero exit or a signal.
    OnFailure,
    /// Restart whenever it exits.
    Always,
}

/// The JSON Schema of root.modules.yaml, as committed in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RegistryFile);
    let mut v = serde_json::to_value(schema).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "$id".into(),
            "https://machinenativeops.dev/schemas/root-modules.schema.json".into(),
        );
    }
    v
}
