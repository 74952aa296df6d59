//! Alert history and alerting state in SQLite (`alerts.db` beside the metrics database).
//!
//! One row per firing episode (started, fired, resolved, peak and last value, labels,
//! notifications sent, repair attempts), the repair and notification logs, the notification
//! log of each group (so a restart does not notify again), silences, and the retry queue
//! (`queue.rs`). The file is the alerting engine's own: the metrics store's schema can change
//! without touching it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::dispatch::NflogEntry;
use super::labels::Labels;

/// A database problem.
#[derive(Debug, thiserror::Error)]
#[error("alert history ({context}): {source}")]
pub struct HistoryError {
    context: &'static str,
    #[source]
    source: rusqlite::Error,
}

impl HistoryError {
    /// Wrap a SQLite error with what was being done.
    pub fn from_sqlite(context: &'static str, source: rusqlite::Error) -> HistoryError {
        HistoryError { context, source }
    }
}

trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, HistoryError>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: &'static str) -> Result<T, HistoryError> {
        self.map_err(|source| HistoryError { context, source })
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS episodes (
  id INTEGER PRIMARY KEY,
  rule_key TEXT NOT NULL,
  alertname TEXT NOT NULL,
  severity TEXT NOT NULL DEFAULT '',
  fingerprint TEXT NOT NULL,
  labels TEXT NOT NULL,
  annotations TEXT NOT NULL DEFAULT '{}',
  started_at INTEGER NOT NULL,
  fired_at INTEGER,
  resolved_at INTEGER,
  peak_value REAL,
  last_value REAL,
  notifications_sent INTEGER NOT NULL DEFAULT 0,
  repair_attempts INTEGER NOT NULL DEFAULT 0,
  last_repair_at INTEGER
);
CREATE INDEX IF NOT EXISTS episodes_open ON episodes(resolved_at);
CREATE INDEX IF NOT EXISTS episodes_started ON episodes(started_at);
CREATE TABLE IF NOT EXISTS repairs (
  id INTEGER PRIMARY KEY,
  episode_id INTEGER NOT NULL,
  strategy TEXT NOT NULL,
  action TEXT NOT NULL,
  at INTEGER NOT NULL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  exit_code INTEGER,
  duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS repairs_episode ON repairs(episode_id);
CREATE TABLE IF NOT EXISTS notifications (
  id INTEGER PRIMARY KEY,
  receiver TEXT NOT NULL,
  group_key TEXT NOT NULL,
  status TEXT NOT NULL,
  alerts INTEGER NOT NULL,
  at INTEGER NOT NULL,
  result TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS nflog (
  key TEXT PRIMARY KEY,
  firing TEXT NOT NULL,
  resolved TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  receiver TEXT NOT NULL,
  group_key TEXT NOT NULL,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  episodes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(receiver, next_at);
CREATE TABLE IF NOT EXISTS silences (
  id TEXT PRIMARY KEY,
  matchers TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
";

/// Open (creating if needed) the alerts database with WAL and a busy timeout.
pub fn open_connection(path: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open(path).ctx("open")?;
    conn.busy_timeout(Duration::from_secs(5))
        .ctx("busy_timeout")?;
    // WAL lets the delivery workers read and write beside the evaluator; NORMAL is durable
    // at each checkpoint and loses at most the last transactions on power loss, which for
    // alert state means at most a repeated notification.
    conn.pragma_update(None, "journal_mode", "WAL")
        .ctx("journal_mode")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx("synchronous")?;
    // The alert state is small (KiBs); SQLite's default 2 MiB page cache per connection was
    // resident memory for nothing (docs/performance.md).
    conn.pragma_update(None, "cache_size", -128)
        .ctx("cache_size")?;
    conn.execute_batch(SCHEMA).ctx("schema")?;
    Ok(conn)
}

/// An episode still open at the last run (restored as firing).
#[derive(Debug, Clone)]
pub struct OpenEpisode {
    /// Row id.
    pub id: i64,
    /// Rule key.
    pub rule_key: String,
    /// Labels.
    pub labels: Labels,
    /// Fingerprint.
    pub fingerprint: u64,
    /// Started (ms).
    pub started_at: i64,
    /// Fired (ms).
    pub fired_at: i64,
    /// Peak value.
    pub peak: f64,
    /// Last value.
    pub last_value: f64,
    /// Repair attempts.
    pub repair_attempts: u32,
    /// Last repair (ms).
    pub last_repair_at: Option<i64>,
}

/// One episode as the history API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeRow {
    /// Row id.
    pub id: i64,
    /// Alert name.
    pub alertname: String,
    /// Severity label.
    pub severity: String,
    /// Fingerprint (hex).
    pub fingerprint: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations when it fired.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(rename = "startedAt")]
    pub started_at: String,
    /// RFC 3339.
    #[serde(rename = "firedAt")]
    pub fired_at: Option<String>,
    /// RFC 3339.
    #[serde(rename = "resolvedAt")]
    pub resolved_at: Option<String>,
    /// Highest value.
    #[serde(rename = "peakValue")]
    pub peak_value: Option<f64>,
    /// Latest value.
    #[serde(rename = "lastValue")]
    pub last_value: Option<f64>,
    /// Notifications delivered about it.
    #[serde(rename = "notificationsSent")]
    pub notifications_sent: i64,
    /// Repair attempts.
    #[serde(rename = "repairAttempts")]
    pub repair_attempts: i64,
    /// The attempts.
    pub repairs: Vec<RepairRow>,
}

/// One repair attempt.
#[derive(Debug, Clone, Serialize)]
pub struct RepairRow {
    /// Strategy name.
    pub strategy: String,
    /// What was done.
    pub action: String,
    /// RFC 3339.
    pub at: String,
    /// `success`, `failure`, `timeout`, `dry_run`.
    pub result: String,
    /// Output or error.
    pub detail: String,
    /// Exit status of a command.
    #[serde(rename = "exitCode")]
    pub exit_code: Option<i64>,
}

/// Filter of the history API.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Episodes still open at or after this (ms).
    pub since: Option<i64>,
    /// Episodes started at or before this (ms).
    pub until: Option<i64>,
    /// Severity label.
    pub severity: Option<String>,
    /// Alert name.
    pub alertname: Option<String>,
    /// Most rows (newest first).
    pub limit: usize,
}

/// Milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn labels_json(l: &[(String, String)]) -> String {
    let m: BTreeMap<&str, &str> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

/// The agent's handle on the database (evaluation side).
pub struct History {
    conn: Connection,
}

impl History {
    /// Open `path`.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        Ok(History {
            conn: open_connection(path)?,
        })
    }

    /// The connection (for the queue and silences).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run `f` in one transaction.
    pub fn batch<T>(
        &self,
        f: impl FnOnce(&History) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        let tx = self.conn.unchecked_transaction().ctx("begin")?;
        let r = f(self)?;
        tx.commit().ctx("commit")?;
        Ok(r)
    }

    /// Record a new firing episode; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_episode(
        &self,
        rule_key: &str,
        labels: &[(String, String)],
        annotations: &BTreeMap<String, String>,
        fingerprint: u64,
        started_at: i64,
        fired_at: i64,
        value: f64,
    ) -> Result<i64, HistoryError> {
        let get = |n: &str| super::labels::get(labels, n).to_string();
        self.conn
            .execute(
                "INSERT INTO episodes (rule_key, alertname, severity, fingerprint, labels, annotations, started_at, fired_at, peak_value, last_value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    rule_key,
                    get("alertname"),
                    get("severity"),
                    super::labels::fingerprint_hex(fingerprint),
                    labels_json(labels),
                    serde_json::to_string(annotations).unwrap_or_else(|_| "{}".into()),
                    started_at,
                    fired_at,
                    finite(value),
                ],
            )
            .ctx("insert episode")?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Close an episode.
    pub fn resolve_episode(
        &self,
        id: i64,
        at: i64,
        peak: f64,
        last: f64,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE episodes SET resolved_at = ?2, peak_value = ?3, last_value = ?4 WHERE id = ?1",
                params![id, at, finite(peak), finite(last)],
            )
            .ctx("resolve episode")?;
        Ok(())
    }

    /// Save the latest and peak values of open episodes.
    pub fn update_values(&self, rows: &[(i64, f64, f64)]) -> Result<(), HistoryError> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE episodes SET peak_value = ?2, last_value = ?3 WHERE id = ?1")
            .ctx("prepare values")?;
        for (id, peak, last) in rows {
            st.execute(params![id, finite(*peak), finite(*last)])
                .ctx("update values")?;
        }
        Ok(())
    }

    /// Close episodes left open by a previous run whose rule is gone.
    pub fn close_orphan(&self, id: i64, at: i64) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE episodes SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
                params![id, at],
            )
            .ctx("close orphan")?;
        Ok(())
    }

    /// Episodes open at the last stop.
    pub fn open_episodes(&self) -> Result<Vec<OpenEpisode>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, rule_key, labels, fingerprint, started_at, fired_at, peak_value, last_value, repair_attempts, last_repair_at
                 FROM episodes WHERE resolved_at IS NULL AND fired_at IS NOT NULL",
            )
            .ctx("prepare open")?;
        let rows = st
            .query_map([], |r| {
                let labels: String = r.get(2)?;
                let fp: String = r.get(3)?;
                Ok(OpenEpisode {
                    id: r.get(0)?,
                    rule_key: r.get(1)?,
                    labels: serde_json::from_str::<BTreeMap<String, String>>(&labels)
                        .map(|m| m.into_iter().collect())
                        .unwrap_or_default(),
                    fingerprint: u64::from_str_radix(&fp, 16).unwrap_or(0),
                    started_at: r.get(4)?,
                    fired_at: r.get(5)?,
                    peak: r.get::<_, Option<f64>>(6)?.unwrap_or(f64::NAN),
                    last_value: r.get::<_, Option<f64>>(7)?.unwrap_or(f64::NAN),
                    repair_attempts: r.get::<_, i64>(8)?.max(0) as u32,
                    last_repair_at: r.get(9)?,
                })
            })
            .ctx("query open")?;
        rows.collect::<Result<Vec<_>, _>>().ctx("read open")
    }

    /// Record a repair attempt on an episode.
    #[allow(clippy::too_many_arguments)]
    pub fn record_repair(
        &self,
        episode: i64,
        strategy: &str,
        action: &str,
        at: i64,
        result: &str,
        detail: &str,
        exit_code: Option<i32>,
        duration_ms: i64,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO repairs (episode_id, strategy, action, at, result, detail, exit_code, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![episode, strategy, action, at, result, detail, exit_code, duration_ms],
            )
            .ctx("insert repair")?;
        Ok(())
    }

    /// Count a started repair attempt on the episode.
    pub fn count_repair(&self, episode: i64, at: i64) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE episodes SET repair_attempts = repair_attempts + 1, last_repair_at = ?2 WHERE id = ?1",
                params![episode, at],
            )
            .ctx("count repair")?;
        Ok(())
    }

    /// The notification log.
    pub fn nflog(&self) -> Result<HashMap<String, NflogEntry>, HistoryError> {
        let mut st = self
            .conn
            .prepare("SELECT key, firing, resolved, at FROM nflog")
            .ctx("prepare nflog")?;
        let parse = |s: String| -> BTreeSet<u64> {
            serde_json::from_str::<Vec<String>>(&s)
                .unwrap_or_default()
                .iter()
                .filter_map(|h| u64::from_str_radix(h, 16).ok())
                .collect()
        };
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .ctx("query nflog")?;
        let mut out = HashMap::new();
        for row in rows {
            let (k, f, r, at) = row.ctx("read nflog")?;
            out.insert(
                k,
                NflogEntry {
                    firing: parse(f),
                    resolved: parse(r),
                    at,
                },
            );
        }
        Ok(out)
    }

    /// Save or remove a notification-log entry.
    pub fn put_nflog(&self, key: &str, entry: Option<&NflogEntry>) -> Result<(), HistoryError> {
        let hex = |s: &BTreeSet<u64>| {
            serde_json::to_string(&s.iter().map(|f| format!("{f:016x}")).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into())
        };
        match entry {
            Some(e) => self
                .conn
                .execute(
                    "INSERT INTO nflog (key, firing, resolved, at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(key) DO UPDATE SET firing = ?2, resolved = ?3, at = ?4",
                    params![key, hex(&e.firing), hex(&e.resolved), e.at],
                )
                .ctx("put nflog")?,
            None => self
                .conn
                .execute("DELETE FROM nflog WHERE key = ?1", params![key])
                .ctx("delete nflog")?,
        };
        Ok(())
    }

    /// Episodes for the history API, newest first.
    pub fn query(&self, q: &HistoryQuery) -> Result<Vec<EpisodeRow>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, alertname, severity, fingerprint, labels, annotations, started_at, fired_at, resolved_at, peak_value, last_value, notifications_sent, repair_attempts
                 FROM episodes
                 WHERE (?1 IS NULL OR resolved_at IS NULL OR resolved_at >= ?1)
                   AND (?2 IS NULL OR started_at <= ?2)
                   AND (?3 IS NULL OR severity = ?3)
                   AND (?4 IS NULL OR alertname = ?4)
                 ORDER BY started_at DESC, id DESC LIMIT ?5",
            )
            .ctx("prepare history")?;
        let rows = st
            .query_map(
                params![q.since, q.until, q.severity, q.alertname, q.limit as i64],
                |r| {
                    let map = |s: String| -> BTreeMap<String, String> {
                        serde_json::from_str(&s).unwrap_or_default()
                    };
                    Ok(EpisodeRow {
                        id: r.get(0)?,
                        alertname: r.get(1)?,
                        severity: r.get(2)?,
                        fingerprint: r.get(3)?,
                        labels: map(r.get(4)?),
                        annotations: map(r.get(5)?),
                        started_at: rfc3339(r.get(6)?),
                        fired_at: r.get::<_, Option<i64>>(7)?.map(rfc3339),
                        resolved_at: r.get::<_, Option<i64>>(8)?.map(rfc3339),
                        peak_value: r.get(9)?,
                        last_value: r.get(10)?,
                        notifications_sent: r.get(11)?,
                        repair_attempts: r.get(12)?,
                        repairs: Vec::new(),
                    })
                },
            )
            .ctx("query history")?;
        let mut out = rows.collect::<Result<Vec<_>, _>>().ctx("read history")?;
        let mut rst = self
            .conn
            .prepare_cached(
                "SELECT strategy, action, at, result, detail, exit_code FROM repairs WHERE episode_id = ?1 ORDER BY at",
            )
            .ctx("prepare repairs")?;
        for e in out.iter_mut().filter(|e| e.repair_attempts > 0) {
            let rows = rst
                .query_map(params![e.id], |r| {
                    Ok(RepairRow {
                        strategy: r.get(0)?,
                        action: r.get(1)?,
                        at: rfc3339(r.get(2)?),
                        result: r.get(3)?,
                        detail: r.get(4)?,
                        exit_code: r.get(5)?,
                    })
                })
                .ctx("query repairs")?;
            e.repairs = rows.collect::<Result<Vec<_>, _>>().ctx("read repairs")?;
        }
        Ok(out)
    }

    /// One episode's notification and repair counts (for tests and the API).
    pub fn counts(&self, id: i64) -> Result<Option<(i64, i64)>, HistoryError> {
        self.conn
            .query_row(
                "SELECT notifications_sent, repair_attempts FROM episodes WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("counts")
    }

    /// Delete resolved episodes, repairs and notification records older than `before` (ms).
    pub fn prune(&self, before: i64) -> Result<usize, HistoryError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM repairs WHERE episode_id IN (SELECT id FROM episodes WHERE resolved_at < ?1)",
                params![before],
            )
            .ctx("prune repairs")?;
        let m = self
            .conn
            .execute(
                "DELETE FROM episodes WHERE resolved_at < ?1",
                params![before],
            )
            .ctx("prune episodes")?;
        self.conn
            .execute("DELETE FROM notifications WHERE at < ?1", params![before])
            .ctx("prune notifications")?;
        Ok(n + m)
    }
}

/// Record a delivered (or dropped) notification and count it on its episodes.
#[allow(clippy::too_many_arguments)]
pub fn record_notification(
    conn: &Connection,
    receiver: &str,
    group_key: &str,
    status: &str,
    episodes: &[i64],
    at: i64,
    result: &str,
    attempts: u32,
    detail: &str,
) -> Result<(), HistoryError> {
    let tx = conn.unchecked_transaction().ctx("begin")?;
    conn.execute(
        "INSERT INTO notifications (receiver, group_key, status, alerts, at, result, attempts, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![receiver, group_key, status, episodes.len() as i64, at, result, attempts, detail],
    )
    .ctx("insert notification")?;
    if result == "success" {
        let mut st = conn
            .prepare_cached(
                "UPDATE episodes SET notifications_sent = notifications_sent + 1 WHERE id = ?1",
            )
            .ctx("prepare count")?;
        for id in episodes.iter().filter(|id| **id > 0) {
            st.execute(params![id]).ctx("count notification")?;
        }
    }
    tx.commit().ctx("commit")?;
    Ok(())
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alert state is KiBs; SQLite's default 2 MiB page cache per connection was resident
    /// memory for nothing (issue 16).
    #[test]
    fn alerts_connection_does_not_keep_sqlite_default_two_mib_page_cache() {
        let d = tempfile::tempdir().unwrap();
        let c = open_connection(&d.path().join("alerts.db")).unwrap();
        let size: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, -128);
    }

    #[test]
    fn episodes_round_trip_and_filter() {
        let d = tempfile::tempdir().unwrap();
        let h = History::open(&d.path().join("alerts.db")).unwrap();
        let labels = vec![
            ("alertname".to_string(), "DiskFull".to_string()),
            ("severity".into(), "critical".into()),
        ];
        let id = h
            .insert_episode("k", &labels, &BTreeMap::new(), 42, 1000, 2000, 91.0)
            .unwrap();
        h.count_repair(id, 2500).unwrap();
        h.record_repair(id, "fix", "command", 2500, "success", "ok", Some(0), 5)
            .unwrap();
        record_notification(
            h.conn(),
            "hook",
            "g",
            "firing",
            &[id],
            2600,
            "success",
            1,
            "",
        )
        .unwrap();
        let open = h.open_episodes().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].fingerprint, 42);
        assert_eq!(open[0].repair_attempts, 1);
        h.resolve_episode(id, 3000, 95.0, 80.0).unwrap();
        assert!(h.open_episodes().unwrap().is_empty());
        let q = |since, sev: Option<&str>| {
            h.query(&HistoryQuery {
                since,
                until: None,
                severity: sev.map(String::from),
                alertname: None,
                limit: 10,
            })
            .unwrap()
        };
        let rows = q(None, Some("critical"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].peak_value, Some(95.0));
        assert_eq!(rows[0].notifications_sent, 1);
        assert_eq!(rows[0].repairs.len(), 1);
        assert!(q(Some(4000), None).is_empty());
        assert!(q(None, Some("info")).is_empty());
        assert_eq!(h.prune(5000).unwrap(), 2);
    }

    #[test]
    fn nflog_persists() {
        let d = tempfile::tempdir().unwrap();
        let h = History::open(&d.path().join("alerts.db")).unwrap();
        let e = NflogEntry {
            firing: [1u64, u64::MAX].into_iter().collect(),
            resolved: BTreeSet::new(),
            at: 7,
        };
        h.put_nflog("k", Some(&e)).unwrap();
        assert_eq!(h.nflog().unwrap()["k"], e);
        h.put_nflog("k", None).unwrap();
        assert!(h.nflog().unwrap().is_empty());
    }
}
