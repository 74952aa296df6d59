//! Gate runs as jobs: queued, run on the blocking pool a few at a time, recorded in the store.
//!
//! A job is keyed by its validation id. While one is queued or running, asking for the same
//! id again returns that job instead of starting a second run; once it has ended, asking
//! again runs the gate again (the tree or its root.gates.yaml may have changed) and the new
//! result replaces the old. At most `max_concurrent_gates` run at once (a semaphore); the
//! rest wait, up to `max_queued_gates`, after which requests get 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::{Semaphore, watch};

use crate::api::error::ApiError;
use crate::gate_handler::{self, GateContext, ValidatedGate};
use crate::messages::GateValidationResponse;
use crate::metrics::{Gauges, Metrics};
use crate::state::{JobRecord, JobStatus, StateStore};

/// Why a job ended without running: the server stopped first.
pub const INTERRUPTED: &str = "interrupted: the server stopped before the gate finished";

/// The job manager.
pub struct Jobs {
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    ctx: Arc<GateContext>,
    monitor: Option<(String, Duration)>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    max_queued: usize,
    /// Queued or running jobs and the channel that turns `true` when each ends.
    active: Mutex<HashMap<String, watch::Receiver<bool>>>,
    running: AtomicUsize,
    queued: AtomicUsize,
    closing: AtomicBool,
    /// The longest evidence chain head seen (from the chain at start, then each run).
    evidence_head: Mutex<Option<mno_gates::evidence::ChainHead>>,
}

/// A job handed back by [`Jobs::submit`].
pub struct Submitted {
    /// The job as stored now.
    pub job: JobRecord,
    /// Turns `true` when the job ends.
    pub done: watch::Receiver<bool>,
    /// `false` when an identical job was already queued or running and is returned instead.
    pub created: bool,
}

/// What the job manager needs.
pub struct JobsConfig {
    /// Gate runs at once.
    pub max_concurrent: usize,
    /// Gate runs waiting.
    pub max_queued: usize,
    /// Auto-Monitor URL and timeout, when configured.
    pub monitor: Option<(String, Duration)>,
}

impl Jobs {
    /// A manager over `store`.
    pub fn new(
        store: Arc<dyn StateStore>,
        metrics: Arc<Metrics>,
        ctx: GateContext,
        cfg: JobsConfig,
    ) -> Arc<Jobs> {
        let jobs = Arc::new(Jobs {
            store,
            metrics,
            ctx: Arc::new(ctx),
            monitor: cfg.monitor,
            slots: Arc::new(Semaphore::new(cfg.max_concurrent)),
            max_concurrent: cfg.max_concurrent,
            max_queued: cfg.max_queued,
            active: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            evidence_head: Mutex::new(None),
            closing: AtomicBool::new(false),
        });
        if let Some(chain) = &jobs.ctx.chain {
            match chain.head() {
                Ok(h) => {
                    if let Some(problem) = jobs.head_against_store(&h) {
                        tracing::error!("evidence chain: {problem}");
                    }
                    jobs.note_evidence_head(h)
                }
                Err(e) => tracing::error!("evidence chain head: {e}"),
            }
        }
        jobs
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<bool>>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a gate run, or return the identical one already queued or running.
    pub fn submit(
        self: &Arc<Self>,
        v: ValidatedGate,
        trace_id: &str,
        source_agent: &str,
    ) -> Result<Submitted, ApiError> {
        let mut active = self.active();
        if let Some(rx) = active.get(&v.validation_id) {
            let job = self.store.get_job(&v.validation_id)?.ok_or_else(|| {
                ApiError::internal(format!("{}: active but not stored", v.validation_id))
            })?;
            return Ok(Submitted {
                job,
                done: rx.clone(),
                created: false,
            });
        }
        if self.closing.load(Ordering::SeqCst) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down and accepts no new gate runs",
            )
            .retry_after(30));
        }
        if active.len() >= self.max_queued + self.max_concurrent {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                format!(
                    "{} gate runs are queued or running (max_concurrent_gates {} + max_queued_gates {}); retry later",
                    active.len(),
                    self.max_concurrent,
                    self.max_queued
                ),
            )
            .retry_after(5));
        }
        let job = JobRecord {
            validation_id: v.validation_id.clone(),
            status: JobStatus::Queued,
            trace_id: trace_id.to_string(),
            source_agent: source_agent.to_string(),
            created_at: crate::now_rfc3339(),
            started_at: None,
            finished_at: None,
            request: Some(v.request.clone()),
            root: Some(v.root.display().to_string()),
            response: None,
            error: None,
            reports_dir: None,
            reports: Vec::new(),
        };
        self.store.put_job(&job)?;
        let (tx, rx) = watch::channel(false);
        active.insert(v.validation_id.clone(), rx.clone());
        self.queued.fetch_add(1, Ordering::SeqCst);
        drop(active);
        tracing::info!(
            validation_id = %v.validation_id,
            trace_id,
            root = %v.root.display(),
            checks = ?v.checks,
            "gate queued"
        );
        tokio::spawn(self.clone().drive(v, job.clone(), tx));
        Ok(Submitted {
            job,
            done: rx,
            created: true,
        })
    }

    /// Wait for a slot, run the gate on the blocking pool, record the result.
    async fn drive(self: Arc<Self>, v: ValidatedGate, mut job: JobRecord, tx: watch::Sender<bool>) {
        let permit = self.slots.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let permit = match permit {
            Ok(p) if !self.closing.load(Ordering::SeqCst) => p,
            _ => {
                crate::state::interrupt_job(&mut job, INTERRUPTED);
                self.save(&job);
                self.metrics.gate_run("ERROR", 0.0, &[]);
                self.finish(&job.validation_id, &tx);
                return;
            }
        };
        self.running.fetch_add(1, Ordering::SeqCst);
        job.status = JobStatus::Running;
        job.started_at = Some(crate::now_rfc3339());
        self.save(&job);
        let t0 = Instant::now();
        let monitor = match &self.monitor {
            Some((url, timeout)) => Some(mno_gates::monitor::fetch(url, *timeout).await),
            None => None,
        };
        let ctx = self.ctx.clone();
        let vid = v.validation_id.clone();
        let result =
            tokio::task::spawn_blocking(move || gate_handler::run(&v, &ctx, monitor)).await;
        let secs = t0.elapsed().as_secs_f64();
        drop(permit);
        self.running.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(outcome) => {
                let r = &outcome.response;
                job.status = r.overall_status.into();
                let findings: Vec<(String, String)> = r
                    .validation_results
                    .values()
                    .flat_map(|c| &c.findings)
                    .map(|f| (f.check.clone(), f.severity.as_str().to_string()))
                    .collect();
                self.metrics
                    .gate_run(r.overall_status.as_str(), secs, &findings);
                if let Some(c) = r.evidence.as_ref().and_then(|e| e.chain.as_ref()) {
                    self.note_evidence_head(mno_gates::evidence::ChainHead {
                        records: c.seq,
                        hash: c.hash.clone(),
                    });
                }
                job.reports_dir = Some(outcome.reports_dir.display().to_string());
                job.reports = outcome.reports;
                job.error = None;
                job.response = Some(outcome.response);
            }
            Err(e) => {
                job.status = JobStatus::Error;
                job.error = Some(format!("the gate run failed: {e}"));
                self.metrics.gate_run("ERROR", secs, &[]);
            }
        }
        job.finished_at = Some(crate::now_rfc3339());
        tracing::info!(
            validation_id = %vid,
            status = job.status.as_str(),
            seconds = secs,
            "gate finished"
        );
        self.save(&job);
        self.finish(&vid, &tx);
    }

    /// What is wrong with the chain's `head` given the one in the state store: shorter
    /// (records removed from the end) or the same length with another hash (rewritten).
    fn head_against_store(&self, head: &mno_gates::evidence::ChainHead) -> Option<String> {
        let stored = match self.store.evidence_head() {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => return Some(format!("cannot read the head in the state store: {e}")),
        };
        if stored.records > head.records {
            Some(format!(
                "the log has {} records but the state store recorded {stored}: records seq {}..={} \
                 were removed from the end (check with `super-agent evidence verify \
                 --expect-head {stored}`)",
                head.records,
                head.records + 1,
                stored.records
            ))
        } else if stored.records == head.records && stored.hash != head.hash {
            Some(format!(
                "the log's head is {head} but the state store recorded {stored}: the chain was rewritten"
            ))
        } else {
            None
        }
    }

    /// Keep `head` when it is longer than the one held, and record it in the store.
    pub fn note_evidence_head(&self, head: mno_gates::evidence::ChainHead) {
        {
            let mut g = self
                .evidence_head
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if g.as_ref().is_some_and(|h| h.records >= head.records) {
                return;
            }
            *g = Some(head.clone());
        }
        if let Err(e) = self.store.put_evidence_head(&head) {
            tracing::error!("cannot record the evidence chain head: {e}");
        }
    }

    fn save(&self, job: &JobRecord) {
        if let Err(e) = self.store.put_job(job) {
            tracing::error!(validation_id = %job.validation_id, "cannot record the job: {e}");
        }
    }

    fn finish(&self, id: &str, tx: &watch::Sender<bool>) {
        self.active().remove(id);
        let _ = tx.send(true);
    }

    /// Wait until `done` turns true or `timeout` passes; `true` when the job ended.
    pub async fn wait(done: &mut watch::Receiver<bool>, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, done.wait_for(|d| *d)).await,
            Ok(Ok(_))
        )
    }

    /// Record a result computed elsewhere (a GateValidationResponse message) as a finished job.
    pub fn record_external(
        &self,
        response: GateValidationResponse,
        trace_id: &str,
        source_agent: &str,
    ) -> Result<JobRecord, ApiError> {
        let active = self.active();
        if active.contains_key(&response.validation_id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "job_running",
                format!(
                    "{} is queued or running here; its result will be recorded when it ends",
                    response.validation_id
                ),
            ));
        }
        let now = crate::now_rfc3339();
        let job = JobRecord {
            validation_id: response.validation_id.clone(),
            status: response.overall_status.into(),
            trace_id: trace_id.to_string(),
            source_agent: source_agent.to_string(),
            created_at: now.clone(),
            started_at: None,
            finished_at: Some(now),
            request: None,
            root: None,
            response: Some(response),
            error: None,
            reports_dir: None,
            reports: Vec::new(),
        };
        self.store.put_job(&job)?;
        drop(active);
        Ok(job)
    }

    /// Running and queued counts for /metrics and /ready.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            running: self.running.load(Ordering::SeqCst),
            queued: self.queued.load(Ordering::SeqCst),
            max_concurrent: self.max_concurrent,
            evidence_records: self
                .evidence_head
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .map(|h| h.records),
        }
    }

    /// Whether a shutdown has begun.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Stop taking jobs; queued ones end as interrupted, running ones go on.
    pub fn begin_shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.slots.close();
    }

    /// Wait up to `timeout` for running jobs to end; mark those still running interrupted
    /// and return their ids.
    pub async fn drain(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.active().is_empty() {
                return Vec::new();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ids: Vec<String> = self.active().keys().cloned().collect();
        for id in &ids {
            if let Ok(Some(mut job)) = self.store.get_job(id) {
                crate::state::interrupt_job(&mut job, INTERRUPTED);
                self.save(&job);
            }
        }
        ids
    }
}
