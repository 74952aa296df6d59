//! The Auto-Monitor section of a gate report: the host's health, CPU, memory and disk
//! usage and active alerts, read from a running `machinenativenops-auto-monitor`.
//!
//! [`fetch`] never fails: an unreachable monitor, a timeout or an answer that is not the
//! monitor's JSON gives `reachable: false` and the error text, and the gate goes on.
//! It reads `GET /health`, `GET /api/v1/query?query=mno_cpu_usage_percent` (and
//! `mno_memory_usage_percent`, `mno_disk_usage_percent`) and `GET /api/v1/alerts`; when the
//! query API answers with an error (no store), the same gauges are read from `/metrics`.
//!
//! ```no_run
//! # async fn f(report: &mut mno_gates::GateReport) {
//! let section = mno_gates::monitor::fetch("http://127.0.0.1:8000", std::time::Duration::from_secs(5)).await;
//! report.monitor = Some(section);
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The gauges read, as the monitor names them (docs/metrics.md).
pub const CPU_METRIC: &str = "mno_cpu_usage_percent";
/// Memory in use, percent.
pub const MEMORY_METRIC: &str = "mno_memory_usage_percent";
/// Disk in use per mount point, percent.
pub const DISK_METRIC: &str = "mno_disk_usage_percent";

/// A gauge's samples: labels and value.
type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// What the gate learned from the Auto-Monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorSection {
    /// The monitor's base URL (`redis:host/<name>` for a snapshot read from Redis).
    pub url: String,
    /// The monitored host, for a snapshot read from Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Whether `/health` answered with the monitor's JSON.
    pub reachable: bool,
    /// What went wrong (unreachable, or a part that could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `/health` as answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<MonitorHealth>,
    /// CPU busy, percent of all CPUs (two decimals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_usage_percent: Option<f64>,
    /// Memory in use, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_usage_percent: Option<f64>,
    /// The fullest mount point's usage, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_usage_percent: Option<f64>,
    /// Usage per mount point, fullest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskUsage>,
    /// Pending and firing alerts.
    #[serde(default)]
    pub active_alerts: Vec<MonitorAlert>,
    /// RFC 3339 time of the fetch.
    pub fetched_at: String,
}

/// The monitor's `/health` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorHealth {
    /// `ok` when healthy.
    pub status: String,
    /// The monitor's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Seconds since it started (one decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
}

/// One mount point's usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiskUsage {
    /// Where it is mounted.
    pub mountpoint: String,
    /// The device.
    #[serde(default)]
    pub device: String,
    /// Used / (used + available) × 100, as `df` prints it.
    pub usage_percent: f64,
}

/// One active alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorAlert {
    /// `alertname`.
    pub name: String,
    /// The `severity` label (empty when the rule sets none).
    pub severity: String,
    /// `pending` or `firing`.
    pub state: String,
    /// When it became active (RFC 3339).
    pub since: String,
    /// The `summary` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl MonitorSection {
    fn new(url: &str) -> MonitorSection {
        MonitorSection {
            url: url.to_string(),
            host: None,
            reachable: false,
            error: None,
            health: None,
            cpu_usage_percent: None,
            memory_usage_percent: None,
            disk_usage_percent: None,
            disks: Vec::new(),
            active_alerts: Vec::new(),
            fetched_at: chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// Read the monitor at `base_url`; each request is bounded by `timeout` (`/health` first,
/// then the rest in parallel, so at most about twice `timeout` in all).
pub async fn fetch(base_url: &str, timeout: Duration) -> MonitorSection {
    let mut s = MonitorSection::new(base_url);
    let base = base_url.trim_end_matches('/');
    // reqwest's rustls needs one process-wide crypto provider; the monitor installs ring too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            s.error = Some(format!("HTTP client: {e}"));
            return s;
        }
    };
    match get_json(&client, &format!("{base}/health")).await {
        Ok(v) => match serde_json::from_value::<MonitorHealth>(v) {
            Ok(mut h) => {
                h.uptime_seconds = h.uptime_seconds.map(|u| round(u, 1));
                s.health = Some(h);
                s.reachable = true;
            }
            Err(e) => s.error = Some(format!("/health: not the monitor's answer: {e}")),
        },
        Err(e) => s.error = Some(format!("/health: {e}")),
    }
    if !s.reachable {
        return s;
    }
    let alerts_url = format!("{base}/api/v1/alerts");
    let (cpu, mem, disk, alerts) = tokio::join!(
        gauge(&client, base, CPU_METRIC),
        gauge(&client, base, MEMORY_METRIC),
        gauge(&client, base, DISK_METRIC),
        get_json(&client, &alerts_url),
    );
    let mut errors = Vec::new();
    let max = |v: &Samples| {
        v.iter()
            .map(|(_, x)| *x)
            .reduce(f64::max)
            .map(|x| round(x, 2))
    };
    match cpu {
        Ok(v) => s.cpu_usage_percent = max(&v),
        Err(e) => errors.push(e),
    }
    match mem {
        Ok(v) => s.memory_usage_percent = max(&v),
        Err(e) => errors.push(e),
    }
    match disk {
        Ok(v) => {
            s.disk_usage_percent = max(&v);
            s.disks = disks(v);
        }
        Err(e) => errors.push(e),
    }
    match alerts.and_then(|v| parse_alerts(&v)) {
        Ok(a) => s.active_alerts = a,
        Err(e) => errors.push(format!("/api/v1/alerts: {e}")),
    }
    if !errors.is_empty() {
        s.error = Some(errors.join("; "));
    }
    s
}

/// GET `url` and parse its body as JSON; a non-2xx status is an error with the body's start.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let text = get_text(client, url).await?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| error_chain(&e))?;
    if !status.is_success() {
        let head: String = text.chars().take(200).collect();
        return Err(format!("HTTP {status}: {head}"));
    }
    Ok(text)
}

/// reqwest's message with its causes ("error sending request: … Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// A gauge's current samples: the query API, else `/metrics`.
async fn gauge(client: &reqwest::Client, base: &str, metric: &str) -> Result<Samples, String> {
    let query = get_json(client, &format!("{base}/api/v1/query?query={metric}"))
        .await
        .and_then(|v| parse_vector(&v));
    match query {
        Ok(v) if !v.is_empty() => Ok(v),
        first => {
            let text =
                get_text(client, &format!("{base}/metrics"))
                    .await
                    .map_err(|e| match &first {
                        Err(q) => format!("{metric}: query API: {q}; /metrics: {e}"),
                        Ok(_) => format!("{metric}: /metrics: {e}"),
                    })?;
            Ok(parse_exposition(&text, metric))
        }
    }
}

/// An instant-vector answer `{status, data: {resultType: vector, result: [{metric, value}]}}`.
fn parse_vector(v: &Value) -> Result<Samples, String> {
    if v["status"] != "success" {
        return Err(format!("status {}", v["status"]));
    }
    let result = v["data"]["result"]
        .as_array()
        .ok_or("no data.result array")?;
    let mut out = Vec::new();
    for r in result {
        let labels = r["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let value = r["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or("a sample without a numeric value")?;
        out.push((labels, value));
    }
    Ok(out)
}

/// Samples of `metric` in the Prometheus text format (labels without escapes suffice here).
fn parse_exposition(text: &str, metric: &str) -> Samples {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite())
        else {
            continue;
        };
        let labels = labels
            .split("\",")
            .filter_map(|kv| {
                let (k, v) = kv.split_once("=\"")?;
                Some((k.trim().to_string(), v.trim_end_matches('"').to_string()))
            })
            .collect();
        out.push((labels, v));
    }
    out
}

fn disks(samples: Samples) -> Vec<DiskUsage> {
    let mut out: Vec<DiskUsage> = samples
        .into_iter()
        .map(|(mut l, v)| DiskUsage {
            mountpoint: l.remove("mountpoint").unwrap_or_default(),
            device: l.remove("device").unwrap_or_default(),
            usage_percent: round(v, 2),
        })
        .collect();
    out.sort_by(|a, b| {
        b.usage_percent
            .total_cmp(&a.usage_percent)
            .then_with(|| a.mountpoint.cmp(&b.mountpoint))
    });
    out
}

/// `/api/v1/alerts` → the active alerts, firing first, then by name.
fn parse_alerts(v: &Value) -> Result<Vec<MonitorAlert>, String> {
    if v["status"] != "success" {
        return Err(format!("status {}", v["status"]));
    }
    let list = v["data"]["alerts"]
        .as_array()
        .ok_or("no data.alerts array")?;
    let text = |x: &Value| x.as_str().unwrap_or_default().to_string();
    let mut out: Vec<MonitorAlert> = list
        .iter()
        .map(|a| MonitorAlert {
            name: text(&a["labels"]["alertname"]),
            severity: text(&a["labels"]["severity"]),
            state: text(&a["state"]),
            since: text(&a["activeAt"]),
            summary: a["annotations"]["summary"].as_str().map(str::to_string),
        })
        .filter(|a| a.state == "firing" || a.state == "pending")
        .collect();
    out.sort_by(|a, b| {
        (a.state != "firing", &a.name, &a.since).cmp(&(b.state != "firing", &b.name, &b.since))
    });
    Ok(out)
}

/// Round to `places` decimals, so reports print `42.17` rather than 17 digits (and never
/// an exponent, which keeps the report JSON the same in every JSON library).
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_and_alerts_parse_from_the_monitor_shapes() {
        let v = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "mno_disk_usage_percent", "mountpoint": "/", "device": "sda1"},
             "value": [1.7e9, "41.23456"]},
            {"metric": {"mountpoint": "/boot", "device": "sda2"}, "value": [1.7e9, "77"]}]}});
        let s = parse_vector(&v).unwrap();
        let d = disks(s);
        assert_eq!(d[0].mountpoint, "/boot");
        assert_eq!(d[1].usage_percent, 41.23);
        assert!(parse_vector(&json!({"status": "error"})).is_err());

        let a = json!({"status": "success", "data": {"alerts": [
            {"labels": {"alertname": "B", "severity": "warning"}, "state": "pending",
             "activeAt": "2026-01-01T00:00:00Z", "annotations": {}},
            {"labels": {"alertname": "A", "severity": "critical"}, "state": "firing",
             "activeAt": "2026-01-01T00:00:00Z", "annotations": {"summary": "disk full"}},
            {"labels": {"alertname": "C"}, "state": "inactive", "activeAt": ""}]}});
        let a = parse_alerts(&a).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].name.as_str(), a[0].summary.as_deref()),
            ("A", Some("disk full"))
        );
        assert_eq!(a[1].state, "pending");
    }

    #[test]
    fn exposition_fallback_reads_labelled_and_plain_gauges() {
        let text = "# HELP mno_cpu_usage_percent x\nmno_cpu_usage_percent 12.5\n\
                    mno_cpu_usage_percent_other 99\n\
                    mno_disk_usage_percent{device=\"sda1\",fstype=\"ext4\",mountpoint=\"/\"} 50\n";
        assert_eq!(parse_exposition(text, CPU_METRIC)[0].1, 12.5);
        assert_eq!(parse_exposition(text, CPU_METRIC).len(), 1);
        let d = parse_exposition(text, DISK_METRIC);
        assert_eq!(d[0].0["mountpoint"], "/");
        assert_eq!(d[0].0["fstype"], "ext4");
    }

    #[test]
    fn rounding_never_prints_an_exponent() {
        assert_eq!(round(0.000_04, 2), 0.0);
        assert_eq!(
            serde_json::to_string(&round(12.345_678, 2)).unwrap(),
            "12.35"
        );
    }

    #[test]
    fn markdown_shows_usage_and_alerts_or_why_not() {
        let mut report = crate::GateReport::new("/r", Vec::new(), Vec::new());
        let mut m = MonitorSection::new("http://127.0.0.1:8000");
        m.error = Some("/health: connection refused".into());
        report.monitor = Some(m.clone());
        let md = crate::report::markdown::render(&report, None);
        assert!(md.contains("### Auto-Monitor"), "{md}");
        assert!(
            md.contains("unreachable: /health: connection refused"),
            "{md}"
        );

        m.reachable = true;
        m.error = None;
        m.health = Some(MonitorHealth {
            status: "ok".into(),
            version: Some("2.0.0".into()),
            uptime_seconds: Some(3.5),
        });
        m.cpu_usage_percent = Some(12.34);
        m.memory_usage_percent = Some(50.0);
        m.active_alerts = vec![MonitorAlert {
            name: "HighCpu".into(),
            severity: "warning".into(),
            state: "firing".into(),
            since: "2026-01-01T00:00:00Z".into(),
            summary: Some("cpu | high".into()),
        }];
        report.monitor = Some(m);
        let md = crate::report::markdown::render(&report, None);
        assert!(
            md.contains("health **ok** (version 2.0.0); CPU 12.3 %, memory 50.0 %, disk n/a"),
            "{md}"
        );
        assert!(
            md.contains("| `HighCpu` | warning | firing | 2026-01-01T00:00:00Z | cpu \\| high |"),
            "{md}"
        );
        // The JSON report carries it; without a monitor the key is absent.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["monitor"]["cpu_usage_percent"], 12.34);
        report.monitor = None;
        assert!(
            serde_json::to_value(&report)
                .unwrap()
                .get("monitor")
                .is_none()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_port_is_unreachable_quickly() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let t = std::time::Instant::now();
        let s = fetch(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).await;
        assert!(!s.reachable);
        assert!(
            s.error.as_deref().unwrap_or("").contains("/health"),
            "{s:?}"
        );
        // Bounded by the timeout (refused at once here), never by the OS connect timeout.
        assert!(t.elapsed() < Duration::from_secs(5));
        let s = fetch("not a url", Duration::from_secs(1)).await;
        assert!(!s.reachable && s.error.is_some());
    }

    /// A listener answering every connection with `reply` (or nothing, holding it open).
    fn fake_server(reply: Option<&'static str>) -> (u16, std::thread::JoinHandle<()>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            if let Ok((mut c, _)) = l.accept() {
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf);
                match reply {
                    Some(r) => {
                        let _ = c.write_all(r.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(1)),
                }
            }
        });
        (port, h)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn non_json_and_silent_servers_are_unreachable_not_fatal() {
        let (port, h) = fake_server(Some(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        ));
        let s = fetch(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2)).await;
        assert!(!s.reachable);
        assert!(
            s.error.as_deref().unwrap_or("").contains("not JSON"),
            "{s:?}"
        );
        h.join().unwrap();

        let (port, h) = fake_server(None);
        let s = fetch(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(300),
        )
        .await;
        assert!(!s.reachable);
        assert!(s.error.is_some(), "{s:?}");
        h.join().unwrap();
    }
}
