//! The JSON bodies sent out: Alertmanager's webhook payload (version 4) and its
//! `/api/v2/alerts` list of `PostableAlert`s.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::alerts::dispatch::{GroupAlert, Notification};
use crate::alerts::history::rfc3339;
use crate::alerts::labels::{Labels, fingerprint_hex};

/// Alertmanager's zero time, used as `endsAt` of a firing alert in webhook payloads.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Labels with the external labels added (an alert's own label wins).
pub fn with_external(
    labels: &Labels,
    external: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = external.clone();
    m.extend(labels.iter().cloned());
    m
}

/// `generatorURL`: where the alert's expression can be queried on this agent.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut u = format!("{}/api/v1/query?query=", external_url.trim_end_matches('/'));
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            u.push(b as char);
        } else {
            u.push_str(&format!("%{b:02X}"));
        }
    }
    u
}

fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some(first) = maps.first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| maps[1..].iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One alert of a webhook payload.
pub fn webhook_alert(
    a: &GroupAlert,
    external: &BTreeMap<String, String>,
    generator: &str,
) -> Value {
    json!({
        "status": if a.ends_at.is_none() { "firing" } else { "resolved" },
        "labels": with_external(&a.labels, external),
        "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at),
        "endsAt": a.ends_at.map(rfc3339).unwrap_or_else(|| ZERO_TIME.to_string()),
        "generatorURL": generator,
        "fingerprint": fingerprint_hex(a.fingerprint),
    })
}

/// Alertmanager's webhook payload for a notification.
pub fn webhook(
    n: &Notification,
    external_url: &str,
    external: &BTreeMap<String, String>,
    max_alerts: usize,
    generator: &dyn Fn(&GroupAlert) -> String,
) -> Value {
    let labels: Vec<BTreeMap<String, String>> = n
        .alerts
        .iter()
        .map(|a| with_external(&a.labels, external))
        .collect();
    let annotations: Vec<BTreeMap<String, String>> =
        n.alerts.iter().map(|a| a.annotations.clone()).collect();
    let keep = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    let alerts: Vec<Value> = n.alerts[..keep]
        .iter()
        .map(|a| webhook_alert(a, external, &generator(a)))
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - keep,
        "status": n.status(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": external_url,
        "alerts": alerts,
    })
}

/// One `PostableAlert` for Alertmanager's API.
pub fn postable(
    labels: &Labels,
    annotations: &BTreeMap<String, String>,
    starts_at: i64,
    ends_at: i64,
    generator: &str,
    external: &BTreeMap<String, String>,
) -> Value {
    json!({
        "labels": with_external(labels, external),
        "annotations": annotations,
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at),
        "generatorURL": generator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn webhook_payload_has_alertmanagers_shape() {
        let a = |fp: u64, disk: &str, ends: Option<i64>| GroupAlert {
            fingerprint: fp,
            labels: Arc::new(vec![
                ("alertname".into(), "DiskFull".into()),
                ("mountpoint".into(), disk.into()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), format!("{disk} full"))]),
            starts_at: 0,
            ends_at: ends,
            episode: 1,
            rule_key: String::new(),
        };
        let n = Notification {
            receiver: "hook".into(),
            group_key: "{0}/hook:{alertname=\"DiskFull\"}".into(),
            group_labels: vec![("alertname".into(), "DiskFull".into())],
            alerts: vec![a(1, "/", None), a(2, "/var", Some(5000))],
        };
        let ext = BTreeMap::from([("host".to_string(), "h1".to_string())]);
        let v = webhook(&n, "http://x", &ext, 1, &|_| "http://g".into());
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["truncatedAlerts"], 1);
        assert_eq!(
            v["commonLabels"],
            json!({"alertname": "DiskFull", "host": "h1"})
        );
        assert_eq!(v["commonAnnotations"], json!({}));
        assert_eq!(v["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(v["alerts"][0]["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["alerts"][0]["fingerprint"], "0000000000000001");
        assert_eq!(
            generator_url("http://h:8000/", "a > 1"),
            "http://h:8000/api/v1/query?query=a%20%3E%201"
        );
    }
}
