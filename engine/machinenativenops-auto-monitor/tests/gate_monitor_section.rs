//! The gate report's Auto-Monitor section (`mno_gates::monitor::fetch`) read from this real
//! binary: health, CPU, memory and disk usage in range, an alert that fires listed as
//! active; a closed port is reported unreachable without failing.

mod common;

use std::time::{Duration, Instant};

use common::Agent;

const CONFIG: &str = "monitoring:\n  interval: 1\nalerts:\n  default_rules: {enabled: false}\n  rules:\n    - alert: GateProbe\n      expr: mno_build_info == 1\n      labels: {severity: info}\n      annotations: {summary: 'probe is firing'}\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Poll `url` until its JSON satisfies `ok`.
fn wait_json(url: &str, timeout: Duration, ok: impl Fn(&serde_json::Value) -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Ok((200, _, body)) = common::http_get(url, &[])
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && ok(&v)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn monitor_section_reads_health_usage_and_alerts_from_the_real_agent() {
    let mut agent = Agent::start(CONFIG, &[]);
    agent.wait_ready(Duration::from_secs(30));
    // One tick stored (the query API answers from the store) and the rule evaluated.
    assert!(wait_json(
        &agent.url("/api/v1/query?query=mno_cpu_usage_percent"),
        Duration::from_secs(20),
        |v| v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    ));
    assert!(wait_json(
        &agent.url("/api/v1/alerts"),
        Duration::from_secs(20),
        |v| v["data"]["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["state"] == "firing"))
    ));

    let s = rt().block_on(mno_gates::monitor::fetch(
        &agent.url(""),
        Duration::from_secs(5),
    ));
    assert!(s.reachable, "{s:?}");
    assert_eq!(s.error, None);
    let health = s.health.as_ref().expect("health");
    assert_eq!(health.status, "ok");
    assert_eq!(health.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    for (what, v) in [
        ("cpu", s.cpu_usage_percent),
        ("memory", s.memory_usage_percent),
        ("disk", s.disk_usage_percent),
    ] {
        let v = v.unwrap_or_else(|| panic!("no {what} value: {s:?}"));
        assert!((0.0..=100.0).contains(&v), "{what} {v}");
    }
    assert!(!s.disks.is_empty());
    assert_eq!(Some(s.disks[0].usage_percent), s.disk_usage_percent);
    let probe = s
        .active_alerts
        .iter()
        .find(|a| a.name == "GateProbe")
        .unwrap_or_else(|| panic!("GateProbe not active: {s:?}"));
    assert_eq!(
        (probe.severity.as_str(), probe.state.as_str()),
        ("info", "firing")
    );
    assert_eq!(probe.summary.as_deref(), Some("probe is firing"));
    assert!(probe.since.ends_with('Z'), "{probe:?}");

    // In the gate report: JSON and the Markdown section.
    let mut report = mno_gates::GateReport::new("/r", Vec::new(), Vec::new());
    report.monitor = Some(s);
    let md = mno_gates::report::markdown::render(&report, None);
    assert!(
        md.contains("### Auto-Monitor") && md.contains("`GateProbe`"),
        "{md}"
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["monitor"]["reachable"], true);
}

#[test]
fn a_closed_port_gives_an_unreachable_section() {
    let port = common::free_port();
    let t = Instant::now();
    let s = rt().block_on(mno_gates::monitor::fetch(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(3),
    ));
    assert!(!s.reachable);
    assert!(
        s.error.as_deref().unwrap_or("").contains("/health"),
        "{s:?}"
    );
    assert!(s.cpu_usage_percent.is_none() && s.active_alerts.is_empty());
    // Bounded by the timeout, not the OS connect timeout.
    assert!(t.elapsed() < Duration::from_secs(7));
}
