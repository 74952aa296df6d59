//! The `superagent` notifier: each alert of a notification becomes an `IncidentSignal`
//! message (`POST <url>/message`, the SuperAgent's bearer token), so the SuperAgent opens an
//! incident when the alert fires and resolves it when the alert resolves (the alert's
//! fingerprint ties the two together).

use serde_json::{Value, json};

use crate::alerts::config::NotifierConfig;

/// The SuperAgent's severities; anything else the rules use counts as `warning`.
pub fn severity(label: &str) -> &'static str {
    match label.to_ascii_lowercase().as_str() {
        "critical" | "page" | "fatal" => "critical",
        "error" | "major" | "high" => "error",
        "info" | "none" | "low" => "info",
        _ => "warning",
    }
}

/// The envelopes of a webhook payload's alerts.
pub fn envelopes(payload: &Value) -> Vec<Value> {
    let external = payload["externalURL"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for a in payload["alerts"].as_array().into_iter().flatten() {
        let labels = a["labels"].clone();
        let status = a["status"].as_str().unwrap_or("firing");
        let fingerprint = a["fingerprint"].as_str().unwrap_or_default();
        let name = labels["alertname"].as_str().unwrap_or("unnamed");
        let ends = a["endsAt"]
            .as_str()
            .filter(|e| status == "resolved" && *e != super::payload::ZERO_TIME);
        let source = labels["host"]
            .as_str()
            .or_else(|| labels["instance"].as_str())
            .unwrap_or(external);
        let mut signal = json!({
            "alert_name": name,
            "severity": severity(labels["severity"].as_str().unwrap_or_default()),
            "status": if status == "resolved" { "resolved" } else { "firing" },
            "labels": labels,
            "annotations": a["annotations"].clone(),
            "starts_at": a["startsAt"].clone(),
            "fingerprint": fingerprint,
            "source": source,
        });
        if let Some(e) = ends {
            signal["ends_at"] = e.into();
        }
        let trace = format!("auto-monitor-{fingerprint}-{status}");
        out.push(json!({
            "meta": {
                "trace_id": trace,
                "source_agent": "auto-monitor",
                "target_agent": "super-agent",
                "message_type": "IncidentSignal",
                "schema_version": "1.0",
            },
            "context": {
                "namespace": "default",
                "cluster": labels["cluster"].as_str().unwrap_or_default(),
                "urgency": if severity(labels["severity"].as_str().unwrap_or_default()) == "critical" { "high" } else { "normal" },
            },
            "payload": signal,
        }));
    }
    out
}

/// Send every alert of `payload` to the SuperAgent; an error names the first that failed
/// (the whole notification is retried: the SuperAgent updates the same incident).
pub async fn send(
    client: &reqwest::Client,
    spec: &NotifierConfig,
    payload: &str,
) -> Result<String, String> {
    let v: Value = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
    let base = spec
        .url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let url = format!("{base}/message");
    let all = envelopes(&v);
    for env in &all {
        super::post(client, spec, &url, env.to_string()).await?;
    }
    Ok(format!("{url}: {} incident signal(s)", all.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_become_incident_signals() {
        let payload = json!({
            "groupKey": "g", "externalURL": "http://m:8000", "status": "resolved",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "HighCpu", "severity": "critical", "host": "h1"},
                 "annotations": {"summary": "hot"}, "startsAt": "2026-01-01T00:00:00Z",
                 "endsAt": super::super::payload::ZERO_TIME, "fingerprint": "00000000000000aa"},
                {"status": "resolved", "labels": {"alertname": "DiskFull", "severity": "page-me"},
                 "annotations": {}, "startsAt": "2026-01-01T00:00:00Z",
                 "endsAt": "2026-01-01T00:10:00Z", "fingerprint": "00000000000000bb"},
            ]
        });
        let e = envelopes(&payload);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["meta"]["message_type"], "IncidentSignal");
        assert_eq!(e[0]["payload"]["severity"], "critical");
        assert_eq!(e[0]["payload"]["status"], "firing");
        assert_eq!(e[0]["payload"]["source"], "h1");
        assert!(e[0]["payload"].get("ends_at").is_none());
        assert_eq!(e[1]["payload"]["status"], "resolved");
        assert_eq!(e[1]["payload"]["severity"], "warning");
        assert_eq!(e[1]["payload"]["ends_at"], "2026-01-01T00:10:00Z");
        assert_eq!(e[1]["payload"]["fingerprint"], "00000000000000bb");
        assert_eq!(e[1]["payload"]["source"], "http://m:8000");
    }
}
