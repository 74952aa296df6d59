//! Which files the secret scan reads and what it says about those it cannot read: ignore
//! files never hide a tracked file, nothing outside git is hidden, skipped files become
//! findings, UTF-16 text is decoded. Real git repositories in temporary folders.

use std::path::Path;
use std::sync::{Arc, Mutex};

use mno_gates::{
    CheckResult, GateOptions, Progress, ProgressEvent, Severity, Status, run_gate_with,
};
use mno_testkit::git;

/// A made-up token, built at run time so this file itself holds none.
fn token(n: u32) -> String {
    format!("ghp_{}{n:04}", "Rt5Yu7Io9Pa1Sd3Fg5Hj7Kl9Zx1Cv3Bn")
}

/// Whether git is here (a missing git fails the test under CI / MNO_REQUIRE_TOOLS=1).
fn have_git() -> bool {
    mno_testkit::tool("git").is_some()
}

fn write(dir: &Path, rel: &str, body: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn scan_with(dir: &Path, opts: GateOptions) -> CheckResult {
    let opts = GateOptions {
        checks: vec!["security_scan"],
        ..opts
    };
    run_gate_with(dir, &opts).unwrap().validation_results["security_scan"].clone()
}

fn scan(dir: &Path) -> CheckResult {
    scan_with(dir, GateOptions::default())
}

/// (file, rule) of every finding.
fn found(r: &CheckResult) -> Vec<(String, String)> {
    r.findings
        .iter()
        .map(|f| (f.file.clone(), f.rule_id.clone()))
        .collect()
}

fn has_secret_in(r: &CheckResult, file: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.file == file && f.severity == Severity::Error)
}

/// A repository whose .gitignore lists `secrets.env`, committed anyway with `add -f`.
fn repo_with_ignored_tracked_secret() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(d, ".gitignore", "secrets.env\n");
    write(d, "secrets.env", format!("GITHUB_TOKEN={}\n", token(1)));
    write(d, "main.rs", "fn main() {}\n");
    git(d, &["add", "-A"]);
    git(d, &["add", "-f", "secrets.env"]);
    git(d, &["commit", "-q", "-m", "base"]);
    dir
}

/// Regression: a PR committing `secrets.env` and listing it in .gitignore passed.
#[test]
fn gitignored_tracked_file_is_still_scanned() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let r = scan(dir.path());
    assert_eq!(r.status, Status::Failed, "{:?}", found(&r));
    assert!(has_secret_in(&r, "secrets.env"), "{:?}", found(&r));
    assert_eq!(r.stats["files_scanned"], 3, "{:?}", r.stats);
}

/// Regression: outside git, `.ignore`/`.gitignore` files hid secrets from the walk.
#[test]
fn dot_ignore_outside_git_does_not_hide_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(!d.join(".git").exists());
    write(d, ".ignore", "hidden.env\n");
    write(d, ".gitignore", "also.env\n");
    write(d, "hidden.env", format!("T={}\n", token(2)));
    write(d, "also.env", format!("T={}\n", token(3)));
    write(d, ".config/.secret", format!("T={}\n", token(4)));
    let r = scan(d);
    for f in ["hidden.env", "also.env", ".config/.secret"] {
        assert!(has_secret_in(&r, f), "{f} not scanned: {:?}", found(&r));
    }
    assert_eq!(r.status, Status::Failed);
}

/// Untracked files git ignores are no part of any change: skipped, and counted.
#[test]
fn untracked_ignored_file_is_skipped_in_git_repo() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let d = dir.path();
    git(d, &["rm", "-q", "--cached", "secrets.env"]);
    git(d, &["commit", "-q", "-m", "untrack"]);
    write(d, "target/build.log", format!("T={}\n", token(5)));
    write(d, ".gitignore", "secrets.env\ntarget/\n");
    // Untracked and not ignored: part of what would be committed, so scanned.
    write(d, "new.env", format!("T={}\n", token(6)));
    let r = scan(d);
    assert!(!has_secret_in(&r, "secrets.env"), "{:?}", found(&r));
    assert!(!has_secret_in(&r, "target/build.log"), "{:?}", found(&r));
    assert!(has_secret_in(&r, "new.env"), "{:?}", found(&r));
    assert_eq!(r.stats["skipped_ignored"], 2, "{:?}", r.stats);
}

/// `respect_ignore` (option or root.gates.yaml) is the opt-in for the ignore-file walk.
#[test]
fn respect_ignore_opt_in_restores_old_behaviour() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let d = dir.path();
    let by_option = scan_with(
        d,
        GateOptions {
            respect_ignore: true,
            ..Default::default()
        },
    );
    assert_eq!(by_option.status, Status::Passed, "{:?}", found(&by_option));
    assert_eq!(
        by_option.stats["skipped_ignored"], 1,
        "{:?}",
        by_option.stats
    );
    write(
        d,
        "root.gates.yaml",
        "security_scan:\n  respect_ignore: true\n",
    );
    let by_config = scan(d);
    assert_eq!(by_config.status, Status::Passed, "{:?}", found(&by_config));
    // Outside git the walk honours .ignore files again, too.
    let plain = tempfile::tempdir().unwrap();
    write(plain.path(), ".ignore", "hidden.env\n");
    write(plain.path(), "hidden.env", format!("T={}\n", token(7)));
    let r = scan_with(
        plain.path(),
        GateOptions {
            respect_ignore: true,
            ..Default::default()
        },
    );
    assert_eq!(r.status, Status::Passed, "{:?}", found(&r));
}

/// Regression: UTF-16 text (PowerShell's `>`, Windows editors) was called binary.
#[test]
fn utf16_file_with_secret_is_decoded_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# réglages\r\n\r\n$env:GITHUB_TOKEN = \"{}\"\r\n", token(8));
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    write(dir.path(), "setup.ps1", &le);
    // No BOM: found by its every-other-byte NULs.
    let bare: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    write(dir.path(), "bare.txt", &bare);
    let r = scan(dir.path());
    for file in ["setup.ps1", "bare.txt"] {
        let f = r
            .findings
            .iter()
            .find(|f| f.file == file && f.severity == Severity::Error)
            .unwrap_or_else(|| panic!("{file}: {:?}", found(&r)));
        // Line and column count in the decoded text.
        assert_eq!((f.line, f.column), (3, 22), "{f:?}");
    }
    assert_eq!(r.stats["decoded_utf16"], 2, "{:?}", r.stats);
    assert_eq!(r.stats["skipped_binary"], 0, "{:?}", r.stats);
}

/// Regression: a file over max_file_size only bumped a counter. Tracked: a warning, which
/// does not fail the check; untracked: a note.
#[test]
fn oversized_tracked_file_is_a_warning_finding() {
    if !have_git() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(
        d,
        "root.gates.yaml",
        "security_scan:\n  max_file_size: 1000\n",
    );
    write(d, "dump.sql", "x".repeat(5000));
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "base"]);
    write(d, "local.sql", "y".repeat(5000));
    let r = scan(d);
    let skip = |file: &str| {
        r.findings
            .iter()
            .find(|f| f.file == file && f.rule_id == "scan.skipped-huge")
            .unwrap_or_else(|| panic!("{file}: {:?}", found(&r)))
            .clone()
    };
    let tracked = skip("dump.sql");
    assert_eq!(tracked.severity, Severity::Warning);
    assert_eq!((tracked.line, tracked.column), (1, 1));
    assert!(
        tracked.message.contains("5000 bytes"),
        "{}",
        tracked.message
    );
    assert_eq!(skip("local.sql").severity, Severity::Note);
    assert_eq!(r.status, Status::Passed);
    assert_eq!(r.stats["skipped_huge"], 2, "{:?}", r.stats);
}

/// Regression: a binary file only bumped a counter; now a located note (which passes).
/// Allow-listed lock files stay silent but counted.
#[test]
fn binary_file_skip_is_a_note_finding() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "logo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\x01\x02\0\0",
    );
    write(dir.path(), "Cargo.lock", "# lock\n");
    let r = scan(dir.path());
    assert_eq!(r.status, Status::Passed, "{:?}", found(&r));
    assert_eq!(
        found(&r),
        vec![("logo.png".to_string(), "scan.skipped-binary".to_string())]
    );
    assert_eq!(r.findings[0].severity, Severity::Note);
    assert_eq!(r.findings[0].line, 1);
    assert_eq!(r.stats["skipped_binary"], 1);
    assert_eq!(r.stats["skipped_allowlisted"], 1);
}

/// A tracked file deleted in the working tree is not there to read: counted, no error.
#[test]
fn deleted_tracked_file_is_not_an_error() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    std::fs::remove_file(dir.path().join("secrets.env")).unwrap();
    let r = scan(dir.path());
    assert_eq!(r.status, Status::Passed, "{:?} {:?}", r.detail, found(&r));
    assert_eq!(r.stats["skipped_deleted"], 1, "{:?}", r.stats);
}

/// Nested repositories (submodule-like) are scanned with their own index; symlinks are
/// counted, never followed.
#[test]
fn nested_repository_is_scanned_and_symlinks_are_counted() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let d = dir.path();
    let inner = d.join("vendor/lib");
    std::fs::create_dir_all(&inner).unwrap();
    git(&inner, &["init", "-q"]);
    write(&inner, ".gitignore", "creds.env\n");
    write(&inner, "creds.env", format!("T={}\n", token(9)));
    git(&inner, &["add", "-f", "creds.env", ".gitignore"]);
    git(&inner, &["commit", "-q", "-m", "inner"]);
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
    let r = scan(d);
    assert!(has_secret_in(&r, "vendor/lib/creds.env"), "{:?}", found(&r));
    #[cfg(unix)]
    assert_eq!(r.stats["skipped_symlink"], 1, "{:?}", r.stats);
}

/// Regression: in diff mode git shows a changed UTF-16 (or binary) file without hunks,
/// so it was never read.
#[test]
fn utf16_file_changed_since_rev_is_scanned_in_diff_mode() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let d = dir.path();
    let text = format!("a\r\nTOKEN={}\r\n", token(10));
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    write(d, "run.ps1", &le);
    write(d, "pic.bin", b"\0\x01\x02\0\0\x03");
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "add"]);
    let r = scan_with(
        d,
        GateOptions {
            since: Some("HEAD~1".into()),
            ..Default::default()
        },
    );
    assert!(has_secret_in(&r, "run.ps1"), "{:?}", found(&r));
    assert!(
        found(&r).contains(&("pic.bin".into(), "scan.skipped-binary".into())),
        "{:?}",
        found(&r)
    );
}

/// The progress total in a git repository is the scan's own file list.
#[test]
fn progress_total_in_git_repo_is_the_scanned_list() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    write(dir.path(), "target/x.log", "ignored\n");
    write(dir.path(), ".gitignore", "secrets.env\ntarget/\n");
    let seen = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let s2 = seen.clone();
    let hook = Progress::new(move |e| s2.lock().unwrap().push(*e)).with_total();
    let r = scan_with(
        dir.path(),
        GateOptions {
            progress: Some(hook),
            ..Default::default()
        },
    );
    let last = *seen.lock().unwrap().last().unwrap();
    assert!(last.done);
    assert_eq!(last.total_files, Some(3), "{last:?}");
    assert_eq!(last.files, 3);
    assert_eq!(r.stats["skipped_ignored"], 1);
}

/// When git cannot list the files of what looks like a repository, every file is scanned
/// (more is read, nothing is hidden) and the check says why.
#[test]
fn a_repository_git_cannot_read_falls_back_to_scanning_every_file() {
    if !have_git() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, ".git", "gitdir: /nonexistent/worktree\n");
    write(d, ".gitignore", "local.env\n");
    write(d, "local.env", format!("T={}\n", token(11)));
    let r = scan(d);
    assert!(has_secret_in(&r, "local.env"), "{:?}", found(&r));
    let detail = r.detail.clone().unwrap_or_default();
    assert!(detail.contains("git could not list"), "{detail}");
}

/// Regression (found by the benchmark): a folder its repository ignores (a tree unpacked
/// under `target/`) had every file skipped as ignored; it is scanned whole.
#[test]
fn a_folder_git_ignores_is_scanned_whole() {
    if !have_git() {
        return;
    }
    let dir = repo_with_ignored_tracked_secret();
    let d = dir.path();
    write(d, ".gitignore", "secrets.env\ntarget/\n");
    write(d, "target/unpacked/.gitignore", "app.env\n");
    write(d, "target/unpacked/app.env", format!("T={}\n", token(12)));
    let r = scan(&d.join("target/unpacked"));
    assert!(
        has_secret_in(&r, "app.env"),
        "{:?} {:?}",
        found(&r),
        r.stats
    );
    assert!(
        r.detail
            .unwrap_or_default()
            .contains("ignored by its git repository")
    );
}
