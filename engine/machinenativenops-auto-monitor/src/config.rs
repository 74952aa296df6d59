//! The Auto-Monitor configuration: sections, defaults, validation and overrides.
//!
//! The sections and defaults are those of the original Python agent's
//! `default_config.yaml` (`monitoring`, `quantum`, `services`, `auto_repair`,
//! `logging`, `database`, `network`, `version`, `architecture_hash`), so a
//! file written for it loads unchanged. New sections: `collectors` and
//! `http_checks`. Precedence: built-in defaults < file < `MNO_*` environment
//! < command-line flags. Unknown keys are warned about with their location;
//! wrong values fail with file, line, column and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mno_common::{ConfigError, Loaded};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::collectors::CollectorsConfig;

/// The embedded default configuration, used when no file is given.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../assets/default_config.yaml");
/// How the configuration is read: a key set to null takes its default, as it did in the
/// original agent (its own `default_config.yaml` says `base_url: null`).
pub const LOAD_OPTIONS: mno_common::LoadOptions = mno_common::LoadOptions {
    null_is_default: true,
};
/// Name used in messages for the embedded default.
pub const EMBEDDED_NAME: &str = "<embedded default_config.yaml>";

/// The whole Auto-Monitor configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(title = "MachineNativeOps Auto-Monitor configuration")]
pub struct MonitorConfig {
    /// Configuration format version (informational).
    pub version: String,
    /// Architecture hash of the deployment this file belongs to (informational).
    pub architecture_hash: String,
    /// Collection interval, listening port and alert thresholds.
    pub monitoring: MonitoringConfig,
    /// Quantum-hardware calibration monitoring (optional collector).
    pub quantum: QuantumConfig,
    /// Services to probe, by layer, and Kubernetes discovery settings.
    pub services: ServicesConfig,
    /// Automatic repair actions for firing alerts.
    pub auto_repair: AutoRepairConfig,
    /// Log level, format and rotated log file.
    pub logging: LoggingConfig,
    /// The local time-series database.
    pub database: DatabaseConfig,
    /// Outgoing HTTP settings (service checks, notifications).
    pub network: NetworkConfig,
    /// System collectors: switch each on or off and tune it.
    pub collectors: CollectorsConfig,
    /// HTTP service health checks.
    pub http_checks: Vec<HttpCheck>,
    /// Alert rules, notifications, silences and the alerts API (see docs/alerting.md).
    pub alerts: crate::alerts::AlertsConfig,
    /// The Redis server shared with the SuperAgent (`redis.url` / `MNO_REDIS_URL`): each
    /// tick's host snapshot goes there, and `redis` notifiers publish on its alerts channel
    /// (docs/redis.md). Unset: nothing leaves the host this way.
    pub redis: mno_redis::RedisConfig,
    /// Prometheus remote_write receivers fed every tick, through a bounded on-disk queue
    /// (docs/collectors.md).
    pub remote_write: Vec<crate::sinks::remote_write::RemoteWriteConfig>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            version: "2.0.0".into(),
            architecture_hash: String::new(),
            monitoring: MonitoringConfig::default(),
            quantum: QuantumConfig::default(),
            services: ServicesConfig::default(),
            auto_repair: AutoRepairConfig::default(),
            logging: LoggingConfig::default(),
            database: DatabaseConfig::default(),
            network: NetworkConfig::default(),
            collectors: CollectorsConfig::default(),
            http_checks: Vec::new(),
            alerts: crate::alerts::AlertsConfig::default(),
            redis: mno_redis::RedisConfig::default(),
            remote_write: Vec::new(),
        }
    }
}

/// `monitoring:` — collection cadence, HTTP listener and alert thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MonitoringConfig {
    /// Seconds between collection ticks (one tick feeds /metrics, the store and alerts).
    #[schemars(range(min = 1))]
    pub interval: i64,
    /// Port of the HTTP server (`/metrics`, `/health`, `/ready`).
    #[schemars(range(min = 1, max = 65535))]
    pub prometheus_port: i64,
    /// Address the HTTP server binds; loopback by default.
    pub bind_address: String,
    /// Default timeout of a service health check, in seconds.
    pub health_check_timeout: f64,
    /// CPU usage alert threshold, percent.
    pub cpu_threshold: f64,
    /// Memory usage alert threshold, percent.
    pub memory_threshold: f64,
    /// Disk usage alert threshold (per mount point), percent.
    pub disk_threshold: f64,
    /// Service response time alert threshold, milliseconds.
    pub api_response_threshold: f64,
    /// Minimum acceptable quantum gate fidelity (0–1).
    pub quantum_fidelity_threshold: f64,
    /// Maximum acceptable quantum error rate (0–1).
    pub quantum_error_rate_threshold: f64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            interval: 30,
            prometheus_port: 8000,
            bind_address: "127.0.0.1".into(),
            health_check_timeout: 5.0,
            cpu_threshold: 80.0,
            memory_threshold: 85.0,
            disk_threshold: 90.0,
            api_response_threshold: 2000.0,
            quantum_fidelity_threshold: 0.94,
            quantum_error_rate_threshold: 0.01,
        }
    }
}

/// `quantum:` — quantum-hardware calibration monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct QuantumConfig {
    /// Collect quantum calibration data.
    pub enabled: bool,
    /// Minimum acceptable gate fidelity (0–1).
    pub fidelity_threshold: f64,
    /// Minimum acceptable coherence time, microseconds.
    pub coherence_time_threshold: f64,
    /// Maximum acceptable error rate (0–1).
    pub error_rate_threshold: f64,
    /// Quantum backends to watch: name → `http(s)://` URL or file path of the backend's
    /// calibration data in Qiskit's `BackendProperties` JSON (docs/collectors.md).
    pub services: BTreeMap<String, String>,
    /// Timeout of fetching one service's calibration data over HTTP, in seconds.
    pub timeout: f64,
}

impl Default for QuantumConfig {
    fn default() -> Self {
        QuantumConfig {
            enabled: false,
            fidelity_threshold: 0.94,
            coherence_time_threshold: 100.0,
            error_rate_threshold: 0.01,
            services: BTreeMap::new(),
            timeout: 10.0,
        }
    }
}

/// `services:` — service endpoints by layer; each entry is probed over HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ServicesConfig {
    /// Foundation-layer services: name → health URL.
    pub foundation_layer: BTreeMap<String, String>,
    /// Intelligence-layer services: name → health URL.
    pub intelligence_layer: BTreeMap<String, String>,
    /// Quantum-layer services: name → health URL.
    pub quantum_layer: BTreeMap<String, String>,
    /// Discover services in Kubernetes (used by the Kubernetes collector when built in).
    pub auto_discover: bool,
    /// Namespaces searched by discovery.
    pub discovery_namespaces: Vec<String>,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            foundation_layer: BTreeMap::new(),
            intelligence_layer: BTreeMap::new(),
            quantum_layer: BTreeMap::new(),
            auto_discover: true,
            discovery_namespaces: vec!["default".into(), "machinenativenops-system".into()],
        }
    }
}

/// `auto_repair:` — bounded automatic repair (acted on by the alerting engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AutoRepairConfig {
    /// Run repair strategies for firing alerts.
    pub enabled: bool,
    /// Attempts per alert episode before giving up.
    pub max_repair_attempts: u32,
    /// Seconds to wait between attempts on the same alert.
    pub cooldown_period: u64,
    /// Repair strategies: what to do for which alerts (see docs/alerting.md).
    pub strategies: Vec<crate::alerts::StrategyConfig>,
    /// Log what repairs would do without doing anything (also `serve --dry-run`).
    pub dry_run: bool,
}

impl Default for AutoRepairConfig {
    fn default() -> Self {
        AutoRepairConfig {
            enabled: false,
            max_repair_attempts: 3,
            cooldown_period: 300,
            strategies: Vec::new(),
            dry_run: false,
        }
    }
}

/// The Auto-Monitor's log file unless `logging.file` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorLogFile;

impl mno_common::DefaultLogFile for MonitorLogFile {
    const PATH: &'static str = "/var/log/machinenativenops/monitor.log";
}

/// `logging:` — level, format and a size-rotated log file (by default
/// `/var/log/machinenativenops/monitor.log`).
pub type LoggingConfig = mno_common::LoggingConfig<MonitorLogFile>;

/// `database:` — the local time-series store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DatabaseConfig {
    /// SQLite file; when its directory is not writable a per-user data directory is used.
    pub path: String,
    /// Days of samples to keep.
    #[schemars(range(min = 1))]
    pub retention_days: i64,
    /// Take online backups.
    pub backup_enabled: bool,
    /// Seconds between backups.
    #[schemars(range(min = 1))]
    pub backup_interval: i64,
    /// Backups kept beside the database (`<name>.backup-<UTC time>.db`); older ones are deleted.
    #[schemars(range(min = 1))]
    pub backup_keep: i64,
    /// Longest time span, in seconds, of a compressed block (one chunk per series).
    #[schemars(range(min = 1))]
    pub chunk_seconds: i64,
    /// Most samples per series in a compressed chunk; bounds the memory of uncompacted
    /// samples at short intervals.
    #[schemars(range(min = 1))]
    pub chunk_max_samples: i64,
    /// Most series one tick stores; samples beyond it are dropped and counted in
    /// `mno_store_series_dropped_total{reason="tick_limit"}`. Series already stored come first.
    #[schemars(range(min = 1))]
    pub max_series_per_tick: i64,
    /// Most series the store's head (the samples not yet compacted) holds; samples of further
    /// new series are dropped and counted in `mno_store_series_dropped_total{reason="head_limit"}`,
    /// while series already in the head keep being stored.
    #[schemars(range(min = 1))]
    pub max_head_series: i64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: "/var/lib/machinenativenops/auto_monitor/metrics.db".into(),
            retention_days: 30,
            backup_enabled: true,
            backup_interval: 3600,
            backup_keep: 5,
            chunk_seconds: 7200,
            chunk_max_samples: 720,
            max_series_per_tick: 100_000,
            max_head_series: 100_000,
        }
    }
}

/// `network:` — outgoing HTTP defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NetworkConfig {
    /// Base URL prepended to relative service URLs.
    pub base_url: String,
    /// Request timeout, seconds.
    pub timeout: f64,
    /// Retries for failed outgoing requests.
    pub retry_attempts: u32,
    /// Verify TLS certificates.
    pub verify_ssl: bool,
    /// Headers sent with every outgoing request.
    pub headers: BTreeMap<String, String>,
    /// Bearer token sent with outgoing requests (shown masked by `config show`).
    pub auth_token: Option<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            base_url: String::new(),
            timeout: 30.0,
            retry_attempts: 3,
            verify_ssl: true,
            headers: BTreeMap::new(),
            auth_token: None,
        }
    }
}

/// One HTTP service health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Service name (the `service` label).
    pub name: String,
    /// URL to request; relative URLs are joined to `network.base_url`.
    pub url: String,
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Status codes that count as up; empty means any 2xx.
    #[serde(default)]
    pub expected_status: Vec<u16>,
    /// Timeout in seconds; defaults to `monitoring.health_check_timeout`.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Seconds between probes; defaults to `monitoring.interval`.
    #[serde(default)]
    pub interval: Option<f64>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".into()
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The embedded `assets/default_config.yaml`.
    Embedded,
    /// A file on disk.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Embedded => f.write_str(EMBEDDED_NAME),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Values given on the command line, the highest precedence.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--log-format`.
    pub log_format: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--interval`.
    pub interval: Option<u64>,
    /// `serve --dry-run`: repairs are logged, not done.
    pub dry_run: bool,
}

/// A loaded, validated configuration and what was noticed while loading it.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The configuration after defaults, file, environment and flags.
    pub config: MonitorConfig,
    /// Where the file part came from.
    pub source: Source,
    /// Unknown keys and similar non-fatal findings, ready to log.
    pub warnings: Vec<String>,
    /// Key locations in the file, to say where a value came from.
    pub index: mno_common::PathIndex,
    /// Keys set by the environment or flags: key → `environment MNO_PORT` / `flag --port`.
    pub overrides: BTreeMap<String, String>,
}

impl Effective {
    /// Where the value of `key` came from, for messages: a flag, a variable, `file:line:col`
    /// or the built-in default.
    pub fn origin(&self, key: &str) -> String {
        self.index.origin(key, &self.source, &self.overrides)
    }
}

/// Anything that stops a configuration from loading.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is unreadable, not YAML, or a value is wrong (located).
    #[error(transparent)]
    File(#[from] ConfigError),
    /// An environment variable has an unusable value.
    #[error("environment {var}={value:?}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
}

/// Environment variables read, in the order applied.
pub const ENV_VARS: &[&str] = &[
    "MNO_CONFIG",
    "MNO_LOG_LEVEL",
    "MNO_LOG_FORMAT",
    "MNO_LOG_FILE",
    "MNO_PORT",
    "MNO_BIND",
    "MNO_DB_PATH",
    "MNO_INTERVAL",
    "MNO_API_TOKEN",
    mno_redis::URL_ENV,
];

/// Load the configuration: `file` (or `MNO_CONFIG`, or the embedded default), then the
/// environment (`env` is a lookup so tests need not touch the process environment), then flags.
pub fn load(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &FlagOverrides,
) -> Result<Effective, LoadError> {
    let env_file = env("MNO_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (loaded, source) = match file.map(Path::to_path_buf).or(env_file) {
        Some(path) => (
            mno_common::load_file_with::<MonitorConfig>(&path, LOAD_OPTIONS)?,
            Source::File(path),
        ),
        None => (
            mno_common::load_str_with::<MonitorConfig>(
                EMBEDDED_NAME,
                DEFAULT_CONFIG_YAML,
                LOAD_OPTIONS,
            )?,
            Source::Embedded,
        ),
    };
    validate(&loaded)?;
    let warnings = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let index = loaded.index;
    let mut config = loaded.value;
    let mut overrides = BTreeMap::new();
    for (var, key) in [
        ("MNO_LOG_LEVEL", "logging.level"),
        ("MNO_LOG_FORMAT", "logging.format"),
        ("MNO_LOG_FILE", "logging.file"),
        ("MNO_PORT", "monitoring.prometheus_port"),
        ("MNO_BIND", "monitoring.bind_address"),
        ("MNO_DB_PATH", "database.path"),
        ("MNO_INTERVAL", "monitoring.interval"),
        ("MNO_API_TOKEN", "alerts.api_token"),
        (mno_redis::URL_ENV, "redis.url"),
    ] {
        if env(var).is_some_and(|v| !v.trim().is_empty() || var == "MNO_LOG_FILE") {
            overrides.insert(key.to_string(), format!("environment {var}"));
        }
    }
    for (set, flag, key) in [
        (flags.log_level.is_some(), "--log-level", "logging.level"),
        (flags.log_format.is_some(), "--log-format", "logging.format"),
        (flags.port.is_some(), "--port", "monitoring.prometheus_port"),
        (flags.bind.is_some(), "--bind", "monitoring.bind_address"),
        (
            flags.interval.is_some(),
            "--interval",
            "monitoring.interval",
        ),
    ] {
        if set {
            overrides.insert(key.to_string(), format!("flag {flag}"));
        }
    }
    apply_env(&mut config, env)?;
    apply_flags(&mut config, flags);
    // Overrides go through the same checks as the file; an error names the variable.
    validate_values(&config).map_err(|(key, message)| LoadError::Env {
        var: format!("override of {key}"),
        value: String::new(),
        message,
    })?;
    Ok(Effective {
        config,
        source,
        warnings,
        index,
        overrides,
    })
}

fn env_err(var: &str, value: &str, message: impl Into<String>) -> LoadError {
    LoadError::Env {
        var: var.into(),
        value: value.into(),
        message: message.into(),
    }
}

fn apply_env(c: &mut MonitorConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<(), LoadError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(v) = get("MNO_LOG_LEVEL") {
        mno_common::logging::level_directive(&v).map_err(|e| env_err("MNO_LOG_LEVEL", &v, e))?;
        c.logging.level = v;
    }
    if let Some(v) = get("MNO_LOG_FORMAT") {
        v.parse::<mno_common::LogFormat>()
            .map_err(|e| env_err("MNO_LOG_FORMAT", &v, e))?;
        c.logging.format = v;
    }
    if let Some(v) = env("MNO_LOG_FILE") {
        c.logging.file = v;
    }
    if let Some(v) = get("MNO_PORT") {
        let p: u16 = v
            .trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| env_err("MNO_PORT", &v, "expected a port number 1-65535"))?;
        c.monitoring.prometheus_port = p.into();
    }
    if let Some(v) = get("MNO_BIND") {
        c.monitoring.bind_address = v;
    }
    if let Some(v) = get("MNO_DB_PATH") {
        c.database.path = v;
    }
    if let Some(v) = get("MNO_INTERVAL") {
        let i: i64 =
            v.trim().parse().ok().filter(|i| *i > 0).ok_or_else(|| {
                env_err("MNO_INTERVAL", &v, "expected a positive number of seconds")
            })?;
        c.monitoring.interval = i;
    }
    if let Some(v) = get("MNO_API_TOKEN") {
        c.alerts.api_token = Some(v.trim().to_string());
    }
    if let Some(v) = get(mno_redis::URL_ENV) {
        c.redis.url = Some(v.trim().to_string());
    }
    Ok(())
}

fn apply_flags(c: &mut MonitorConfig, f: &FlagOverrides) {
    if let Some(v) = &f.log_level {
        c.logging.level = v.clone();
    }
    if let Some(v) = &f.log_format {
        c.logging.format = v.clone();
    }
    if let Some(p) = f.port {
        c.monitoring.prometheus_port = p.into();
    }
    if let Some(b) = &f.bind {
        c.monitoring.bind_address = b.clone();
    }
    if let Some(i) = f.interval {
        c.monitoring.interval = i as i64;
    }
    if f.dry_run {
        c.auto_repair.dry_run = true;
    }
}

/// Check values the types cannot express; errors are located through the file's index.
fn validate(loaded: &Loaded<MonitorConfig>) -> Result<(), ConfigError> {
    validate_values(&loaded.value).map_err(|(key, message)| loaded.invalid(&key, message))
}

/// A finite number above zero (NaN and infinities are not).
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Value checks shared by the file and the overrides: `Err((dotted key, message))`.
pub fn validate_values(c: &MonitorConfig) -> Result<(), (String, String)> {
    let e = |k: &str, m: String| Err((k.to_string(), m));
    c.redis.validate("redis.")?;
    let m = &c.monitoring;
    if m.interval < 1 {
        return e(
            "monitoring.interval",
            format!("must be a positive number of seconds (got {})", m.interval),
        );
    }
    if !(1..=65535).contains(&m.prometheus_port) {
        return e(
            "monitoring.prometheus_port",
            format!("must be a port number 1-65535 (got {})", m.prometheus_port),
        );
    }
    if m.bind_address.parse::<std::net::IpAddr>().is_err() && m.bind_address != "localhost" {
        return e(
            "monitoring.bind_address",
            format!(
                "must be an IP address such as 127.0.0.1 or :: (got {:?})",
                m.bind_address
            ),
        );
    }
    if !positive(m.health_check_timeout) {
        return e(
            "monitoring.health_check_timeout",
            format!(
                "must be a positive number of seconds (got {})",
                m.health_check_timeout
            ),
        );
    }
    for (k, v) in [
        ("monitoring.cpu_threshold", m.cpu_threshold),
        ("monitoring.memory_threshold", m.memory_threshold),
        ("monitoring.disk_threshold", m.disk_threshold),
    ] {
        if !(0.0..=100.0).contains(&v) {
            return e(k, format!("must be a percentage 0-100 (got {v})"));
        }
    }
    if !positive(m.api_response_threshold) {
        return e(
            "monitoring.api_response_threshold",
            format!(
                "must be a positive number of milliseconds (got {})",
                m.api_response_threshold
            ),
        );
    }
    for (k, v) in [
        (
            "monitoring.quantum_fidelity_threshold",
            m.quantum_fidelity_threshold,
        ),
        (
            "monitoring.quantum_error_rate_threshold",
            m.quantum_error_rate_threshold,
        ),
        ("quantum.fidelity_threshold", c.quantum.fidelity_threshold),
        (
            "quantum.error_rate_threshold",
            c.quantum.error_rate_threshold,
        ),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return e(k, format!("must be between 0 and 1 (got {v})"));
        }
    }
    if let Err(msg) = mno_common::logging::level_directive(&c.logging.level) {
        return e("logging.level", msg);
    }
    if let Err(msg) = mno_common::parse_size(&c.logging.max_size) {
        return e("logging.max_size", msg);
    }
    if c.database.retention_days < 1 {
        return e(
            "database.retention_days",
            format!("must be at least 1 (got {})", c.database.retention_days),
        );
    }
    if c.database.backup_interval < 1 {
        return e(
            "database.backup_interval",
            format!(
                "must be a positive number of seconds (got {})",
                c.database.backup_interval
            ),
        );
    }
    for (k, v) in [
        ("database.backup_keep", c.database.backup_keep),
        ("database.chunk_seconds", c.database.chunk_seconds),
        ("database.chunk_max_samples", c.database.chunk_max_samples),
        (
            "database.max_series_per_tick",
            c.database.max_series_per_tick,
        ),
        ("database.max_head_series", c.database.max_head_series),
    ] {
        if v < 1 {
            return e(k, format!("must be at least 1 (got {v})"));
        }
    }
    if c.database.chunk_max_samples > 1_000_000 {
        return e(
            "database.chunk_max_samples",
            format!(
                "must be at most 1000000 (got {})",
                c.database.chunk_max_samples
            ),
        );
    }
    if c.database.path.trim().is_empty() {
        return e("database.path", "must not be empty".into());
    }
    if !positive(c.network.timeout) {
        return e(
            "network.timeout",
            format!("must be positive (got {})", c.network.timeout),
        );
    }
    if !positive(c.quantum.coherence_time_threshold) {
        return e(
            "quantum.coherence_time_threshold",
            format!(
                "must be a positive number of microseconds (got {})",
                c.quantum.coherence_time_threshold
            ),
        );
    }
    if let Err(msg) = crate::collectors::quantum::QuantumCollector::new(&c.quantum, &c.network) {
        let (key, rest) = msg.split_once(": ").unwrap_or(("quantum", msg.as_str()));
        return e(key, rest.to_string());
    }
    if let Err(msg) = c.collectors.build() {
        // `build` names the key in its message as `collectors.x.y: …`.
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        let (key, rest) = msg.split_once(": ").unwrap_or(("collectors", msg.as_str()));
        return e(key, rest.to_string());
    }
    if let Err(msg) = c
        .collectors
        .kubernetes
        .0
        .validate(&c.services.discovery_namespaces)
    {
        let (key, rest) = msg
            .split_once(": ")
            .unwrap_or(("collectors.kubernetes", &msg));
        return e(key, rest.to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, chk) in c.http_checks.iter().enumerate() {
        let at = |f: &str| format!("http_checks.{i}.{f}");
        if chk.name.trim().is_empty() {
            return e(&at("name"), "must not be empty".into());
        }
        if !seen.insert(chk.name.clone()) {
            return e(&at("name"), format!("duplicate check name {:?}", chk.name));
        }
        if let Err(msg) = crate::checks::resolve_url(&c.network.base_url, &chk.url) {
            return e(&at("url"), msg);
        }
        if reqwest::Method::from_bytes(chk.method.to_ascii_uppercase().as_bytes()).is_err() {
            return e(
                &at("method"),
                format!("invalid HTTP method {:?}", chk.method),
            );
        }
        if let Some(s) = chk
            .expected_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return e(
                &at("expected_status"),
                format!("{s} is not an HTTP status code"),
            );
        }
        for (f, v) in [("timeout", chk.timeout), ("interval", chk.interval)] {
            if let Some(v) = v.filter(|v| !positive(*v)) {
                return e(
                    &at(f),
                    format!("must be a positive number of seconds (got {v})"),
                );
            }
        }
    }
    if let Err(msg) = crate::sinks::remote_write::remotes(&c.remote_write) {
        let (key, rest) = msg
            .split_once(": ")
            .unwrap_or(("remote_write", msg.as_str()));
        return e(key, rest.to_string());
    }
    crate::alerts::rules::validate_config_rules(c)?;
    crate::alerts::settings::Settings::build(c)?;
    for (layer, map) in [
        ("foundation_layer", &c.services.foundation_layer),
        ("intelligence_layer", &c.services.intelligence_layer),
        ("quantum_layer", &c.services.quantum_layer),
    ] {
        for (name, url) in map {
            if let Err(msg) = crate::checks::resolve_url(&c.network.base_url, url) {
                return e(&format!("services.{layer}.{name}"), msg);
            }
        }
    }
    Ok(())
}

impl MonitorConfig {
    /// The configuration as YAML, with secrets masked (for `config show`).
    pub fn to_yaml_masked(&self) -> Result<String, String> {
        let mut c = self.clone();
        if c.network.auth_token.is_some() {
            c.network.auth_token = Some("***".into());
        }
        for v in c.network.headers.values_mut() {
            *v = "***".into();
        }
        if c.alerts.api_token.is_some() {
            c.alerts.api_token = Some("***".into());
        }
        if c.redis.password.is_some() {
            c.redis.password = Some("***".into());
        }
        c.redis.url = c.redis.url.as_deref().map(mno_redis::mask_url);
        for r in &mut c.remote_write {
            if r.bearer_token.is_some() {
                r.bearer_token = Some("***".into());
            }
            for v in r.headers.values_mut() {
                *v = "***".into();
            }
        }
        for n in &mut c.alerts.notifiers {
            n.url = n.url.as_deref().map(mno_redis::mask_url);
            if n.bearer_token.is_some() {
                n.bearer_token = Some("***".into());
            }
            for v in n.headers.values_mut() {
                *v = "***".into();
            }
        }
        serde_saphyr::to_string(&c).map_err(|e| e.to_string())
    }

    /// The log settings this configuration asks for.
    pub fn log_settings(&self) -> mno_common::LogSettings {
        self.logging.settings()
    }
}

/// The JSON Schema of the configuration file, as committed in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(MonitorConfig);
    let mut v = serde_json::to_value(schema).unwrap_or_default();
    // Every mapping value may be null (it then takes its default; see LOAD_OPTIONS).
    allow_null_values(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "$id".into(),
            "https://machinenativeops.dev/schemas/auto-monitor-config.schema.json".into(),
        );
    }
    v
}

/// Make the value schema of every property and map entry in `schema` accept null too.
fn allow_null_values(schema: &mut serde_json::Value) {
    use serde_json::Value;
    fn or_null(s: &mut Value) {
        let Some(o) = s.as_object_mut() else {
            return;
        };
        match o.get_mut("type") {
            Some(Value::String(t)) if t != "null" => {
                let t = std::mem::take(t);
                o.insert("type".into(), Value::Array(vec![t.into(), "null".into()]));
            }
            Some(Value::Array(ts)) => {
                if !ts.iter().any(|t| t == "null") {
                    ts.push("null".into());
                }
            }
            Some(_) => {}
            None => {
                if let Some(Value::Array(alts)) = o.get_mut("anyOf") {
                    if !alts
                        .iter()
                        .any(|a| a.get("type").is_some_and(|t| t == "null"))
                    {
                        alts.push(serde_json::json!({"type": "null"}));
                    }
                } else if let Some(r) = o.remove("$ref") {
                    o.insert(
                        "anyOf".into(),
                        serde_json::json!([{"$ref": r}, {"type": "null"}]),
                    );
                }
            }
        }
        if let Some(Value::Array(e)) = o.get_mut("enum")
            && !e.contains(&Value::Null)
        {
            e.push(Value::Null);
        }
    }
    match schema {
        Value::Object(o) => {
            if let Some(Value::Object(props)) = o.get_mut("properties") {
                for p in props.values_mut() {
                    or_null(p);
                }
            }
            if let Some(ap @ Value::Object(_)) = o.get_mut("additionalProperties") {
                or_null(ap);
            }
            for v in o.values_mut() {
                allow_null_values(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(allow_null_values),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn embedded_default_matches_built_in_defaults() {
        let eff = load(None, &no_env, &FlagOverrides::default()).unwrap();
        assert!(eff.warnings.is_empty(), "{:?}", eff.warnings);
        assert_eq!(eff.config, MonitorConfig::default());
    }

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "monitoring:\n  interval: 10\n  prometheus_port: 9000\n").unwrap();
        let env = |k: &str| match k {
            "MNO_PORT" => Some("9100".to_string()),
            "MNO_INTERVAL" => Some("7".to_string()),
            _ => None,
        };
        let flags = FlagOverrides {
            interval: Some(3),
            ..Default::default()
        };
        let eff = load(Some(&f), &env, &flags).unwrap();
        assert_eq!(eff.config.monitoring.prometheus_port, 9100);
        assert_eq!(eff.config.monitoring.interval, 3);
        assert_eq!(eff.config.monitoring.cpu_threshold, 80.0);
    }

    #[test]
    fn negative_interval_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "# x\nmonitoring:\n  interval: -5\n").unwrap();
        let err = load(Some(&f), &no_env, &FlagOverrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("c.yaml:3:3: monitoring.interval: must be a positive"),
            "{msg}"
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let env = |k: &str| (k == "MNO_PORT").then(|| "eighty".to_string());
        let err = load(None, &env, &FlagOverrides::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment MNO_PORT=\"eighty\""),
            "{err}"
        );
    }

    #[test]
    fn config_show_masks_secrets() {
        let mut c = MonitorConfig::default();
        c.network.auth_token = Some("s3cret".into());
        let y = c.to_yaml_masked().unwrap();
        assert!(!y.contains("s3cret"));
        let back: MonitorConfig = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(back.monitoring, c.monitoring);
    }
}
