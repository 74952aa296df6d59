//! Builds from a pull request do not get the server's secrets: through `gate run` and
//! `serve`, a build that prints its environment shows no `MNO_AGENT_TOKEN`, a build cannot
//! read the evidence signing key, list the data directory or read the server's own
//! environment through /proc, and a normal build still writes in the repository.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "sandbox-e2e-token-0123456789"; // mno:allow (a test fixture, not a credential)

/// root.gates.yaml with one module per probe against `data` (the data/evidence folder).
fn write_probe_repo(repo: &Path, data: &Path) {
    std::fs::create_dir_all(repo).unwrap();
    let key = data.join("evidence/evidence.key");
    let yaml = format!(
        "build_verification:\n  modules:\n    \
         printenv: {{ command: [env] }}\n    \
         readkey: {{ command: [cat, '{key}'] }}\n    \
         listdata: {{ command: [ls, -a, '{data}'] }}\n    \
         parentenv: {{ command: [sh, -c, 'cat /proc/$PPID/environ'] }}\n    \
         ok: {{ command: [sh, -c, 'echo ok > out.txt'] }}\n",
        key = key.display(),
        data = data.display(),
    );
    std::fs::write(repo.join("root.gates.yaml"), yaml).unwrap();
}

/// Landlock on this kernel (probed the way the gate does), or a skip outside CI.
fn landlock() -> bool {
    if mno_gates::checks::build::sandbox::landlock_available() {
        return true;
    }
    assert!(
        !mno_testkit::tools_required(),
        "this kernel has no Landlock and MNO_REQUIRE_TOOLS=1"
    );
    eprintln!("skipping: this kernel has no Landlock");
    false
}

/// The build_verification items of a report by module name: (status, output tail).
fn items(check: &Value) -> std::collections::BTreeMap<String, (String, String)> {
    check["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                (
                    i["status"].as_str().unwrap().to_string(),
                    i["output_tail"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

fn assert_isolated(check: &Value, repo: &Path) {
    let it = items(check);
    let (st, env) = &it["printenv"];
    assert_eq!(st, "PASSED", "{check:#}");
    assert!(!env.contains(TOKEN), "token leaked: {env}");
    assert!(!env.contains("MNO_AGENT_TOKEN"), "{env}");
    assert!(
        env.contains("HOME=") && env.contains("mno-build-home-"),
        "{env}"
    );
    let (st, out) = &it["readkey"];
    assert_eq!(st, "FAILED", "the key was readable: {out}");
    assert!(out.contains("Permission denied"), "{out}");
    let (st, out) = &it["listdata"];
    assert_eq!(st, "FAILED", "the data dir was listable: {out}");
    assert!(!out.contains("evidence"), "{out}");
    let (st, out) = &it["parentenv"];
    assert_eq!(st, "FAILED", "the server's environment was readable: {out}");
    assert!(!out.contains(TOKEN), "{out}");
    assert_eq!(it["ok"].0, "PASSED", "{check:#}");
    assert_eq!(
        std::fs::read_to_string(repo.join("out.txt")).unwrap(),
        "ok\n"
    );
}

#[test]
fn gate_run_builds_get_no_token_and_no_access_to_the_evidence_key() {
    if !landlock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let data = dir.path().join("data");
    write_probe_repo(&repo, &data);
    let evidence = data.join("evidence");
    let ev = evidence.to_str().unwrap();
    // A first run creates the evidence log and its key.
    let first = command(&repo)
        .args([
            "gate",
            "run",
            "--checks",
            "naming_conventions",
            "--out",
            "r0",
        ])
        .args(["--evidence-log", ev])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(evidence.join("evidence.key").is_file());
    let out = command(&repo)
        .env("MNO_AGENT_TOKEN", TOKEN)
        .args([
            "gate",
            "run",
            "--checks",
            "build_verification",
            "--out",
            "r",
        ])
        .args(["--evidence-log", ev, "--protect"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("r/report.json")).unwrap())
            .unwrap();
    assert_isolated(&report["validation_results"]["build_verification"], &repo);
}

#[test]
fn serve_builds_get_no_token_and_no_access_to_the_data_dir() {
    if !landlock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repos/r");
    write_probe_repo(&repo, &dir.path().join("data"));
    let server = Server::start(
        dir.path(),
        Opts {
            token: Some(TOKEN.into()),
            config: Some("store: sqlite\n".into()),
            ..Default::default()
        },
    );
    assert!(server.data_dir.join("evidence/evidence.key").is_file());
    let http = Http::new();
    let mut payload = gate_payload(7, "r");
    payload["validation_requirements"] = json!({"build_verification": true});
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &server.auth(),
        &payload,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    assert_isolated(
        &job["response"]["validation_results"]["build_verification"],
        &repo,
    );
    // The key is still what the server signs with: the chain verifies.
    let v = run(
        dir.path(),
        &[
            "evidence",
            "verify",
            server.data_dir.join("evidence").to_str().unwrap(),
            "--pubkey",
            server
                .data_dir
                .join("evidence/evidence.pub")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}
