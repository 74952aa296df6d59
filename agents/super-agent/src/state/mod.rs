//! Where the server keeps gate jobs and incidents.
//!
//! [`StateStore`] is small on purpose (put/get a job, list jobs, mark unfinished jobs
//! interrupted, append/list incidents) so that a Redis store can slot in beside the
//! embedded ones: [`SqliteStore`] (the default; survives restarts) and [`MemoryStore`].
//! Records are whole JSON documents keyed by validation id or incident number, which maps
//! onto a Redis hash or a SQLite row alike. The calls are synchronous and short (one row);
//! the server makes them from async code directly.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::messages::{
    Context, GateValidationRequest, GateValidationResponse, IncidentSignal, OverallStatus,
};

/// A state-store failure (I/O, a corrupt row, a lock held by another process).
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(format!("bad record: {e}"))
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

impl IncidentRecord {
    /// The stored form of `n` under `id`.
    pub fn from_new(id: u64, n: NewIncident) -> Self {
        IncidentRecord {
            id,
            received_at: n.received_at,
            trace_id: n.trace_id,
            source_agent: n.source_agent,
            context: n.context,
            signal: n.signal,
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

    /// The behaviour every store must have.
    pub fn contract(s: &dyn StateStore) {
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
        assert_eq!(ids, vec!["gate-1-01234567".to_string()]);
        let j = s.get_job("gate-1-01234567").unwrap().unwrap();
        assert_eq!(j.status, JobStatus::Error);
        assert_eq!(j.error.as_deref(), Some("interrupted"));
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
    }
}
