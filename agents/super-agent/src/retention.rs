//! Pruning of finished jobs, incidents and report folders (`retention:` in super-agent.yaml).
//!
//! A pass runs at start and every `retention.interval` seconds. Finished jobs go when they
//! ended more than `jobs_max_age` ago or are past the newest `jobs_max_count`; queued and
//! running jobs never go and do not count. A pruned job's report folder is removed with it,
//! unless the same validation id was submitted again in between (its new reports go to the
//! same folder). Report folders that belong to no job (a crash, a deleted store) go once
//! older than `jobs_max_age`. Incidents go by `incidents_max_age` and `incidents_max_count`.
//! Each removal is counted in `mno_agent_pruned_total{kind}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::config::RetentionConfig;
use crate::metrics::Metrics;
use crate::state::{PruneRule, StateStore, StoreError};

/// How much one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Job records deleted.
    pub jobs: usize,
    /// Incident records deleted.
    pub incidents: usize,
    /// Report folders removed (of pruned jobs and orphans).
    pub report_dirs: usize,
}

/// The retention settings in force.
#[derive(Debug, Clone)]
pub struct Retention {
    jobs_max_age: Option<Duration>,
    jobs_max_count: Option<usize>,
    incidents_max_age: Option<Duration>,
    incidents_max_count: Option<usize>,
    prune_orphan_reports: bool,
    /// Time between passes.
    pub interval: Duration,
    reports_dir: PathBuf,
}

/// `0` turns a limit off.
fn age(secs: f64) -> Option<Duration> {
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

impl Retention {
    /// The settings of `cfg`, for report folders under `reports_dir`.
    pub fn new(cfg: &RetentionConfig, reports_dir: &Path) -> Self {
        Retention {
            jobs_max_age: age(cfg.jobs_max_age),
            jobs_max_count: (cfg.jobs_max_count > 0).then_some(cfg.jobs_max_count),
            incidents_max_age: age(cfg.incidents_max_age),
            incidents_max_count: (cfg.incidents_max_count > 0).then_some(cfg.incidents_max_count),
            prune_orphan_reports: cfg.prune_orphan_reports,
            interval: Duration::from_secs_f64(cfg.interval.max(1.0)),
            reports_dir: reports_dir.to_path_buf(),
        }
    }

    /// One pass at `now`: jobs and their folders, orphan folders, incidents.
    pub fn run_once(
        &self,
        store: &dyn StateStore,
        metrics: &Metrics,
        now: SystemTime,
    ) -> Result<Pruned, StoreError> {
        let mut out = Pruned::default();
        let gone = store.prune_jobs(&PruneRule {
            max_age: self.jobs_max_age,
            max_count: self.jobs_max_count,
            now,
        })?;
        out.jobs = gone.len();
        let canon_reports = self.reports_dir.canonicalize().ok();
        for job in &gone {
            let dir = job
                .reports_dir
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(|| self.reports_dir.join(&job.validation_id));
            if self.remove_report_dir(store, &dir, &job.validation_id, canon_reports.as_deref()) {
                out.report_dirs += 1;
            }
        }
        if let (true, Some(max_age), Some(canon)) = (
            self.prune_orphan_reports,
            self.jobs_max_age,
            canon_reports.as_deref(),
        ) {
            out.report_dirs += self.prune_orphans(store, canon, now, max_age);
        }
        out.incidents = store.prune_incidents(&PruneRule {
            max_age: self.incidents_max_age,
            max_count: self.incidents_max_count,
            now,
        })?;
        metrics.pruned("jobs", out.jobs);
        metrics.pruned("incidents", out.incidents);
        metrics.pruned("reports", out.report_dirs);
        if out != Pruned::default() {
            tracing::info!(
                jobs = out.jobs,
                incidents = out.incidents,
                report_dirs = out.report_dirs,
                "retention: pruned"
            );
        }
        Ok(out)
    }

    /// Remove a pruned job's folder when it is inside the reports directory and no job of
    /// that id exists again.
    fn remove_report_dir(
        &self,
        store: &dyn StateStore,
        dir: &Path,
        id: &str,
        canon_reports: Option<&Path>,
    ) -> bool {
        let Ok(canon) = dir.canonicalize() else {
            return false;
        };
        // A record naming a folder elsewhere (moved reports_dir, an edited store) is not
        // followed: retention only ever deletes under the reports directory.
        if !canon_reports.is_some_and(|r| canon.starts_with(r) && canon != r) {
            return false;
        }
        if !matches!(store.get_job(id), Ok(None)) {
            return false;
        }
        match std::fs::remove_dir_all(&canon) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("retention: {}: {e}", canon.display());
                false
            }
        }
    }

    /// Folders holding a `report.json` that no job owns, last changed before the age limit.
    fn prune_orphans(
        &self,
        store: &dyn StateStore,
        canon_reports: &Path,
        now: SystemTime,
        max_age: Duration,
    ) -> usize {
        let Some(cutoff) = now.checked_sub(max_age) else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(canon_reports) else {
            return 0;
        };
        let mut n = 0;
        for e in entries.flatten() {
            let path = e.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            let old = e
                .metadata()
                .ok()
                .filter(|m| m.is_dir())
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t < cutoff);
            if old
                && path.join("report.json").is_file()
                && self.remove_report_dir(store, &path, &id, Some(canon_reports))
            {
                n += 1;
            }
        }
        n
    }
}

/// Run a pass now and then every `interval` until `stop` turns true.
pub fn spawn(
    retention: Retention,
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let retention = Arc::new(retention);
    tokio::spawn(async move {
        loop {
            let (r, s, m) = (retention.clone(), store.clone(), metrics.clone());
            let pass =
                tokio::task::spawn_blocking(move || r.run_once(&*s, &m, SystemTime::now())).await;
            match pass {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("retention: {e}"),
                Err(e) => tracing::error!("retention pass: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(retention.interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::old_job;
    use crate::state::{MemoryStore, SqliteStore};

    fn cfg() -> RetentionConfig {
        RetentionConfig {
            jobs_max_age: 30.0 * 86400.0,
            jobs_max_count: 0,
            incidents_max_age: 0.0,
            incidents_max_count: 0,
            prune_orphan_reports: true,
            interval: 60.0,
        }
    }

    fn report_dir(reports: &Path, id: &str) -> PathBuf {
        let d = reports.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("report.json"), "{}").unwrap();
        d
    }

    fn folders_go_with_their_jobs(store: &dyn StateStore) {
        let tmp = tempfile::tempdir().unwrap();
        let reports = tmp.path().join("reports");
        let metrics = Metrics::new();
        let mut old = old_job("gate-1-aaaaaaaa", 40 * 86400);
        old.reports_dir = Some(
            report_dir(&reports, "gate-1-aaaaaaaa")
                .display()
                .to_string(),
        );
        store.put_job(&old).unwrap();
        let mut new = old_job("gate-2-aaaaaaaa", 60);
        new.reports_dir = Some(
            report_dir(&reports, "gate-2-aaaaaaaa")
                .display()
                .to_string(),
        );
        store.put_job(&new).unwrap();
        // A record pointing outside the reports directory is pruned, its folder left alone.
        let outside = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        let mut stray = old_job("gate-3-aaaaaaaa", 40 * 86400);
        stray.reports_dir = Some(outside.display().to_string());
        store.put_job(&stray).unwrap();
        // An orphan folder (no job) from long ago, and a fresh one.
        let orphan = report_dir(&reports, "gate-9-aaaaaaaa");
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 86400);
        std::fs::File::open(&orphan)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let fresh_orphan = report_dir(&reports, "gate-8-aaaaaaaa");

        let r = Retention::new(&cfg(), &reports);
        let pruned = r.run_once(store, &metrics, SystemTime::now()).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                jobs: 2,
                incidents: 0,
                report_dirs: 2
            }
        );
        assert!(!reports.join("gate-1-aaaaaaaa").exists());
        assert!(reports.join("gate-2-aaaaaaaa").exists());
        assert!(outside.exists());
        assert!(!orphan.exists());
        assert!(fresh_orphan.exists());
        let text = metrics.render(Default::default());
        assert!(
            text.contains("mno_agent_pruned_total{kind=\"jobs\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mno_agent_pruned_total{kind=\"reports\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn pruned_jobs_take_their_report_folders_with_them_in_memory() {
        folders_go_with_their_jobs(&MemoryStore::new());
    }

    #[test]
    fn pruned_jobs_take_their_report_folders_with_them_in_sqlite() {
        let d = tempfile::tempdir().unwrap();
        folders_go_with_their_jobs(&SqliteStore::open(&d.path().join("s.db")).unwrap());
    }

    #[test]
    fn a_folder_of_a_job_submitted_again_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let reports = tmp.path().join("reports");
        let store = MemoryStore::new();
        let metrics = Metrics::new();
        let dir = report_dir(&reports, "gate-1-aaaaaaaa");
        let r = Retention::new(&cfg(), &reports);
        let canon = reports.canonicalize().unwrap();
        store
            .put_job(&crate::state::tests::job(
                "gate-1-aaaaaaaa",
                crate::state::JobStatus::Queued,
            ))
            .unwrap();
        assert!(!r.remove_report_dir(&store, &dir, "gate-1-aaaaaaaa", Some(&canon)));
        assert!(dir.exists());
        assert_eq!(
            r.run_once(&store, &metrics, SystemTime::now()).unwrap(),
            Pruned::default()
        );
    }
}
