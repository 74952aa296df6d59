//! What the alerting engine adds to the next batch: Prometheus' `ALERTS` and
//! `ALERTS_FOR_STATE` series and the engine's own `mno_alerts_*` / `mno_repair_*` metrics.

use super::core::Core;
use super::state::AlertState;
use crate::metrics::Family;

/// `ALERTS` and `ALERTS_FOR_STATE` (they change only when an alert changes state).
pub fn alert_families(core: &Core) -> Vec<Family> {
    let mut alerts = Family::gauge(
        "ALERTS",
        "Pending and firing alerts (1), labelled with alertname, alertstate and the alert's labels.",
    );
    let mut for_state = Family::gauge(
        "ALERTS_FOR_STATE",
        "Unix time at which each pending or firing alert became active.",
    );
    for (_, a) in core.live_alerts() {
        let state = a.state.as_str();
        let mut l: Vec<(&str, &str)> = a
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for_state.push(&l, a.active_at as f64 / 1000.0);
        let pos = l.partition_point(|(k, _)| *k < "alertstate");
        l.insert(pos, ("alertstate", state));
        alerts.push(&l, 1.0);
    }
    if alerts.samples.is_empty() {
        return Vec::new();
    }
    vec![alerts, for_state]
}

/// The engine's own metrics.
pub fn engine_families(core: &Core) -> Vec<Family> {
    let mut out = Vec::new();
    out.push(
        Family::gauge("mno_alerts_rules", "Alerting rules loaded.")
            .with(&[], core.rules.len() as f64),
    );
    let mut active = Family::gauge("mno_alerts_active", "Alerts by state.");
    let (mut p, mut f) = (0, 0);
    for a in core.states.values().flat_map(|s| s.active.values()) {
        match a.state {
            AlertState::Pending => p += 1,
            AlertState::Firing => f += 1,
            AlertState::Inactive => {}
        }
    }
    active.push(&[("state", "pending")], p as f64);
    active.push(&[("state", "firing")], f as f64);
    out.push(active);
    out.push(
        Family::gauge(
            "mno_alerts_evaluation_duration_seconds",
            "Time the last evaluation of all alerting rules took, in seconds.",
        )
        .with(&[], core.stats.last_eval_seconds),
    );
    out.push(
        Family::counter(
            "mno_alerts_evaluation_failures_total",
            "Rule evaluations that failed.",
        )
        .with(&[], core.stats.eval_failures as f64),
    );
    out.push(
        Family::gauge(
            "mno_alerts_config_last_reload_successful",
            "Whether the last reload of the alerting configuration succeeded (1) or not (0).",
        )
        .with(&[], if core.stats.reload_ok { 1.0 } else { 0.0 }),
    );
    out.push(
        Family::gauge("mno_alerts_silences_active", "Silences in effect.")
            .with(&[], core.silences.active(super::core::now_ms()) as f64),
    );
    let mut notes = Family::counter(
        "mno_alerts_notifications_total",
        "Notification deliveries by notifier and result (success, failure: an attempt failed and will be retried, dropped).",
    );
    for ((n, r), c) in &core.stats.notifications {
        notes.push(&[("notifier", n), ("result", r)], *c as f64);
    }
    if !notes.samples.is_empty() {
        out.push(notes);
    }
    let mut queued = Family::gauge(
        "mno_alerts_notifications_queued",
        "Notifications waiting in the retry queue, by notifier.",
    );
    for (n, c) in &core.stats.queued {
        queued.push(&[("notifier", n)], *c as f64);
    }
    if !queued.samples.is_empty() {
        out.push(queued);
    }
    let mut repairs = Family::counter(
        "mno_repair_attempts_total",
        "Auto-repair attempts by strategy and result (success, failure, timeout, dry_run).",
    );
    for ((s, r), c) in &core.stats.repairs {
        repairs.push(&[("strategy", s), ("result", r)], *c as f64);
    }
    if !repairs.samples.is_empty() {
        out.push(repairs);
    }
    out
}
