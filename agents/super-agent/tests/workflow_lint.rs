//! .github/workflows: every workflow passes actionlint and check-jsonschema's GitHub-workflow
//! schema; every `uses:` is pinned to a full commit SHA with its tag beside it; permissions are
//! least privilege (read-only at the top, `security-events: write` only on the job that uploads
//! SARIF); the unified gates workflow runs its steps through scripts/unified-gates.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

use mno_testkit::tools_required;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn venv_tool(name: &str) -> Option<PathBuf> {
    let p = Path::new(REPO).join("target/py-venv/bin").join(name);
    if p.is_file() {
        return Some(p);
    }
    if tools_required() {
        panic!("{name} missing from target/py-venv (scripts/test.sh installs it)");
    }
    eprintln!("SKIP: {name} missing from target/py-venv");
    None
}

fn workflows() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new(REPO).join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

#[test]
fn actionlint_and_the_workflow_schema_accept_every_workflow() {
    for (tool, args) in [
        ("actionlint", vec![]),
        (
            "check-jsonschema",
            vec!["--builtin-schema", "vendor.github-workflows"],
        ),
    ] {
        let Some(exe) = venv_tool(tool) else { return };
        let o = Command::new(exe)
            .args(&args)
            .args(workflows())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// actionlint reports a broken workflow: the check above can fail.
#[test]
fn actionlint_rejects_a_broken_workflow() {
    let Some(exe) = venv_tool("actionlint") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.event.nope( }}\n").unwrap();
    let o = Command::new(exe).arg(&bad).output().unwrap();
    assert!(!o.status.success());
}

#[test]
fn actions_are_pinned_and_permissions_are_least_privilege() {
    let sha = regex::Regex::new(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$").unwrap();
    for wf in workflows() {
        let text = std::fs::read_to_string(&wf).unwrap();
        for line in text.lines() {
            if let Some(uses) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            {
                assert!(
                    sha.is_match(uses),
                    "{}: not pinned to a SHA with its tag: {uses}",
                    wf.display()
                );
            }
        }
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            doc["permissions"],
            serde_json::json!({"contents": "read"}),
            "{}",
            wf.display()
        );
        for (name, job) in doc["jobs"].as_object().unwrap() {
            let perms = job["permissions"].as_object().cloned().unwrap_or_default();
            for (scope, level) in &perms {
                let uploads_sarif = text.contains("codeql-action/upload-sarif");
                let allowed = level == "read"
                    || (scope == "security-events" && level == "write" && uploads_sarif);
                assert!(allowed, "{}: job {name}: {scope}: {level}", wf.display());
            }
        }
    }
}

#[test]
fn the_unified_gates_workflow_runs_the_script_and_always_stops_and_uploads() {
    let path = Path::new(REPO).join(".github/workflows/machine-native-ops-unified-gates.yml");
    let doc: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(doc["on"]["pull_request"].is_object());
    let job = &doc["jobs"]["unified-gates"];
    assert!(
        job["services"]["redis"]["image"]
            .as_str()
            .unwrap()
            .starts_with("redis:")
    );
    let steps = job["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    for sub in ["start", "gate", "stop"] {
        assert!(
            runs.iter()
                .any(|r| r.starts_with(&format!("scripts/unified-gates.sh {sub}"))),
            "{sub}"
        );
    }
    // After the gate step (which fails the job on FAILED) everything runs always().
    let gate = steps.iter().position(|s| s["id"] == "gate").unwrap();
    for s in &steps[gate + 1..] {
        assert!(s["if"].as_str().unwrap_or("").contains("always()"), "{s}");
    }
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("actions/upload-artifact@"))
    );
    assert!(
        uses.iter()
            .any(|u| u.starts_with("github/codeql-action/upload-sarif@"))
    );
    assert!(uses.iter().any(|u| u.starts_with("Swatinem/rust-cache@")));
}
