//! Notification channels: `log`, `webhook`, `alertmanager`, `command`, `redis` (publish on
//! the alerts channel) and `superagent` (IncidentSignal messages).
//!
//! `webhook`, `command`, `redis` and `superagent` notifications go through the persistent queue (`queue.rs`) and a
//! delivery worker per notifier (`worker.rs`); `log` writes at once; `alertmanager` is sent
//! the way Prometheus sends (every evaluation for changes, `resend_delay` while firing), since
//! Alertmanager groups and deduplicates by itself.

pub mod command;
pub mod payload;
pub mod superagent;
pub mod worker;

use std::time::Duration;

use serde_json::Value;

use super::config::{NotifierConfig, NotifierKind};
use super::dispatch::Notification;

/// Write a notification to the log.
pub fn log(n: &Notification) {
    for a in &n.alerts {
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let summary = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .cloned()
            .unwrap_or_default();
        if a.ends_at.is_none() {
            tracing::warn!(receiver = %n.receiver, labels = %labels.join(","), "alert firing: {summary}");
        } else {
            tracing::info!(receiver = %n.receiver, labels = %labels.join(","), "alert resolved: {summary}");
        }
    }
}

fn request(
    client: &reqwest::Client,
    spec: &NotifierConfig,
    url: &str,
    body: String,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let mut req = client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (k, v) in &spec.headers {
        req = req.header(k, v);
    }
    if let Some(t) = &spec.bearer_token {
        req = req.bearer_auth(t);
    }
    req
}

async fn post(
    client: &reqwest::Client,
    spec: &NotifierConfig,
    url: &str,
    body: String,
) -> Result<String, String> {
    let resp = request(client, spec, url, body, spec.timeout.0)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("{url}: timed out after {}", spec.timeout)
            } else {
                format!("{url}: {}", chain(&e))
            }
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(format!("{url}: {status}"))
    } else {
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{url}: {status} {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The `MNO_ALERT_*` variables of a grouped notification (from its webhook payload).
pub fn notification_env(payload: &Value) -> Vec<(String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let common = &payload["commonLabels"];
    let mut env = vec![
        ("MNO_ALERT_STATUS".to_string(), s(&payload["status"])),
        ("MNO_ALERT_RECEIVER".into(), s(&payload["receiver"])),
        ("MNO_ALERT_GROUP_KEY".into(), s(&payload["groupKey"])),
        (
            "MNO_ALERT_COUNT".into(),
            payload["alerts"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0)
                .to_string(),
        ),
        ("MNO_ALERT_NAME".into(), s(&common["alertname"])),
        ("MNO_ALERT_SEVERITY".into(), s(&common["severity"])),
        (
            "MNO_ALERT_SUMMARY".into(),
            s(&payload["commonAnnotations"]["summary"]),
        ),
        ("MNO_ALERT_LABELS".into(), common.to_string()),
    ];
    if let Some(m) = common.as_object() {
        for (k, v) in m {
            env.push((command::label_var(k), s(v)));
        }
    }
    env
}

/// Deliver one queued payload through a `webhook` or `command` notifier.
pub async fn deliver(
    client: &reqwest::Client,
    spec: &NotifierConfig,
    payload: &str,
) -> Result<String, String> {
    match spec.kind {
        NotifierKind::Webhook => {
            let url = spec.url.as_deref().unwrap_or_default();
            post(client, spec, url, payload.to_string()).await
        }
        NotifierKind::Command => {
            let v: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
            let o = command::run(
                &spec.command,
                payload.as_bytes(),
                &notification_env(&v),
                &spec.env_passthrough,
                spec.timeout.0,
            )
            .await?;
            if o.success {
                Ok(format!("exit status 0 in {:?}", o.duration))
            } else if o.timed_out {
                Err(format!("timed out after {}", spec.timeout))
            } else {
                Err(format!(
                    "exit status {}: {}",
                    o.exit_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "signal".into()),
                    o.output.trim().chars().take(300).collect::<String>()
                ))
            }
        }
        NotifierKind::Redis => publish(spec, payload).await,
        NotifierKind::Superagent => superagent::send(client, spec, payload).await,
        NotifierKind::Log | NotifierKind::Alertmanager => Err(format!(
            "notifier {:?} is not delivered through the queue",
            spec.name
        )),
    }
}

/// PUBLISH a payload on the notifier's Redis channel; Ok with the number of subscribers.
async fn publish(spec: &NotifierConfig, payload: &str) -> Result<String, String> {
    let cfg = spec
        .redis
        .as_ref()
        .ok_or_else(|| format!("notifier {:?} has no redis settings", spec.name))?;
    let channel = spec
        .channel
        .clone()
        .unwrap_or_else(|| cfg.keys().alerts_channel());
    let client = cfg.client().map_err(|e| e.to_string())?;
    let work = async {
        let mut con = client.get_multiplexed_async_connection().await?;
        mno_redis::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async::<i64>(&mut con)
            .await
    };
    match tokio::time::timeout(spec.timeout.0, work).await {
        Ok(Ok(n)) => Ok(format!("published on {channel} to {n} subscriber(s)")),
        Ok(Err(e)) => Err(format!("{}: {e}", cfg.shown_url())),
        Err(_) => Err(format!(
            "{}: timed out after {}",
            cfg.shown_url(),
            spec.timeout
        )),
    }
}

/// POST alerts to every Alertmanager of the notifier; one result per URL.
pub async fn send_alertmanager(
    client: &reqwest::Client,
    spec: &NotifierConfig,
    alerts: &Value,
) -> Vec<Result<String, String>> {
    let body = alerts.to_string();
    let mut out = Vec::new();
    for base in &spec.urls {
        let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
        out.push(post(client, spec, &url, body.clone()).await);
    }
    out
}
