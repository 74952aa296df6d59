//! Diff mode (`since`): only secrets on lines added or changed since a git revision are
//! reported, in a real repository built in a temporary folder.

use std::path::Path;

use mno_gates::{GateOptions, Status, run_gate_with};
use mno_testkit::git;

/// Made-up tokens, built at run time so this file itself holds none.
fn token(n: u32) -> String {
    format!("ghp_{}{n:04}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY")
}

fn since(dir: &Path, rev: &str) -> mno_gates::CheckResult {
    let opts = GateOptions {
        checks: vec!["security_scan"],
        since: Some(rev.into()),
        ..Default::default()
    };
    let report = run_gate_with(dir, &opts).unwrap();
    report.validation_results["security_scan"].clone()
}

fn located(r: &mno_gates::CheckResult) -> Vec<(String, usize)> {
    r.findings
        .iter()
        .map(|f| (f.file.clone(), f.line))
        .collect()
}

/// A repository with one commit holding an old secret, then working-tree edits.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::write(
        d.join("app.env"),
        format!("A=1\nOLD_TOKEN={}\nB=2\nC=3\n", token(1)),
    )
    .unwrap();
    std::fs::write(d.join("other.env"), format!("T={}\n", token(2))).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    dir
}

#[test]
fn only_secrets_on_changed_lines_are_reported() {
    let dir = repo();
    let d = dir.path();
    // Change line 3 of app.env to hold a new secret; line 2's old secret stays unchanged.
    std::fs::write(
        d.join("app.env"),
        format!("A=1\nOLD_TOKEN={}\nNEW_TOKEN={}\nC=3\n", token(1), token(3)),
    )
    .unwrap();
    // Untracked and not ignored: all of it is new.
    std::fs::write(d.join("new.env"), format!("X=1\nT={}\n", token(4))).unwrap();
    // Ignored files stay out.
    std::fs::write(d.join(".gitignore"), "ignored.env\n").unwrap();
    std::fs::write(d.join("ignored.env"), format!("T={}\n", token(5))).unwrap();

    let r = since(d, "HEAD");
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(
        located(&r),
        vec![("app.env".to_string(), 3), ("new.env".to_string(), 2)]
    );
    // app.env (1 changed line), new.env (2 lines), .gitignore (1 line).
    assert_eq!(r.stats["diff_files"], 3, "{:?}", r.stats);
    assert_eq!(r.stats["diff_lines"], 4, "{:?}", r.stats);
    assert_eq!(r.stats["files_scanned"], 3, "{:?}", r.stats);

    // The whole-tree scan still sees every secret.
    let all = mno_gates::run_gate(d, &["security_scan"]).unwrap();
    assert_eq!(all.findings().count(), 4);
}

#[test]
fn a_secret_committed_before_rev_is_not_reported_and_staged_edits_count() {
    let dir = repo();
    let d = dir.path();
    git(d, &["commit", "-q", "--allow-empty", "-m", "second"]);
    assert_eq!(since(d, "HEAD~1").findings, Vec::new());
    std::fs::write(d.join("other.env"), format!("T={}\n", token(6))).unwrap();
    git(d, &["add", "other.env"]);
    assert_eq!(
        located(&since(d, "HEAD~1")),
        vec![("other.env".to_string(), 1)]
    );
}

#[test]
fn a_private_key_is_found_when_its_begin_line_changed() {
    let dir = repo();
    let d = dir.path();
    let body: String = (0..8)
        .map(|i| format!("MIIEpAIBAAKCAQEA{i}x7Qz9Lm2Vb8Nc4Rt6Yh3Kd5Wp1Gs0Fj\n"))
        .collect();
    let key = format!(
        "-----BEGIN RSA {}-----\n{body}-----END RSA PRIVATE KEY-----\n",
        "PRIVATE KEY"
    );
    std::fs::write(d.join("id_rsa.pem"), format!("# key\n{key}")).unwrap();
    let r = since(d, "HEAD");
    assert_eq!(located(&r), vec![("id_rsa.pem".to_string(), 2)], "{r:#?}");
    assert_eq!(r.findings[0].rule_id, "private-key");
}

#[test]
fn a_bad_revision_or_no_repository_is_an_error() {
    let dir = repo();
    let r = since(dir.path(), "no-such-branch");
    assert_eq!(r.status, Status::Error);
    let detail = r.detail.unwrap();
    assert!(
        detail.contains("--since no-such-branch") && detail.contains("unknown revision"),
        "{detail}"
    );
    // A revision that looks like an option is a revision, not an option.
    assert_eq!(since(dir.path(), "--output=x").status, Status::Error);
    assert!(!dir.path().join("x").exists());

    let plain = tempfile::tempdir().unwrap();
    let r = since(plain.path(), "HEAD");
    assert_eq!(r.status, Status::Error);
    assert!(
        r.detail
            .as_deref()
            .unwrap()
            .contains("not a git repository"),
        "{r:?}"
    );
}

#[test]
fn a_root_inside_the_repository_sees_its_own_changes_with_its_own_paths() {
    let dir = repo();
    let d = dir.path();
    std::fs::create_dir_all(d.join("svc/conf")).unwrap();
    std::fs::write(d.join("svc/conf/a.env"), format!("T={}\n", token(7))).unwrap();
    std::fs::write(d.join("other.env"), format!("T={}\n", token(8))).unwrap();
    let r = since(&d.join("svc"), "HEAD");
    assert_eq!(located(&r), vec![("conf/a.env".to_string(), 1)], "{r:#?}");
}

#[test]
fn workflow_findings_follow_the_changed_lines_too() {
    let dir = repo();
    let d = dir.path();
    let wf = d.join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    let old = "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n";
    std::fs::write(wf.join("ci.yml"), old).unwrap();
    std::fs::write(wf.join("untouched.yml"), old).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "workflows"]);
    assert_eq!(since(d, "HEAD").findings, Vec::new());
    std::fs::write(
        wf.join("ci.yml"),
        format!("{old}      - uses: actions/setup-node@v4\n"),
    )
    .unwrap();
    let r = since(d, "HEAD");
    assert_eq!(
        located(&r),
        vec![(".github/workflows/ci.yml".to_string(), 8)],
        "{r:#?}"
    );
    assert_eq!(r.stats["workflows_checked"], 1);
}
