//! State across messages and restarts: incidents round trip, results received as messages,
//! jobs and incidents surviving a restart (SQLite), unfinished jobs marked interrupted, and
//! a graceful stop letting a running gate finish.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "state-token-0123456789";

fn incident(name: &str, severity: &str, status: &str) -> Value {
    json!({
        "alertname": name,
        "severity": severity,
        "status": status,
        "labels": {"instance": "host-1", "alertname": name},
        "annotations": {"summary": format!("{name} on host-1")},
        "startsAt": "2026-01-01T00:00:00Z",
        "source": "auto-monitor",
    })
}

#[test]
fn incidents_and_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos/app")).unwrap();
    let opts = Opts {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let mut server = Server::start(dir.path(), opts.clone());
    let http = Http::new();
    let auth = server.auth();
    let msg = server.url("/message");

    // Two incidents, then a bad one.
    for (i, (name, sev, st)) in [
        ("HighCPU", "warning", "firing"),
        ("DiskFull", "critical", "firing"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut env = envelope(
            "IncidentSignal",
            &format!("inc-{i}"),
            incident(name, sev, st),
        );
        env["meta"]["source_agent"] = json!("auto-monitor");
        env["context"]["urgency"] = json!("high");
        let r = http.post(&msg, &auth, &env);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["status"], "processed");
        assert_eq!(v["processing_result"]["incident_id"], i as u64 + 1);
    }
    for (payload, field) in [
        (
            json!({"alert_name": "X", "status": "firing"}),
            "payload.severity",
        ),
        (
            json!({"alert_name": "X", "severity": "loud", "status": "firing"}),
            "payload.severity",
        ),
        (
            json!({"alert_name": "X", "severity": "info", "status": "gone"}),
            "payload.status",
        ),
        (
            json!({"alert_name": "X", "severity": "info", "status": "firing", "starts_at": "yesterday"}),
            "payload.starts_at",
        ),
    ] {
        let r = http.post(&msg, &auth, &envelope("IncidentSignal", "bad", payload));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["field"], field, "{}", r.text());
    }
    let list = http.get(&server.url("/incidents")).json();
    let names: Vec<&str> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["signal"]["alert_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["DiskFull", "HighCPU"]);
    let first = &list["incidents"][1];
    assert_eq!(first["source_agent"], "auto-monitor");
    assert_eq!(first["context"]["urgency"], "high");
    assert_eq!(first["signal"]["labels"]["instance"], "host-1");
    assert_eq!(first["signal"]["starts_at"], "2026-01-01T00:00:00Z");
    let one = http.get(&server.url("/incidents?limit=1")).json();
    assert_eq!(one["incidents"].as_array().unwrap().len(), 1);

    // A gate run, and a result computed elsewhere received as a GateValidationResponse.
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &auth,
        &gate_payload(5, "app"),
    );
    assert_eq!(r.json()["status"], "PASSED", "{}", r.text());
    let external = json!({
        "message_type": "GATE_VALIDATION_RESPONSE",
        "validation_id": validation_id(6),
        "overall_status": "FAILED",
        "validation_results": {},
        "metadata": gate_payload(6, "app")["metadata"],
        "timestamp": "2026-01-01T00:00:00Z",
    });
    let r = http.post(
        &msg,
        &auth,
        &envelope("GateValidationResponse", "ext", external.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["processing_result"]["status"], "FAILED");
    let mut wrong = external.clone();
    wrong["validation_id"] = json!("gate-6-00000000");
    let r = http.post(
        &msg,
        &auth,
        &envelope("GateValidationResponse", "ext", wrong),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let metrics = http.get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("mno_agent_incidents_total{severity=\"critical\",status=\"firing\"} 1"),
        "{metrics}"
    );

    // Restart on the same data directory: everything is still there.
    assert!(
        server.terminate(Duration::from_secs(20)).success(),
        "{}",
        server.stderr()
    );
    let server = Server::start(dir.path(), opts);
    let list = http.get(&server.url("/incidents")).json();
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2, "{list}");
    let job = http
        .get(&server.url(&format!("/api/v1/gates/{}", validation_id(5))))
        .json();
    assert_eq!(job["status"], "PASSED", "{job}");
    assert!(job["reports"]["report.json"]["path"].is_string(), "{job}");
    let job = http
        .get(&server.url(&format!("/api/v1/gates/{}", validation_id(6))))
        .json();
    assert_eq!(job["status"], "FAILED", "{job}");
    // The resolved signal of an alert resolves its incident, restart or not.
    let r = http.post(
        &server.url("/message"),
        &server.auth(),
        &envelope(
            "IncidentSignal",
            "inc-3",
            incident("HighCPU", "warning", "resolved"),
        ),
    );
    let v = r.json();
    assert_eq!(v["processing_result"]["incident_id"], 1, "{v}");
    assert_eq!(v["processing_result"]["created"], false, "{v}");
    let one = http.get(&server.url("/incidents/1")).json();
    assert_eq!(one["state"], "resolved", "{one}");
    assert_eq!(one["signals"], 2, "{one}");
    assert_eq!(
        http.get(&server.url("/incidents/2")).json()["state"],
        "firing"
    );
    let missing = http.get(&server.url("/incidents/99"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "unknown_incident");
    assert_eq!(http.get(&server.url("/incidents/x")).status, 404);
    // New incidents continue the numbering.
    let r = http.post(
        &server.url("/message"),
        &server.auth(),
        &envelope(
            "IncidentSignal",
            "inc-4",
            incident("MemoryLow", "warning", "firing"),
        ),
    );
    assert_eq!(
        r.json()["processing_result"]["incident_id"],
        3,
        "{}",
        r.text()
    );
}

#[test]
fn a_crash_leaves_running_jobs_interrupted_and_a_stop_lets_them_finish() {
    let dir = tempfile::tempdir().unwrap();
    write_slow_repo(&dir.path().join("repos/slow"), 3.0);
    write_slow_repo(&dir.path().join("repos/short"), 1.0);
    let opts = Opts {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let http = Http::new();

    // A crash (SIGKILL) while a gate runs: after the restart the job is ERROR, interrupted.
    let mut server = Server::start(dir.path(), opts.clone());
    let r = http.post(
        &server.url("/api/v1/gates"),
        &server.auth(),
        &gate_payload(1, "slow"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_status(&http, &server, &validation_id(1), "RUNNING");
    server.kill();
    let mut server = Server::start(dir.path(), opts.clone());
    let job = http
        .get(&server.url(&format!("/api/v1/gates/{}", validation_id(1))))
        .json();
    assert_eq!(job["status"], "ERROR", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("interrupted"),
        "{job}"
    );
    assert!(
        server.stderr().contains("marked ERROR"),
        "{}",
        server.stderr()
    );

    // SIGTERM while a gate runs: the server waits for it, then exits 0.
    let r = http.post(
        &server.url("/api/v1/gates"),
        &server.auth(),
        &gate_payload(2, "short"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_status(&http, &server, &validation_id(2), "RUNNING");
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}\n{}", server.stderr());
    let err = server.stderr();
    assert!(err.contains("shutting down"), "{err}");
    let server = Server::start(dir.path(), opts);
    let job = http
        .get(&server.url(&format!("/api/v1/gates/{}", validation_id(2))))
        .json();
    assert_eq!(job["status"], "PASSED", "{job}");
}

fn wait_status(http: &Http, server: &Server, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = http.get(&server.url(&format!("/api/v1/gates/{id}"))).json();
        if job["status"] == want {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never {want}: {job}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
