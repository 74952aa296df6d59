//! The in-memory store: everything is lost at exit.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{IncidentRecord, JobRecord, NewIncident, PruneRule, PrunedJob, StateStore, StoreError};

/// Jobs and incidents in process memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Jobs by id, with an update sequence number for "newest first".
    jobs: HashMap<String, (u64, JobRecord)>,
    seq: u64,
    incidents: Vec<IncidentRecord>,
    /// The last incident id given: ids are never reused, even after pruning.
    last_incident: u64,
    /// The longest evidence chain head recorded.
    evidence_head: Option<mno_gates::evidence::ChainHead>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn put_evidence_head(&self, head: &mno_gates::evidence::ChainHead) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.evidence_head
            .as_ref()
            .is_none_or(|h| head.records > h.records)
        {
            g.evidence_head = Some(head.clone());
        }
        Ok(())
    }

    fn evidence_head(&self) -> Result<Option<mno_gates::evidence::ChainHead>, StoreError> {
        Ok(self.lock().evidence_head.clone())
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        g.jobs.insert(job.validation_id.clone(), (seq, job.clone()));
        Ok(())
    }

    fn get_job(&self, validation_id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.lock().jobs.get(validation_id).map(|(_, j)| j.clone()))
    }

    fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let g = self.lock();
        let mut all: Vec<&(u64, JobRecord)> = g.jobs.values().collect();
        all.sort_by_key(|j| std::cmp::Reverse(j.0));
        Ok(all
            .into_iter()
            .take(limit)
            .map(|(_, j)| j.clone())
            .collect())
    }

    fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<String>, StoreError> {
        let mut g = self.lock();
        let mut ids = Vec::new();
        for (_, j) in g.jobs.values_mut() {
            if !j.status.is_done() {
                super::interrupt_job(j, reason);
                ids.push(j.validation_id.clone());
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn append_incident(&self, incident: NewIncident) -> Result<IncidentRecord, StoreError> {
        let mut g = self.lock();
        g.last_incident += 1;
        let id = g.last_incident;
        let rec = IncidentRecord::from_new(id, incident);
        g.incidents.push(rec.clone());
        Ok(rec)
    }

    fn put_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        if let Some(i) = g.incidents.iter_mut().find(|i| i.id == incident.id) {
            *i = incident.clone();
        }
        Ok(())
    }

    fn get_incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self.lock().incidents.iter().find(|i| i.id == id).cloned())
    }

    fn list_incidents(&self, limit: usize) -> Result<Vec<IncidentRecord>, StoreError> {
        Ok(self
            .lock()
            .incidents
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    fn prune_jobs(&self, rule: &PruneRule) -> Result<Vec<PrunedJob>, StoreError> {
        let mut g = self.lock();
        let mut done: Vec<&(u64, JobRecord)> = g
            .jobs
            .values()
            .filter(|(_, j)| j.status.is_done())
            .collect();
        done.sort_by_key(|j| std::cmp::Reverse(j.0));
        let verdict = rule.condemned(done.iter().map(|(_, j)| super::job_time(j)));
        let gone: Vec<PrunedJob> = done
            .iter()
            .zip(verdict)
            .filter(|(_, v)| *v)
            .map(|((_, j), _)| PrunedJob {
                validation_id: j.validation_id.clone(),
                reports_dir: j.reports_dir.clone(),
            })
            .collect();
        for p in &gone {
            g.jobs.remove(&p.validation_id);
        }
        Ok(gone)
    }

    fn prune_incidents(&self, rule: &PruneRule) -> Result<usize, StoreError> {
        let mut g = self.lock();
        // Stored oldest first; the rule reads newest first.
        let verdict = rule.condemned(
            g.incidents
                .iter()
                .rev()
                .map(|i| Some(i.received_at.as_str())),
        );
        let n = g.incidents.len();
        let mut keep = verdict.into_iter().rev().map(|v| !v);
        g.incidents.retain(|_| keep.next().unwrap_or(true));
        Ok(n - g.incidents.len())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_keeps_the_contract() {
        super::super::tests::contract(&super::MemoryStore::new());
    }

    #[test]
    fn memory_store_prunes_finished_jobs_and_incidents_by_age_and_count() {
        super::super::tests::prune_contract(&super::MemoryStore::new());
    }
}
