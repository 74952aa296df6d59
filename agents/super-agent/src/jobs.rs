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
use crate::state::{JobRecord, JobStatus, RedisStore, StateStore};

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
    pub(crate) running: AtomicUsize,
    /// The Redis store when jobs go through its stream (`crate::redis_queue`).
    redis: Option<Arc<RedisStore>>,
    /// `host:pid`, this server's name among the workers.
    server_id: String,
    allowed_roots: Vec<std::path::PathBuf>,
    commands_allowed: bool,
    wait_timeout: Duration,
    queued: AtomicUsize,
    closing: AtomicBool,
    /// The longest evidence chain head seen (from the chain at start, then each run).
    evidence_head: Mutex<Option<mno_gates::evidence::ChainHead>>,
    /// Redis settings and a connection (made on first use) to read host snapshots.
    snapshots: Option<(
        mno_redis::RedisConfig,
        tokio::sync::OnceCell<mno_redis::redis::aio::ConnectionManager>,
    )>,
}

/// A random run id (a submission of a validation id).
fn new_run_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        b = n.to_le_bytes();
    }
    hex::encode(b)
}

/// A host snapshot from Redis as a report's monitor section.
fn snapshot_section(s: mno_redis::HostSnapshot) -> mno_gates::MonitorSection {
    let fullest = s.disks.iter().map(|d| d.usage_percent).reduce(f64::max);
    let mut disks: Vec<mno_gates::monitor::DiskUsage> = s
        .disks
        .into_iter()
        .map(|d| mno_gates::monitor::DiskUsage {
            mountpoint: d.mountpoint,
            device: d.device,
            usage_percent: d.usage_percent,
        })
        .collect();
    disks.sort_by(|a, b| b.usage_percent.total_cmp(&a.usage_percent));
    mno_gates::MonitorSection {
        url: format!("redis:host/{}", s.host),
        host: Some(s.host),
        reachable: true,
        error: None,
        health: Some(mno_gates::monitor::MonitorHealth {
            status: "ok".into(),
            version: Some(s.version),
            uptime_seconds: Some(s.uptime_seconds),
        }),
        cpu_usage_percent: s.cpu_usage_percent,
        memory_usage_percent: s.memory_usage_percent,
        disk_usage_percent: fullest,
        disks,
        active_alerts: s
            .alerts
            .into_iter()
            .map(|a| mno_gates::monitor::MonitorAlert {
                name: a.name,
                severity: a.severity,
                state: a.state,
                since: a.since,
                summary: a.summary,
            })
            .collect(),
        fetched_at: s.updated_at,
    }
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
    /// Jobs go through this Redis store's stream (run by `crate::redis_queue` workers).
    pub redis: Option<Arc<RedisStore>>,
    /// Where the host snapshots come from for the report's `monitor_hosts` (Redis).
    pub snapshots: Option<mno_redis::RedisConfig>,
    /// Canonical allowed roots (a worker checks a job from the stream against its own).
    pub allowed_roots: Vec<std::path::PathBuf>,
    /// Whether build commands may run (the server has a token).
    pub commands_allowed: bool,
    /// How long a waiting request waits (bounds the polling of a job run elsewhere).
    pub wait_timeout: Duration,
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
            redis: cfg.redis,
            server_id: crate::redis_queue::server_id(),
            allowed_roots: cfg.allowed_roots,
            commands_allowed: cfg.commands_allowed,
            wait_timeout: cfg.wait_timeout,
            snapshots: cfg.snapshots.map(|c| (c, tokio::sync::OnceCell::new())),
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
        if let Some(rs) = &self.redis {
            return self.submit_shared(rs, v, trace_id, source_agent);
        }
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
        let job = queued_record(&v, trace_id, source_agent, None);
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
        let vid = v.validation_id.clone();
        let job = self.run_validated(v, job).await;
        drop(permit);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.count_finished(&job);
        self.save(&job);
        self.finish(&vid, &tx);
    }

    /// Queue through the Redis stream (several servers share it).
    fn submit_shared(
        self: &Arc<Self>,
        rs: &Arc<RedisStore>,
        v: ValidatedGate,
        trace_id: &str,
        source_agent: &str,
    ) -> Result<Submitted, ApiError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down and accepts no new gate runs",
            )
            .retry_after(30));
        }
        let job = queued_record(&v, trace_id, source_agent, Some(new_run_id()));
        let (job, created) = match rs.enqueue(&job)? {
            Some(existing) => (existing, false),
            None => {
                tracing::info!(
                    validation_id = %v.validation_id,
                    trace_id,
                    root = %v.root.display(),
                    "gate queued on the redis job stream"
                );
                (job, true)
            }
        };
        Ok(Submitted {
            done: self.watch_shared(&job.validation_id),
            job,
            created,
        })
    }

    /// A channel that turns `true` when the stored job has ended (polled, up to the wait timeout).
    fn watch_shared(self: &Arc<Self>, id: &str) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let (me, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            let deadline = Instant::now() + me.wait_timeout + Duration::from_secs(1);
            while Instant::now() < deadline && !tx.is_closed() {
                match me.store.get_job(&id) {
                    Ok(Some(j)) if j.status.is_done() => {
                        let _ = tx.send(true);
                        return;
                    }
                    Ok(None) => return,
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        rx
    }

    /// This server's name among the workers (`host:pid`).
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Run a job taken from the shared stream: check its request against this server's
    /// configuration, run it, and return the finished record with its report files.
    pub(crate) async fn run_stored(
        &self,
        mut job: JobRecord,
    ) -> (JobRecord, Vec<(String, Vec<u8>)>) {
        let Some(req) = job.request.clone() else {
            job.status = JobStatus::Error;
            job.error = Some("the queued job has no request".into());
            job.finished_at = Some(crate::now_rfc3339());
            return (job, Vec::new());
        };
        let v = match gate_handler::validate(req, &self.allowed_roots, "", self.commands_allowed) {
            Ok(v) => v,
            Err(e) => {
                job.status = JobStatus::Error;
                job.error = Some(format!("refused by {}: {}", self.server_id, e.detail));
                job.finished_at = Some(crate::now_rfc3339());
                return (job, Vec::new());
            }
        };
        let job = self.run_validated(v, job).await;
        let mut files = Vec::new();
        if let Some(dir) = &job.reports_dir {
            for name in &job.reports {
                match std::fs::read(std::path::Path::new(dir).join(name)) {
                    Ok(b) => files.push((name.clone(), b)),
                    Err(e) => {
                        tracing::warn!(validation_id = %job.validation_id, "report {name}: {e}")
                    }
                }
            }
        }
        (job, files)
    }

    /// The monitor sections of the report: the Auto-Monitor at `monitor_url` (HTTP), and
    /// every host's snapshot from Redis when Redis is configured.
    async fn monitor_sections(
        &self,
    ) -> (
        Option<mno_gates::MonitorSection>,
        Vec<mno_gates::MonitorSection>,
    ) {
        let http = match &self.monitor {
            Some((url, timeout)) => Some(mno_gates::monitor::fetch(url, *timeout).await),
            None => None,
        };
        let mut hosts = Vec::new();
        if let Some((cfg, cell)) = &self.snapshots {
            let con = cell
                .get_or_try_init(|| async { cfg.manager() })
                .await
                .cloned();
            match con {
                Ok(mut con) => {
                    let keys = cfg.keys();
                    match tokio::time::timeout(
                        cfg.timeout() * 2,
                        mno_redis::read_snapshots(&mut con, &keys),
                    )
                    .await
                    {
                        Ok(Ok(list)) => hosts = list.into_iter().map(snapshot_section).collect(),
                        Ok(Err(e)) => tracing::warn!("host snapshots: {e}"),
                        Err(_) => tracing::warn!("host snapshots: redis timed out"),
                    }
                }
                Err(e) => tracing::warn!("host snapshots: {e}"),
            }
        }
        (http, hosts)
    }

    /// Run a validated gate on the blocking pool and fill `job` with the outcome.
    async fn run_validated(&self, v: ValidatedGate, mut job: JobRecord) -> JobRecord {
        let t0 = Instant::now();
        let (monitor, hosts) = self.monitor_sections().await;
        let ctx = self.ctx.clone();
        let vid = v.validation_id.clone();
        let result = tokio::task::spawn_blocking(move || {
            gate_handler::run_with_hosts(&v, &ctx, monitor, hosts)
        })
        .await;
        let secs = t0.elapsed().as_secs_f64();
        match result {
            Ok(outcome) => {
                if let Some(r) = &outcome.evidence_record
                    && let Err(e) = self.store.put_evidence_record(&r.key_id, r.seq, &r.line)
                {
                    tracing::error!(validation_id = %vid, "cannot keep the evidence record in the store: {e}");
                }
                job.status = outcome.response.overall_status.into();
                job.reports_dir = Some(outcome.reports_dir.display().to_string());
                job.reports = outcome.reports;
                job.error = None;
                job.response = Some(outcome.response);
            }
            Err(e) => {
                job.status = JobStatus::Error;
                job.error = Some(format!("the gate run failed: {e}"));
            }
        }
        job.finished_at = Some(crate::now_rfc3339());
        tracing::info!(
            validation_id = %vid,
            status = job.status.as_str(),
            seconds = secs,
            "gate finished"
        );
        job
    }

    /// Count a finished job in the metrics and note its evidence head.
    pub(crate) fn count_finished(&self, job: &JobRecord) {
        let secs = match (&job.started_at, &job.finished_at) {
            (Some(a), Some(b)) => match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => (b - a).num_milliseconds().max(0) as f64 / 1000.0,
                _ => 0.0,
            },
            _ => 0.0,
        };
        let Some(r) = &job.response else {
            self.metrics.gate_run("ERROR", secs, &[]);
            return;
        };
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
            run_id: None,
            worker: None,
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
        if self.redis.is_some() {
            // Jobs left running stay pending in the stream; another server claims them.
            while Instant::now() < deadline && self.running.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Vec::new();
        }
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

/// The record of a job just queued (the local queue gives no run id; the Redis stream does).
fn queued_record(
    v: &ValidatedGate,
    trace_id: &str,
    source_agent: &str,
    run_id: Option<String>,
) -> JobRecord {
    JobRecord {
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
        run_id,
        worker: None,
    }
}
