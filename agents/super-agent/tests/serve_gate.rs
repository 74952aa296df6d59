//! `super-agent serve` end to end: the shared gate fixture (a known problem for every check)
//! through `POST /message` and `POST /api/v1/gates`, every expected finding located and the
//! fixed copy PASSED; responses validate against the committed JSON Schema.

mod common;
#[path = "../../../libs/mno-gates/tests/common/mod.rs"]
mod gates_fixture;

use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "e2e-token-0123456789";

/// A server whose allowed root holds `broken/` and `fixed/` copies of the fixture.
fn fixture_server(extra_config: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    gates_fixture::write_repo(&dir.path().join("repos/broken"), false);
    gates_fixture::write_repo(&dir.path().join("repos/fixed"), true);
    let server = Server::start(
        dir.path(),
        Opts {
            token: Some(TOKEN.into()),
            config: Some(format!("store: sqlite\n{extra_config}")),
            ..Default::default()
        },
    );
    (dir, server)
}

/// (check, rule_id, file, line) of every finding of a GateValidationResponse.
fn located(resp: &Value) -> Vec<(String, String, String, usize)> {
    let mut out = Vec::new();
    for (check, r) in resp["validation_results"].as_object().unwrap() {
        for f in r["findings"].as_array().unwrap() {
            assert_eq!(f["check"], check.as_str(), "{f}");
            out.push((
                f["check"].as_str().unwrap().to_string(),
                f["rule_id"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap() as usize,
            ));
        }
    }
    out
}

/// The broken fixture's response has every expected finding, every check FAILED, evidence.
fn assert_broken(resp: &Value, pr: u64) {
    assert_eq!(resp["message_type"], "GateValidationResponse");
    assert_eq!(resp["validation_id"], validation_id(pr));
    assert_eq!(resp["overall_status"], "FAILED", "{resp:#}");
    let got = located(resp);
    let expected = gates_fixture::expected_findings();
    for (c, r, f, l) in &expected {
        assert!(
            got.contains(&(c.to_string(), r.to_string(), f.clone(), *l)),
            "missing {c} {r} {f}:{l} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for check in mno_gates::KNOWN_CHECKS {
        assert_eq!(
            resp["validation_results"][*check]["status"], "FAILED",
            "{check}: {:#}",
            resp["validation_results"][*check]
        );
    }
    assert_eq!(resp["metadata"]["pr_number"], pr);
    let errors = expected
        .iter()
        .filter(|(_, rule, ..)| !gates_fixture::is_warning(rule))
        .count();
    assert_eq!(resp["summary"]["errors"], errors);
    assert_evidence(resp);
    assert_valid(&schema("gate-validation-response.schema.json"), resp);
}

fn assert_fixed(resp: &Value) {
    assert_eq!(resp["overall_status"], "PASSED", "{:#?}", located(resp));
    assert!(located(resp).is_empty(), "{:#?}", located(resp));
    assert_evidence(resp);
    assert_valid(&schema("gate-validation-response.schema.json"), resp);
}

fn assert_evidence(resp: &Value) {
    let ev = &resp["evidence"];
    let hex = |v: &Value, n: usize| {
        let s = v.as_str().unwrap_or("");
        s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    assert!(hex(&ev["sha256"], 64), "{ev:#}");
    assert!(hex(&ev["sha3_512"], 128), "{ev:#}");
    assert!(ev["files"].as_u64().unwrap() > 0, "{ev:#}");
    assert!(hex(&ev["chain"]["hash"], 64), "{ev:#}");
}

#[test]
fn the_fixture_through_post_message_fails_with_every_finding_and_the_fixed_copy_passes() {
    let (_dir, mut server) = fixture_server("");
    let http = Http::new();
    let auth = server.auth();
    let r = http.post(
        &server.url("/message"),
        &auth,
        &envelope(
            "GateValidationRequest",
            "trace-broken",
            gate_payload(11, "broken"),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let reply = r.json();
    assert_eq!(reply["status"], "processed");
    assert_eq!(reply["trace_id"], "trace-broken");
    assert!(reply["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_broken(&reply["processing_result"], 11);

    // The seed's spelling of the type works too.
    let r = http.post(
        &server.url("/message"),
        &auth,
        &envelope(
            "GATE_VALIDATION_REQUEST",
            "trace-fixed",
            gate_payload(12, "fixed"),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_fixed(&r.json()["processing_result"]);

    // wait=false: 202 at once with the job's link; the result is then polled.
    let r = http.post(
        &server.url("/message?wait=false"),
        &auth,
        &envelope(
            "GateValidationRequest",
            "trace-queued",
            gate_payload(13, "fixed"),
        ),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let reply = r.json();
    assert_eq!(reply["status"], "accepted");
    let id = validation_id(13);
    assert_eq!(reply["processing_result"]["validation_id"], id.as_str());
    assert_eq!(
        reply["processing_result"]["links"]["self"],
        format!("/api/v1/gates/{id}")
    );
    let job = poll_done(&http, &server, &id, Duration::from_secs(60));
    assert_eq!(job["trace_id"], "trace-queued");
    assert_eq!(job["source_agent"], "ci");
    assert_fixed(&job["response"]);

    // The evidence chain grew by one record per run (in-toto Statements in DSSE envelopes),
    // each linked to the one before.
    use base64::Engine as _;
    use sha2::Digest as _;
    let log = std::fs::read_to_string(server.data_dir.join("evidence/evidence.jsonl")).unwrap();
    let payloads: Vec<Vec<u8>> = log
        .lines()
        .map(|l| {
            let env: Value = serde_json::from_str(l).unwrap();
            assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
            base64::engine::general_purpose::STANDARD
                .decode(env["payload"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let recs: Vec<Value> = payloads
        .iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect();
    let hash = |i: usize| hex::encode(sha2::Sha256::digest(&payloads[i]));
    assert_eq!(recs.len(), 3, "{log}");
    let mno = |i: usize| &recs[i]["predicate"]["mno"];
    assert_eq!(mno(1)["chain"]["prev_hash"], hash(0).as_str());
    assert_eq!(mno(2)["chain"]["prev_hash"], hash(1).as_str());
    assert_eq!(mno(0)["validation_id"], validation_id(11));
    // The request's repository and commit are bound; the fixture is no git checkout, so
    // the commit cannot be confirmed: UNVERIFIED, and the summary says FAILED.
    assert_eq!(mno(0)["repository"], "machinenativeops/fixture");
    assert_eq!(mno(0)["commit"]["requested"], common::sha(11).as_str());
    assert_eq!(mno(0)["commit"]["status"], "UNVERIFIED");
    assert_eq!(recs[0]["predicate"]["verificationResult"], "FAILED");
    assert_eq!(
        recs[0]["predicate"]["resourceUri"],
        format!(
            "git+https://github.com/machinenativeops/fixture@{}",
            common::sha(11)
        )
        .as_str()
    );
    // The head is on /metrics (a label-free count) and checks against the chain.
    let metrics = http.get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("\nmno_agent_evidence_records 3\n"),
        "{metrics}"
    );
    let o = command(&server.dir)
        .args(["evidence", "verify", "--pubkey"])
        .arg(server.data_dir.join("evidence/evidence.pub"))
        .arg("--expect-head")
        .arg(format!("{}:3", hash(2)))
        .arg(server.data_dir.join("evidence"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "evidence verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    assert!(
        server.terminate(Duration::from_secs(20)).success(),
        "{}",
        server.stderr()
    );

    // Records removed from the end while the server was down: the head kept in the state
    // store names them at the next start, and /metrics shows the shorter count.
    let log_path = server.data_dir.join("evidence/evidence.jsonl");
    let first_line = log.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&log_path, first_line).unwrap();
    let again = Server::start(
        &server.dir,
        Opts {
            token: Some(TOKEN.into()),
            config: Some("store: sqlite\n".into()),
            data_dir: Some(server.data_dir.clone()),
            ..Default::default()
        },
    );
    let metrics = http.get(&again.url("/metrics")).text();
    assert!(
        metrics.contains("\nmno_agent_evidence_records 1\n"),
        "{metrics}"
    );
    let err = again.stderr();
    assert!(
        err.contains("records seq 2..=3 were removed from the end"),
        "{err}"
    );
}

#[test]
fn the_fixture_through_the_gates_api_queues_polls_and_waits() {
    let (dir, mut server) = fixture_server("");
    let http = Http::new();
    let auth = server.auth();
    let r = http.post(
        &server.url("/api/v1/gates"),
        &auth,
        &gate_payload(21, "broken"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = validation_id(21);
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/gates/{id}").as_str())
    );
    let j = r.json();
    assert_eq!(j["validation_id"], id.as_str());
    assert!(
        matches!(j["status"].as_str(), Some("QUEUED" | "RUNNING")),
        "{j}"
    );

    let job = poll_done(&http, &server, &id, Duration::from_secs(120));
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_broken(&job["response"], 21);
    // The four reports, on disk and over HTTP.
    for (name, ctype) in [
        ("report.json", "application/json"),
        ("report.md", "text/markdown; charset=utf-8"),
        ("report.sarif", "application/sarif+json"),
        ("junit.xml", "application/xml"),
    ] {
        let path = job["reports"][name]["path"].as_str().unwrap();
        assert!(std::path::Path::new(path).is_file(), "{path}");
        let r = http.get(&server.url(job["reports"][name]["url"].as_str().unwrap()));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(ctype));
        assert_eq!(r.body, std::fs::read(path).unwrap());
    }
    let report: Value = serde_json::from_slice(
        &http
            .get(&server.url(&format!("/api/v1/gates/{id}/reports/report.json")))
            .body,
    )
    .unwrap();
    assert_eq!(report["overall_status"], "FAILED");
    let r = http.get(&server.url(&format!("/api/v1/gates/{id}/reports/secrets.txt")));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown_report");

    // wait=true answers with the finished job.
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &auth,
        &gate_payload(22, "fixed"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    assert_eq!(job["status"], "PASSED");
    assert_fixed(&job["response"]);

    // Listing shows both, newest first.
    let list = http.get(&server.url("/api/v1/gates?limit=10")).json();
    let ids: Vec<&str> = list["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["validation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![validation_id(22), validation_id(21)]);
    drop(dir);
    assert!(server.terminate(Duration::from_secs(20)).success());
}

#[test]
fn a_validation_id_already_queued_or_running_is_not_run_twice() {
    let (dir, mut server) = fixture_server("max_concurrent_gates: 1\n");
    write_slow_repo(&dir.path().join("repos/slow"), 1.5);
    let http = Http::new();
    let auth = server.auth();
    // The slow gate takes the only slot; the next two posts of one id find it queued.
    let r = http.post(
        &server.url("/api/v1/gates"),
        &auth,
        &gate_payload(31, "slow"),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let first = http.post(
        &server.url("/api/v1/gates"),
        &auth,
        &gate_payload(32, "fixed"),
    );
    let second = http.post(
        &server.url("/api/v1/gates"),
        &auth,
        &gate_payload(32, "fixed"),
    );
    assert_eq!(first.status, 202);
    assert_eq!(second.status, 202);
    let (a, b) = (first.json(), second.json());
    assert_eq!(a["status"], "QUEUED", "{a}");
    assert_eq!(
        b["created_at"], a["created_at"],
        "a second job was created: {a} {b}"
    );
    let job = poll_done(&http, &server, &validation_id(32), Duration::from_secs(60));
    assert_eq!(job["status"], "PASSED", "{job:#}");
    let slow = poll_done(&http, &server, &validation_id(31), Duration::from_secs(60));
    assert_eq!(slow["status"], "PASSED", "{slow:#}");
    // Two runs in all: the duplicate did not run.
    let metrics = http.get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("mno_agent_gate_duration_seconds_count 2\n"),
        "{metrics}"
    );
    assert!(server.terminate(Duration::from_secs(20)).success());
}

#[test]
fn the_monitor_section_is_attached_when_a_monitor_url_is_configured() {
    // Nothing listens there: the section says so, and the gate goes on.
    let port = free_port();
    let (_dir, mut server) = fixture_server(&format!(
        "monitor_url: http://127.0.0.1:{port}\nmonitor_timeout: 2\n"
    ));
    let http = Http::new();
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &server.auth(),
        &gate_payload(41, "fixed"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let resp = &r.json()["response"];
    assert_fixed(resp);
    let m = &resp["monitor"];
    assert_eq!(m["url"], format!("http://127.0.0.1:{port}"), "{m:#}");
    assert_eq!(m["reachable"], false, "{m:#}");
    assert!(m["error"].as_str().is_some_and(|e| !e.is_empty()), "{m:#}");
    assert!(server.terminate(Duration::from_secs(20)).success());
}
