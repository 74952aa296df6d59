//! The whole gate over a fixture repository: known problems FAIL with located findings,
//! the fixed copy PASSes.

mod common;

use mno_gates::{KNOWN_CHECKS, Status, run_gate};

fn located(report: &mno_gates::GateReport) -> Vec<(String, String, String, usize)> {
    report
        .findings()
        .map(|f| (f.check.clone(), f.rule_id.clone(), f.file.clone(), f.line))
        .collect()
}

#[test]
fn the_fixture_fails_every_check_with_located_findings() {
    let dir = tempfile::tempdir().unwrap();
    common::write_repo(dir.path(), false);
    let report = run_gate(dir.path(), KNOWN_CHECKS).unwrap();
    assert_eq!(report.overall_status, Status::Failed);
    let got = located(&report);
    let expect = common::expected_findings();
    for (c, r, f, l) in &expect {
        assert!(
            got.contains(&(c.to_string(), r.to_string(), f.clone(), *l)),
            "missing {c} {r} {f}:{l} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for check in KNOWN_CHECKS {
        assert_eq!(report.validation_results[*check].status, Status::Failed);
    }
    let stats = &report.validation_results["security_scan"].stats;
    assert_eq!(stats["skipped_binary"], 1, "{stats:?}");
    let naming = &report.validation_results["naming_conventions"].findings;
    assert!(
        naming
            .iter()
            .any(|f| f.suggested_fix.as_deref() == Some("rename to `gate_handler`"))
    );
}

#[test]
fn the_fixed_copy_passes() {
    let dir = tempfile::tempdir().unwrap();
    common::write_repo(dir.path(), true);
    let report = run_gate(dir.path(), KNOWN_CHECKS).unwrap();
    assert_eq!(
        report.overall_status,
        Status::Passed,
        "{:#?}",
        located(&report)
    );
}

#[test]
fn a_baselined_secret_stays_accepted_when_its_line_moves() {
    let dir = tempfile::tempdir().unwrap();
    common::write_repo(dir.path(), false);
    // Only the token matters here: workflow findings are not baselined.
    std::fs::remove_dir_all(dir.path().join(".github")).unwrap();
    std::fs::remove_dir_all(dir.path().join("ignored")).unwrap();
    let cfg = mno_gates::GatesConfig::default().security_scan;
    let baseline = mno_gates::checks::security::build_baseline(dir.path(), &cfg).unwrap();
    assert_eq!(baseline.entries.len(), 1);
    assert_eq!(baseline.version, 2);
    std::fs::create_dir_all(dir.path().join(".mno")).unwrap();
    std::fs::write(
        dir.path().join(".mno/secrets-baseline.json"),
        serde_json::to_string_pretty(&baseline).unwrap(),
    )
    .unwrap();
    // Lines added above the secret: a line-keyed baseline would now miss it.
    let env = dir.path().join(common::ENV_FILE);
    let moved = format!("A=1\nB=2\n{}", std::fs::read_to_string(&env).unwrap());
    std::fs::write(&env, moved).unwrap();
    let second = run_gate(dir.path(), &["security_scan"]).unwrap();
    let r = &second.validation_results["security_scan"];
    assert_eq!(r.status, Status::Passed, "{:#?}", r.findings);
    assert_eq!(r.stats["baselined"], 1);
    // A different secret on the same line is not covered by the baseline.
    let other = std::fs::read_to_string(&env).unwrap().replace(
        &common::fake_github_token(),
        &format!("ghp_{}", "Pw4Kx8Nm2Qz6Rv1Ty5Bu9Lc3Hd7Fj0Gs4Xe2"),
    );
    std::fs::write(&env, other).unwrap();
    let third = run_gate(dir.path(), &["security_scan"]).unwrap();
    assert_eq!(
        third.validation_results["security_scan"].status,
        Status::Failed
    );
}

#[test]
fn allowlisted_paths_and_huge_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    common::write_repo(dir.path(), false);
    std::fs::write(
        dir.path().join("root.gates.yaml"),
        "security_scan:\n  max_file_size: 64\n  allow_paths: ['deploy/*.env', 'deploy/*.bin', 'ignored/**']\n  \
         workflows: false\n",
    )
    .unwrap();
    let big = format!(
        "{}\nTOKEN={}\n",
        "x".repeat(100),
        common::fake_github_token()
    );
    std::fs::write(dir.path().join("big.txt"), big).unwrap();
    let report = run_gate(dir.path(), &["security_scan"]).unwrap();
    let r = &report.validation_results["security_scan"];
    assert_eq!(r.status, Status::Passed, "{:#?}", r.findings);
    // big.txt and the registry are over 64 bytes.
    assert!(r.stats["skipped_huge"] >= 2, "{:?}", r.stats);
    assert!(r.stats["skipped_allowlisted"] >= 1, "{:?}", r.stats);
}

#[test]
fn a_missing_registry_is_skipped_not_passed_and_unknown_checks_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_gate(dir.path(), &["module_registry"]).unwrap();
    assert_eq!(
        report.validation_results["module_registry"].status,
        Status::Skipped
    );
    let err = mno_gates::parse_checks(&["security_scan,nope".into()]).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn an_invalid_allow_regex_makes_the_check_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("root.gates.yaml"),
        "security_scan:\n  allow_regexes: ['(unclosed']\n",
    )
    .unwrap();
    let report = run_gate(dir.path(), &["security_scan"]).unwrap();
    assert_eq!(report.overall_status, Status::Error);
}

#[test]
fn a_corrupt_baseline_makes_the_check_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".mno")).unwrap();
    std::fs::write(dir.path().join(".mno/secrets-baseline.json"), "{not json").unwrap();
    let report = run_gate(dir.path(), &["security_scan"]).unwrap();
    let r = &report.validation_results["security_scan"];
    assert_eq!(r.status, Status::Error);
    assert!(
        r.detail
            .as_deref()
            .unwrap_or("")
            .contains("secrets-baseline.json"),
        "{:?}",
        r.detail
    );
}

/// A version 1 baseline (unsalted sha256 fingerprints) still accepts its secrets after an
/// upgrade, with a warning asking to rewrite it; report fingerprints are never the old hash.
#[test]
fn a_version_1_baseline_is_honoured_with_a_warning_to_rewrite_it() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    common::write_repo(dir.path(), false);
    std::fs::remove_dir_all(dir.path().join(".github")).unwrap();
    std::fs::remove_dir_all(dir.path().join("ignored")).unwrap();
    let old = hex::encode(sha2::Sha256::digest(format!(
        "github-token:{}",
        common::fake_github_token()
    )));
    std::fs::create_dir_all(dir.path().join(".mno")).unwrap();
    std::fs::write(
        dir.path().join(".mno/secrets-baseline.json"),
        format!(r#"{{"version": 1, "entries": [{{"rule_id": "github-token", "fingerprint": "{old}"}}]}}"#),
    )
    .unwrap();
    let report = run_gate(dir.path(), &["security_scan"]).unwrap();
    let r = &report.validation_results["security_scan"];
    assert_eq!(r.status, Status::Passed, "{:#?}", r.findings);
    assert_eq!(r.stats["baselined"], 1);
    let warning = r
        .findings
        .iter()
        .find(|f| f.rule_id == "scan.baseline-v1")
        .expect("a warning about the v1 baseline");
    assert_eq!(warning.file, ".mno/secrets-baseline.json");
    assert_eq!(warning.severity, mno_gates::Severity::Warning);
    assert!(
        warning
            .suggested_fix
            .as_deref()
            .unwrap()
            .contains("gate baseline")
    );
}
