//! Running the agent: `serve` (ticks + HTTP server) and one-shot collection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mno_common::server::shutdown_signal;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::agent::{self, Agent, Snapshot};
use crate::checks::{self, Checker};
use crate::config::Effective;
use crate::exposition::Rendered;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be bound.
    #[error(transparent)]
    Bind(#[from] mno_common::server::BindError),
    /// Something in the configuration could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    /// The local store could not be opened or started.
    #[error("database {0}")]
    Store(String),
}

/// The socket address the configuration asks for.
pub fn listen_addr(eff: &Effective) -> Result<SocketAddr, ServeError> {
    let m = &eff.config.monitoring;
    mno_common::server::listen_addr(&m.bind_address, m.prometheus_port as u16, || {
        eff.origin("monitoring.bind_address")
    })
    .map_err(ServeError::Setup)
}

/// Run until SIGINT/SIGTERM: bind, open the store at `db_path`, tick, serve.
pub async fn serve(eff: &Effective, db_path: &std::path::Path) -> Result<(), ServeError> {
    let cfg = &eff.config;
    let addr = listen_addr(eff)?;
    // Bind before anything else so a port in use fails fast and clearly.
    let listener =
        mno_common::server::bind(addr, || eff.origin("monitoring.prometheus_port")).await?;
    let checker = Checker::new(checks::specs(cfg).map_err(ServeError::Setup)?);
    let mut agent = Agent::new(cfg, checker.clone()).map_err(ServeError::Setup)?;
    let store = open_store(db_path, &cfg.database).await?;
    agent.add_source(crate::store::stats::family_source(store.clone()));
    let alerts = crate::alerts::Engine::new(eff, &crate::alerts::db_path(db_path))
        .map_err(ServeError::Setup)?;
    alerts.set_storage(store.clone());
    agent.add_source(Arc::new(alerts.families_source()));
    let data_dir = db_path.parent().unwrap_or(std::path::Path::new("."));
    let writers = crate::sinks::remote_write::open_all(&cfg.remote_write, data_dir)
        .map_err(ServeError::Setup)?;
    if !writers.is_empty() {
        agent.add_source(crate::sinks::remote_write::family_source(writers.clone()));
    }
    let stop = CancellationToken::new();
    // With Kubernetes discovery, checks may appear later even when none is configured.
    if !checker.is_empty() || cfg.collectors.kubernetes.enabled() {
        let client = checks::http_client(cfg).map_err(ServeError::Setup)?;
        checker.spawn(client, stop.clone());
    }
    tracing::info!(
        %addr,
        interval_s = cfg.monitoring.interval,
        collectors = ?agent.collector_names(),
        http_checks = checks::specs(cfg).map(|s| s.len()).unwrap_or(0),
        "serving /metrics, /health, /ready, /api/v1 (query, status, alerts)"
    );
    let (tx, rx) = watch::channel::<Option<Arc<Snapshot>>>(None);
    let interval = Duration::from_secs(cfg.monitoring.interval.max(1) as u64);
    let worker = crate::store::worker::StoreWorker::spawn(store.clone())
        .map_err(|e| ServeError::Store(e.to_string()))?;
    let feeder = tokio::spawn(crate::store::worker::feed(worker, rx.clone(), stop.clone()));
    alerts.spawn(rx.clone(), stop.clone());
    let redis_sink = cfg.redis.enabled().then(|| {
        tokio::spawn(crate::sinks::redis::run(
            cfg.redis.clone(),
            crate::sinks::redis::host_name(&cfg.alerts.external_labels),
            rx.clone(),
            Some(alerts.shared()),
            stop.clone(),
        ))
    });
    if !writers.is_empty() {
        crate::sinks::remote_write::spawn(writers, rx.clone(), stop.clone())
            .map_err(ServeError::Setup)?;
    }
    let ticks = tokio::spawn(agent::run(agent, interval, tx, stop.clone()));
    let app = crate::api::router(crate::api::AppState {
        snapshots: rx,
        started: Instant::now(),
        store: Some(store),
        alerts: Some(alerts),
    });
    let stop_http = stop.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = stop_http.cancelled() => {},
        }
    });
    let result = server.await.map_err(ServeError::Http);
    tracing::info!("shutting down");
    stop.cancel();
    let _ = ticks.await;
    let _ = feeder.await;
    if let Some(s) = redis_sink {
        let _ = s.await;
    }
    result
}

/// Open (checking, and recovering from a backup if damaged) the local store.
async fn open_store(
    path: &std::path::Path,
    db: &crate::config::DatabaseConfig,
) -> Result<Arc<crate::store::Store>, ServeError> {
    let (path, opts) = (
        path.to_path_buf(),
        crate::store::StoreOptions::from_config(db),
    );
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || crate::store::Store::open(&path, opts))
        .await
        .map_err(|e| ServeError::Store(format!("{shown}: {e}")))?
        .map(Arc::new)
        .map_err(|e| ServeError::Store(format!("{shown}: {e}")))
}

/// Collect one snapshot (probing the HTTP checks once first) without serving.
pub async fn collect_once(eff: &Effective) -> Result<Arc<Snapshot>, ServeError> {
    let cfg = &eff.config;
    let checker = Checker::new(checks::specs(cfg).map_err(ServeError::Setup)?);
    if !checker.is_empty() {
        let client = checks::http_client(cfg).map_err(ServeError::Setup)?;
        checker.run_once(&client).await;
    }
    let mut agent = Agent::new(cfg, checker).map_err(ServeError::Setup)?;
    let snap = tokio::task::spawn_blocking(move || {
        let batch = agent.collect();
        let rendered = Rendered::new(&batch);
        Arc::new(Snapshot { batch, rendered })
    })
    .await
    .map_err(|e| ServeError::Setup(format!("collection failed: {e}")))?;
    Ok(snap)
}
