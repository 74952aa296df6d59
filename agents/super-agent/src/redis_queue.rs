//! Gate jobs through a Redis Stream shared by every `super-agent` on the same Redis.
//!
//! `submit` puts the job record and a stream entry `{validation_id, run_id}` in one script
//! (nothing is queued when the same id is already queued or running). Each server runs
//! `max_concurrent_gates` workers, each a consumer of the group `super-agent` that reads one
//! entry at a time (`XREADGROUP … >`) and, every third of `redis.claim_idle`, claims entries
//! left pending longer than `claim_idle` by a worker that stopped answering (`XAUTOCLAIM`).
//!
//! A worker runs an entry only when the stored job is still that run and unfinished, and only
//! after taking the job's lock (`SET NX PX claim_idle`, renewed every third of it while the
//! gate runs). The result, the report files, the `XACK` and the release of the lock are one
//! script that does nothing unless the lock is still the worker's: so a job whose worker was
//! killed is run again by another, and however often it is run, one result is stored.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mno_redis::redis;
use mno_redis::redis::aio::ConnectionManager;
use mno_redis::redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamReadReply,
};
use tokio::sync::watch;

use crate::jobs::Jobs;
use crate::state::redis::Finish;
use crate::state::{JobStatus, RedisStore, StateStore};

/// Settings of the workers.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The Redis settings (connection, key prefix, claim idle time).
    pub redis: mno_redis::RedisConfig,
    /// Workers on this server.
    pub workers: usize,
}

/// This server's name in the consumer group: `host:pid`.
pub fn server_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}

/// Start the workers; they stop when `stop` turns true or the jobs close.
pub fn spawn_workers(
    jobs: Arc<Jobs>,
    store: Arc<RedisStore>,
    cfg: QueueConfig,
    stop: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, mno_redis::RedisError> {
    let mut out = Vec::new();
    for i in 0..cfg.workers {
        let con = cfg.redis.manager()?;
        let w = Worker {
            jobs: jobs.clone(),
            store: store.clone(),
            keys: cfg.redis.keys(),
            consumer: format!("{}#{i}", jobs.server_id()),
            claim_idle: Duration::from_secs_f64(cfg.redis.claim_idle),
        };
        out.push(tokio::spawn(w.run(con, stop.clone())));
    }
    Ok(out)
}

struct Worker {
    jobs: Arc<Jobs>,
    store: Arc<RedisStore>,
    keys: mno_redis::Keys,
    consumer: String,
    claim_idle: Duration,
}

/// One stream entry: (entry id, validation id, run id).
type Entry = (String, String, String);

fn entry(s: &StreamId) -> Entry {
    (
        s.id.clone(),
        s.get::<String>("validation_id").unwrap_or_default(),
        s.get::<String>("run_id").unwrap_or_default(),
    )
}

impl Worker {
    async fn run(self, mut con: ConnectionManager, mut stop: watch::Receiver<bool>) {
        let claim_every = (self.claim_idle / 3).max(Duration::from_millis(500));
        let mut last_claim: Option<Instant> = None;
        let mut group_ready = false;
        let mut down_since: Option<Instant> = None;
        loop {
            if *stop.borrow() || self.jobs.closing() {
                break;
            }
            let step = async {
                if !group_ready {
                    self.ensure_group(&mut con).await?;
                    group_ready = true;
                }
                if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                    last_claim = Some(Instant::now());
                    let claimed = self.claim(&mut con).await?;
                    if !claimed.is_empty() {
                        return Ok(claimed);
                    }
                }
                self.read(&mut con).await
            };
            let got = tokio::select! {
                r = step => r,
                _ = stop.changed() => break,
            };
            match got {
                Ok(entries) => {
                    if let Some(t) = down_since.take() {
                        tracing::info!(
                            consumer = %self.consumer,
                            "redis is back after {:.1}s; reading the job stream again",
                            t.elapsed().as_secs_f64()
                        );
                    }
                    for e in entries {
                        self.process(e).await;
                    }
                }
                Err(e) => {
                    if e.code() == Some("NOGROUP") {
                        // Redis came back empty: make the group again.
                        group_ready = false;
                    }
                    if down_since.is_none() {
                        tracing::warn!(consumer = %self.consumer, "job stream: {e}");
                        down_since = Some(Instant::now());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
    }

    async fn ensure_group(&self, con: &mut ConnectionManager) -> redis::RedisResult<()> {
        let r: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.jobs_stream())
            .arg(self.keys.jobs_group())
            .arg("0")
            .arg("MKSTREAM")
            .query_async(con)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn claim(&self, con: &mut ConnectionManager) -> redis::RedisResult<Vec<Entry>> {
        let r: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(self.keys.jobs_stream())
            .arg(self.keys.jobs_group())
            .arg(&self.consumer)
            .arg(self.claim_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(con)
            .await?;
        let out: Vec<Entry> = r.claimed.iter().map(entry).collect();
        if out.is_empty() {
            self.forget_dead_consumers(con).await;
        }
        for (id, vid, _) in &out {
            tracing::warn!(
                consumer = %self.consumer,
                entry = %id,
                validation_id = %vid,
                "claimed a gate job left pending by a silent worker"
            );
        }
        Ok(out)
    }

    /// Remove consumers of servers gone for a long time (nothing pending, silent for ten
    /// claim periods), so the group lists the live workers. Best effort.
    async fn forget_dead_consumers(&self, con: &mut ConnectionManager) {
        let info: redis::RedisResult<StreamInfoConsumersReply> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(self.keys.jobs_stream())
            .arg(self.keys.jobs_group())
            .query_async(con)
            .await;
        let Ok(info) = info else { return };
        let limit = (self.claim_idle * 10).as_millis() as usize;
        for c in info.consumers {
            if c.name != self.consumer && c.pending == 0 && c.idle > limit {
                let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(self.keys.jobs_stream())
                    .arg(self.keys.jobs_group())
                    .arg(&c.name)
                    .query_async(con)
                    .await;
            }
        }
    }

    async fn read(&self, con: &mut ConnectionManager) -> redis::RedisResult<Vec<Entry>> {
        let r: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(self.keys.jobs_group())
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(self.keys.jobs_stream())
            .arg(">")
            .query_async(con)
            .await?;
        Ok(r.map(|r| {
            r.keys
                .iter()
                .flat_map(|k| k.ids.iter().map(entry))
                .collect()
        })
        .unwrap_or_default())
    }

    /// Run one entry if it is still due and the lock is free.
    async fn process(&self, (entry, vid, run_id): Entry) {
        let store = self.store.clone();
        let job = match store.get_job(&vid) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(validation_id = %vid, "job stream: {e}; the entry stays pending");
                return;
            }
        };
        let stale = match &job {
            None => true,
            Some(j) => j.run_id.as_deref() != Some(run_id.as_str()) || j.status.is_done(),
        };
        if stale {
            // Done already (by another worker), replaced by a newer run, or expired.
            if let Err(e) = store.ack(&entry) {
                tracing::warn!(validation_id = %vid, "job stream: {e}");
            }
            return;
        }
        let Some(mut job) = job else { return };
        let owner = format!("{}|{run_id}", self.consumer);
        let lease = self.claim_idle;
        match store.lock(&vid, &owner, lease) {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(validation_id = %vid, "another worker holds the job's lock; leaving it");
                return;
            }
            Err(e) => {
                tracing::warn!(validation_id = %vid, "job lock: {e}");
                return;
            }
        }
        job.status = JobStatus::Running;
        job.started_at = Some(crate::now_rfc3339());
        job.worker = Some(self.jobs.server_id().to_string());
        if let Err(e) = store.put_job(&job) {
            tracing::warn!(validation_id = %vid, "cannot mark the job running: {e}");
        }
        // Keep the lock while the gate runs.
        let (done_tx, mut done_rx) = watch::channel(false);
        let renew = {
            let store = store.clone();
            let (vid, owner) = (vid.clone(), owner.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(lease / 3) => {}
                        _ = done_rx.changed() => break,
                    }
                    match store.renew(&vid, &owner, lease) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(validation_id = %vid, "lost the job's lock (it expired); another worker may run it");
                        }
                        Err(e) => {
                            tracing::warn!(validation_id = %vid, "cannot renew the job's lock: {e}")
                        }
                    }
                }
            })
        };
        self.jobs.running.fetch_add(1, Ordering::SeqCst);
        let (job, files) = self.jobs.run_stored(job).await;
        self.jobs.running.fetch_sub(1, Ordering::SeqCst);
        let _ = done_tx.send(true);
        let _ = renew.await;
        // Store the result; while Redis is down, keep trying (the lock's lease bounds how long
        // the result can still be ours).
        let t0 = Instant::now();
        loop {
            match store.finish(&job, &files, &owner, &entry) {
                Ok(Finish::Stored) => {
                    self.jobs.count_finished(&job);
                    break;
                }
                Ok(Finish::LostLock) => {
                    tracing::warn!(
                        validation_id = %vid,
                        "the job's lock passed to another worker: this run's result is discarded"
                    );
                    break;
                }
                Err(e) => {
                    if t0.elapsed() > lease {
                        tracing::error!(validation_id = %vid, "cannot store the result: {e}; another worker will run the job again");
                        break;
                    }
                    let _ = store.renew(&vid, &owner, lease);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}
