//! The SQLite store: `<data_dir>/super-agent.db` in WAL mode, held exclusively.
//!
//! The database is opened with `locking_mode=EXCLUSIVE`, so a second server pointed at the
//! same data directory fails at start ("in use by another process") instead of marking the
//! first one's running jobs interrupted.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{IncidentRecord, JobRecord, NewIncident, PruneRule, PrunedJob, StateStore, StoreError};

/// Jobs and incidents in one SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    validation_id TEXT PRIMARY KEY,
    status        TEXT NOT NULL,
    updated_seq   INTEGER NOT NULL,
    record        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_update ON jobs(updated_seq);
CREATE TABLE IF NOT EXISTS incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    records INTEGER NOT NULL,
    hash    TEXT NOT NULL
);
PRAGMA user_version = 1;
";

impl SqliteStore {
    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let ctx = |e: rusqlite::Error| {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            );
            if busy {
                StoreError::Failed(format!(
                    "{shown} is in use by another process (another super-agent on this data_dir?)"
                ))
            } else {
                StoreError::Failed(format!("{shown}: {e}"))
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Failed(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(ctx)?;
        conn.busy_timeout(std::time::Duration::from_millis(500))
            .map_err(ctx)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(ctx)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(ctx)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("{shown}: journal mode is {mode}, not WAL");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(ctx)?;
        // The first write takes the exclusive lock and keeps it while the server runs.
        conn.execute_batch(SCHEMA).map_err(ctx)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn decode_job(text: String) -> Result<JobRecord, StoreError> {
    Ok(serde_json::from_str(&text)?)
}

impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn put_evidence_head(&self, head: &mno_gates::evidence::ChainHead) -> Result<(), StoreError> {
        let records = i64::try_from(head.records).map_err(|_| {
            StoreError::Failed(format!("evidence head count {} too large", head.records))
        })?;
        self.lock().execute(
            "INSERT INTO evidence_head (id, records, hash) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET records = excluded.records, hash = excluded.hash
             WHERE excluded.records > evidence_head.records",
            params![records, head.hash],
        )?;
        Ok(())
    }

    fn evidence_head(&self) -> Result<Option<mno_gates::evidence::ChainHead>, StoreError> {
        let row = self
            .lock()
            .query_row(
                "SELECT records, hash FROM evidence_head WHERE id = 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        Ok(row.map(|(n, hash)| mno_gates::evidence::ChainHead {
            records: u64::try_from(n).unwrap_or(0),
            hash,
        }))
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let text = serde_json::to_string(job)?;
        self.lock().execute(
            "INSERT INTO jobs (validation_id, status, updated_seq, record)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(updated_seq), 0) + 1 FROM jobs), ?3)
             ON CONFLICT(validation_id) DO UPDATE SET
               status = excluded.status, updated_seq = excluded.updated_seq, record = excluded.record",
            params![job.validation_id, job.status.as_str(), text],
        )?;
        Ok(())
    }

    fn get_job(&self, validation_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT record FROM jobs WHERE validation_id = ?1",
                [validation_id],
                |r| r.get(0),
            )
            .optional()?;
        text.map(decode_job).transpose()
    }

    fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT record FROM jobs ORDER BY updated_seq DESC LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(decode_job(r?)?);
        }
        Ok(out)
    }

    fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut jobs = Vec::new();
        {
            let mut st = tx.prepare(
                "SELECT record FROM jobs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY validation_id",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                jobs.push(decode_job(r?)?);
            }
        }
        let mut ids = Vec::new();
        for mut j in jobs {
            super::interrupt_job(&mut j, reason);
            tx.execute(
                "UPDATE jobs SET status = ?2, record = ?3 WHERE validation_id = ?1",
                params![
                    j.validation_id,
                    j.status.as_str(),
                    serde_json::to_string(&j)?
                ],
            )?;
            ids.push(j.validation_id);
        }
        tx.commit()?;
        Ok(ids)
    }

    fn append_incident(&self, incident: NewIncident) -> Result<IncidentRecord, StoreError> {
        let conn = self.lock();
        // The id is the row id: insert first, then store the record carrying it.
        conn.execute(
            "INSERT INTO incidents (received_at, record) VALUES (?1, '{}')",
            [&incident.received_at],
        )?;
        let id = conn.last_insert_rowid() as u64;
        let rec = IncidentRecord::from_new(id, incident);
        conn.execute(
            "UPDATE incidents SET record = ?2 WHERE id = ?1",
            params![id as i64, serde_json::to_string(&rec)?],
        )?;
        Ok(rec)
    }

    fn put_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE incidents SET record = ?2 WHERE id = ?1",
            params![incident.id as i64, serde_json::to_string(incident)?],
        )?;
        Ok(())
    }

    fn get_incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT record FROM incidents WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn list_incidents(&self, limit: usize) -> Result<Vec<IncidentRecord>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT record FROM incidents ORDER BY id DESC LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(serde_json::from_str(&r?)?);
        }
        Ok(out)
    }

    fn prune_jobs(&self, rule: &PruneRule) -> Result<Vec<PrunedJob>, StoreError> {
        let mut conn = self.lock();
        // One transaction under the connection's lock: a job re-queued in between cannot be
        // deleted, and the DELETE re-checks the status anyway.
        let tx = conn.transaction()?;
        let rows: Vec<(String, Option<String>, Option<String>)> = {
            let mut st = tx.prepare(
                "SELECT validation_id,
                        COALESCE(json_extract(record, '$.finished_at'), json_extract(record, '$.created_at')),
                        json_extract(record, '$.reports_dir')
                 FROM jobs WHERE status NOT IN ('QUEUED', 'RUNNING') ORDER BY updated_seq DESC",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let verdict = rule.condemned(rows.iter().map(|r| r.1.as_deref()));
        let mut gone = Vec::new();
        for ((id, _, reports_dir), v) in rows.into_iter().zip(verdict) {
            if v {
                let n = tx.execute(
                    "DELETE FROM jobs WHERE validation_id = ?1 AND status NOT IN ('QUEUED', 'RUNNING')",
                    [&id],
                )?;
                if n > 0 {
                    gone.push(PrunedJob {
                        validation_id: id,
                        reports_dir,
                    });
                }
            }
        }
        tx.commit()?;
        Ok(gone)
    }

    fn prune_incidents(&self, rule: &PruneRule) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let rows: Vec<(i64, String)> = {
            let mut st = tx.prepare("SELECT id, received_at FROM incidents ORDER BY id DESC")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let verdict = rule.condemned(rows.iter().map(|r| Some(r.1.as_str())));
        let mut n = 0;
        for ((id, _), v) in rows.into_iter().zip(verdict) {
            if v {
                n += tx.execute("DELETE FROM incidents WHERE id = ?1", [id])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_store_keeps_the_contract_and_survives_reopening() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/super-agent.db");
        let incidents;
        {
            let s = SqliteStore::open(&path).unwrap();
            super::super::tests::contract(&s);
            incidents = s.list_incidents(100).unwrap();
            s.put_job(&super::super::tests::job(
                "gate-3-01234567",
                super::super::JobStatus::Running,
            ))
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.list_incidents(100).unwrap(), incidents);
        assert_eq!(
            s.interrupt_unfinished("restart").unwrap(),
            vec!["gate-3-01234567".to_string()]
        );
    }

    #[test]
    fn sqlite_store_prunes_finished_jobs_and_incidents_by_age_and_count() {
        let d = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&d.path().join("super-agent.db")).unwrap();
        super::super::tests::prune_contract(&s);
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("super-agent.db");
        let _first = SqliteStore::open(&path).unwrap();
        let err = SqliteStore::open(&path)
            .err()
            .expect("second open must fail");
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
