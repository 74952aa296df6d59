//! `super-agent.yaml`: the server's configuration, its defaults, validation and overrides.
//!
//! Loading follows the Auto-Monitor's rules (mno-common): built-in defaults < file <
//! `MNO_AGENT_*` environment < command-line flags; a wrong value names file, line, column
//! and key; an unknown key warns with its location. The file is `--config PATH`, else
//! `MNO_AGENT_CONFIG`, else `./super-agent.yaml` when present, else none (defaults).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mno_common::{ConfigError, Loaded};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file looked for in the working directory when none is named.
pub const DEFAULT_FILE: &str = "super-agent.yaml";

/// The whole SuperAgent configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(title = "MachineNativeOps SuperAgent configuration (super-agent.yaml)")]
pub struct AgentConfig {
    /// Address to listen on (`MNO_AGENT_BIND`, `--bind`). The default keeps the API on this host.
    pub bind: String,
    /// Port to listen on (`MNO_AGENT_PORT`, `--port`).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u32,
    /// Bearer token that every state-changing request (POST) must present as
    /// `Authorization: Bearer <token>`. `MNO_AGENT_TOKEN` overrides it. Unset: POSTs are open
    /// (fine on 127.0.0.1; set one before binding another address).
    pub token: Option<String>,
    /// Directories a gate request may name: `artifacts.root` must resolve (symlinks followed)
    /// inside one of them. Relative entries are relative to the working directory; a relative
    /// `artifacts.root` is relative to the first entry. `MNO_AGENT_ALLOWED_ROOTS`
    /// (`:`-separated) and `--allowed-root` replace the list.
    pub allowed_roots: Vec<String>,
    /// Data directory: the state store `super-agent.db` and, by default, `reports/`. When it is
    /// not writable a per-user directory is used (`~/.local/share/machinenativenops/super_agent`).
    /// `MNO_AGENT_DATA_DIR`, `--data-dir`.
    pub data_dir: String,
    /// Where gate reports are written, one folder per validation id. Default: `<data_dir>/reports`.
    pub reports_dir: Option<String>,
    /// State store: `sqlite` (`<data_dir>/super-agent.db`, survives restarts), `memory`, or
    /// `redis` (shared by several servers, `redis.url`; docs/redis.md). `MNO_AGENT_STORE`.
    /// When `redis.url` is set and `store` is not, the store is Redis.
    pub store: StoreBackend,
    /// The Redis server (`redis.url` / `MNO_REDIS_URL`, ACL user, password, `rediss://`).
    pub redis: mno_redis::RedisConfig,
    /// Gate runs at once; more are queued. Checks are CPU heavy: keep this near the CPU count.
    #[schemars(range(min = 1, max = 256))]
    pub max_concurrent_gates: usize,
    /// Gate runs waiting for a slot; beyond this a request gets 503 with Retry-After.
    #[schemars(range(min = 1))]
    pub max_queued_gates: usize,
    /// Largest request body accepted, in bytes; a larger one gets 413.
    #[schemars(range(min = 1024))]
    pub max_body_bytes: u64,
    /// Seconds a `wait=true` request waits for its gate before answering 202 with the job.
    pub wait_timeout: f64,
    /// Seconds a shutdown waits for running gates before marking them interrupted.
    pub shutdown_timeout: f64,
    /// An Auto-Monitor's base URL (`http://127.0.0.1:8000`); when set, each gate report carries
    /// the monitor's health, usage and firing alerts. `MNO_AGENT_MONITOR_URL`.
    pub monitor_url: Option<String>,
    /// Seconds to wait for the Auto-Monitor.
    pub monitor_timeout: f64,
    /// Base URL of file links in `report.md`; `{repository}` and `{commit_sha}` are replaced
    /// (`https://github.com/{repository}/blob/{commit_sha}`). Unset: plain locations.
    pub link_base: Option<String>,
    /// What build commands (`build_verification`) from the repositories may see.
    pub build_sandbox: BuildSandboxConfig,
    /// Pruning of finished jobs, incidents and report folders.
    pub retention: RetentionConfig,
    /// Log level, format and file.
    pub logging: LoggingConfig,
    /// Proposed fixes for each gate run's findings, as patches in its report folder
    /// (`patches/`; never applied by the server). Off unless `enabled`.
    pub autofix: mno_gates::AutofixConfig,
}

/// `build_sandbox:` — builds run with a cleared environment and, with Landlock, without
/// access to the data directory (store, reports, evidence key) or this configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BuildSandboxConfig {
    /// Environment variables passed through to builds by name (they get only `PATH`, the
    /// locale, a scratch `HOME` and `TMPDIR`, `CARGO_HOME` and `RUSTUP_HOME` otherwise).
    pub env_passthrough: Vec<String>,
    /// More paths builds may not read, list or write (the data directory, reports
    /// directory and configuration file always are).
    pub protected: Vec<String>,
    /// More folders builds may write (shared caches); the repository, the scratch `HOME`,
    /// `/tmp`, `/dev` and cargo's download caches always are.
    pub writable: Vec<String>,
    /// Refuse to build (the check is ERROR) when the kernel has no Landlock, instead of
    /// building with only a cleared environment and a warning finding.
    pub require: bool,
}

/// `retention:` — finished jobs and incidents are pruned by age and by count, at start and
/// every `interval`; queued and running jobs never are. A pruned job's report folder goes too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds a finished job is kept after it ended; 0 keeps them whatever their age.
    pub jobs_max_age: f64,
    /// Finished jobs kept (the newest); 0 means no limit.
    pub jobs_max_count: usize,
    /// Seconds an incident is kept after it was opened; 0 keeps them whatever their age.
    pub incidents_max_age: f64,
    /// Incidents kept (the newest); 0 means no limit.
    pub incidents_max_count: usize,
    /// Also remove folders in the reports directory that belong to no job (left by a crash
    /// or a deleted store), once older than `jobs_max_age`.
    pub prune_orphan_reports: bool,
    /// Seconds between two pruning passes.
    #[schemars(range(min = 1.0))]
    pub interval: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            jobs_max_age: 30.0 * 86400.0,
            jobs_max_count: 10_000,
            incidents_max_age: 90.0 * 86400.0,
            incidents_max_count: 10_000,
            prune_orphan_reports: true,
            interval: 3600.0,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            bind: "127.0.0.1".into(),
            port: 8082,
            token: None,
            allowed_roots: vec![".".into()],
            data_dir: "/var/lib/machinenativenops/super-agent".into(),
            reports_dir: None,
            store: StoreBackend::Sqlite,
            redis: mno_redis::RedisConfig::default(),
            max_concurrent_gates: 2,
            max_queued_gates: 256,
            max_body_bytes: 1 << 20,
            wait_timeout: 300.0,
            shutdown_timeout: 30.0,
            monitor_url: None,
            monitor_timeout: 5.0,
            link_base: None,
            build_sandbox: BuildSandboxConfig::default(),
            retention: RetentionConfig::default(),
            logging: LoggingConfig::default(),
            autofix: mno_gates::AutofixConfig::default(),
        }
    }
}

/// Which state store backs jobs and incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in the data directory (WAL); jobs and incidents survive restarts.
    Sqlite,
    /// In memory; everything is lost at exit (tests, throwaway runs).
    Memory,
    /// Redis (`redis.url`): jobs in a stream shared by every server on it (docs/redis.md).
    Redis,
}

/// `logging:` — level, format and an optional rotated file (none by default: stderr only).
pub type LoggingConfig = mno_common::LoggingConfig;

/// Where the file part of the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No file: built-in defaults.
    Defaults,
    /// A file on disk.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Defaults => f.write_str("<built-in defaults>"),
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
    /// `--data-dir`.
    pub data_dir: Option<String>,
    /// `--allowed-root` (repeatable; replaces the list).
    pub allowed_roots: Vec<String>,
}

/// A loaded, validated configuration and what was noticed while loading it.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The configuration after defaults, file, environment and flags.
    pub config: AgentConfig,
    /// Where the file part came from.
    pub source: Source,
    /// Unknown keys, ready to log.
    pub warnings: Vec<String>,
    /// Key locations in the file, to say where a value came from.
    pub index: mno_common::PathIndex,
    /// Keys set by the environment or flags: key → `environment MNO_AGENT_PORT` / `flag --port`.
    pub overrides: BTreeMap<String, String>,
    /// `allowed_roots`, canonicalized (each exists and is a directory).
    pub allowed_roots: Vec<PathBuf>,
}

impl Effective {
    /// Where the value of `key` came from: a flag, a variable, `file:line:col: key` or the default.
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
    /// An environment variable or flag has an unusable value.
    #[error("{origin}: {message}")]
    Override {
        /// `environment MNO_AGENT_PORT="x"` or `flag --bind`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Environment variables read (besides MNO_LOG_LEVEL / MNO_LOG_FORMAT, read as flags).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("MNO_AGENT_BIND", "bind"),
    ("MNO_AGENT_PORT", "port"),
    ("MNO_AGENT_TOKEN", "token"),
    ("MNO_AGENT_DATA_DIR", "data_dir"),
    ("MNO_AGENT_ALLOWED_ROOTS", "allowed_roots"),
    ("MNO_AGENT_MONITOR_URL", "monitor_url"),
    ("MNO_AGENT_STORE", "store"),
    (mno_redis::URL_ENV, "redis.url"),
];

/// The file to read: `file`, else `MNO_AGENT_CONFIG`, else `./super-agent.yaml` if present.
pub fn config_path(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(f) = file {
        return Some(f.to_path_buf());
    }
    if let Some(v) = env("MNO_AGENT_CONFIG").filter(|v| !v.trim().is_empty()) {
        return Some(PathBuf::from(v));
    }
    let local = Path::new(DEFAULT_FILE);
    local.is_file().then(|| local.to_path_buf())
}

/// Load the configuration (see the module docs for the order); `env` is a lookup so tests
/// need not touch the process environment.
pub fn load(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &FlagOverrides,
) -> Result<Effective, LoadError> {
    let (loaded, source) = match config_path(file, env) {
        Some(path) => (
            mno_common::load_file::<AgentConfig>(&path)?,
            Source::File(path),
        ),
        None => (
            mno_common::load_str::<AgentConfig>("<built-in defaults>", "")?,
            Source::Defaults,
        ),
    };
    validate_file(&loaded)?;
    let warnings = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let index = loaded.index;
    let mut config = loaded.value;
    let mut overrides = BTreeMap::new();
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    for (var, key) in ENV_VARS {
        if let Some(v) = get(var) {
            // Never echo the token, not even in an error message.
            let shown = if *var == "MNO_AGENT_TOKEN" {
                "***".to_string()
            } else if *var == mno_redis::URL_ENV {
                mno_redis::mask_url(&v)
            } else {
                v.clone()
            };
            let origin = format!("environment {var}={shown:?}");
            apply(&mut config, key, &v).map_err(|message| LoadError::Override {
                origin: origin.clone(),
                message,
            })?;
            overrides.insert(key.to_string(), format!("environment {var}"));
        }
    }
    let mut flag_values: Vec<(&str, &str, String)> = Vec::new();
    if let Some(v) = &flags.log_level {
        flag_values.push(("--log-level", "logging.level", v.clone()));
    }
    if let Some(v) = &flags.log_format {
        flag_values.push(("--log-format", "logging.format", v.clone()));
    }
    if let Some(v) = flags.port {
        flag_values.push(("--port", "port", v.to_string()));
    }
    if let Some(v) = &flags.bind {
        flag_values.push(("--bind", "bind", v.clone()));
    }
    if let Some(v) = &flags.data_dir {
        flag_values.push(("--data-dir", "data_dir", v.clone()));
    }
    if !flags.allowed_roots.is_empty() {
        let joined = std::env::join_paths(&flags.allowed_roots)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        flag_values.push(("--allowed-root", "allowed_roots", joined));
    }
    for (flag, key, v) in flag_values {
        apply(&mut config, key, &v).map_err(|message| LoadError::Override {
            origin: format!("flag {flag} {v:?}"),
            message,
        })?;
        overrides.insert(key.to_string(), format!("flag {flag}"));
    }
    // `redis.url` alone selects the Redis store; an explicit `store` wins.
    if config.redis.enabled() && index.locate("store").is_none() && !overrides.contains_key("store")
    {
        config.store = StoreBackend::Redis;
    }
    // Overrides go through the same checks as the file; an error names where the value came from.
    let allowed_roots = match validate_values(&config) {
        Ok(roots) => roots,
        Err((key, message)) => {
            return Err(match overrides.get(&key) {
                Some(origin) => LoadError::Override {
                    origin: origin.clone(),
                    message: format!("{key}: {message}"),
                },
                None => LoadError::File(ConfigError::Invalid {
                    file: source.to_string(),
                    loc: index.locate(&key).unwrap_or_default(),
                    key,
                    message,
                }),
            });
        }
    };
    Ok(Effective {
        config,
        source,
        warnings,
        index,
        overrides,
        allowed_roots,
    })
}

/// Set one overridable key from its text form.
fn apply(c: &mut AgentConfig, key: &str, v: &str) -> Result<(), String> {
    let v = v.trim();
    match key {
        "bind" => c.bind = v.to_string(),
        "port" => {
            c.port = v
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("expected a port number 1-65535")?
                .into()
        }
        "token" => c.token = Some(v.to_string()),
        "data_dir" => c.data_dir = v.to_string(),
        "allowed_roots" => {
            c.allowed_roots = std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.display().to_string())
                .collect()
        }
        "monitor_url" => c.monitor_url = Some(v.to_string()),
        "store" => {
            c.store = match v {
                "sqlite" => StoreBackend::Sqlite,
                "memory" => StoreBackend::Memory,
                "redis" => StoreBackend::Redis,
                _ => return Err("expected sqlite, memory or redis".into()),
            }
        }
        "redis.url" => c.redis.url = Some(v.to_string()),
        "logging.level" => c.logging.level = v.to_string(),
        "logging.format" => c.logging.format = v.to_string(),
        _ => return Err(format!("{key} cannot be overridden")),
    }
    Ok(())
}

/// Check the file's values, locating an error through its index.
fn validate_file(loaded: &Loaded<AgentConfig>) -> Result<(), ConfigError> {
    validate_values(&loaded.value)
        .map(|_| ())
        .map_err(|(key, message)| loaded.invalid(&key, message))
}

/// A finite number above zero (NaN and infinities are not).
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Value checks shared by the file and the overrides; returns the canonical allowed roots.
pub fn validate_values(c: &AgentConfig) -> Result<Vec<PathBuf>, (String, String)> {
    let e = |k: &str, m: String| Err((k.to_string(), m));
    if !(1..=65535).contains(&c.port) {
        return e(
            "port",
            format!("must be a port number 1-65535 (got {})", c.port),
        );
    }
    if c.bind != "localhost" && c.bind.parse::<std::net::IpAddr>().is_err() {
        return e(
            "bind",
            format!(
                "must be an IP address such as 127.0.0.1 or :: (got {:?})",
                c.bind
            ),
        );
    }
    if let Some(t) = &c.token
        && (t.trim().is_empty() || t.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
    {
        return e(
            "token",
            "must be non-empty and without spaces (leave it out to disable)".into(),
        );
    }
    if c.allowed_roots.is_empty() {
        return e(
            "allowed_roots",
            "must list at least one directory (the default is the working directory)".into(),
        );
    }
    let mut roots = Vec::new();
    for (i, r) in c.allowed_roots.iter().enumerate() {
        let key = format!("allowed_roots.{i}");
        if r.trim().is_empty() {
            return e(&key, "must not be empty".into());
        }
        match std::fs::canonicalize(r) {
            Ok(p) if p.is_dir() => roots.push(p),
            Ok(_) => return e(&key, format!("{r}: not a directory")),
            Err(err) => return e(&key, format!("{r}: {err}")),
        }
    }
    if c.data_dir.trim().is_empty() {
        return e("data_dir", "must not be empty".into());
    }
    if c.reports_dir.as_ref().is_some_and(|r| r.trim().is_empty()) {
        return e(
            "reports_dir",
            "must not be empty (leave it out for <data_dir>/reports)".into(),
        );
    }
    if !(1..=256).contains(&c.max_concurrent_gates) {
        return e(
            "max_concurrent_gates",
            format!("must be 1-256 (got {})", c.max_concurrent_gates),
        );
    }
    if c.max_queued_gates < 1 {
        return e("max_queued_gates", "must be at least 1".into());
    }
    if !(1024..=(1 << 30)).contains(&c.max_body_bytes) {
        return e(
            "max_body_bytes",
            format!(
                "must be between 1024 and 1073741824 bytes (got {})",
                c.max_body_bytes
            ),
        );
    }
    for (k, v) in [
        ("wait_timeout", c.wait_timeout),
        ("shutdown_timeout", c.shutdown_timeout),
        ("monitor_timeout", c.monitor_timeout),
        ("retention.interval", c.retention.interval),
    ] {
        if !positive(v) {
            return e(k, format!("must be a positive number of seconds (got {v})"));
        }
    }
    for (k, v) in [
        ("retention.jobs_max_age", c.retention.jobs_max_age),
        ("retention.incidents_max_age", c.retention.incidents_max_age),
    ] {
        if !v.is_finite() || v < 0.0 {
            return e(
                k,
                format!("must be a number of seconds, 0 for no age limit (got {v})"),
            );
        }
    }
    for (i, n) in c.build_sandbox.env_passthrough.iter().enumerate() {
        if n.is_empty() || n.contains('=') || n.contains('\0') {
            return e(
                &format!("build_sandbox.env_passthrough.{i}"),
                format!("must be a variable name (got {n:?})"),
            );
        }
    }
    if let Some(u) = &c.monitor_url {
        match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => {
                return e(
                    "monitor_url",
                    format!("must be an http or https URL (got scheme {})", url.scheme()),
                );
            }
            Err(err) => return e("monitor_url", format!("{u:?} is not a URL: {err}")),
        }
    }
    c.redis.validate("redis.")?;
    if c.store == StoreBackend::Redis && !c.redis.enabled() {
        return e(
            "store",
            format!(
                "redis needs redis.url (or {}) to be set",
                mno_redis::URL_ENV
            ),
        );
    }
    if let Err(msg) = mno_common::logging::level_directive(&c.logging.level) {
        return e("logging.level", msg);
    }
    if let Err(msg) = c.logging.format.parse::<mno_common::LogFormat>() {
        return e("logging.format", msg);
    }
    if let Err(msg) = mno_common::parse_size(&c.logging.max_size) {
        return e("logging.max_size", msg);
    }
    Ok(roots)
}

impl AgentConfig {
    /// The configuration as YAML with the token masked (for `config show`).
    pub fn to_yaml_masked(&self) -> Result<String, String> {
        let mut c = self.clone();
        if c.token.is_some() {
            c.token = Some("***".into());
        }
        if c.redis.password.is_some() {
            c.redis.password = Some("***".into());
        }
        c.redis.url = c.redis.url.as_deref().map(mno_redis::mask_url);
        serde_saphyr::to_string(&c).map_err(|e| e.to_string())
    }

    /// The log settings this configuration asks for.
    pub fn log_settings(&self) -> mno_common::LogSettings {
        self.logging.settings()
    }

    /// The token in force, if any (an empty one means none).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// The JSON Schema of `super-agent.yaml`, as committed in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    crate::messages::schema_with_id::<AgentConfig>("super-agent-config.schema.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("super-agent.yaml");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn defaults_load_without_a_file() {
        let eff = load(
            Some(Path::new("/nonexistent/x.yaml")),
            &no_env,
            &FlagOverrides::default(),
        );
        assert!(eff.is_err());
        let (_d, p) = file("");
        let eff = load(Some(&p), &no_env, &FlagOverrides::default()).unwrap();
        assert_eq!(eff.config, AgentConfig::default());
        assert_eq!(eff.allowed_roots.len(), 1);
        assert_eq!(eff.origin("port"), "port (default)");
    }

    #[test]
    fn precedence_is_file_then_env_then_flags() {
        let (_d, p) = file("port: 9000\nbind: 127.0.0.1\n");
        let env = |k: &str| (k == "MNO_AGENT_PORT").then(|| "9100".to_string());
        let eff = load(Some(&p), &env, &FlagOverrides::default()).unwrap();
        assert_eq!(eff.config.port, 9100);
        assert_eq!(eff.origin("port"), "environment MNO_AGENT_PORT");
        assert!(
            eff.origin("bind").ends_with(":2:1: bind"),
            "{}",
            eff.origin("bind")
        );
        let flags = FlagOverrides {
            port: Some(9200),
            ..Default::default()
        };
        let eff = load(Some(&p), &env, &flags).unwrap();
        assert_eq!(eff.config.port, 9200);
        assert_eq!(eff.origin("port"), "flag --port");
    }

    #[test]
    fn retention_and_build_sandbox_values_are_checked_and_located() {
        for (text, want) in [
            (
                "retention:\n  jobs_max_age: -1\n",
                "super-agent.yaml:2:3: retention.jobs_max_age",
            ),
            (
                "retention:\n  interval: 0\n",
                "super-agent.yaml:2:3: retention.interval",
            ),
            (
                "build_sandbox:\n  env_passthrough: [\"A=B\"]\n",
                "build_sandbox.env_passthrough.0",
            ),
        ] {
            let (_d, p) = file(text);
            let err = load(Some(&p), &no_env, &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        let (_d, p) = file("retention:\n  jobs_max_count: 5\n  jobs_max_age: 0\n");
        let eff = load(Some(&p), &no_env, &FlagOverrides::default()).unwrap();
        assert_eq!(eff.config.retention.jobs_max_count, 5);
        assert_eq!(eff.config.retention.interval, 3600.0);
    }

    #[test]
    fn a_wrong_value_is_located() {
        let (_d, p) = file("bind: 127.0.0.1\nmax_concurrent_gates: 0\n");
        let err = load(Some(&p), &no_env, &FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("super-agent.yaml:2:1: max_concurrent_gates"),
            "{err}"
        );
        let (_d, p) = file("allowed_roots:\n  - /definitely/not/here\n");
        let err = load(Some(&p), &no_env, &FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:5: allowed_roots.0"), "{err}");
    }

    #[test]
    fn a_bad_token_from_the_environment_is_not_echoed() {
        let env = |k: &str| (k == "MNO_AGENT_TOKEN").then(|| "has space secret".to_string());
        let err = load(None, &env, &FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("MNO_AGENT_TOKEN"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn redis_url_selects_the_redis_store_unless_store_is_set() {
        let env = |k: &str| {
            (k == "MNO_REDIS_URL").then(|| "redis://agent:s3cr3t@127.0.0.1:6390/1".to_string())
        };
        let eff = load(None, &env, &FlagOverrides::default()).unwrap();
        assert_eq!(eff.config.store, StoreBackend::Redis);
        assert_eq!(eff.origin("redis.url"), "environment MNO_REDIS_URL");
        let y = eff.config.to_yaml_masked().unwrap();
        assert!(!y.contains("s3cr3t"), "{y}");
        let (_d, p) = file("store: sqlite\n");
        let eff = load(Some(&p), &env, &FlagOverrides::default()).unwrap();
        assert_eq!(eff.config.store, StoreBackend::Sqlite);
        let bad = |k: &str| (k == "MNO_REDIS_URL").then(|| "http://x".to_string());
        let err = load(None, &bad, &FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MNO_REDIS_URL") && err.contains("redis.url"),
            "{err}"
        );
    }

    #[test]
    fn masked_yaml_hides_the_token() {
        let c = AgentConfig {
            token: Some("s3cr3t".into()),
            ..Default::default()
        };
        let y = c.to_yaml_masked().unwrap();
        assert!(!y.contains("s3cr3t"), "{y}");
        assert!(y.contains("***"), "{y}");
    }
}
