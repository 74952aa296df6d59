//! The store thread: writes each tick, and between ticks runs compaction,
//! retention, incremental vacuum and backups in small steps.
//!
//! The tick task never waits for SQLite: a feeder task hands each published
//! batch to this thread through a bounded queue (a full queue drops the batch
//! with a warning rather than holding the tick). Background work runs only
//! when the queue is empty and each step is bounded (one block, a few MiB of
//! vacuum), so a tick waits at most one step. Backups run on their own thread
//! with their own read connection and never block this one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{Store, StoreError, backup, retention, unix_ms};
use crate::agent::SnapshotRx;
use crate::metrics::Batch;

/// Batches waiting for the store thread before new ones are dropped.
const QUEUE: usize = 64;

enum Msg {
    Append(Arc<Batch>),
    Stop,
}

/// Handle on the running store thread.
pub struct StoreWorker {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWorker {
    /// Start the store thread.
    pub fn spawn(store: Arc<Store>) -> Result<StoreWorker, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("mno-store".into())
            .spawn(move || run(store, rx))
            .map_err(|e| StoreError::io(std::path::Path::new("mno-store thread"), e))?;
        Ok(StoreWorker {
            tx,
            thread: Some(thread),
        })
    }

    /// Queue a batch; `false` (and a warning) when the queue is full.
    pub fn submit(&self, batch: Arc<Batch>) -> bool {
        match self.tx.try_send(Msg::Append(batch)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("store is behind by {QUEUE} ticks; dropping this tick's batch");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Stop the thread after the queued batches are written, and wait for it.
    pub fn shutdown(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Hand every published batch to the store thread until `stop`; then stop the thread.
pub async fn feed(worker: StoreWorker, mut rx: SnapshotRx, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = rx.changed() => if changed.is_err() { break },
        }
        let snap = rx.borrow_and_update().clone();
        if let Some(s) = snap {
            worker.submit(s.batch.clone());
        }
    }
    let _ = tokio::task::spawn_blocking(move || worker.shutdown()).await;
}

/// How often the oldest block is checked against retention.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

fn run(store: Arc<Store>, rx: Receiver<Msg>) {
    let mut sched = Schedule::new(&store);
    loop {
        let wait = if sched.has_work(&store) {
            Duration::ZERO
        } else {
            Duration::from_millis(500)
        };
        match rx.recv_timeout(wait) {
            Ok(Msg::Append(b)) => {
                write_tick(&store, &b);
                continue;
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        sched.step(&store);
    }
    sched.finish();
}

fn write_tick(store: &Store, batch: &Batch) {
    match store.append_batch(batch) {
        Ok(a) => tracing::debug!(
            ts_ms = a.ts,
            samples = a.samples,
            digest = format!("{:016x}", a.digest),
            "tick committed"
        ),
        Err(e) => tracing::warn!(error = %e, "store: tick not written"),
    }
}

/// Background work and when it is next due.
///
/// Compaction, retention, vacuum and backups are independent tasks: a failing one (a full
/// disk during compaction, say) is counted, logged and retried after a back-off, while the
/// others keep running. Retention and vacuum are what free space on a full disk, so they
/// must never wait for compaction to succeed.
struct Schedule {
    next_compaction: Instant,
    compaction_backoff: Duration,
    next_retention: Instant,
    vacuum: bool,
    next_vacuum: Instant,
    vacuum_backoff: Duration,
    backup: Option<backup::BackupOptions>,
    next_backup: Instant,
    job: Option<JoinHandle<Result<PathBuf, StoreError>>>,
}

/// First wait before a failed task is tried again; doubled on each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait before a failed task is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Count and log a failed maintenance task.
fn task_failed(store: &Store, task: super::Task, e: &StoreError, retry_in: Duration) {
    store.counters.task_failed(task);
    tracing::warn!(
        task = task.name(),
        error = %e,
        retry_in_s = retry_in.as_secs_f64(),
        "store maintenance failed; the other tasks go on"
    );
}

impl Schedule {
    fn new(store: &Store) -> Schedule {
        let backup = store.options().backup.clone();
        let newest = backup::newest_backup_time(store.path());
        if let Some(t) = newest {
            store
                .counters
                .last_backup_ms
                .store(unix_ms(t).max(0) as u64, Ordering::Relaxed);
        }
        // Continue the cadence of the newest existing backup across restarts.
        let next_backup = match (&backup, newest) {
            (Some(b), Some(t)) => {
                let age = SystemTime::now().duration_since(t).unwrap_or_default();
                let interval = Duration::from_millis(b.interval_ms as u64);
                Instant::now() + interval.saturating_sub(age)
            }
            (Some(b), None) => Instant::now() + Duration::from_millis(b.interval_ms as u64),
            (None, _) => Instant::now(),
        };
        let now = Instant::now();
        Schedule {
            next_compaction: now,
            compaction_backoff: FIRST_BACKOFF,
            next_retention: now,
            vacuum: true,
            next_vacuum: now,
            vacuum_backoff: FIRST_BACKOFF,
            backup,
            next_backup,
            job: None,
        }
    }

    /// Whether a step is due now (the thread then does not sleep).
    fn has_work(&self, store: &Store) -> bool {
        let now = Instant::now();
        (now >= self.next_compaction && store.compaction_due().is_some())
            || (self.vacuum && now >= self.next_vacuum)
            || now >= self.next_retention
            || self.job.as_ref().is_some_and(|j| j.is_finished())
            || (self.backup.is_some() && self.job.is_none() && now >= self.next_backup)
    }

    /// Do one bounded piece of background work. Each task's failure is handled on its own,
    /// so the next task still gets its turn in the same step.
    fn step(&mut self, store: &Store) {
        let now = Instant::now();
        if now >= self.next_compaction {
            match store.compact_step() {
                Ok(true) => {
                    self.compaction_backoff = FIRST_BACKOFF;
                    return;
                }
                Ok(false) => self.compaction_backoff = FIRST_BACKOFF,
                Err(e) => {
                    let wait = self.compaction_backoff;
                    task_failed(store, super::Task::Compaction, &e, wait);
                    self.next_compaction = now + wait;
                    self.compaction_backoff = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
        if now >= self.next_retention {
            match store.retention_step(unix_ms(SystemTime::now())) {
                Ok(true) => {
                    self.vacuum = true;
                    return;
                }
                Ok(false) => self.next_retention = now + RETENTION_EVERY,
                Err(e) => {
                    task_failed(store, super::Task::Retention, &e, RETENTION_EVERY);
                    self.next_retention = now + RETENTION_EVERY;
                }
            }
        }
        if self.vacuum && now >= self.next_vacuum {
            match store.vacuum_step(retention::VACUUM_STEP_PAGES) {
                Ok(left) => {
                    self.vacuum = left > 0;
                    self.vacuum_backoff = FIRST_BACKOFF;
                    return;
                }
                Err(e) => {
                    let wait = self.vacuum_backoff;
                    task_failed(store, super::Task::Vacuum, &e, wait);
                    self.next_vacuum = now + wait;
                    self.vacuum_backoff = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
        if self.job.as_ref().is_some_and(|j| j.is_finished())
            && let Some(job) = self.job.take()
        {
            self.record(store, job);
        }
        if let Some(b) = &self.backup
            && self.job.is_none()
            && now >= self.next_backup
        {
            let (db, keep) = (store.path().to_path_buf(), b.keep);
            self.next_backup = now + Duration::from_millis(b.interval_ms as u64);
            match std::thread::Builder::new()
                .name("mno-backup".into())
                .spawn(move || backup::take_backup(&db, keep))
            {
                Ok(job) => self.job = Some(job),
                Err(e) => {
                    store
                        .counters
                        .backup_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "backup thread did not start");
                }
            }
        }
    }

    fn record(&self, store: &Store, job: JoinHandle<Result<PathBuf, StoreError>>) {
        match job.join() {
            Ok(Ok(path)) => {
                store.counters.backups.fetch_add(1, Ordering::Relaxed);
                store
                    .counters
                    .last_backup_ms
                    .store(unix_ms(SystemTime::now()) as u64, Ordering::Relaxed);
                tracing::info!(file = %path.display(), "backup written");
            }
            Ok(Err(e)) => {
                store
                    .counters
                    .backup_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "backup failed");
            }
            Err(_) => {
                store
                    .counters
                    .backup_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!("backup thread panicked");
            }
        }
    }

    /// Let a backup in progress finish (it holds only a read transaction).
    fn finish(mut self) {
        if let Some(job) = self.job.take() {
            let _ = job.join();
        }
    }
}
