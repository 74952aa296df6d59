//! Regression: a pull request's build ran before the secret scan with write access to the
//! checkout, so `rm secrets.env` in a build command hid a committed secret, and a build
//! could rewrite checked files or move HEAD before the report and evidence were made.

use std::path::Path;

use mno_gates::{Status, run_gate};
use mno_testkit::git;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn gates_yaml(command: &str) -> String {
    format!("build_verification:\n  modules:\n    app:\n      command: [sh, -c, {command:?}]\n")
}

#[test]
fn a_build_that_deletes_a_committed_secret_does_not_hide_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let key = format!("AKIA{}", "Q3ZT7WX2LMNB5KRD");
    write(root, "secrets.env", &format!("AWS_ACCESS_KEY_ID={key}\n"));
    write(root, "root.gates.yaml", &gates_yaml("rm secrets.env"));
    // The build is asked for first; it must still run after the scan.
    let report = run_gate(root, &["build_verification", "security_scan"]).unwrap();
    let scan = &report.validation_results["security_scan"];
    assert_eq!(scan.status, Status::Failed, "{scan:#?}");
    assert!(scan.findings.iter().any(|f| f.file == "secrets.env"));
    let build = &report.validation_results["build_verification"];
    assert_eq!(build.status, Status::Failed, "{build:#?}");
    assert!(
        build
            .findings
            .iter()
            .any(|f| f.rule_id == "build.modified-checked-file" && f.file == "secrets.env"),
        "{:#?}",
        build.findings
    );
}

#[test]
fn a_build_that_rewrites_a_checked_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "src/main.rs", "fn main() {}\n");
    write(
        root,
        "root.gates.yaml",
        &gates_yaml("echo '// patched' >> src/main.rs"),
    );
    let report = run_gate(root, &["security_scan", "build_verification"]).unwrap();
    let build = &report.validation_results["build_verification"];
    assert_eq!(build.status, Status::Failed, "{build:#?}");
    assert_eq!(build.findings[0].file, "src/main.rs");
}

#[test]
fn a_build_that_moves_head_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "README.md", "hello\n");
    write(
        root,
        "root.gates.yaml",
        &gates_yaml(
            "git -c user.name=x -c user.email=x@example.org commit -q --allow-empty -m moved",
        ),
    );
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "init"]);
    let report = run_gate(root, &["security_scan", "build_verification"]).unwrap();
    let build = &report.validation_results["build_verification"];
    assert_eq!(build.status, Status::Failed, "{build:#?}");
    assert!(
        build
            .findings
            .iter()
            .any(|f| f.rule_id == "build.moved-head"),
        "{:#?}",
        build.findings
    );
}

#[test]
fn a_build_that_only_writes_outputs_passes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "src/main.rs", "fn main() {}\n");
    write(
        root,
        "root.gates.yaml",
        &gates_yaml("mkdir -p target && echo ok > target/out"),
    );
    let report = run_gate(root, &["security_scan", "build_verification"]).unwrap();
    let build = &report.validation_results["build_verification"];
    assert_eq!(build.status, Status::Passed, "{build:#?}");
    assert!(build.stats["files_guarded"] >= 1);
}
