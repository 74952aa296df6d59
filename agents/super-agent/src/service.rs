//! Running the server: bind, open the store, recover, serve, shut down gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mno_common::server::shutdown_signal;
use tokio::sync::watch;

use crate::api::{self, App};
use crate::config::{AgentConfig, Effective, StoreBackend};
use crate::gate_handler::GateContext;
use crate::handlers::{Registry, Services};
use crate::jobs::{INTERRUPTED, Jobs, JobsConfig};
use crate::metrics::Metrics;
use crate::state::{MemoryStore, RedisStore, SqliteStore, StateStore};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be bound.
    #[error(transparent)]
    Bind(#[from] mno_common::server::BindError),
    /// Something in the configuration could not be set up (data directory, evidence key).
    #[error("{0}")]
    Setup(String),
    /// The state store could not be opened.
    #[error("{0}")]
    Store(#[from] crate::state::StoreError),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
}

/// Where the server keeps its files.
#[derive(Debug, Clone)]
pub struct DataPaths {
    /// The data directory in use.
    pub data_dir: PathBuf,
    /// `true` when the configured one was not writable and the per-user one is used.
    pub fallback: bool,
    /// The SQLite store.
    pub db: PathBuf,
    /// Report folders go here.
    pub reports_dir: PathBuf,
    /// The evidence chain (`evidence.jsonl`, `evidence.key`, `evidence.pub`).
    pub evidence_dir: PathBuf,
}

/// Resolve the data directory (falling back to the user's when not writable) and the paths in it.
pub fn data_paths(cfg: &AgentConfig) -> DataPaths {
    let dp = mno_common::resolve_data_file(
        &Path::new(&cfg.data_dir).join("super-agent.db"),
        "super_agent",
    );
    let data_dir = dp
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    DataPaths {
        reports_dir: cfg
            .reports_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("reports")),
        evidence_dir: data_dir.join("evidence"),
        db: dp.path,
        fallback: dp.fallback,
        data_dir,
    }
}

/// What builds may see: never the data directory (store, evidence key), the reports, the
/// configuration file (it may hold the token), nor what `build_sandbox.protected` adds.
pub fn build_sandbox(eff: &Effective, paths: &DataPaths) -> mno_gates::BuildSandbox {
    let c = &eff.config.build_sandbox;
    let mut protected = vec![
        paths.data_dir.clone(),
        paths.reports_dir.clone(),
        paths.evidence_dir.clone(),
    ];
    if let crate::config::Source::File(f) = &eff.source {
        protected.push(f.clone());
    }
    protected.extend(c.protected.iter().map(PathBuf::from));
    mno_gates::BuildSandbox {
        protected,
        env_passthrough: c.env_passthrough.clone(),
        writable: c.writable.iter().map(PathBuf::from).collect(),
        require: c.require,
    }
}

/// The socket address the configuration asks for.
pub fn listen_addr(eff: &Effective) -> Result<SocketAddr, ServeError> {
    let c = &eff.config;
    mno_common::server::listen_addr(&c.bind, c.port as u16, || eff.origin("bind"))
        .map_err(ServeError::Setup)
}

/// Run until SIGINT/SIGTERM.
pub async fn serve(eff: &Effective, paths: &DataPaths) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    serve_until(eff, paths, stop_rx).await
}

/// Run until `stop` turns true: stop accepting, let running gates finish (up to
/// `shutdown_timeout`), mark the rest interrupted.
pub async fn serve_until(
    eff: &Effective,
    paths: &DataPaths,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let cfg = &eff.config;
    let addr = listen_addr(eff)?;
    // Bind first so a port in use fails fast and says where the port came from.
    let listener = mno_common::server::bind(addr, || eff.origin("port")).await?;
    let mut redis_store: Option<Arc<RedisStore>> = None;
    let store: Arc<dyn StateStore> = match cfg.store {
        StoreBackend::Sqlite => Arc::new(SqliteStore::open(&paths.db)?),
        StoreBackend::Memory => Arc::new(MemoryStore::new()),
        StoreBackend::Redis => {
            let rs = Arc::new(RedisStore::open(&cfg.redis)?);
            // Redis may be down now: the server starts anyway and answers 503 until it is back.
            if let Err(e) = rs.ping() {
                tracing::warn!(url = %cfg.redis.shown_url(), "{e}; serving anyway, retrying on each use");
            }
            redis_store = Some(rs.clone());
            rs
        }
    };
    let interrupted = store.interrupt_unfinished(INTERRUPTED)?;
    if !interrupted.is_empty() {
        tracing::warn!(
            jobs = ?interrupted,
            "{} gate job(s) were unfinished when the server last stopped; marked ERROR",
            interrupted.len()
        );
    }
    let chain = crate::open_evidence_chain(&paths.evidence_dir)
        .map_err(|e| ServeError::Setup(format!("evidence chain: {e}")))?;
    if let Some(rs) = &redis_store {
        rs.set_chain_id(&chain.key_id());
    }
    let metrics = Arc::new(Metrics::new());
    // First pass now (at start), then every retention.interval until the stop.
    let retention = crate::retention::spawn(
        crate::retention::Retention::new(&cfg.retention, &paths.reports_dir),
        store.clone(),
        metrics.clone(),
        stop.clone(),
    );
    let jobs = Jobs::new(
        store.clone(),
        metrics.clone(),
        GateContext {
            build_sandbox: build_sandbox(eff, paths),
            reports_dir: paths.reports_dir.clone(),
            link_base: cfg.link_base.clone(),
            chain: Some(Arc::new(chain)),
            autofix: cfg.autofix.clone(),
        },
        JobsConfig {
            max_concurrent: cfg.max_concurrent_gates,
            max_queued: cfg.max_queued_gates,
            monitor: cfg
                .monitor_url
                .clone()
                .map(|u| (u, Duration::from_secs_f64(cfg.monitor_timeout))),
            redis: redis_store.clone(),
            snapshots: cfg.redis.enabled().then(|| cfg.redis.clone()),
            allowed_roots: eff.allowed_roots.clone(),
            commands_allowed: cfg.token().is_some(),
            wait_timeout: Duration::from_secs_f64(cfg.wait_timeout),
        },
    );
    let workers = match &redis_store {
        Some(rs) => crate::redis_queue::spawn_workers(
            jobs.clone(),
            rs.clone(),
            crate::redis_queue::QueueConfig {
                redis: cfg.redis.clone(),
                workers: cfg.max_concurrent_gates,
            },
            stop.clone(),
        )
        .map_err(|e| ServeError::Setup(e.to_string()))?,
        None => Vec::new(),
    };
    if redis_store.is_some() {
        tracing::info!(
            url = %cfg.redis.shown_url(),
            server = jobs.server_id(),
            workers = workers.len(),
            "gate jobs go through the redis job stream"
        );
    }
    let wait_timeout = Duration::from_secs_f64(cfg.wait_timeout);
    let services = Arc::new(Services {
        jobs: jobs.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        allowed_roots: eff.allowed_roots.clone(),
        wait_timeout,
        commands_allowed: cfg.token().is_some(),
    });
    let app = Arc::new(App {
        token: cfg.token().map(str::to_string),
        max_body_bytes: cfg.max_body_bytes,
        wait_timeout,
        allowed_roots: eff.allowed_roots.clone(),
        store: store.clone(),
        jobs: jobs.clone(),
        metrics,
        registry: Registry::standard(services),
        started: Instant::now(),
    });
    if app.token.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "no token is set (token / MNO_AGENT_TOKEN) and the address is not loopback: anyone who can reach it can run gates"
        );
    }
    tracing::info!(
        %addr,
        store = store.backend(),
        allowed_roots = ?eff.allowed_roots,
        max_concurrent_gates = cfg.max_concurrent_gates,
        auth = if app.token.is_some() { "bearer" } else { "none" },
        "serving /message, /api/v1/gates, /incidents, /health, /ready, /metrics"
    );
    let router = api::router(app);
    let mut graceful_rx = stop.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = graceful_rx.wait_for(|s| *s).await;
            })
            .await
    });
    // Both can be ready at once (a stop closes an idle server at once): a stop wins.
    let ended = tokio::select! {
        r = &mut server => Some(r),
        _ = stop.wait_for(|s| *s) => None,
    };
    let stopping = *stop.borrow();
    if let (Some(r), false) = (&ended, stopping) {
        // The server ended without being asked to: an accept error.
        return match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Http(std::io::Error::new(
                e.kind(),
                e.to_string(),
            ))),
            Err(e) => Err(ServeError::Setup(format!("HTTP server task: {e}"))),
        };
    }
    let g = jobs.gauges();
    tracing::info!(
        running = g.running,
        queued = g.queued,
        "shutting down: no new connections; waiting up to {}s for running gates",
        cfg.shutdown_timeout
    );
    jobs.begin_shutdown();
    // The retention task sees the stop too; a pass under way finishes (one transaction).
    let _ = retention.await;
    let left = jobs
        .drain(Duration::from_secs_f64(cfg.shutdown_timeout))
        .await;
    for w in workers {
        w.abort();
    }
    if !left.is_empty() {
        tracing::warn!(jobs = ?left, "gate runs still running at the shutdown timeout; marked ERROR");
    }
    // Requests waiting on those jobs now answer; give them a moment to go out.
    let ended = match ended {
        Some(r) => Ok(r),
        None => tokio::time::timeout(Duration::from_secs(5), &mut server).await,
    };
    match ended {
        Ok(Ok(r)) => r.map_err(ServeError::Http)?,
        Ok(Err(e)) => return Err(ServeError::Setup(format!("HTTP server task: {e}"))),
        Err(_) => {
            tracing::warn!("connections still open after the shutdown; closing them");
            server.abort();
        }
    }
    tracing::info!("stopped");
    Ok(())
}
