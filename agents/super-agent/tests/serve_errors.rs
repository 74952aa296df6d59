//! Bad requests get a 4xx with a JSON body `{error, detail}` naming what is wrong, and the
//! server stays up and correct afterwards.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "errors-token-0123456789";

/// Assert a JSON error with `status` and `code`; returns the body.
fn expect_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    let v = r.json();
    assert_eq!(v["error"], code, "{v:#}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v:#}");
    v
}

#[test]
fn bad_requests_get_json_errors_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos/app/src")).unwrap();
    std::fs::write(dir.path().join("repos/app/src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    let mut server = Server::start(
        dir.path(),
        Opts {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    );
    let http = Http::new();
    let auth = server.auth();
    let msg = server.url("/message");
    let gates = server.url("/api/v1/gates");
    let good = gate_payload(1, "app");

    // Malformed JSON: the line and column are named.
    let r = http.post_raw(
        &msg,
        &auth,
        b"{\n  \"meta\": {,\n}".to_vec(),
        "application/json",
    );
    let v = expect_error(&r, 400, "invalid_json");
    assert_eq!(v["line"], 2, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("line 2, column"),
        "{v}"
    );

    // A missing field is named with its path.
    let mut env = envelope("GateValidationRequest", "t-missing", good.clone());
    env["meta"].as_object_mut().unwrap().remove("source_agent");
    let v = expect_error(&http.post(&msg, &auth, &env), 400, "missing_field");
    assert_eq!(v["field"], "meta.source_agent");
    let mut payload = good.clone();
    payload["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("commit_sha");
    let env = envelope("GateValidationRequest", "t-missing-2", payload.clone());
    let v = expect_error(&http.post(&msg, &auth, &env), 400, "missing_field");
    assert_eq!(v["field"], "payload.metadata.commit_sha");
    assert_eq!(v["trace_id"], "t-missing-2");
    let v = expect_error(&http.post(&gates, &auth, &payload), 400, "missing_field");
    assert_eq!(v["field"], "metadata.commit_sha");

    // A wrong type names the field.
    let mut payload = good.clone();
    payload["metadata"]["pr_number"] = json!("seven");
    let v = expect_error(&http.post(&gates, &auth, &payload), 400, "invalid_field");
    assert_eq!(v["field"], "metadata.pr_number");
    let mut payload = good.clone();
    payload["metadata"]["commit_sha"] = json!("not-hex!");
    let v = expect_error(&http.post(&gates, &auth, &payload), 400, "invalid_field");
    assert_eq!(v["field"], "metadata.commit_sha");

    // An unknown message type lists the known ones.
    let env = envelope("GateValidation", "t-type", good.clone());
    let v = expect_error(&http.post(&msg, &auth, &env), 400, "unknown_message_type");
    let known: Vec<&str> = v["known"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for k in [
        "GateValidationRequest",
        "GATE_VALIDATION_REQUEST",
        "GateValidationResponse",
        "GATE_VALIDATION_RESPONSE",
        "IncidentSignal",
    ] {
        assert!(known.contains(&k), "{known:?}");
        assert!(v["detail"].as_str().unwrap().contains(k));
    }

    // An unsupported schema version.
    let mut env = envelope("GateValidationRequest", "t-ver", good.clone());
    env["meta"]["schema_version"] = json!("2.0");
    expect_error(
        &http.post(&msg, &auth, &env),
        400,
        "unsupported_schema_version",
    );

    // An unknown check lists the known ones.
    let mut payload = good.clone();
    payload["validation_requirements"] = json!({"security_scan": true, "lint_everything": true});
    let v = expect_error(&http.post(&gates, &auth, &payload), 400, "unknown_check");
    assert!(
        v["detail"].as_str().unwrap().contains("lint_everything"),
        "{v}"
    );
    for k in mno_gates::KNOWN_CHECKS {
        assert!(v["known"].as_array().unwrap().contains(&json!(k)), "{v}");
    }

    // A root outside allowed_roots (absolute, or through a symlink) is forbidden.
    let mut payload = good.clone();
    payload["artifacts"]["root"] = json!(dir.path().join("outside").display().to_string());
    expect_error(&http.post(&gates, &auth, &payload), 403, "root_not_allowed");
    payload["artifacts"]["root"] = json!("/etc");
    expect_error(&http.post(&gates, &auth, &payload), 403, "root_not_allowed");
    std::os::unix::fs::symlink(dir.path().join("outside"), dir.path().join("repos/escape"))
        .unwrap();
    payload["artifacts"]["root"] = json!("escape");
    expect_error(&http.post(&gates, &auth, &payload), 403, "root_not_allowed");

    // `..` is refused outright, even when it would land inside.
    for root in ["app/../app", "../outside", "app/.."] {
        payload["artifacts"]["root"] = json!(root);
        let v = expect_error(&http.post(&gates, &auth, &payload), 400, "path_traversal");
        assert_eq!(v["field"], "artifacts.root");
    }
    payload["artifacts"]["root"] = json!("app");
    payload["artifacts"]["registry"] = json!("../../etc/passwd");
    expect_error(&http.post(&gates, &auth, &payload), 400, "path_traversal");

    // A root that does not exist inside the allowed roots.
    let mut payload = good.clone();
    payload["artifacts"]["root"] = json!("nope");
    expect_error(&http.post(&gates, &auth, &payload), 400, "root_not_found");

    // A 10 MB body is refused with 413 and JSON (the client sees the answer, not a reset).
    let mut big = envelope("IncidentSignal", "t-big", json!({}));
    big["payload"] =
        json!({"alert_name": "x".repeat(10 << 20), "severity": "info", "status": "firing"});
    let v = expect_error(&http.post(&msg, &auth, &big), 413, "body_too_large");
    assert_eq!(v["max_body_bytes"], 1 << 20);

    // Not JSON at all.
    let r = http.post_raw(
        &gates,
        &auth,
        b"metadata=1".to_vec(),
        "application/x-www-form-urlencoded",
    );
    expect_error(&r, 415, "unsupported_media_type");

    // No token, a wrong token, a token of another scheme: 401 with WWW-Authenticate.
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong".to_string())],
        vec![("authorization", format!("Basic {TOKEN}"))],
    ] {
        for url in [&msg, &gates] {
            let r = http.post(url, &headers, &envelope("IncidentSignal", "t", json!({})));
            expect_error(&r, 401, "unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"super-agent\"")
            );
        }
    }

    // Unknown validation ids and routes: 404 JSON; a wrong method: 405 JSON.
    expect_error(
        &http.get(&server.url("/api/v1/gates/gate-9-deadbeef")),
        404,
        "unknown_validation_id",
    );
    expect_error(
        &http.get(&server.url("/api/v1/gates/..%2F..%2Fetc")),
        404,
        "unknown_validation_id",
    );
    expect_error(&http.get(&server.url("/nope")), 404, "not_found");
    let r = http
        .try_send("DELETE", &server.url("/message"), &auth, None)
        .unwrap();
    expect_error(&r, 405, "method_not_allowed");
    expect_error(
        &http.get(&server.url("/incidents?limit=0")),
        400,
        "invalid_query",
    );
    expect_error(
        &http.get(&server.url("/incidents?limit=x")),
        400,
        "invalid_query",
    );
    let r = http.post(
        &server.url("/message?wait=maybe"),
        &auth,
        &envelope("IncidentSignal", "t", json!({})),
    );
    expect_error(&r, 400, "invalid_query");

    // Nothing above ran a gate or stored a job; the server is healthy and still works.
    assert_eq!(http.get(&server.url("/health")).status, 200);
    assert_eq!(
        http.get(&server.url("/api/v1/gates")).json()["gates"],
        json!([])
    );
    let r = http.post(&server.url("/api/v1/gates?wait=true"), &auth, &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "PASSED", "{}", r.text());
    let metrics = http.get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("mno_agent_messages_total{message_type=\"invalid\",status=\"rejected\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "mno_agent_messages_total{message_type=\"GateValidationRequest\",status=\"rejected\"}"
        ),
        "{metrics}"
    );
    assert!(
        server.terminate(Duration::from_secs(20)).success(),
        "{}",
        server.stderr()
    );
    // The token never reaches the log.
    assert!(!server.stderr().contains(TOKEN));
}

#[test]
fn without_a_token_posts_are_open_but_build_commands_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    write_slow_repo(&dir.path().join("repos/app"), 0.1);
    let mut server = Server::start(dir.path(), Opts::default());
    let http = Http::new();
    let gates = server.url("/api/v1/gates?wait=true");
    // Asked for by name: refused, naming the reason.
    let mut payload = gate_payload(2, "app");
    payload["validation_requirements"] =
        json!({"build_verification": true, "module_registry": true});
    let v = expect_error(&http.post(&gates, &[], &payload), 403, "token_required");
    assert!(v["detail"].as_str().unwrap().contains("token"), "{v}");
    // Every check asked for implicitly: the build check is SKIPPED with the reason.
    let r = http.post(&gates, &[], &gate_payload(2, "app"));
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    let build = &job["response"]["validation_results"]["build_verification"];
    assert_eq!(build["status"], "SKIPPED", "{build}");
    assert!(
        build["detail"].as_str().unwrap().contains("token"),
        "{build}"
    );
    assert_eq!(
        job["response"]["validation_results"]["module_registry"]["status"],
        "PASSED"
    );
    let ready = http.get(&server.url("/ready")).json();
    assert_eq!(ready["auth"], "none");
    // A gate that cannot run (an invalid root.gates.yaml) ends ERROR, every check with the reason.
    let bad = dir.path().join("repos/badcfg");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("root.gates.yaml"), "naming_conventions: [\n").unwrap();
    let r = http.post(&gates, &[], &gate_payload(3, "badcfg"));
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    assert_eq!(job["status"], "ERROR", "{job:#}");
    let resp = &job["response"];
    assert_eq!(resp["overall_status"], "ERROR");
    assert!(
        resp["error"].as_str().unwrap().contains("root.gates.yaml"),
        "{resp:#}"
    );
    assert_eq!(
        resp["validation_results"]["naming_conventions"]["status"],
        "ERROR"
    );
    assert_valid(&schema("gate-validation-response.schema.json"), resp);
    assert!(server.terminate(Duration::from_secs(20)).success());
}
