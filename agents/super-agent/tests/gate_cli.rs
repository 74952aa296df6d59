//! `super-agent gate run|baseline`: reports written, exit codes 0 passed, 1 failed, 2 error.

mod common;

use std::path::Path;
use std::process::Output;

use common::command;

fn gate(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = command(dir);
    for v in ["GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"] {
        cmd.env_remove(v);
    }
    cmd.arg("gate")
        .args(args)
        .output()
        .expect("run super-agent")
}

/// A repository whose only problem is a (made-up) token in a config file.
fn repo_with_token(dir: &Path) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let token = format!("glpat-{}", "Hq3Vz8Kd2Lm7Np4Rx9Tw");
    std::fs::write(dir.join("config/ci.env"), format!("A=1\nGITLAB={token}\n")).unwrap();
    std::fs::write(dir.join("src_main.rs"), "fn main() {}\n").unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_failing_tree_exits_1_and_writes_all_four_reports() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_token(dir.path());
    let out = gate(dir.path(), &["run", ".", "--out", "reports"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("config/ci.env:2:8: error[security_scan/gitlab-token]"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Hq3Vz8Kd2Lm7Np4Rx9Tw"),
        "secret printed: {stdout}"
    );
    for f in ["report.json", "report.md", "report.sarif", "junit.xml"] {
        assert!(dir.path().join("reports").join(f).is_file(), "{f}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["overall_status"], "FAILED");
    assert_eq!(
        json["validation_results"]["module_registry"]["status"],
        "SKIPPED"
    );
}

#[test]
fn a_clean_tree_exits_0_and_format_limits_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.rs"), "fn main() {}\n").unwrap();
    let out = gate(
        dir.path(),
        &[
            "run",
            "--out",
            "r",
            "--format",
            "sarif,junit",
            "--checks",
            "security_scan",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("r/report.sarif").is_file());
    assert!(dir.path().join("r/junit.xml").is_file());
    assert!(!dir.path().join("r/report.json").exists());
}

#[test]
fn errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = gate(dir.path(), &["run", "--checks", "security_scan,bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown check \"bogus\""));
    let out = gate(dir.path(), &["run", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(dir.path().join("root.gates.yaml"), "security_scan: [\n").unwrap();
    let out = gate(dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("root.gates.yaml:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn baseline_accepts_current_secrets() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_token(dir.path());
    let out = gate(dir.path(), &["baseline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join(".mno/secrets-baseline.json")).unwrap();
    assert!(!written.contains("Hq3Vz8Kd2Lm7Np4Rx9Tw"), "{written}");
    // Format 2: HMAC fingerprints keyed with the salt written beside them.
    let json: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(json["version"], 2, "{written}");
    assert_eq!(json["salt"].as_str().map(str::len), Some(64), "{written}");
    let out = gate(dir.path(), &["run", "--out", "r"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // Rebuilding keeps what is still there and never reads the baseline file as a source.
    let out = gate(dir.path(), &["baseline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again = std::fs::read_to_string(dir.path().join(".mno/secrets-baseline.json")).unwrap();
    assert_eq!(again, written);
}

/// Regression: reports written inside the checked tree were scanned by the next run.
#[test]
fn a_second_run_does_not_scan_the_first_runs_reports() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_token(dir.path());
    let scanned = |out: &Output| -> u64 {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("gate-report/report.json")).unwrap(),
        )
        .unwrap();
        json["validation_results"]["security_scan"]["stats"]["files_scanned"]
            .as_u64()
            .unwrap()
    };
    let first = scanned(&gate(dir.path(), &["run", "--checks", "security_scan"]));
    let second = scanned(&gate(dir.path(), &["run", "--checks", "security_scan"]));
    assert_eq!(first, second);
    let ignore = std::fs::read_to_string(dir.path().join("gate-report/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
}
