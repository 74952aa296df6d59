//! Where the server keeps gate jobs and incidents.
//!
//! [`StateStore`] is small on purpose (put/get a job, list jobs, mark unfinished jobs
//! interrupted, append/list incidents) so that a Redis store can slot in beside the
//! embedded ones: [`SqliteStore`] (the default; survives restarts) and [`MemoryStore`].
//! Records are whole JSON documents keyed by validation id or incident number, which maps
//! onto a Redis hash or a SQLite row alike. The calls are synchronous and short (one row);
//! the server makes them from async code directly.

mod memory;
pub mod redis;
mod sqlite;

pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use sqlite::SqliteStore;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::messages::{
    Context, GateValidationRequest, GateValidationResponse, IncidentSignal, IncidentStatus,
    OverallStatus,
};

/// A state-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O, a corrupt row, a lock held by another process.
    #[error("state store: {0}")]
    Failed(String),
    /// The store's server (Redis) cannot be reached now; the request may be retried.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Failed(format!("bad record: {e}"))
    }
}

impl From<mno_redis::RedisError> for StoreError {
    fn from(e: mno_redis::RedisError) -> Self {
        match e {
            mno_redis::RedisError::Unavailable(m) => StoreError::Unavailable(format!("redis: {m}")),
            other => StoreError::Failed(other.to_string()),
        }
    }
}

/// Storage of gate jobs and incidents.
pub trait StateStore: Send + Sync {
    /// `sqlite`, `memory`, `redis`, … (shown by `/ready`).
    fn backend(&self) -> &'static str;
    /// Insert or replace a job by its validation id.
    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    /// The job with this validation id.
    fn get_job(&self, validation_id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// The most recently updated jobs, newest first.
    fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
    /// Mark every QUEUED or RUNNING job ERROR with `reason` (a restart found them
    /// unfinished); returns their ids.
    fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<String>, StoreError>;
    /// Store an incident and give it the next id.
    fn append_incident(&self, incident: NewIncident) -> Result<IncidentRecord, StoreError>;
    /// The newest incidents first.
    fn list_incidents(&self, limit: usize) -> Result<Vec<IncidentRecord>, StoreError>;
    /// Delete the finished jobs `rule` condemns (ended before its age limit, or past its
    /// count, newest kept) in one step; queued and running jobs are never touched.
    /// Returns the deleted jobs.
    fn prune_jobs(&self, rule: &PruneRule) -> Result<Vec<PrunedJob>, StoreError>;
    /// Delete the incidents `rule` condemns (received before its age limit, or past its
    /// count, newest kept); returns how many.
    fn prune_incidents(&self, rule: &PruneRule) -> Result<usize, StoreError>;
    /// Record the evidence chain head, unless a longer one is already stored (runs may
    /// finish out of order).
    fn put_evidence_head(&self, head: &mno_gates::evidence::ChainHead) -> Result<(), StoreError>;
    /// The evidence chain head last recorded.
    fn evidence_head(&self) -> Result<Option<mno_gates::evidence::ChainHead>, StoreError>;
    /// Replace a stored incident (by id).
    fn put_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError>;
    /// The incident with this id.
    fn get_incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError>;
    /// The open (firing) incident of an alert identity ([`IncidentSignal::identity`]).
    fn open_incident(&self, identity: &str) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self
            .list_incidents(10_000)?
            .into_iter()
            .find(|i| i.state == IncidentStatus::Firing && i.signal.identity() == identity))
    }
    /// Record a signal: a firing alert opens an incident (or updates the open one of the
    /// same alert); a resolved one resolves the open incident (or records a resolved one
    /// when none is open). Returns the incident and whether it was created.
    fn record_incident(&self, n: NewIncident) -> Result<(IncidentRecord, bool), StoreError> {
        if let Some(mut open) = self.open_incident(&n.signal.identity())? {
            open.apply(n);
            self.put_incident(&open)?;
            return Ok((open, false));
        }
        Ok((self.append_incident(n)?, true))
    }
    /// Keep a finished job's report files in the store (stores shared by several servers do;
    /// the embedded ones read them from the reports folder).
    fn put_reports(
        &self,
        _validation_id: &str,
        _files: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// A report file kept by [`StateStore::put_reports`].
    fn get_report(&self, _validation_id: &str, _name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// Keep an evidence record (its chain's line `seq`) in the store; stores shared by several
    /// servers do (`super-agent evidence export`), the embedded ones have the log file.
    fn put_evidence_record(&self, _key_id: &str, _seq: u64, _line: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// The evidence records of the chain signed by `key_id` kept by the store, in order.
    fn evidence_records(&self, _key_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// Whether the store is shared by several servers (jobs run through its queue, and a
    /// restart must not mark other servers' jobs interrupted).
    fn shared(&self) -> bool {
        false
    }
}

/// What a pruning pass removes: records older than `max_age` (at `now`) and those past the
/// newest `max_count`. `None` turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct PruneRule {
    /// Records older than this go.
    pub max_age: Option<std::time::Duration>,
    /// Only this many of the newest are kept.
    pub max_count: Option<usize>,
    /// The time ages are measured at.
    pub now: std::time::SystemTime,
}

impl PruneRule {
    /// For records listed newest first with their RFC 3339 time, which ones go. A time that
    /// does not parse counts as new: such a record only goes by count.
    pub fn condemned<'a>(
        &self,
        newest_first: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Vec<bool> {
        let cutoff = self
            .max_age
            .and_then(|a| self.now.checked_sub(a))
            .map(chrono::DateTime::<chrono::Utc>::from);
        newest_first
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let by_count = self.max_count.is_some_and(|n| i >= n);
                let by_age = match (
                    cutoff,
                    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
                ) {
                    (Some(c), Some(t)) => t < c,
                    _ => false,
                };
                by_count || by_age
            })
            .collect()
    }
}

/// A job a pruning pass deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedJob {
    /// Its validation id.
    pub validation_id: String,
    /// Its report folder, when it had one.
    pub reports_dir: Option<String>,
}

/// The time a finished job's age is measured from: when it ended, else when it was created.
fn job_time(j: &JobRecord) -> Option<&str> {
    j.finished_at.as_deref().or(Some(j.created_at.as_str()))
}

/// Where a gate job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// Waiting for a free slot.
    Queued,
    /// A gate is running.
    Running,
    /// Finished: no check failed.
    Passed,
    /// Finished: a check failed.
    Failed,
    /// Finished: the gate or a check could not run, or the job was interrupted.
    Error,
}

impl JobStatus {
    /// The uppercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Passed => "PASSED",
            JobStatus::Failed => "FAILED",
            JobStatus::Error => "ERROR",
        }
    }

    /// Whether the job has ended.
    pub fn is_done(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

impl From<OverallStatus> for JobStatus {
    fn from(s: OverallStatus) -> Self {
        match s {
            OverallStatus::Passed => JobStatus::Passed,
            OverallStatus::Failed => JobStatus::Failed,
            OverallStatus::Error => JobStatus::Error,
        }
    }
}

/// One gate job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobRecord {
    /// `gate-<pr>-<sha8>`.
    pub validation_id: String,
    /// Where it is.
    pub status: JobStatus,
    /// The trace id of the request that started it.
    pub trace_id: String,
    /// Who asked (`meta.source_agent`, or `api` for `POST /api/v1/gates`).
    pub source_agent: String,
    /// RFC 3339 times.
    pub created_at: String,
    /// When a slot was free and the gate started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The request (absent for a result received as a GateValidationResponse message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<GateValidationRequest>,
    /// The canonical root the gate ran over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The result, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<GateValidationResponse>,
    /// Why it ended in ERROR without a result (interrupted, panicked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The folder holding its report files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports_dir: Option<String>,
    /// Report file names written there (`report.json`, `report.md`, `report.sarif`, `junit.xml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
    /// Which submission this record belongs to (Redis job stream: a stream entry of an older
    /// run is acknowledged without running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The server (host:pid) that ran it, with a shared store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// An incident to store (the id and receipt time are assigned by the store's caller and store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    /// RFC 3339 receipt time.
    pub received_at: String,
    /// The message's trace id.
    pub trace_id: String,
    /// Who sent it.
    pub source_agent: String,
    /// The envelope's context.
    pub context: Context,
    /// The alert.
    pub signal: IncidentSignal,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentRecord {
    /// Sequence number, 1-based, increasing.
    pub id: u64,
    /// `firing` until a resolved signal of the same alert arrives, then `resolved`.
    #[serde(default = "firing")]
    pub state: IncidentStatus,
    /// RFC 3339 receipt time of the first signal.
    pub received_at: String,
    /// RFC 3339 receipt time of the latest signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// RFC 3339 time it was resolved (the signal's `ends_at`, else its receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// Signals received for it.
    #[serde(default = "one")]
    pub signals: u64,
    /// The message's trace id.
    pub trace_id: String,
    /// Who sent it.
    pub source_agent: String,
    /// The envelope's context.
    pub context: Context,
    /// The alert.
    pub signal: IncidentSignal,
}

fn firing() -> IncidentStatus {
    IncidentStatus::Firing
}

fn one() -> u64 {
    1
}

impl IncidentRecord {
    /// The stored form of `n` under `id`.
    pub fn from_new(id: u64, n: NewIncident) -> Self {
        let state = n.signal.status;
        IncidentRecord {
            id,
            state,
            resolved_at: (state == IncidentStatus::Resolved).then(|| {
                n.signal
                    .ends_at
                    .clone()
                    .unwrap_or_else(|| n.received_at.clone())
            }),
            updated_at: None,
            signals: 1,
            received_at: n.received_at,
            trace_id: n.trace_id,
            source_agent: n.source_agent,
            context: n.context,
            signal: n.signal,
        }
    }

    /// A later signal of the same alert: it becomes the latest signal, and a resolved one
    /// resolves the incident.
    pub fn apply(&mut self, n: NewIncident) {
        self.signals += 1;
        self.updated_at = Some(n.received_at.clone());
        if n.signal.status == IncidentStatus::Resolved {
            self.state = IncidentStatus::Resolved;
            self.resolved_at = Some(n.signal.ends_at.clone().unwrap_or(n.received_at));
        }
        // Keep the first start time when the resolved signal has none.
        let starts = self.signal.starts_at.take();
        self.signal = n.signal;
        if self.signal.starts_at.is_none() {
            self.signal.starts_at = starts;
        }
    }
}

/// Mark a job ended in ERROR with `reason` (interrupted by a stop or restart).
pub fn interrupt_job(job: &mut JobRecord, reason: &str) {
    job.status = JobStatus::Error;
    job.error = Some(reason.to_string());
    job.finished_at = Some(crate::now_rfc3339());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::messages::{Artifacts, GateMetadata, IncidentSeverity, IncidentStatus};

    pub fn job(id: &str, status: JobStatus) -> JobRecord {
        JobRecord {
            validation_id: id.into(),
            status,
            trace_id: "t".into(),
            source_agent: "test".into(),
            created_at: crate::now_rfc3339(),
            started_at: None,
            finished_at: None,
            request: Some(GateValidationRequest {
                metadata: GateMetadata {
                    pr_number: 1,
                    commit_sha: "0123456789abcdef".into(),
                    repository: "o/r".into(),
                    base_ref: None,
                    head_ref: None,
                },
                validation_requirements: None,
                artifacts: Artifacts {
                    root: ".".into(),
                    registry: None,
                    extra: Default::default(),
                },
            }),
            root: None,
            response: None,
            error: None,
            reports_dir: None,
            reports: vec![],
            run_id: None,
            worker: None,
        }
    }

    pub fn incident(name: &str) -> NewIncident {
        NewIncident {
            received_at: crate::now_rfc3339(),
            trace_id: "t".into(),
            source_agent: "auto-monitor".into(),
            context: Context::default(),
            signal: IncidentSignal {
                alert_name: name.into(),
                severity: IncidentSeverity::Warning,
                status: IncidentStatus::Firing,
                labels: Default::default(),
                annotations: Default::default(),
                starts_at: None,
                ends_at: None,
                source: None,
                fingerprint: None,
            },
        }
    }

    /// A finished job that ended `secs_ago` seconds ago, with a report folder.
    pub fn old_job(id: &str, secs_ago: u64) -> JobRecord {
        let mut j = job(id, JobStatus::Passed);
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        j.finished_at = Some(
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        j.reports_dir = Some(format!("/reports/{id}"));
        j
    }

    /// Pruning: by age and count, never a queued or running job, incident ids never reused.
    pub fn prune_contract(s: &dyn StateStore) {
        let day = 86400;
        s.put_job(&old_job("gate-1-aaaaaaaa", 40 * day)).unwrap();
        s.put_job(&old_job("gate-2-aaaaaaaa", 20 * day)).unwrap();
        let mut running = job("gate-3-aaaaaaaa", JobStatus::Running);
        running.created_at = "2001-01-01T00:00:00.000Z".into();
        s.put_job(&running).unwrap();
        s.put_job(&job("gate-4-aaaaaaaa", JobStatus::Queued))
            .unwrap();
        s.put_job(&old_job("gate-5-aaaaaaaa", 10)).unwrap();
        s.put_job(&old_job("gate-6-aaaaaaaa", 5)).unwrap();
        let rule = |age: Option<u64>, count: Option<usize>| PruneRule {
            max_age: age.map(std::time::Duration::from_secs),
            max_count: count,
            now: std::time::SystemTime::now(),
        };
        // By age: only the finished job older than 30 days; the ancient running one stays.
        let gone = s.prune_jobs(&rule(Some(30 * day), None)).unwrap();
        assert_eq!(
            gone,
            vec![PrunedJob {
                validation_id: "gate-1-aaaaaaaa".into(),
                reports_dir: Some("/reports/gate-1-aaaaaaaa".into()),
            }]
        );
        assert!(s.get_job("gate-1-aaaaaaaa").unwrap().is_none());
        // By count: the newest finished one is kept; queued and running ones do not count.
        let gone: Vec<String> = s
            .prune_jobs(&rule(None, Some(1)))
            .unwrap()
            .into_iter()
            .map(|p| p.validation_id)
            .collect();
        assert_eq!(gone, vec!["gate-5-aaaaaaaa", "gate-2-aaaaaaaa"]);
        let left: Vec<String> = s
            .list_jobs(10)
            .unwrap()
            .into_iter()
            .map(|j| j.validation_id)
            .collect();
        assert_eq!(
            left,
            vec!["gate-6-aaaaaaaa", "gate-4-aaaaaaaa", "gate-3-aaaaaaaa"]
        );
        assert!(s.prune_jobs(&rule(Some(1), Some(0))).unwrap().len() == 1);
        assert_eq!(s.list_jobs(10).unwrap().len(), 2, "queued and running stay");

        let mut old = incident("old");
        old.received_at = "2020-01-01T00:00:00.000Z".into();
        s.append_incident(old).unwrap();
        for n in ["a", "b", "c"] {
            s.append_incident(incident(n)).unwrap();
        }
        assert_eq!(s.prune_incidents(&rule(Some(day), None)).unwrap(), 1);
        assert_eq!(s.prune_incidents(&rule(None, Some(2))).unwrap(), 1);
        let names: Vec<String> = s
            .list_incidents(10)
            .unwrap()
            .into_iter()
            .map(|i| i.signal.alert_name)
            .collect();
        assert_eq!(names, vec!["c", "b"]);
        let last = s.list_incidents(1).unwrap()[0].id;
        let next = s.append_incident(incident("d")).unwrap();
        assert!(next.id > last, "an incident id was reused after pruning");
    }

    /// The behaviour every store must have.
    pub fn contract(s: &dyn StateStore) {
        use mno_gates::evidence::ChainHead;
        assert_eq!(s.evidence_head().unwrap(), None);
        let head = |n: u64| ChainHead {
            records: n,
            hash: format!("{n:064x}"),
        };
        s.put_evidence_head(&head(3)).unwrap();
        s.put_evidence_head(&head(2)).unwrap();
        assert_eq!(s.evidence_head().unwrap(), Some(head(3)));
        s.put_evidence_head(&head(4)).unwrap();
        assert_eq!(s.evidence_head().unwrap(), Some(head(4)));
        assert!(s.get_job("gate-1-01234567").unwrap().is_none());
        s.put_job(&job("gate-1-01234567", JobStatus::Running))
            .unwrap();
        s.put_job(&job("gate-2-01234567", JobStatus::Passed))
            .unwrap();
        let mut j = job("gate-1-01234567", JobStatus::Queued);
        j.trace_id = "again".into();
        s.put_job(&j).unwrap();
        assert_eq!(
            s.get_job("gate-1-01234567").unwrap().unwrap().trace_id,
            "again"
        );
        assert_eq!(s.list_jobs(10).unwrap().len(), 2);
        let ids = s.interrupt_unfinished("interrupted").unwrap();
        if s.shared() {
            // Other servers run them: the stream hands a dead server's jobs to another.
            assert!(ids.is_empty());
        } else {
            assert_eq!(ids, vec!["gate-1-01234567".to_string()]);
            let j = s.get_job("gate-1-01234567").unwrap().unwrap();
            assert_eq!(j.status, JobStatus::Error);
            assert_eq!(j.error.as_deref(), Some("interrupted"));
        }
        assert_eq!(
            s.get_job("gate-2-01234567").unwrap().unwrap().status,
            JobStatus::Passed
        );
        let a = s.append_incident(incident("A")).unwrap();
        let b = s.append_incident(incident("B")).unwrap();
        assert!(b.id > a.id);
        let list = s.list_incidents(10).unwrap();
        assert_eq!(list[0].signal.alert_name, "B");
        assert_eq!(list[1].signal.alert_name, "A");
        assert_eq!(s.list_incidents(1).unwrap().len(), 1);
        incident_contract(s);
    }

    /// Firing then resolved signals of one alert make one incident that ends resolved.
    pub fn incident_contract(s: &dyn StateStore) {
        let mut fire = incident("DiskFull");
        fire.signal.fingerprint = Some("fp-disk".into());
        fire.signal.starts_at = Some("2026-01-01T00:00:00Z".into());
        let (a, created) = s.record_incident(fire.clone()).unwrap();
        assert!(created);
        assert_eq!(a.state, IncidentStatus::Firing);
        let (again, created) = s.record_incident(fire.clone()).unwrap();
        assert!(!created);
        assert_eq!(again.id, a.id);
        let mut other = fire.clone();
        other.signal.fingerprint = Some("fp-other".into());
        let (b, created) = s.record_incident(other).unwrap();
        assert!(created && b.id != a.id);
        let mut res = fire.clone();
        res.signal.status = IncidentStatus::Resolved;
        res.signal.starts_at = None;
        res.signal.ends_at = Some("2026-01-01T00:05:00Z".into());
        let (r, created) = s.record_incident(res).unwrap();
        assert!(!created);
        assert_eq!(r.id, a.id);
        let got = s.get_incident(a.id).unwrap().unwrap();
        assert_eq!(got.state, IncidentStatus::Resolved);
        assert_eq!(got.signals, 3);
        assert_eq!(got.resolved_at.as_deref(), Some("2026-01-01T00:05:00Z"));
        assert_eq!(
            got.signal.starts_at.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            s.get_incident(b.id).unwrap().unwrap().state,
            IncidentStatus::Firing
        );
        assert!(s.get_incident(999_999).unwrap().is_none());
        // A new firing after the resolve opens a new incident.
        let (c, created) = s.record_incident(fire).unwrap();
        assert!(created && c.id > b.id);
    }
}
