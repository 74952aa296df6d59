//! `registry up`, `status` and `down` with real child processes on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{Up, alive, free_port, group_members, processes_with, run, write};

fn read_ns(path: &std::path::Path) -> u128 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("a timestamp in nanoseconds")
}

fn pids(status: &serde_json::Value) -> Vec<(String, u32)> {
    status["state"]["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["name"].as_str()?.to_string(), m["pid"].as_u64()? as u32)))
        .collect()
}

const STAGED: &str = r#"
modules:
  - name: first
    version: 1.0.0
    load_sequence: { stage: 1, auto_start: true }
    health_check: { command: [test, -f, first.ready], start_interval: 100ms, start_period: 10s }
    run:
      command: [sh, -c, "echo hello from first; sleep 0.5; date +%s%N > first.ready; exec sleep 300"]
      grace_period: 3s
  - name: second
    version: 1.0.0
    dependencies: [first (^1.0)]
    load_sequence: { stage: 2, auto_start: true }
    run:
      # Two children in its group, and a shell that ignores SIGTERM: only SIGKILL ends it.
      command: [sh, -c, "date +%s%N > second.start; sleep 300 & sleep 301 & trap '' TERM; echo second up; wait"]
      grace_period: 500ms
  - name: manual
    version: 1.0.0
    load_sequence: { stage: 2, auto_start: false }
    run: { command: [sh, -c, "date > manual.started"] }
stages: { 1: Core, 2: Apps }
"#;

#[test]
fn stages_start_in_order_and_down_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "reg.yaml", STAGED);
    let mut up = Up::start(dir.path(), "reg.yaml");
    let status = up.wait_phase("running", Duration::from_secs(30));

    // Stage 2 started only after stage 1 passed its health check.
    let ready = read_ns(&dir.path().join("first.ready"));
    let second = read_ns(&dir.path().join("second.start"));
    assert!(
        second >= ready,
        "second started {} ms before first was ready",
        (ready - second) / 1_000_000
    );
    assert!(
        !dir.path().join("manual.started").exists(),
        "a manual module was started"
    );
    let modules = &status["state"]["modules"];
    assert_eq!(modules[0]["state"], "healthy", "{status}");
    assert!(
        modules[0]["last_health"]["ok"].as_bool().unwrap_or(false),
        "{status}"
    );

    // Every process of every module, children included.
    let leaders = pids(&status);
    assert_eq!(leaders.len(), 2, "{status}");
    // `first` is one process (exec); `second` is a shell with two children (give it a moment).
    let mut all: Vec<u32> = Vec::new();
    for _ in 0..40 {
        all = leaders
            .iter()
            .flat_map(|(_, pid)| group_members(*pid))
            .collect();
        if all.len() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        all.len(),
        4,
        "expected two leaders and two children, found {all:?}"
    );

    // `status` in text names every module with its state and pid.
    let text = run(
        dir.path(),
        &[
            "registry",
            "status",
            "--runtime-dir",
            up.runtime.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("supervisor pid") && text.contains("running"),
        "{text}"
    );
    for (name, pid) in &leaders {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name.as_str()) && l.contains(&pid.to_string())),
            "{text}"
        );
    }

    let down = run(
        dir.path(),
        &[
            "registry",
            "down",
            "--runtime-dir",
            up.runtime.to_str().unwrap(),
        ],
    );
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        String::from_utf8_lossy(&down.stdout).starts_with("stopped"),
        "{down:?}"
    );
    let code = up.wait(Duration::from_secs(20));
    assert!(code.success(), "registry up exited with {code}");
    for pid in &all {
        assert!(!alive(*pid), "process {pid} survived `registry down`");
    }

    let (out, err) = up.output();
    // Output is prefixed with the module name.
    assert!(
        out.lines().any(|l| l == "first  | hello from first"),
        "stdout:\n{out}"
    );
    assert!(
        out.lines().any(|l| l == "second | second up"),
        "stdout:\n{out}"
    );
    // Reverse order on the way down.
    let stop_second = err.find("module `second` stopped").expect(&err);
    let stop_first = err.find("module `first` stopped").expect(&err);
    assert!(stop_second < stop_first, "stderr:\n{err}");
    let after = up.status();
    assert_eq!(after["state"]["phase"], "stopped", "{after}");
    assert_eq!(after["running"], false);
}

#[test]
fn failing_health_check_stops_later_stages_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write(
        dir.path(),
        "reg.yaml",
        &format!(
            r#"
modules:
  - name: web
    version: 1.0.0
    load_sequence: {{ stage: 1, auto_start: true }}
    health_check: {{ http: "http://127.0.0.1:{port}/missing", start_interval: 100ms, start_period: 3s, retries: 3, timeout: 1s }}
    run: {{ command: [python3, -m, http.server, "{port}", --bind, 127.0.0.1], grace_period: 3s }}
  - name: later
    version: 1.0.0
    load_sequence: {{ stage: 2, auto_start: true }}
    run: {{ command: [sh, -c, "date > later.started; exec sleep 300"] }}
stages: {{ 1: Core Services, 2: Applications }}
"#
        ),
    );
    let mut up = Up::start(dir.path(), "reg.yaml");
    let code = up.wait(Duration::from_secs(30));
    let (_, err) = up.output();
    assert_eq!(code.code(), Some(1), "stderr:\n{err}");
    let want = format!(
        "error: stage 1 (Core Services) did not come up: module `web` failed its health check: \
         http GET http://127.0.0.1:{port}/missing: status 404 Not Found (3 consecutive failures)"
    );
    assert!(err.contains(&want), "stderr:\n{err}");
    assert!(
        !dir.path().join("later.started").exists(),
        "stage 2 was started"
    );
    assert!(
        processes_with(&format!("http.server {port}")).is_empty(),
        "the web module was left running"
    );
    assert_eq!(up.status()["state"]["phase"], "failed");
}

#[test]
fn crashing_module_restarts_with_growing_delays_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "reg.yaml",
        r#"
modules:
  - name: crasher
    version: 1.0.0
    load_sequence: { stage: 1, auto_start: true }
    run:
      command: [sh, -c, "date +%s%N >> starts; echo crashing; exit 3"]
      restart: { policy: on-failure, limit: 3, backoff: 200ms, max_backoff: 10s }
"#,
    );
    let mut up = Up::start(dir.path(), "reg.yaml");
    let code = up.wait(Duration::from_secs(30));
    let (out, err) = up.output();
    assert_eq!(code.code(), Some(1), "stderr:\n{err}");
    let starts: Vec<u128> = std::fs::read_to_string(dir.path().join("starts"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 4, "one start and three restarts: {starts:?}");
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    assert!(gaps[0] >= 190, "first delay {gaps:?} ms");
    assert!(gaps[1] >= 390 && gaps[2] >= 790, "delays {gaps:?} ms");
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "delays do not grow: {gaps:?} ms"
    );
    for (n, delay) in [(1, "200ms"), (2, "400ms"), (3, "800ms")] {
        assert!(
            err.contains(&format!("exited with status 3; restart {n}/3 in {delay}")),
            "stderr:\n{err}"
        );
    }
    assert!(
        err.contains("module `crasher` exited with status 3 and reached its restart limit (3)"),
        "stderr:\n{err}"
    );
    assert_eq!(
        out.matches("crasher | crashing").count(),
        4,
        "stdout:\n{out}"
    );
    let status = up.status();
    assert_eq!(status["state"]["modules"][0]["state"], "failed", "{status}");
    assert_eq!(status["state"]["modules"][0]["restarts"], 3, "{status}");
}

#[test]
fn down_cleans_up_after_a_killed_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "reg.yaml",
        r#"
modules:
  - name: sleeper
    version: 1.0.0
    load_sequence: { stage: 1, auto_start: true }
    run: { command: [sh, -c, "sleep 300 & sleep 301 & wait"], grace_period: 1s }
"#,
    );
    let mut up = Up::start(dir.path(), "reg.yaml");
    let status = up.wait_phase("running", Duration::from_secs(20));
    let leader = pids(&status)[0].1;
    // Give the shell a moment to start its children, then collect the whole group.
    std::thread::sleep(Duration::from_millis(300));
    let members = group_members(leader);
    assert!(members.len() >= 3, "{members:?}");
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    assert!(
        members.iter().all(|p| alive(*p)),
        "modules should outlive a SIGKILLed supervisor"
    );
    let down = run(
        dir.path(),
        &[
            "registry",
            "down",
            "--runtime-dir",
            up.runtime.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&down.stdout);
    assert!(
        down.status.success() && text.contains("stopped the modules it left: sleeper"),
        "{down:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    for p in &members {
        assert!(!alive(*p), "process {p} survived `registry down`");
    }
}

#[test]
fn optional_module_without_its_program_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "reg.yaml",
        r#"
modules:
  - name: extra
    version: 1.0.0
    optional: true
    load_sequence: { stage: 1, auto_start: true }
    run: { command: [mno-no-such-program-anywhere, --serve] }
  - name: main
    version: 1.0.0
    load_sequence: { stage: 2, auto_start: true }
    run: { command: [sh, -c, "echo main running; exec sleep 300"] }
"#,
    );
    let mut up = Up::start(dir.path(), "reg.yaml");
    let status = up.wait_phase("running", Duration::from_secs(20));
    assert_eq!(
        status["state"]["modules"][0]["state"], "skipped",
        "{status}"
    );
    assert_eq!(
        status["state"]["modules"][0]["message"],
        "optional, and `mno-no-such-program-anywhere` is not installed"
    );
    assert_eq!(
        status["state"]["modules"][1]["state"], "healthy",
        "{status}"
    );
    let down = run(
        dir.path(),
        &[
            "registry",
            "down",
            "--runtime-dir",
            up.runtime.to_str().unwrap(),
        ],
    );
    assert!(down.status.success());
    assert!(up.wait(Duration::from_secs(20)).success());
}
