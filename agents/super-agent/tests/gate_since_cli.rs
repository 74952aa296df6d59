//! `super-agent gate run --since REV`: diff mode through the command line, and the plain
//! progress line written when stderr is not a terminal.

mod common;

use std::path::Path;
use std::process::Output;

use common::command;
use mno_testkit::git;

fn gate(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .arg("gate")
        .args(args)
        .output()
        .expect("run super-agent")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A made-up token, built at run time.
fn token(n: u32) -> String {
    format!("glpat-{}{n}", "Hq3Vz8Kd2Lm7Np4Rx9T")
}

#[test]
fn gate_run_since_reports_only_new_secrets_and_prints_a_progress_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::write(d.join("ci.env"), format!("OLD={}\n", token(1))).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);

    // Reports go outside the repository, or the second run would scan the first one's.
    let reports = tempfile::tempdir().unwrap();
    let out_dir = reports.path().to_str().unwrap();
    let args = [
        "run",
        "--checks",
        "security_scan",
        "--format",
        "json",
        "--since",
        "HEAD",
        "--out",
        out_dir,
    ];
    let out = gate(d, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Not a terminal: one plain line at the end, counts only.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("security_scan: 0 files, 0.0 MB scanned"),
        "{stderr}"
    );

    std::fs::write(
        d.join("ci.env"),
        format!("OLD={}\nNEW={}\n", token(1), token(2)),
    )
    .unwrap();
    let out = gate(d, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ci.env:2:5: error[security_scan/gitlab-token]"),
        "{stdout}"
    );
    assert!(!stdout.contains("ci.env:1:"), "{stdout}");
    assert!(!stdout.contains(&token(2)) && !text(&out.stderr).contains(&token(2)));
    assert!(text(&out.stderr).contains("security_scan: 1 files,"));
}

#[test]
fn gate_run_since_a_bad_revision_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let out = gate(
        dir.path(),
        &["run", "--checks", "security_scan", "--since", "nope"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ERROR") && stdout.contains("--since nope: unknown revision"),
        "{stdout}"
    );
}
