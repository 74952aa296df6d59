//! `super-agent serve` on a real `redis-server` (started here on a free port): two servers
//! share the job stream; one is killed (`kill -9`) in the middle of a job and the other
//! finishes it, with no job lost and none done twice; Redis stopped and restarted under a
//! running server (503 while it is down, back within 5 s, nothing lost).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use mno_testkit::RedisServer;
use serde_json::{Value, json};

const TOKEN: &str = "redis-e2e-token-0123456789"; // mno:allow (a test fixture, not a credential)

/// A repository whose only check is a build that sleeps `secs` and then appends a line to
/// `done.log` in the repository (so each build that ran to its end leaves one line).
fn slow_repo(repos: &Path, name: &str, secs: f64) {
    let dir = repos.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("root.gates.yaml"),
        format!(
            "build_verification:\n  modules:\n    slow: {{ command: [sh, -c, 'sleep {secs}; echo {name}-done >> done.log'] }}\n"
        ),
    )
    .unwrap();
}

/// Builds of `name` that ran to their end.
fn completions(repos: &Path, name: &str) -> usize {
    std::fs::read_to_string(repos.join(name).join("done.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn payload(pr: u64, root: &str) -> Value {
    let mut p = gate_payload(pr, root);
    p["validation_requirements"] = json!({"build_verification": true});
    p
}

fn config(url: &str, claim_idle: f64) -> String {
    format!(
        "store: redis\nmax_concurrent_gates: 1\nredis:\n  url: {url}\n  claim_idle: {claim_idle}\n  timeout: 1\n"
    )
}

fn server(dir: &Path, repos: &Path, url: &str, claim_idle: f64) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    Server::start(
        dir,
        Opts {
            token: Some(TOKEN.into()),
            config: Some(config(url, claim_idle)),
            allowed_roots: vec![repos.to_path_buf()],
            ..Default::default()
        },
    )
}

fn submit(http: &Http, s: &Server, pr: u64, root: &str) -> String {
    let r = http.post(
        &s.url("/api/v1/gates?wait=false"),
        &s.auth(),
        &payload(pr, root),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["validation_id"].as_str().unwrap().to_string()
}

fn job(http: &Http, s: &Server, id: &str) -> Value {
    let r = http.get(&s.url(&format!("/api/v1/gates/{id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Records in a server's evidence chain.
fn evidence_records(data: &Path) -> usize {
    std::fs::read_to_string(data.join("evidence/evidence.jsonl"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

#[test]
fn two_servers_share_the_stream_and_a_killed_servers_job_is_finished_once() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let names = ["r1", "r2", "r3", "r4"];
    for n in names {
        slow_repo(&repos, n, 2.0);
    }
    let mut a = server(&tmp.path().join("a"), &repos, &redis.url(), 2.0);
    let b = server(&tmp.path().join("b"), &repos, &redis.url(), 2.0);
    let http = Http::new();
    let ids: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| submit(&http, &a, i as u64 + 1, n))
        .collect();
    // The same id again while it is queued or running: the same job, not a second one.
    let again = http.post(
        &b.url("/api/v1/gates?wait=false"),
        &b.auth(),
        &payload(1, "r1"),
    );
    assert_eq!(again.status, 202, "{}", again.text());
    assert_eq!(again.json()["validation_id"], ids[0].as_str());
    // Wait until A runs a job, then kill it (and its build, as a crashed host would lose it).
    let a_pid = a.child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (killed_id, killed_repo) = loop {
        let running = ids.iter().zip(names).find(|(id, _)| {
            let j = job(&http, &b, id);
            j["status"] == "RUNNING"
                && j["worker"]
                    .as_str()
                    .is_some_and(|w| w.ends_with(&format!(":{a_pid}")))
        });
        if let Some((id, n)) = running {
            break (id.clone(), n);
        }
        assert!(Instant::now() < deadline, "server A never ran a job");
        std::thread::sleep(Duration::from_millis(50));
    };
    a.kill();
    for pid in processes_with(&format!("echo {killed_repo}-done")) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    // B finishes everything, the killed job included.
    for id in &ids {
        let j = poll_done(&http, &b, id, Duration::from_secs(60));
        assert_eq!(j["status"], "PASSED", "{j:#}");
        assert_eq!(
            j["response"]["validation_results"]["build_verification"]["status"], "PASSED",
            "{j:#}"
        );
    }
    let k = job(&http, &b, &killed_id);
    let b_pid = b.child.id();
    assert!(
        k["worker"]
            .as_str()
            .is_some_and(|w| w.ends_with(&format!(":{b_pid}"))),
        "the killed server's job was not finished by the other: {k:#}"
    );
    assert!(
        b.stderr().contains("claimed a gate job left pending"),
        "{}",
        b.stderr()
    );
    // Each build ran to its end once, and each job left one evidence record.
    for n in names {
        assert_eq!(
            completions(&repos, n),
            1,
            "{n}: builds that ran to their end"
        );
    }
    let records =
        evidence_records(&tmp.path().join("a/data")) + evidence_records(&tmp.path().join("b/data"));
    assert_eq!(records, names.len(), "one evidence record per job");
    // The stream holds nothing pending: every entry was acknowledged.
    if let Some(p) = redis.cli(&["XPENDING", "mno:gate:jobs", "super-agent"]) {
        assert!(p.starts_with('0'), "pending entries left: {p}");
    }
    // The chain kept in Redis exports as B's own log, byte for byte, and verifies.
    let kid = k["response"]["evidence"]["chain"]["key_id"]
        .as_str()
        .expect("key id")
        .to_string();
    let exported = tmp.path().join("exported.jsonl");
    let o = run(
        tmp.path(),
        &[
            "evidence",
            "export",
            "--redis-url",
            &redis.url(),
            "--key-id",
            &kid,
            "-o",
            exported.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b_log = tmp.path().join("b/data/evidence/evidence.jsonl");
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap(),
        std::fs::read_to_string(&b_log).unwrap()
    );
    let b_pub = tmp.path().join("b/data/evidence/evidence.pub");
    let o = run(
        tmp.path(),
        &[
            "evidence",
            "verify",
            "--chain",
            exported.to_str().unwrap(),
            "--pubkey",
            b_pub.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // A report file is served by either server (B ran it; the store keeps the files).
    let r = http.get(&b.url(&format!("/api/v1/gates/{killed_id}/reports/report.json")));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn redis_stopped_and_restarted_under_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let rdir = tmp.path().join("redis");
    std::fs::create_dir_all(&rdir).unwrap();
    // Persistence on (append-only file, fsync always) so that a restart keeps the data.
    let dir_arg = rdir.display().to_string();
    let Some(mut redis) = RedisServer::start(&[
        "--dir",
        &dir_arg,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]) else {
        return;
    };
    let repos = tmp.path().join("repos");
    // Not r1..r4: the other test kills the builds of its killed repository by name.
    slow_repo(&repos, "outage", 0.1);
    let s = server(&tmp.path().join("a"), &repos, &redis.url(), 3.0);
    let http = Http::new();
    let first = submit(&http, &s, 1, "outage");
    let j = poll_done(&http, &s, &first, Duration::from_secs(30));
    assert_eq!(j["status"], "PASSED", "{j:#}");
    redis.stop();
    for (method, path) in [
        ("GET", "/api/v1/gates".to_string()),
        ("GET", format!("/api/v1/gates/{first}")),
        ("GET", "/incidents".to_string()),
        ("POST", "/api/v1/gates".to_string()),
    ] {
        let r = if method == "GET" {
            http.get(&s.url(&path))
        } else {
            http.post(&s.url(&path), &s.auth(), &payload(2, "outage"))
        };
        assert_eq!(r.status, 503, "{method} {path}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"], "store_unavailable", "{v}");
        assert!(v["detail"].as_str().unwrap().contains("redis"), "{v}");
        assert!(r.header("retry-after").is_some());
    }
    // The server still answers what needs no store.
    assert_eq!(http.get(&s.url("/health")).status, 200);
    redis.restart();
    let back = Instant::now();
    let listed = loop {
        let r = http.get(&s.url("/api/v1/gates"));
        if r.status == 200 {
            break r.json();
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not back within 5 s: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        listed["gates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["validation_id"] == first.as_str()),
        "{listed}"
    );
    // New jobs run again (the workers reconnected to the stream).
    let second = submit(&http, &s, 2, "outage");
    let j = poll_done(&http, &s, &second, Duration::from_secs(30));
    assert_eq!(j["status"], "PASSED", "{j:#}");
}
