//! The alerting engine's running parts: evaluation on every published tick, the flush
//! timer of notification groups, delivery workers, repairs, Alertmanager sends and reloads
//! (SIGHUP or `POST /-/reload`). State lives in [`Core`] behind one mutex; network and
//! process work happens outside it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::core::{Core, now_ms};
use super::history::History;
use super::rules::{self, RuleSet};
use super::settings::Settings;
use crate::agent::SnapshotRx;
use crate::config::{Effective, FlagOverrides, Source};
use crate::metrics::Family;

/// What the tasks and the API share.
pub struct Shared {
    core: Mutex<Core>,
    /// HTTP client for notifications and repairs.
    pub client: reqwest::Client,
    /// `alerts.db`.
    pub db_path: PathBuf,
    /// Stops every task.
    pub stop: CancellationToken,
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    workers: Mutex<HashSet<String>>,
    flush_wake: Notify,
    source: Source,
    dry_run_flag: bool,
}

impl Shared {
    /// Lock the core (a poisoned lock is still usable: the state is plain data).
    pub fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.core().settings.clone()
    }

    /// The wake-up signal of a notifier's worker.
    pub fn waker(&self, receiver: &str) -> Arc<Notify> {
        let mut w = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(receiver.to_string()).or_default().clone()
    }

    /// Count a delivery outcome.
    pub fn count_notification(&self, receiver: &str, result: &str) {
        *self
            .core()
            .stats
            .notifications
            .entry((receiver.to_string(), result.to_string()))
            .or_default() += 1;
    }
}

/// Load the rules and settings a configuration asks for (all errors, located).
pub fn load_parts(eff: &Effective) -> Result<(RuleSet, Settings), String> {
    let rules = rules::load(&eff.config, &eff.source, &eff.index).map_err(|es| {
        es.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let settings =
        Settings::build(&eff.config).map_err(|(k, m)| format!("{}: {m}", eff.origin(&k)))?;
    Ok((rules, settings))
}

/// The client for notifications and HTTP repairs. Unlike the service checks' client it does
/// not send `network.headers` or `network.auth_token`: those are for the monitored services,
/// not for webhook receivers; each notifier and strategy sets its own headers.
fn client(cfg: &crate::config::MonitorConfig) -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!(
            "machinenativenops-auto-monitor/",
            env!("CARGO_PKG_VERSION")
        ))
        .tls_danger_accept_invalid_certs(!cfg.network.verify_ssl)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The alerting engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Load rules, open `db_path` and restore the alerts that were firing.
    pub fn new(eff: &Effective, db_path: &Path) -> Result<Engine, String> {
        let (rules, settings) = load_parts(eff)?;
        for w in &rules.warnings {
            tracing::warn!("{w}");
        }
        let db = History::open(db_path).map_err(|e| e.to_string())?;
        let client = client(&eff.config)?;
        let n = rules.len();
        let core = Core::new(rules, settings, db)?;
        tracing::info!(rules = n, db = %db_path.display(), dry_run = eff.config.auto_repair.dry_run, "alerting engine ready");
        Ok(Engine {
            shared: Arc::new(Shared {
                core: Mutex::new(core),
                client,
                db_path: db_path.to_path_buf(),
                stop: CancellationToken::new(),
                wakers: Mutex::default(),
                workers: Mutex::default(),
                flush_wake: Notify::new(),
                source: eff.source.clone(),
                dry_run_flag: eff.config.auto_repair.dry_run,
            }),
        })
    }

    /// The shared state (for the API and tests).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Use the metrics store for rules that read history.
    pub fn set_storage(&self, storage: Arc<dyn mno_promql::Storage>) {
        self.shared.core().storage = Some(storage);
    }

    /// A function giving the families to add to each batch.
    pub fn families_source(&self) -> impl Fn() -> Vec<Family> + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            // Take the references under the lock, copy outside it.
            let (a, e) = {
                let c = shared.core();
                (c.alert_families.clone(), c.engine_families.clone())
            };
            let mut v = a.as_ref().clone();
            v.extend(e.iter().cloned());
            v
        }
    }

    /// Evaluate one batch now and run what it asks (for tests and benchmarks: no tasks).
    pub fn tick_blocking(&self, batch: Arc<crate::metrics::Batch>) -> super::core::TickOutput {
        self.shared.core().tick(batch)
    }

    /// Start the tasks: evaluation on each tick of `rx`, flushing, delivery, SIGHUP reloads.
    /// They stop when `stop` is cancelled.
    pub fn spawn(&self, rx: SnapshotRx, stop: CancellationToken) {
        let sh = self.shared.clone();
        let child = sh.stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            child.cancel();
        });
        self.start_workers();
        tokio::spawn(eval_loop(self.clone(), rx));
        tokio::spawn(flush_loop(self.shared.clone()));
        #[cfg(unix)]
        {
            let me = self.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = me.shared.stop.cancelled() => break,
                        r = hup.recv() => if r.is_none() { break },
                    }
                    match me.reload() {
                        Ok(m) => tracing::info!("SIGHUP: {m}"),
                        Err(e) => tracing::error!(
                            "SIGHUP: reload failed, keeping the previous rules: {e}"
                        ),
                    }
                }
            });
        }
    }

    fn start_workers(&self) {
        let settings = self.shared.settings();
        let mut started = self
            .shared
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for n in settings.notifiers.values() {
            use super::config::NotifierKind::{Command, Redis, Superagent, Webhook};
            if matches!(n.kind, Webhook | Command | Redis | Superagent)
                && started.insert(n.name.clone())
            {
                let sh = self.shared.clone();
                let name = n.name.clone();
                tokio::spawn(async move {
                    super::notify::worker::run(sh.clone(), name.clone()).await;
                    sh.workers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&name);
                });
            }
        }
    }

    /// Re-read the configuration file and swap in its rules and alerting settings; on any
    /// error nothing changes and the error (every problem, located) is returned.
    pub fn reload(&self) -> Result<String, String> {
        let file = match &self.shared.source {
            Source::File(p) => Some(p.clone()),
            Source::Embedded => None,
        };
        let env = |k: &str| std::env::var(k).ok();
        let result = crate::config::load(file.as_deref(), &env, &FlagOverrides::default())
            .map_err(|e| e.to_string())
            .and_then(|mut eff| {
                eff.config.auto_repair.dry_run |= self.shared.dry_run_flag;
                load_parts(&eff)
            });
        match result {
            Ok((rules, settings)) => {
                for w in &rules.warnings {
                    tracing::warn!("{w}");
                }
                let n = rules.len();
                {
                    let mut core = self.shared.core();
                    core.apply(rules, settings);
                    core.stats.reload_ok = true;
                }
                self.start_workers();
                self.shared.flush_wake.notify_one();
                Ok(format!("alerting configuration reloaded: {n} rules"))
            }
            Err(e) => {
                self.shared.core().stats.reload_ok = false;
                Err(e)
            }
        }
    }
}

async fn eval_loop(engine: Engine, mut rx: SnapshotRx) {
    let sh = engine.shared.clone();
    loop {
        tokio::select! {
            _ = sh.stop.cancelled() => break,
            r = rx.changed() => if r.is_err() { break },
        }
        let Some(snap) = rx.borrow_and_update().clone() else {
            continue;
        };
        let s2 = sh.clone();
        let batch = snap.batch.clone();
        let out = match tokio::task::spawn_blocking(move || s2.core().tick(batch)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "alert evaluation panicked");
                continue;
            }
        };
        for job in out.repairs {
            let s3 = sh.clone();
            tokio::spawn(async move {
                let r = super::repair::execute(&job, &s3.client).await;
                match r.result {
                    "success" | "dry_run" => {
                        tracing::info!(strategy = %job.strategy, result = r.result, "repair attempt: {}", job.plan.describe())
                    }
                    _ => {
                        tracing::warn!(strategy = %job.strategy, result = r.result, detail = %r.detail, "repair attempt failed: {}", job.plan.describe())
                    }
                }
                s3.core().repair_done(&job, &r);
            });
        }
        for (receiver, alerts) in out.alertmanager {
            let s3 = sh.clone();
            tokio::spawn(async move {
                let Some(spec) = s3.settings().notifiers.get(&receiver).cloned() else {
                    return;
                };
                for r in super::notify::send_alertmanager(&s3.client, &spec, &alerts).await {
                    match r {
                        Ok(_) => s3.count_notification(&receiver, "success"),
                        Err(e) => {
                            tracing::warn!(receiver = %receiver, error = %e, "sending alerts to Alertmanager failed");
                            s3.count_notification(&receiver, "failure");
                        }
                    }
                }
            });
        }
        sh.flush_wake.notify_one();
    }
}

async fn flush_loop(sh: Arc<Shared>) {
    loop {
        let now = now_ms();
        let next = sh.core().dispatcher.next_deadline();
        let wait = next.map(|t| (t - now).clamp(0, 1000)).unwrap_or(1000);
        if wait > 0 {
            tokio::select! {
                _ = sh.stop.cancelled() => break,
                _ = sh.flush_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
        if sh.stop.is_cancelled() {
            break;
        }
        let s2 = sh.clone();
        let wake = tokio::task::spawn_blocking(move || s2.core().flush(now_ms()))
            .await
            .unwrap_or_default();
        for r in wake {
            sh.waker(&r).notify_one();
        }
    }
}
