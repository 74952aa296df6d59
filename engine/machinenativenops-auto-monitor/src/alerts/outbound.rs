//! What leaves the engine: notifications of flushed groups (written to the log or queued),
//! alerts sent to Alertmanagers the way Prometheus sends them, and repair attempts.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::config::NotifierKind;
use super::core::{Core, now_ms};
use super::dispatch::{GroupAlert, Notification};
use super::labels;
use super::notify::{self, payload};
use super::queue;
use super::repair::{self, Job};
use super::settings::Settings;
use super::state::AlertState;
use super::templates::TemplateData;

impl Core {
    /// Prometheus' sender: changed alerts at once, firing ones again every `resend_delay`,
    /// resolved ones until they are forgotten.
    pub(super) fn alertmanager_sends(&mut self, ts: i64) -> Vec<(String, Value)> {
        let settings = self.settings.clone();
        let am: Vec<&String> = settings
            .notifiers
            .values()
            .filter(|n| n.kind == NotifierKind::Alertmanager)
            .map(|n| &n.name)
            .collect();
        if am.is_empty() {
            return Vec::new();
        }
        let resend = settings.resend_delay.as_millis() as i64;
        let valid_for = 4 * resend.max(settings.tick.as_millis() as i64);
        let mut per: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut sent = Vec::new();
        for (key, st) in &self.states {
            for a in st.active.values() {
                let due = match a.state {
                    AlertState::Pending => false,
                    _ if a
                        .resolved_at
                        .is_some_and(|r| a.last_sent_at.is_none_or(|s| r > s)) =>
                    {
                        true
                    }
                    _ => a.last_sent_at.is_none_or(|s| s + resend <= ts),
                };
                if !due || self.silences.silenced(&a.labels, now_ms()) {
                    continue;
                }
                let mut routes = Vec::new();
                settings.route.matching(&a.labels, &mut routes);
                let targets: Vec<&String> = routes
                    .iter()
                    .map(|r| &r.receiver)
                    .filter(|r| am.contains(r))
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let ends = a.resolved_at.unwrap_or(ts + valid_for);
                let gen_url = payload::generator_url(&settings.external_url, self.expr_of(key));
                let body = payload::postable(
                    &a.labels,
                    &self.annotations(key, a),
                    a.active_at,
                    ends,
                    &gen_url,
                    &settings.external_labels,
                );
                for t in targets {
                    per.entry(t.clone()).or_default().push(body.clone());
                }
                sent.push((key.clone(), a.fingerprint));
            }
        }
        for (key, fp) in sent {
            if let Some(a) = self
                .states
                .get_mut(&key)
                .and_then(|s| s.active.get_mut(&fp))
            {
                a.last_sent_at = Some(ts);
            }
        }
        per.into_iter().map(|(k, v)| (k, Value::Array(v))).collect()
    }

    pub(super) fn plan_repairs(&mut self, ts: i64) -> Vec<Job> {
        let settings = self.settings.clone();
        if !settings.repair_enabled || settings.strategies.is_empty() {
            return Vec::new();
        }
        let cooldown = settings.cooldown.as_millis() as i64;
        let mut jobs = Vec::new();
        let mut planned = Vec::new();
        for (key, st) in &self.states {
            for a in st.active.values() {
                if a.state != AlertState::Firing
                    || a.episode <= 0
                    || self.running.contains(&a.fingerprint)
                    || a.repair_attempts >= settings.max_repair_attempts
                    || a.last_repair_at.is_some_and(|l| ts - l < cooldown)
                    || self.silences.silenced(&a.labels, now_ms())
                {
                    continue;
                }
                let Some(s) = settings.strategies.iter().find(|s| s.applies(&a.labels)) else {
                    continue;
                };
                let data = TemplateData {
                    labels: &a.labels,
                    value: a.value,
                    external_labels: &settings.external_labels,
                    external_url: &settings.external_url,
                };
                let plan = s.plan(&settings.repair_templates, &data);
                let labels_map: BTreeMap<&str, &str> = a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let ann = self.annotations(key, a);
                let alert_json = serde_json::json!({
                    "status": "firing",
                    "labels": labels_map,
                    "annotations": ann,
                    "value": a.value,
                    "startsAt": super::history::rfc3339(a.active_at),
                    "fingerprint": labels::fingerprint_hex(a.fingerprint),
                    "strategy": s.cfg.name,
                    "attempt": a.repair_attempts + 1,
                })
                .to_string();
                let mut env = vec![
                    ("MNO_ALERT_STATUS".to_string(), "firing".to_string()),
                    (
                        "MNO_ALERT_NAME".into(),
                        labels::get(&a.labels, "alertname").into(),
                    ),
                    (
                        "MNO_ALERT_SEVERITY".into(),
                        labels::get(&a.labels, "severity").into(),
                    ),
                    ("MNO_ALERT_VALUE".into(), a.value.to_string()),
                    (
                        "MNO_ALERT_FINGERPRINT".into(),
                        labels::fingerprint_hex(a.fingerprint),
                    ),
                    (
                        "MNO_ALERT_LABELS".into(),
                        serde_json::to_string(&labels_map).unwrap_or_default(),
                    ),
                    (
                        "MNO_ALERT_SUMMARY".into(),
                        ann.get("summary").cloned().unwrap_or_default(),
                    ),
                    ("MNO_REPAIR_STRATEGY".into(), s.cfg.name.clone()),
                    (
                        "MNO_REPAIR_ATTEMPT".into(),
                        (a.repair_attempts + 1).to_string(),
                    ),
                ];
                for (k, v) in a.labels.iter() {
                    env.push((notify::command::label_var(k), v.clone()));
                }
                jobs.push(Job {
                    strategy: s.cfg.name.clone(),
                    action: s.cfg.action,
                    plan,
                    alert_json,
                    env,
                    env_passthrough: s.cfg.env_passthrough.clone(),
                    headers: s.cfg.headers.clone(),
                    expected_status: s.cfg.expected_status.clone(),
                    timeout: s.cfg.timeout.0,
                    dry_run: settings.dry_run,
                    fingerprint: a.fingerprint,
                    rule_key: key.clone(),
                    episode: a.episode,
                    at: ts,
                });
                planned.push((key.clone(), a.fingerprint, a.episode));
            }
        }
        for (key, fp, ep) in planned {
            if let Some(a) = self
                .states
                .get_mut(&key)
                .and_then(|s| s.active.get_mut(&fp))
            {
                a.repair_attempts += 1;
                a.last_repair_at = Some(ts);
            }
            self.running.insert(fp);
            if let Err(e) = self.db.count_repair(ep, ts) {
                tracing::error!(error = %e, "cannot record a repair attempt");
            }
        }
        jobs
    }

    /// Record a finished repair attempt.
    pub fn repair_done(&mut self, job: &Job, r: &repair::JobResult) {
        self.running.remove(&job.fingerprint);
        *self
            .stats
            .repairs
            .entry((job.strategy.clone(), r.result.to_string()))
            .or_default() += 1;
        let action = match job.action {
            repair::RepairAction::Command => "command",
            repair::RepairAction::Systemd => "systemd",
            repair::RepairAction::Http => "http",
        };
        if let Err(e) = self.db.record_repair(
            job.episode,
            &job.strategy,
            &format!("{action}: {}", job.plan.describe()),
            job.at,
            r.result,
            &r.detail,
            r.exit_code,
            r.duration.as_millis() as i64,
        ) {
            tracing::error!(error = %e, "cannot record a repair attempt");
        }
    }

    /// Flush due groups: log notifications are written now, others are queued.
    /// Returns the receivers whose workers should wake.
    pub fn flush(&mut self, now: i64) -> Vec<String> {
        let settings = self.settings.clone();
        let silences = &self.silences;
        let states = &self.states;
        let rules = &self.rules;
        let index = &self.index;
        let mut refresh = |ga: &mut GroupAlert| {
            if let Some(a) = states
                .get(&ga.rule_key)
                .and_then(|s| s.active.get(&ga.fingerprint))
                && let Some((g, r)) = index.get(&ga.rule_key)
            {
                let rule = &rules.groups[*g].rules[*r];
                let data = TemplateData {
                    labels: &a.labels,
                    value: a.value,
                    external_labels: &settings.external_labels,
                    external_url: &settings.external_url,
                };
                ga.annotations = rule
                    .annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), rules.templates.render(t, &data)))
                    .collect();
                if ga.episode == 0 {
                    ga.episode = a.episode;
                }
            }
        };
        let (notes, log) = self.dispatcher.flush(
            now,
            &|r| settings.send_resolved(r),
            &|l| silences.silenced(l, now),
            &mut refresh,
        );
        for (k, e) in log {
            if let Err(err) = self.db.put_nflog(&k, e.as_ref()) {
                tracing::error!(error = %err, "cannot save the notification log");
            }
        }
        let mut wake = Vec::new();
        for n in notes {
            self.deliver_or_queue(&settings, n, now, &mut wake);
        }
        wake
    }

    fn deliver_or_queue(
        &mut self,
        settings: &Settings,
        n: Notification,
        now: i64,
        wake: &mut Vec<String>,
    ) {
        let episodes: Vec<i64> = n.alerts.iter().map(|a| a.episode).collect();
        let Some(spec) = settings.notifiers.get(&n.receiver) else {
            return;
        };
        match spec.kind {
            NotifierKind::Log => {
                notify::log(&n);
                let _ = super::history::record_notification(
                    self.db.conn(),
                    &n.receiver,
                    &n.group_key,
                    n.status(),
                    &episodes,
                    now,
                    "success",
                    1,
                    "",
                );
                *self
                    .stats
                    .notifications
                    .entry((n.receiver.clone(), "success".into()))
                    .or_default() += 1;
            }
            NotifierKind::Webhook
            | NotifierKind::Command
            | NotifierKind::Redis
            | NotifierKind::Superagent => {
                let exprs: HashMap<String, String> = n
                    .alerts
                    .iter()
                    .map(|a| (a.rule_key.clone(), self.expr_of(&a.rule_key).to_string()))
                    .collect();
                let body = payload::webhook(
                    &n,
                    &settings.external_url,
                    &settings.external_labels,
                    spec.max_alerts,
                    &|a| {
                        payload::generator_url(
                            &settings.external_url,
                            exprs.get(&a.rule_key).map(String::as_str).unwrap_or(""),
                        )
                    },
                );
                match queue::enqueue(
                    self.db.conn(),
                    &n.receiver,
                    &n.group_key,
                    n.status(),
                    &body.to_string(),
                    &episodes,
                    now,
                    settings.retry_queue.max_items,
                ) {
                    Ok(dropped) => {
                        if dropped > 0 {
                            tracing::warn!(receiver = %n.receiver, dropped, "retry queue full: dropped the oldest notifications");
                            *self
                                .stats
                                .notifications
                                .entry((n.receiver.clone(), "dropped".into()))
                                .or_default() += dropped as u64;
                        }
                        wake.push(n.receiver.clone());
                    }
                    Err(e) => tracing::error!(error = %e, "cannot queue a notification"),
                }
            }
            NotifierKind::Alertmanager => {}
        }
    }
}
