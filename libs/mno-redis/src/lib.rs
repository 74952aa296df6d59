//! What the Auto-Monitor and the SuperAgent share about Redis: the `redis:` configuration
//! section (`url`, ACL user, password, `rediss://`), connecting (a reconnecting
//! [`ConnectionManager`] for async code, a timed [`SyncConn`] for the agent's synchronous
//! state store), the key layout ([`Keys`], documented in `docs/redis.md`) and the host
//! snapshot the monitor writes and the agent reads ([`HostSnapshot`]).

use std::collections::BTreeMap;
use std::time::Duration;

pub use redis;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionInfo, ConnectionLike, IntoConnectionInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The environment variable that sets `redis.url` in both services.
pub const URL_ENV: &str = "MNO_REDIS_URL";

/// `redis:` — the Redis server both services can share (docs/redis.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user[:password]@]host[:port][/db]`, or `rediss://…` for TLS (the system's
    /// root certificates), or `redis+unix:///path`. `MNO_REDIS_URL` overrides it. Unset: no Redis.
    pub url: Option<String>,
    /// ACL user name (instead of putting it in the URL).
    pub username: Option<String>,
    /// Password (instead of putting it in the URL; shown masked by `config show`).
    pub password: Option<String>,
    /// `rediss://` only: a PEM file of the CA certificate(s) to trust instead of the system's
    /// root certificates (a server certificate from a private CA).
    pub ca_file: Option<String>,
    /// Prefix of every key and channel name, so several deployments can share one server.
    pub key_prefix: String,
    /// Seconds to wait for a connection or an answer before calling Redis unavailable.
    pub timeout: f64,
    /// SuperAgent: seconds a finished job's record and report files are kept.
    pub result_ttl: f64,
    /// SuperAgent: seconds a job may stay pending with a silent worker before another
    /// worker claims it (XAUTOCLAIM); also the lease of a job's lock, renewed every third
    /// of it while the job runs.
    pub claim_idle: f64,
    /// Auto-Monitor: seconds a host's snapshot lives after its last collection.
    pub snapshot_ttl: f64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            username: None,
            password: None,
            ca_file: None,
            key_prefix: "mno".into(),
            timeout: 2.0,
            result_ttl: 7.0 * 86400.0,
            claim_idle: 30.0,
            snapshot_ttl: 120.0,
        }
    }
}

/// A Redis failure as the services report it.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The configuration cannot be used (bad URL).
    #[error("redis: {0}")]
    Config(String),
    /// Redis could not be reached, or refused us (auth), or timed out.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered something unexpected (a wrong type, a corrupt record).
    #[error("redis: {0}")]
    Protocol(String),
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::Server(_)
            ) && e.code().is_some_and(|c| {
                matches!(
                    c,
                    "NOAUTH" | "WRONGPASS" | "LOADING" | "MASTERDOWN" | "NOPERM"
                )
            })
        {
            RedisError::Unavailable(e.to_string())
        } else {
            RedisError::Protocol(e.to_string())
        }
    }
}

impl RedisConfig {
    /// Whether Redis is configured.
    pub fn enabled(&self) -> bool {
        self.url.as_deref().is_some_and(|u| !u.trim().is_empty())
    }

    /// Check the values (the URL parses, the timeout is positive); `(key, message)` on error.
    pub fn validate(&self, prefix: &str) -> Result<(), (String, String)> {
        if let Some(u) = &self.url
            && !u.trim().is_empty()
        {
            self.connection_info()
                .map_err(|e| (format!("{prefix}url"), e.to_string()))?;
        }
        if let Some(f) = &self.ca_file {
            std::fs::read(f).map_err(|e| (format!("{prefix}ca_file"), format!("{f}: {e}")))?;
        }
        for (k, v) in [
            ("timeout", self.timeout),
            ("result_ttl", self.result_ttl),
            ("claim_idle", self.claim_idle),
            ("snapshot_ttl", self.snapshot_ttl),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err((
                    format!("{prefix}{k}"),
                    format!("must be a positive number of seconds (got {v})"),
                ));
            }
        }
        if self.key_prefix.is_empty()
            || self
                .key_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err((
                format!("{prefix}key_prefix"),
                "must be non-empty, without spaces".into(),
            ));
        }
        Ok(())
    }

    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// The connection parameters: the URL with `username` / `password` applied.
    pub fn connection_info(&self) -> Result<ConnectionInfo, RedisError> {
        let url = self
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| RedisError::Config("redis.url is not set".into()))?;
        let info = url.trim().into_connection_info().map_err(|e| {
            RedisError::Config(format!("{:?} is not a Redis URL: {e}", mask_url(url)))
        })?;
        let mut settings = info.redis_settings().clone();
        if let Some(u) = self.username.as_deref().filter(|u| !u.is_empty()) {
            settings = settings.set_username(u);
        }
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            settings = settings.set_password(p);
        }
        Ok(info.set_redis_settings(settings))
    }

    /// The URL without its password, for logs.
    pub fn shown_url(&self) -> String {
        self.url.as_deref().map(mask_url).unwrap_or_default()
    }

    /// A client (connects lazily). With `ca_file`, TLS trusts that CA instead of the system's
    /// roots.
    pub fn client(&self) -> Result<redis::Client, RedisError> {
        let info = self.connection_info()?;
        match &self.ca_file {
            None => redis::Client::open(info),
            Some(f) => {
                let pem = std::fs::read(f)
                    .map_err(|e| RedisError::Config(format!("redis.ca_file {f}: {e}")))?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
        }
        .map_err(|e| RedisError::Config(e.to_string()))
    }

    /// A connection manager: one multiplexed connection that reconnects by itself (after a
    /// failed command, with backoff capped at one second, so service resumes within about a
    /// second of Redis returning). The first connection is made lazily, so this succeeds
    /// while Redis is down.
    pub fn manager(&self) -> Result<ConnectionManager, RedisError> {
        let t = self.timeout();
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(t))
            .set_response_timeout(Some(t))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        ConnectionManager::new_lazy_with_config(self.client()?, cfg)
            .map_err(|e| RedisError::Config(e.to_string()))
    }

    /// The key layout under `key_prefix`.
    pub fn keys(&self) -> Keys {
        Keys {
            prefix: self.key_prefix.clone(),
        }
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{auth}@{host}"),
        },
        None => url.to_string(),
    }
}

/// A synchronous connection for code that cannot await (the agent's state store): connects
/// on first use with the configured timeout, reconnects after any failure, and reports
/// Redis down as [`RedisError::Unavailable`] within about the timeout.
pub struct SyncConn {
    client: redis::Client,
    timeout: Duration,
    conn: std::sync::Mutex<Option<redis::Connection>>,
}

impl SyncConn {
    /// A connection to the configured server (nothing is connected yet).
    pub fn new(cfg: &RedisConfig) -> Result<SyncConn, RedisError> {
        Ok(SyncConn {
            client: cfg.client()?,
            timeout: cfg.timeout(),
            conn: std::sync::Mutex::new(None),
        })
    }

    /// Run `f` on the connection (connecting first when needed). A failure that leaves the
    /// connection unusable drops it, so the next call reconnects.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisError> {
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let c = self.client.get_connection_with_timeout(self.timeout)?;
            c.set_read_timeout(Some(self.timeout))?;
            c.set_write_timeout(Some(self.timeout))?;
            *g = Some(c);
        }
        let Some(c) = g.as_mut() else {
            return Err(RedisError::Unavailable("no connection".into()));
        };
        match f(c) {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = RedisError::from(e);
                if matches!(err, RedisError::Unavailable(_)) || !c.is_open() {
                    *g = None;
                }
                Err(err)
            }
        }
    }
}

/// Key and channel names (all under the prefix; see docs/redis.md).
#[derive(Debug, Clone)]
pub struct Keys {
    /// `redis.key_prefix`.
    pub prefix: String,
}

impl Keys {
    /// The gate job stream.
    pub fn jobs_stream(&self) -> String {
        format!("{}:gate:jobs", self.prefix)
    }
    /// The consumer group of the SuperAgent workers on the job stream.
    pub fn jobs_group(&self) -> String {
        "super-agent".into()
    }
    /// A job's record (JSON string, with a TTL once finished).
    pub fn job(&self, id: &str) -> String {
        format!("{}:gate:job:{id}", self.prefix)
    }
    /// Jobs by last update (sorted set, score = update sequence).
    pub fn jobs_index(&self) -> String {
        format!("{}:gate:jobs-by-update", self.prefix)
    }
    /// The update sequence counter.
    pub fn jobs_seq(&self) -> String {
        format!("{}:gate:seq", self.prefix)
    }
    /// The running lock of a job (`SET NX PX`, owner = worker and run).
    pub fn lock(&self, id: &str) -> String {
        format!("{}:gate:lock:{id}", self.prefix)
    }
    /// A job's report files (hash: file name → content, with the job's TTL).
    pub fn reports(&self, id: &str) -> String {
        format!("{}:gate:reports:{id}", self.prefix)
    }
    /// The evidence chain head of the chain signed by `key_id`.
    pub fn evidence_head(&self, key_id: &str) -> String {
        format!("{}:evidence:head:{key_id}", self.prefix)
    }
    /// Evidence records (DSSE lines) of a chain by seq (sorted set).
    pub fn evidence_records(&self, key_id: &str) -> String {
        format!("{}:evidence:records:{key_id}", self.prefix)
    }
    /// Incidents by id (hash: id → JSON).
    pub fn incidents(&self) -> String {
        format!("{}:incidents", self.prefix)
    }
    /// The last incident id given.
    pub fn incident_seq(&self) -> String {
        format!("{}:incidents:seq", self.prefix)
    }
    /// Open incident id by alert fingerprint (hash).
    pub fn incident_open(&self) -> String {
        format!("{}:incidents:open", self.prefix)
    }
    /// A monitored host's latest snapshot (hash, with a TTL).
    pub fn host(&self, host: &str) -> String {
        format!("{}:monitor:host:{host}", self.prefix)
    }
    /// Monitored hosts by last snapshot time (sorted set, score = unix seconds).
    pub fn hosts(&self) -> String {
        format!("{}:monitor:hosts", self.prefix)
    }
    /// The pub/sub channel of alert notifications.
    pub fn alerts_channel(&self) -> String {
        format!("{}:alerts", self.prefix)
    }
}

/// A monitored host's latest state as the Auto-Monitor writes it (one hash per host; each
/// field a string, the lists as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostSnapshot {
    /// The host name.
    pub host: String,
    /// RFC 3339 time of the collection.
    pub updated_at: String,
    /// The monitor's version.
    pub version: String,
    /// Seconds since the monitor started.
    pub uptime_seconds: f64,
    /// CPU busy, percent.
    pub cpu_usage_percent: Option<f64>,
    /// Memory in use, percent.
    pub memory_usage_percent: Option<f64>,
    /// Usage per mount point.
    pub disks: Vec<HostDisk>,
    /// Pending and firing alerts.
    pub alerts: Vec<HostAlert>,
}

/// One mount point of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostDisk {
    /// Mount point.
    pub mountpoint: String,
    /// Device.
    pub device: String,
    /// Percent used.
    pub usage_percent: f64,
}

/// One active alert of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostAlert {
    /// `alertname`.
    pub name: String,
    /// `severity` label.
    pub severity: String,
    /// `pending` or `firing`.
    pub state: String,
    /// RFC 3339 time it became active.
    pub since: String,
    /// `summary` annotation.
    pub summary: Option<String>,
}

impl HostSnapshot {
    /// The hash fields.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            ("host", self.host.clone()),
            ("updated_at", self.updated_at.clone()),
            ("version", self.version.clone()),
            ("uptime_seconds", self.uptime_seconds.to_string()),
            ("cpu_usage_percent", opt(self.cpu_usage_percent)),
            ("memory_usage_percent", opt(self.memory_usage_percent)),
            (
                "disks",
                serde_json::to_string(&self.disks).unwrap_or_else(|_| "[]".into()),
            ),
            (
                "alerts",
                serde_json::to_string(&self.alerts).unwrap_or_else(|_| "[]".into()),
            ),
        ]
    }

    /// Read back from the hash fields; `None` when the hash is empty (expired).
    pub fn from_fields(f: &BTreeMap<String, String>) -> Result<Option<HostSnapshot>, String> {
        if f.is_empty() {
            return Ok(None);
        }
        let s = |k: &str| f.get(k).cloned().unwrap_or_default();
        let num = |k: &str| -> Result<Option<f64>, String> {
            match f.get(k).map(String::as_str) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("field {k}: {v:?} is not a number")),
            }
        };
        let json = |k: &str| -> Result<serde_json::Value, String> {
            serde_json::from_str(f.get(k).map(String::as_str).unwrap_or("[]"))
                .map_err(|e| format!("field {k}: {e}"))
        };
        Ok(Some(HostSnapshot {
            host: s("host"),
            updated_at: s("updated_at"),
            version: s("version"),
            uptime_seconds: num("uptime_seconds")?.unwrap_or(0.0),
            cpu_usage_percent: num("cpu_usage_percent")?,
            memory_usage_percent: num("memory_usage_percent")?,
            disks: serde_json::from_value(json("disks")?).map_err(|e| format!("disks: {e}"))?,
            alerts: serde_json::from_value(json("alerts")?).map_err(|e| format!("alerts: {e}"))?,
        }))
    }
}

/// Every host's snapshot younger than its TTL, newest first (hosts whose hash expired are
/// dropped from the index on the way).
pub async fn read_snapshots(
    con: &mut ConnectionManager,
    keys: &Keys,
) -> Result<Vec<HostSnapshot>, RedisError> {
    let hosts: Vec<String> = redis::cmd("ZREVRANGE")
        .arg(keys.hosts())
        .arg(0)
        .arg(-1)
        .query_async(con)
        .await?;
    let mut out = Vec::new();
    for h in hosts {
        let fields: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(keys.host(&h))
            .query_async(con)
            .await?;
        match HostSnapshot::from_fields(&fields) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {
                let _: redis::RedisResult<i64> = redis::cmd("ZREM")
                    .arg(keys.hosts())
                    .arg(&h)
                    .query_async(con)
                    .await;
            }
            Err(e) => tracing::warn!(host = %h, "bad host snapshot in redis: {e}"),
        }
    }
    Ok(out)
}

/// Write `snap` as the host's hash (replacing it) with `ttl`, and index the host.
pub async fn write_snapshot(
    con: &mut ConnectionManager,
    keys: &Keys,
    snap: &HostSnapshot,
    ttl: Duration,
    now_unix: i64,
) -> Result<(), RedisError> {
    let key = keys.host(&snap.host);
    let mut p = redis::pipe();
    p.atomic()
        .cmd("DEL")
        .arg(&key)
        .ignore()
        .cmd("HSET")
        .arg(&key)
        .arg(snap.to_fields())
        .ignore()
        .cmd("PEXPIRE")
        .arg(&key)
        .arg(ttl.as_millis().max(1) as u64)
        .ignore()
        .cmd("ZADD")
        .arg(keys.hosts())
        .arg(now_unix)
        .arg(&snap.host)
        .ignore();
    p.query_async::<()>(con).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_credentials() {
        let c = RedisConfig {
            url: Some("redis://u:pw@127.0.0.1:6390/2".into()),
            ..Default::default()
        };
        let i = c.connection_info().unwrap();
        assert_eq!(i.redis_settings().username(), Some("u"));
        assert_eq!(i.redis_settings().password(), Some("pw"));
        assert_eq!(c.shown_url(), "redis://u:***@127.0.0.1:6390/2");
        let c = RedisConfig {
            url: Some("rediss://h:6380".into()),
            username: Some("agent".into()),
            password: Some("s3".into()),
            ..Default::default()
        };
        let i = c.connection_info().unwrap();
        assert!(matches!(i.addr(), redis::ConnectionAddr::TcpTls { .. }));
        assert_eq!(i.redis_settings().username(), Some("agent"));
        let bad = RedisConfig {
            url: Some("http://x".into()),
            ..Default::default()
        };
        assert_eq!(bad.validate("redis.").unwrap_err().0, "redis.url");
        let bad = RedisConfig {
            timeout: 0.0,
            ..Default::default()
        };
        assert_eq!(bad.validate("redis.").unwrap_err().0, "redis.timeout");
    }

    #[test]
    fn snapshots_round_trip_through_hash_fields() {
        let s = HostSnapshot {
            host: "h1".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: "2.0.0".into(),
            uptime_seconds: 3.5,
            cpu_usage_percent: Some(12.5),
            memory_usage_percent: None,
            disks: vec![HostDisk {
                mountpoint: "/".into(),
                device: "/dev/vda".into(),
                usage_percent: 40.0,
            }],
            alerts: vec![],
        };
        let f: BTreeMap<String, String> = s
            .to_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(HostSnapshot::from_fields(&f).unwrap(), Some(s));
        assert_eq!(HostSnapshot::from_fields(&BTreeMap::new()).unwrap(), None);
        let mut bad = f.clone();
        bad.insert("cpu_usage_percent".into(), "x".into());
        assert!(HostSnapshot::from_fields(&bad).is_err());
    }
}
