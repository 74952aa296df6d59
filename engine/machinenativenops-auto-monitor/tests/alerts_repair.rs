//! Auto-repair end to end: an HTTP check fails against a small test server that the test
//! kills; the repair command starts it again; the alert resolves. `max_repair_attempts` and
//! `cooldown_period` hold, and alert labels holding `$(touch /tmp/pwned)`, `; rm -rf`,
//! backticks and newlines reach the repair command and a `command` notifier only as data: no
//! marker file is created, the arguments arrive intact.

mod alerting_support;
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alerting_support::*;

/// Kills every server the test or the repair script started.
struct Servers {
    pidfile: std::path::PathBuf,
    children: Vec<Child>,
}

impl Servers {
    fn kill_all(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
        if let Ok(s) = std::fs::read_to_string(&self.pidfile) {
            for pid in s.split_whitespace() {
                if let Ok(p) = pid.parse::<u32>() {
                    signal(p, "KILL");
                }
            }
        }
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn start_server(python: &Path, port: u16, dir: &Path) -> Child {
    Command::new(python)
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start test server")
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn repair_restarts_a_killed_service_within_its_limits_and_never_runs_label_text() {
    let Some(python) = common::tool("python3") else {
        return;
    };
    let pwned_before = Path::new("/tmp/pwned").exists();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let www = d.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let port = common::free_port();
    let marker = d.join("marker");
    let payload = format!(
        "$(touch /tmp/pwned) $(touch {m}); rm -rf {www}; `touch {m}` ; touch {m}\nsecond line",
        m = marker.display(),
        www = www.display()
    );
    // The repair program: records its arguments and environment, then (unless told to fail)
    // starts the server again, detached, writing its pid where the test can kill it.
    let script = d.join("restart-web.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo call >> '{d}/calls'\n\
             for a in \"$@\"; do printf '[%s]\\n' \"$a\" >> '{d}/args'; done\n\
             printf '%s\\n' \"$MNO_ALERT_LABEL_PAYLOAD\" > '{d}/env-payload'\n\
             cat > '{d}/stdin.json'\n\
             if [ -e '{d}/broken' ]; then echo broken >&2; exit 1; fi\n\
             setsid '{py}' -m http.server {port} --bind 127.0.0.1 --directory '{www}' >/dev/null 2>&1 < /dev/null &\n\
             echo $! >> '{d}/server.pid'\n",
            d = d.display(),
            py = python.display(),
            www = www.display(),
        ),
    )
    .unwrap();
    // A command notifier that keeps what it was given.
    let notify = d.join("notify.sh");
    std::fs::write(
        &notify,
        format!(
            "#!/bin/sh\ncat >> '{d}/notified.json'\necho >> '{d}/notified.json'\nprintf '%s %s\\n' \"$MNO_ALERT_STATUS\" \"$MNO_ALERT_NAME\" >> '{d}/notified-env'\n",
            d = d.display()
        ),
    )
    .unwrap();
    for p in [&script, &notify] {
        Command::new("chmod").arg("+x").arg(p).status().unwrap();
    }
    let mut servers = Servers {
        pidfile: d.join("server.pid"),
        children: vec![start_server(&python, port, &www)],
    };
    let config = format!(
        r#"
monitoring:
  interval: 1
http_checks:
  - name: web
    url: http://127.0.0.1:{port}/
    interval: 0.5
    timeout: 1
auto_repair:
  enabled: true
  max_repair_attempts: 2
  cooldown_period: 3
  strategies:
    - name: restart-web
      alerts: [WebDown]
      action: command
      command: ["{script}", "{{{{ $labels.service }}}}", "{{{{ $labels.payload }}}}"]
      timeout: 10s
alerts:
  default_rules: {{enabled: false}}
  notifiers:
    - name: cmd
      type: command
      command: ["{notify}", "{{{{ $labels.payload }}}}"]
      timeout: 5s
  route:
    receiver: cmd
    group_wait: 0s
    group_interval: 1s
  rules:
    - alert: WebDown
      expr: mno_service_up{{service="web"}} == 0
      labels:
        severity: critical
        payload: {payload:?}
      annotations:
        summary: "{{{{ $labels.service }}}} is down"
"#,
        script = script.display(),
        notify = notify.display(),
    );
    // The server must be listening before the agent's first probe, or that probe is an outage.
    assert!(wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let mut agent = Agent::start(d, common::free_port(), &config, &[], &[]);
    agent.wait_ready();
    let up = |a: &Agent| a.metric("mno_service_up", &[("service", "web")]);
    assert!(
        wait_until(Duration::from_secs(20), || up(&agent) == Some(1.0)),
        "{}",
        agent.logs()
    );

    // 1. The repair fails (the script is told to): two attempts, 3 s apart, then no more.
    std::fs::write(d.join("broken"), "").unwrap();
    servers.kill_all();
    assert!(
        wait_until(Duration::from_secs(20), || lines(&d.join("calls")).len()
            >= 2),
        "repairs did not run: {}",
        agent.logs()
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        lines(&d.join("calls")).len(),
        2,
        "max_repair_attempts exceeded: {}\n{}",
        agent.json("/api/v1/alerts/history?alertname=WebDown"),
        agent.logs()
    );
    let h = agent.json("/api/v1/alerts/history?alertname=WebDown");
    let ep = &h["data"]["episodes"][0];
    assert_eq!(ep["repairAttempts"], 2, "{h}");
    let repairs = ep["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 2, "{h}");
    assert!(
        repairs
            .iter()
            .all(|r| r["result"] == "failure" && r["exitCode"] == 1),
        "{h}"
    );
    let t = |r: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(r["at"].as_str().unwrap()).unwrap()
    };
    assert!(
        t(&repairs[1]) - t(&repairs[0]) >= chrono::Duration::seconds(3),
        "cooldown not kept: {h}"
    );
    assert!(wait_until(Duration::from_secs(5), || agent.metric(
        "mno_repair_attempts_total",
        &[("strategy", "restart-web"), ("result", "failure")]
    ) == Some(2.0)));
    // Bring it back by hand: the episode resolves.
    std::fs::remove_file(d.join("broken")).unwrap();
    servers.children.push(start_server(&python, port, &www));
    assert!(
        wait_until(Duration::from_secs(20), || {
            agent.json("/api/v1/alerts")["data"]["alerts"]
                .as_array()
                .is_some_and(|a| a.is_empty())
        }),
        "alert did not resolve"
    );

    // 2. A new episode: the repair command starts the server, and the alert resolves.
    servers.kill_all();
    assert!(
        wait_until(Duration::from_secs(30), || lines(&d.join("calls")).len()
            == 3
            && up(&agent) == Some(1.0)
            && agent.json("/api/v1/alerts")["data"]["alerts"]
                .as_array()
                .is_some_and(|a| a.is_empty())),
        "repair did not bring the service back: {}",
        agent.logs()
    );
    let h = agent.json("/api/v1/alerts/history?alertname=WebDown");
    let eps = h["data"]["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 2, "{h}");
    assert_eq!(
        eps[0]["repairAttempts"], 1,
        "a new episode starts its own count: {h}"
    );
    assert_eq!(eps[0]["repairs"][0]["result"], "success", "{h}");
    assert!(
        eps[0]["resolvedAt"].is_string() && eps[1]["resolvedAt"].is_string(),
        "{h}"
    );
    // Counters reach /metrics with the next tick.
    assert!(wait_until(Duration::from_secs(5), || agent.metric(
        "mno_repair_attempts_total",
        &[("strategy", "restart-web"), ("result", "success")]
    ) == Some(1.0)));

    // 3. Label text was only ever data.
    assert!(!marker.exists(), "a label was executed");
    assert!(www.exists(), "a label was executed (rm -rf)");
    if !pwned_before {
        assert!(!Path::new("/tmp/pwned").exists(), "a label was executed");
    }
    let args = std::fs::read_to_string(d.join("args")).unwrap();
    assert!(
        args.starts_with(&format!("[web]\n[{payload}]\n")),
        "arguments changed: {args:?}"
    );
    let env = std::fs::read_to_string(d.join("env-payload")).unwrap();
    assert_eq!(env, format!("{payload}\n"));
    let stdin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("stdin.json")).unwrap()).unwrap();
    assert_eq!(stdin["labels"]["payload"], payload.as_str());
    assert_eq!(stdin["strategy"], "restart-web");
    // The command notifier got firing and resolved notifications with the same data.
    assert!(
        wait_until(Duration::from_secs(10), || lines(&d.join("notified-env"))
            .iter()
            .any(|l| l == "resolved WebDown")),
        "{}",
        agent.logs()
    );
    assert!(
        lines(&d.join("notified-env"))
            .iter()
            .any(|l| l == "firing WebDown")
    );
    let first: serde_json::Value =
        serde_json::from_str(&lines(&d.join("notified.json"))[0]).unwrap();
    assert_eq!(first["alerts"][0]["labels"]["payload"], payload.as_str());
    assert!(!marker.exists());
    agent.stop();
}
