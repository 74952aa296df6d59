//! Rules checking and reloading, the alerts API and silences, end to end:
//! bad rules are rejected with file:line (CLI, `config validate`, `serve`), a reload with a
//! bad rule file keeps the old rules (`POST /-/reload` and SIGHUP), state-changing calls need
//! the bearer token, silenced alerts do not notify, and `/metrics` with `ALERTS` still passes
//! `promtool check metrics`.

mod alerting_support;
mod common;

use std::time::Duration;

use alerting_support::*;

const GOOD: &str = "groups:\n- name: host\n  rules:\n  - alert: AlwaysOn\n    expr: mno_build_info == 1\n    labels: {severity: info}\n    annotations:\n      summary: 'build {{ $labels.version }} value {{ $value | humanize }}'\n  - name: LowMemory\n    metric: mno_memory_usage_percent\n    condition: '>'\n    threshold: 101\n    duration: 60\n    severity: warning\n";

const BAD: &str = "groups:\n- name: host\n  rules:\n  - alert: A\n    expr: 'rate(x[5m] >'\n  - alert: B\n    expr: x > 1\n    labels:\n      severity: urgent\n  - alert: C\n    expr: x > 1\n    annotations:\n      summary: '{{ $value | nosuchfilter }}'\n  - alert: D\n    expr: x > 1\n    for: -5m\n";

#[test]
fn rules_check_reports_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&good, GOOD).unwrap();
    std::fs::write(&bad, BAD).unwrap();
    let o = common::run(&["rules", "check", good.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("SUCCESS: 2 rules found"));

    // A negative `for` fails the file as a whole at parse time, with its line.
    let o = common::run(&["rules", "check", bad.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("bad.yml:16:") && err.contains("negative"),
        "{err}"
    );
    // Without it, every remaining problem is listed, each located.
    std::fs::write(&bad, &BAD[..BAD.find("  - alert: D").unwrap()]).unwrap();
    let o = common::run(&["rules", "check", bad.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    for want in [
        // At the end of the expression, where the parenthesis should have closed.
        "bad.yml:5:24: groups.0.rules.0.expr: 1:13: parse error: unclosed left parenthesis",
        "bad.yml:9:7: groups.0.rules.1.labels.severity: unknown severity \"urgent\"",
        "bad.yml:13:7: groups.0.rules.2.annotations.summary: template error",
        "FAILED: 3 problem(s)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    std::fs::write(
        dir.path().join("syntax.yml"),
        "groups:\n- name: g\n  rules: [\n",
    )
    .unwrap();
    let o = common::run(
        &[
            "rules",
            "check",
            dir.path().join("syntax.yml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("syntax.yml:"),
        "{o:?}"
    );

    // Rules inside the configuration are checked by `config validate`, located too.
    let (_d, cfg) = common::config_file("alerts:\n  rules:\n    - alert: X\n      expr: up >\n");
    let o = common::run(&["config", "validate", cfg.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("config.yaml:4:7: alerts.rules.0.expr:"),
        "{err}"
    );

    // `rules check` without a file checks what the configuration loads (defaults included).
    let (_d2, cfg) = common::config_file(&format!("alerts:\n  rule_files: [{}]\n", good.display()));
    let o = common::run(&["--config", cfg.to_str().unwrap(), "rules", "check"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("SUCCESS: 7 rules found"),
        "{o:?}"
    );

    // `serve` refuses to start on a bad rule file, naming it.
    let (_d3, cfg) = common::config_file(&format!("alerts:\n  rule_files: [{}]\n", bad.display()));
    let o = common::run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "serve",
            "--port",
            &common::free_port().to_string(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.yml:5:24"),
        "{o:?}"
    );
}

#[test]
fn reload_silences_api_and_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, GOOD).unwrap();
    let config = "monitoring:\n  interval: 1\nalerts:\n  default_rules: {enabled: false}\n  rule_files: [rules.yml]\n  route:\n    group_wait: 0s\n    group_interval: 1s\n";
    let token = "s3cret-token";
    let mut agent = Agent::start(
        dir.path(),
        common::free_port(),
        config,
        &[],
        &[("MNO_API_TOKEN", token)],
    );
    agent.wait_ready();
    let auth = format!("Bearer {token}");
    let with_token = [("authorization", auth.as_str())];
    let names = |a: &Agent| -> Vec<String> {
        a.json("/api/v1/rules")["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&agent), ["AlwaysOn", "LowMemory"]);
    assert!(wait_until(Duration::from_secs(10), || {
        agent.json("/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    // Prometheus' shapes.
    let alerts = agent.json("/api/v1/alerts");
    assert_eq!(alerts["status"], "success");
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "AlwaysOn");
    assert_eq!(a["state"], "firing");
    assert_eq!(a["value"], "1e+00");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("value 1"),
        "{a}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(a["activeAt"].as_str().unwrap()).is_ok());
    let r = agent.json("/api/v1/rules");
    let rule = &r["data"]["groups"][0]["rules"][0];
    assert_eq!(rule["type"], "alerting");
    assert_eq!(rule["health"], "ok");
    assert_eq!(rule["query"], "mno_build_info == 1");
    assert_eq!(rule["state"], "firing");
    assert_eq!(
        r["data"]["groups"][0]["rules"][1]["query"],
        "mno_memory_usage_percent > 101"
    );
    assert_eq!(r["data"]["groups"][0]["rules"][1]["duration"], 60.0);

    // State-changing calls need the token: 401 with a JSON body.
    for (m, path) in [
        ("POST", "/-/reload"),
        ("POST", "/api/v1/silences"),
        ("DELETE", "/api/v1/silences/x"),
    ] {
        for headers in [&[][..], &[("authorization", "Bearer wrong")][..]] {
            let (st, body) = request(m, &agent.url(path), headers, Some("{}")).unwrap();
            assert_eq!(st, 401, "{m} {path}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"], "unauthorized", "{body}");
        }
    }

    // A bad rule file: reload refuses, names the line, keeps the old rules.
    std::fs::write(&rules, BAD).unwrap();
    let (st, body) = request("POST", &agent.url("/-/reload"), &with_token, None).unwrap();
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("rules.yml:16:"), "{body}");
    assert_eq!(names(&agent), ["AlwaysOn", "LowMemory"]);
    assert!(wait_until(Duration::from_secs(5), || agent
        .metric("mno_alerts_config_last_reload_successful", &[])
        == Some(0.0)));
    // SIGHUP does the same.
    agent.signal("HUP");
    assert!(wait_until(Duration::from_secs(5), || agent
        .logs()
        .contains("SIGHUP: reload failed")));
    assert_eq!(names(&agent), ["AlwaysOn", "LowMemory"]);
    assert_eq!(
        agent.json("/api/v1/alerts")["data"]["alerts"][0]["state"],
        "firing"
    );

    // Silence the rule that is about to appear, then reload a good file.
    let silence = r#"{"matchers":[{"name":"alertname","value":"Second","isRegex":false}],"duration":"1h","createdBy":"test","comment":"maintenance"}"#;
    let (st, body) = request(
        "POST",
        &agent.url("/api/v1/silences"),
        &with_token,
        Some(silence),
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = request(
        "POST",
        &agent.url("/api/v1/silences"),
        &with_token,
        Some("{\"matchers\":[]}"),
    )
    .unwrap();
    assert_eq!(st, 400);
    assert_eq!(
        agent.json("/api/v1/silences")["data"]["silences"][0]["status"]["state"],
        "active"
    );
    std::fs::write(
        &rules,
        "groups:\n- name: host\n  rules:\n  - alert: Second\n    expr: mno_build_info > 0\n    labels: {severity: warning}\n",
    )
    .unwrap();
    agent.signal("HUP");
    assert!(wait_until(Duration::from_secs(5), || names(&agent) == ["Second"]));
    assert!(wait_until(Duration::from_secs(5), || agent
        .metric("mno_alerts_config_last_reload_successful", &[])
        == Some(1.0)));
    assert!(wait_until(Duration::from_secs(10), || {
        let a = agent.json("/api/v1/alerts");
        a["data"]["alerts"].as_array().is_some_and(|v| {
            v.len() == 1 && v[0]["labels"]["alertname"] == "Second" && v[0]["silenced"] == true
        })
    }));
    // The old rule's alert resolved (the log notifier says so); the silenced one says nothing.
    assert!(wait_until(Duration::from_secs(10), || agent
        .logs()
        .contains("alert resolved: build")));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !agent.logs().contains("alertname=\"Second\""),
        "a silenced alert notified"
    );
    let (st, _) = request(
        "DELETE",
        &agent.url(&format!("/api/v1/silences/{id}")),
        &with_token,
        None,
    )
    .unwrap();
    assert_eq!(st, 200);
    let (st, _) = request(
        "DELETE",
        &agent.url(&format!("/api/v1/silences/{id}")),
        &with_token,
        None,
    )
    .unwrap();
    assert_eq!(st, 404);
    assert!(
        wait_until(Duration::from_secs(10), || agent
            .logs()
            .contains("alertname=\"Second\"")),
        "the alert did not notify once unsilenced: {}",
        agent.logs()
    );

    // History: filters and errors.
    let h = agent.json("/api/v1/alerts/history?severity=info");
    let eps = h["data"]["episodes"].as_array().unwrap();
    assert!(
        !eps.is_empty()
            && eps
                .iter()
                .all(|e| e["alertname"] == "AlwaysOn" && e["resolvedAt"].is_string()),
        "{h}"
    );
    let h = agent.json("/api/v1/alerts/history?alertname=Second&since=0");
    assert_eq!(h["data"]["episodes"].as_array().unwrap().len(), 1);
    let (st, body) = request(
        "GET",
        &agent.url("/api/v1/alerts/history?since=yesterday"),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("bad_data"));

    // `/metrics` with ALERTS and the engine's families still passes promtool.
    let (_, text) = request("GET", &agent.url("/metrics"), &[], None).unwrap();
    assert!(
        text.contains("ALERTS{alertname=\"Second\",alertstate=\"firing\",severity=\"warning\""),
        "{text}"
    );
    assert!(text.contains("ALERTS_FOR_STATE{alertname=\"Second\""));
    if let Some(promtool) = common::tool("promtool") {
        let out = mno_testkit::promtool_check_metrics(&promtool, &text);
        let report = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let ours: Vec<&str> = report
            .lines()
            .filter(|l| {
                l.contains("ALERTS") || l.contains("mno_alerts") || l.contains("mno_repair")
            })
            .collect();
        assert!(
            ours.is_empty(),
            "promtool findings on alerting families: {ours:?}"
        );
        assert_ne!(out.status.code(), Some(1), "promtool parse error: {report}");
    }
    agent.stop();
}
