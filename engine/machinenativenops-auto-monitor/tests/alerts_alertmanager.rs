//! With a real Alertmanager on loopback: a rule fires, Alertmanager's `GET /api/v2/alerts`
//! shows it with our labels and annotations; the condition clears and Alertmanager sees it
//! resolved (it leaves the active list, and Alertmanager's own webhook reports it resolved
//! with `endsAt` in the past).

mod alerting_support;
mod common;

use std::time::Duration;

use alerting_support::*;

#[test]
fn alertmanager_receives_firing_then_resolved_alerts() {
    let Some(am_bin) = common::tool("prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Alertmanager's own receiver: tells us what Alertmanager considers resolved.
    let hook = Recorder::start(0);
    let am_port = common::free_port();
    std::fs::write(
        dir.path().join("am.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{}/\n    send_resolved: true\n",
            hook.server.port
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("am-data")).unwrap();
    let am_log = std::fs::File::create(dir.path().join("am.log")).unwrap();
    let mut am = std::process::Command::new(am_bin)
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(am_log)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let am_url = format!("http://127.0.0.1:{am_port}");
    let ready = wait_until(Duration::from_secs(20), || {
        matches!(
            request("GET", &format!("{am_url}/-/ready"), &[], None),
            Ok((200, _))
        )
    });
    if !ready {
        let _ = am.kill();
        panic!(
            "alertmanager not ready: {}",
            std::fs::read_to_string(dir.path().join("am.log")).unwrap_or_default()
        );
    }
    let _am = Kill(am);

    let svc = Switch::start(false);
    let config = format!(
        r#"
monitoring:
  interval: 1
http_checks:
  - name: toggled
    url: http://127.0.0.1:{svc}/health
    expected_status: [200]
    interval: 0.5
    timeout: 2
alerts:
  default_rules: {{enabled: false}}
  resend_delay: 1s
  external_url: http://agent.example:8000
  notifiers:
    - name: am
      type: alertmanager
      urls: ["{am_url}"]
  route:
    receiver: am
  rules:
    - alert: ToggledDown
      expr: mno_service_up{{service="toggled"}} == 0
      for: 1s
      labels:
        severity: critical
        team: ops
      annotations:
        summary: "{{{{ $labels.service }}}} is down"
        description: "up is {{{{ $value }}}}"
"#,
        svc = svc.server.port
    );
    let mut agent = Agent::start(dir.path(), common::free_port(), &config, &[], &[]);
    agent.wait_ready();

    let find = || -> Option<serde_json::Value> {
        let (st, body) = request("GET", &format!("{am_url}/api/v2/alerts"), &[], None).ok()?;
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "ToggledDown")
            .cloned()
    };
    let mut fired = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            fired = find();
            fired.is_some()
        }),
        "Alertmanager never got the alert; agent log:\n{}",
        agent.logs()
    );
    let a = fired.unwrap();
    assert_eq!(a["labels"]["service"], "toggled");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["team"], "ops");
    assert_eq!(a["annotations"]["summary"], "toggled is down");
    assert_eq!(a["annotations"]["description"], "up is 0.0");
    assert_eq!(a["status"]["state"], "active");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://agent.example:8000/api/v1/query?query=mno_service_up"),
        "{a}"
    );
    let starts = chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap()).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(a["endsAt"].as_str().unwrap()).unwrap();
    assert!(
        ends > chrono::Utc::now(),
        "a firing alert's endsAt is in the future: {a}"
    );
    assert!(starts < chrono::Utc::now());
    // The agent's own API agrees.
    let ours = agent.json("/api/v1/alerts");
    assert_eq!(ours["data"]["alerts"][0]["state"], "firing", "{ours}");

    // Clear the condition.
    svc.set(true);
    assert!(
        wait_until(Duration::from_secs(30), || find().is_none()),
        "the alert stayed active in Alertmanager"
    );
    let resolved = wait_until(Duration::from_secs(30), || {
        hook.bodies().iter().any(|b| b["status"] == "resolved")
    });
    assert!(
        resolved,
        "Alertmanager never reported the alert resolved: {:?}",
        hook.bodies()
    );
    let body = hook
        .bodies()
        .into_iter()
        .find(|b| b["status"] == "resolved")
        .unwrap();
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "ToggledDown");
    let ends = chrono::DateTime::parse_from_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    assert!(ends < chrono::Utc::now(), "endsAt is in the past: {alert}");
    // And the agent keeps the episode in its history.
    let h = agent.json("/api/v1/alerts/history?alertname=ToggledDown");
    let ep = &h["data"]["episodes"][0];
    assert!(ep["resolvedAt"].is_string(), "{h}");
    assert_eq!(ep["severity"], "critical");
    agent.stop();
}
