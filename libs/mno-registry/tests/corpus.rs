//! The corpus: registry files, valid and invalid, each stating the exact findings it must
//! produce. A finding is expected by a comment at the end of its line:
//!
//! ```yaml
//!     - loging-service (>=1.0.0)   # expect: error deps.unknown
//! ```
//!
//! Several on one line are separated by commas. Every finding must be expected and every
//! expectation met (severity, rule id and line); files under `valid/` and `legacy/` must
//! also have no errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", root.display());
    files
}

/// (line, "severity rule") → count.
fn expected(text: &str) -> BTreeMap<(usize, String), usize> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((_, rest)) = line.split_once("# expect:") {
            for item in rest.split(',') {
                let item = item.split_whitespace().collect::<Vec<_>>().join(" ");
                if !item.is_empty() {
                    *out.entry((i + 1, item)).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

fn check_file(path: &Path, must_be_valid: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let checked = mno_registry::check_str(&name, &text).map_err(|e| format!("{name}: {e}"))?;
    let mut actual: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for f in &checked.report.findings {
        *actual
            .entry((f.line, format!("{} {}", f.severity, f.rule)))
            .or_insert(0) += 1;
    }
    let want = expected(&text);
    let mut problems = Vec::new();
    for (k, n) in &want {
        if actual.get(k) != Some(n) {
            problems.push(format!("  missing: line {} {} (x{n})", k.0, k.1));
        }
    }
    for (k, n) in &actual {
        if want.get(k) != Some(n) {
            let f = checked
                .report
                .findings
                .iter()
                .find(|f| f.line == k.0 && format!("{} {}", f.severity, f.rule) == k.1);
            problems.push(format!(
                "  unexpected: line {} {} (x{n}): {}",
                k.0,
                k.1,
                f.map(|f| f.message.as_str()).unwrap_or("")
            ));
        }
    }
    if must_be_valid && !checked.report.is_valid() {
        problems.push("  expected a valid registry".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}:\n{}", problems.join("\n")))
    }
}

fn run(dir: &str, must_be_valid: bool) {
    let errors: Vec<String> = corpus(dir)
        .iter()
        .filter_map(|p| check_file(p, must_be_valid).err())
        .collect();
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
}

#[test]
fn valid_files_have_exactly_their_expected_findings() {
    run("valid", true);
}

#[test]
fn invalid_files_have_exactly_their_expected_findings() {
    run("invalid", false);
    for p in corpus("invalid") {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            expected(&text).keys().any(|(_, r)| r.starts_with("error ")),
            "{} expects no error",
            p.display()
        );
    }
}

#[test]
fn legacy_files_load_with_notes_and_their_expected_findings() {
    run("legacy", true);
}

#[test]
fn the_repository_registry_is_valid_without_findings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../root.modules.yaml");
    let checked = mno_registry::check_file(&path).unwrap();
    assert!(
        checked.report.findings.is_empty(),
        "{:#?}",
        checked.report.findings
    );
    let names: Vec<&str> = checked
        .registry
        .modules
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["redis", "machinenativenops-auto-monitor", "super-agent"]
    );
    let redis = checked.registry.module("redis").unwrap();
    assert!(redis.optional && redis.auto_start);
    assert!(!checked.registry.module("super-agent").unwrap().auto_start);
}
