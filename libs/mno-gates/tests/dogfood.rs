//! The gate on this repository itself, with its own root.gates.yaml: every check but the
//! build (which `scripts/test.sh` already does as cargo) passes. A new test fixture that
//! looks like a credential, or a rule that flags our own code, fails here first.

use std::path::Path;

use mno_gates::{Status, run_gate};

#[test]
fn the_gate_passes_on_this_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checks = [
        "security_scan",
        "naming_conventions",
        "module_registry",
        "schema_validation",
    ];
    let report = run_gate(&root, &checks).unwrap();
    let errors: Vec<String> = report
        .findings()
        .filter(|f| f.severity == mno_gates::Severity::Error)
        .map(|f| format!("{}:{}: {} {}", f.file, f.line, f.rule_id, f.message))
        .collect();
    assert_eq!(report.overall_status, Status::Passed, "{errors:#?}");
}
