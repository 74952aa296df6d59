//! Alerting: rules evaluated on every tick, Prometheus' state machine, Alertmanager-style
//! routing and notifications, bounded auto-repair, silences, history and an API.
//!
//! ```text
//! tick ─▶ core.tick: rules (expr.rs, state.rs) ─▶ transitions ─▶ history.rs (alerts.db)
//!                                               ├▶ dispatch.rs groups ─▶ flush ─▶ log | queue.rs ─▶ notify/worker.rs (webhook, command)
//!                                               ├▶ Alertmanager sends (Prometheus' resend rule)
//!                                               └▶ repair.rs jobs (firing, unsilenced, bounded)
//! ```
//!
//! Plain threshold rules are evaluated straight on the latest batch; other PromQL goes to
//! `mno-promql` over the store or a buffer of recent batches. `ALERTS` and
//! `ALERTS_FOR_STATE` join the next batch, so `/metrics`, the store and remote_write see
//! them like Prometheus' own. Everything is user-documented in `docs/alerting.md`.

pub mod api;
pub mod config;
pub mod core;
#[cfg(test)]
mod core_tests;
pub mod defaults;
pub mod dispatch;
pub mod duration;
pub mod engine;
pub mod expr;
pub mod history;
pub mod labels;
pub mod notify;
pub mod outbound;
pub mod queue;
pub mod repair;
pub mod ring;
pub mod route;
pub mod rule_source;
pub mod rules;
pub mod series;
pub mod settings;
pub mod silences;
pub mod state;
pub mod template_funcs;
pub mod templates;

pub use config::AlertsConfig;
pub use engine::Engine;
pub use repair::StrategyConfig;

/// `alerts.db` beside the metrics database.
pub fn db_path(metrics_db: &std::path::Path) -> std::path::PathBuf {
    metrics_db
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("alerts.db")
}
