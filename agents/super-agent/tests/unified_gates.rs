//! `scripts/unified-gates.sh` end to end, the way the unified gates workflow runs it: a real
//! redis-server, the Auto-Monitor and the SuperAgent (this build's debug binaries) on free
//! loopback ports, a GateValidationRequest built from a pull request's context. Green on this
//! repository (dogfooding: our own root.modules.yaml and root.gates.yaml), red on a fixture
//! repository with a planted secret and a registry dependency cycle, and nothing left running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mno_testkit::{free_port, git, tool};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The folder holding both binaries: `super-agent` from this build and the Auto-Monitor built
/// beside it by the same workspace build (`scripts/test.sh` builds the whole workspace).
fn bin_dir() -> Option<PathBuf> {
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_super-agent"));
    let dir = agent.parent()?.to_path_buf();
    if dir.join("machinenativenops-auto-monitor").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "no machinenativenops-auto-monitor beside {} (cargo build -p machinenativenops-auto-monitor)",
        agent.display()
    );
    if mno_testkit::tools_required() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// Everything the script needs, or `None` (skipped) when a tool is missing.
fn ready() -> Option<PathBuf> {
    for t in ["redis-server", "curl", "python3", "git"] {
        tool(t)?;
    }
    bin_dir()
}

/// Run the script with a clean MNO_*/GITHUB_* environment plus `env`.
fn unified_gates(repo: &Path, out: &Path, bins: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(format!("{REPO}/scripts/unified-gates.sh"));
    cmd.args(["--repo", repo.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--bin-dir", bins.to_str().unwrap()])
        .args(["--agent-port", &free_port().to_string()])
        .args(["--monitor-port", &free_port().to_string()])
        .args(["--redis", "--redis-port", &free_port().to_string()])
        // build_verification would be a release build of this workspace; the test suite is
        // built already, and tests/build_sandbox.rs covers the check.
        .args([
            "--checks",
            "schema_validation,module_registry,naming_conventions,security_scan",
        ]);
    for (k, _) in std::env::vars() {
        if k.starts_with("MNO_") || k.starts_with("GITHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run scripts/unified-gates.sh")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// No process the script started is still running (it records them in state/pids while up).
fn nothing_left_running(out: &Path, log: &str, services: usize) {
    assert!(
        !out.join("state/pids").exists(),
        "the script left its pid file behind:\n{log}"
    );
    for line in log.lines().filter(|l| l.contains("stopping ")) {
        let pid = line
            .rsplit("(pid ")
            .next()
            .and_then(|s| s.trim_end_matches(')').parse::<u32>().ok())
            .unwrap_or_else(|| panic!("unparsable stop line {line:?}"));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "pid {pid} still runs: {stat}"
        );
    }
    assert_eq!(
        log.matches("stopping ").count(),
        services,
        "every service started is stopped:\n{log}"
    );
}

#[test]
fn green_on_this_repository_with_redis_metrics_summary_and_evidence() {
    let Some(bins) = ready() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let summary = tmp.path().join("summary.md");
    let event = tmp.path().join("event.json");
    std::fs::write(&event, r#"{"number": 42, "pull_request": {"number": 42}}"#).unwrap();
    let o = unified_gates(
        Path::new(REPO),
        &out,
        &bins,
        &[
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_REPOSITORY", "machinenativeops/machinenativeops"),
            ("GITHUB_BASE_REF", "main"),
        ],
    );
    let log = text(&o);
    assert_eq!(o.status.code(), Some(0), "{log}");

    let response: serde_json::Value = serde_json::from_str(&read(&out.join("response.json")))
        .unwrap_or_else(|e| panic!("response.json: {e}"));
    assert_eq!(response["overall_status"], "PASSED", "{response:#}");
    let head = git(Path::new(REPO), &["rev-parse", "HEAD"]);
    assert_eq!(response["metadata"]["commit_sha"], head.as_str());
    assert_eq!(response["metadata"]["pr_number"], 42);
    assert_eq!(
        response["metadata"]["repository"],
        "machinenativeops/machinenativeops"
    );
    assert_eq!(
        response["validation_results"]["build_verification"]["status"],
        "SKIPPED"
    );
    // The Auto-Monitor was there and read.
    assert_eq!(response["monitor"]["reachable"], true, "{response:#}");

    for f in [
        "reports/report.json",
        "reports/report.sarif",
        "reports/junit.xml",
        "evidence/evidence.jsonl",
        "evidence/evidence.pub",
        "metrics/super-agent.prom",
        "metrics/auto-monitor.prom",
        "logs/super-agent.log",
        "logs/auto-monitor.log",
        "logs/redis.log",
    ] {
        assert!(out.join(f).is_file(), "{f} missing:\n{log}");
    }
    assert!(
        !out.join("evidence/evidence.key").exists(),
        "the signing key is not an artifact"
    );
    assert!(read(&out.join("evidence/verify.txt")).contains("valid"));

    let report = read(&out.join("report.md"));
    assert!(report.contains("## Service metrics"), "{report}");
    assert!(
        report.contains("mno_agent_gate_runs_total{status=\"PASSED\"} 1"),
        "{report}"
    );
    assert!(report.contains("mno_cpu_usage_percent "), "{report}");
    assert_eq!(read(&summary), report, "report.md goes to the step summary");
    nothing_left_running(&out, &log, 3);
}

#[test]
fn red_on_a_planted_secret_and_a_registry_cycle_naming_both() {
    let Some(bins) = ready() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fixture");
    std::fs::create_dir_all(repo.join("deploy")).unwrap();
    std::fs::write(
        repo.join("root.modules.yaml"),
        "modules:\n  - name: api\n    version: 1.0.0\n    dependencies: [worker]\n  \
         - name: worker\n    version: 1.0.0\n    dependencies: [api]\n",
    )
    .unwrap();
    // Built at run time so this source file holds no credential-shaped literal.
    let token = format!("ghp_{}", "Pw4Kx8Nm2Qz6Rv1Ty5Bu9Lc3Hd7Fj0Gs4Xe2");
    std::fs::write(
        repo.join("deploy/app.env"),
        format!("APP_NAME=fixture\nGITHUB_TOKEN={token}\n"),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "fixture"]);

    let out = tmp.path().join("out");
    let o = unified_gates(&repo, &out, &bins, &[]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "FAILED exits 1:\n{log}");

    let report = read(&out.join("report.md"));
    assert!(report.contains("FAILED"), "{report}");
    assert!(
        report.contains("deps.cycle"),
        "the cycle is named:\n{report}"
    );
    // The markdown escapes `>`; the response carries the cycle's path as written.
    let response = read(&out.join("response.json"));
    assert!(
        response.contains("api -> worker -> api"),
        "the cycle's path is named:\n{response}"
    );
    assert!(
        report.contains("deploy/app.env"),
        "the secret's file is named:\n{report}"
    );
    assert!(
        !report.contains(&token),
        "the report does not repeat the secret"
    );
    // The script's own summary of the error findings names both as well.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("deps.cycle") && stderr.contains("deploy/app.env"),
        "{log}"
    );
    let sarif = read(&out.join("reports/report.sarif"));
    assert!(sarif.contains("deploy/app.env") && sarif.contains("deps.cycle"));
    nothing_left_running(&out, &log, 3);
}

/// The workflow's split steps: `start`, then `gate` (which writes the outcome to
/// GITHUB_OUTPUT), then `stop` (an `always()` step, safe to repeat).
#[test]
fn start_gate_stop_as_the_workflow_runs_them() {
    let Some(bins) = ready() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let github_output = tmp.path().join("github-output");
    let (agent_port, monitor_port) = (free_port(), free_port());
    let step = |sub: &str, extra: &[&str]| {
        let mut cmd = Command::new("bash");
        cmd.arg(format!("{REPO}/scripts/unified-gates.sh"))
            .arg(sub)
            .args(["--out", out.to_str().unwrap()]);
        for (k, _) in std::env::vars() {
            if k.starts_with("MNO_") || k.starts_with("GITHUB_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("GITHUB_OUTPUT", &github_output).args(extra);
        cmd.output().expect("run scripts/unified-gates.sh")
    };
    let ports = [
        "--agent-port",
        &agent_port.to_string(),
        "--monitor-port",
        &monitor_port.to_string(),
    ]
    .map(str::to_string);
    let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
    let mut start_args = vec!["--bin-dir", bins.to_str().unwrap(), "--repo", REPO];
    start_args.extend(&ports);
    let o = step("start", &start_args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("state/pids").is_file());

    let o = step(
        "gate",
        &[
            "--repo",
            REPO,
            "--pr",
            "9",
            "--checks",
            "naming_conventions",
        ],
    );
    let gate_log = text(&o);
    let o2 = step("stop", &[]);
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));
    assert_eq!(o.status.code(), Some(0), "{gate_log}");
    let outputs = read(&github_output);
    assert!(outputs.contains("status=PASSED"), "{outputs}");
    assert!(outputs.contains("validation_id=gate-9-"), "{outputs}");
    nothing_left_running(&out, &text(&o2), 2);
    assert!(out.join("logs/super-agent.log").is_file());
    // A second stop finds nothing to do.
    let o3 = step("stop", &[]);
    assert_eq!(o3.status.code(), Some(0));
    assert!(!text(&o3).contains("stopping "));
}
