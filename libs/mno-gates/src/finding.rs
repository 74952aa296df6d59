//! The gate's data model: findings, per-check results and the whole gate report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How serious a finding is; `error` fails the gate, the others only inform. The registry's
/// type, so its findings pass through the `module_registry` check unchanged.
pub use mno_registry::Severity;

/// One problem found by a check, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// The check that found it (`security_scan`, `naming_conventions`, `module_registry`).
    pub check: String,
    /// Stable rule id within the check (`aws-access-key-id`, `naming.kebab-case`, ...).
    pub rule_id: String,
    /// How serious it is.
    pub severity: Severity,
    /// Path relative to the scanned root, with `/` separators.
    pub file: String,
    /// Line, 1-based (0 when the finding is about the file as a whole).
    pub line: usize,
    /// Column, 1-based (0 when the finding is about the file as a whole).
    pub column: usize,
    /// What is wrong, in one sentence; never contains a whole secret.
    pub message: String,
    /// How to fix it, when there is an obvious fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_fix: Option<String>,
    /// A stable identity independent of line numbers (security findings: hash of rule and secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Ran and found no errors.
    Passed,
    /// Ran and found at least one error.
    Failed,
    /// Did not apply (disabled, or nothing to check).
    Skipped,
    /// Could not run to the end.
    Error,
}

impl Status {
    /// The uppercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
            Status::Error => "ERROR",
        }
    }
}

/// What one check produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckResult {
    /// The check's name.
    pub check: String,
    /// Its outcome.
    pub status: Status,
    /// Everything it found, in file order.
    pub findings: Vec<Finding>,
    /// Wall time of the check.
    pub duration_ms: u64,
    /// Why it was skipped or errored, or a short summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Check-specific counters (files scanned, bytes, binaries skipped, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    /// Files whose contents the check read (relative to the root, `/`-separated); the
    /// evidence digest covers them. Not serialized: a secret scan reads whole trees.
    #[serde(skip)]
    pub files_read: Vec<String>,
    /// Units the check ran one by one (`build_verification`: one per module), in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemResult>,
}

/// The outcome of one unit of a check (a module built), with the tail of its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItemResult {
    /// What it is (the module name).
    pub name: String,
    /// PASSED, FAILED, SKIPPED (nothing to run) or ERROR (could not run).
    pub status: Status,
    /// Wall time.
    pub duration_ms: u64,
    /// The argument list run, when there was one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Exit status, when the process exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it was skipped or what went wrong, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The last lines of its stdout and stderr, interleaved as they arrived.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
}

impl CheckResult {
    /// A result whose status follows from its findings: FAILED when any is an error.
    pub fn from_findings(check: &str, mut findings: Vec<Finding>, duration_ms: u64) -> Self {
        findings.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.rule_id).cmp(&(&b.file, b.line, b.column, &b.rule_id))
        });
        let failed = findings.iter().any(|f| f.severity == Severity::Error);
        CheckResult {
            check: check.to_string(),
            status: if failed {
                Status::Failed
            } else {
                Status::Passed
            },
            findings,
            duration_ms,
            detail: None,
            stats: BTreeMap::new(),
            files_read: Vec::new(),
            items: Vec::new(),
        }
    }

    /// A result that carries no findings, only a status and why.
    pub fn with_status(check: &str, status: Status, detail: impl Into<String>) -> Self {
        CheckResult {
            check: check.to_string(),
            status,
            findings: Vec::new(),
            duration_ms: 0,
            detail: Some(detail.into()),
            stats: BTreeMap::new(),
            files_read: Vec::new(),
            items: Vec::new(),
        }
    }
}

/// The whole gate: every check's result and the overall status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The scanned root, as given.
    pub root: String,
    /// ERROR if any check errored, else FAILED if any failed, else PASSED.
    pub overall_status: Status,
    /// RFC 3339 time the gate finished.
    pub timestamp: String,
    /// Results by check name.
    pub validation_results: BTreeMap<String, CheckResult>,
    /// Warnings about the gate configuration itself (unknown keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_warnings: Vec<String>,
    /// The Auto-Monitor's health, usage and active alerts, when a monitor URL was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::MonitorSection>,
    /// Every monitored host's latest snapshot (from the state store shared with the
    /// Auto-Monitors: Redis), fullest first as stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitor_hosts: Vec<crate::monitor::MonitorSection>,
    /// The evidence chain's head when this run started (its own record comes next, with
    /// `prev_hash` = this hash unless another run appended in between): publishing it here
    /// lets a verifier detect records later removed from the end (`--expect-head`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_chain: Option<crate::evidence::ChainHead>,
    /// Patches proposed for the findings (`gate run --fix`), when fixers ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixes: Option<crate::autofix::FixesSection>,
}

impl GateReport {
    /// Combine check results into a report with its overall status.
    pub fn new(root: &str, results: Vec<CheckResult>, config_warnings: Vec<String>) -> Self {
        let overall_status = overall(results.iter().map(|r| r.status));
        let timestamp = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        GateReport {
            root: root.to_string(),
            overall_status,
            timestamp,
            validation_results: results.into_iter().map(|r| (r.check.clone(), r)).collect(),
            config_warnings,
            monitor: None,
            monitor_hosts: Vec::new(),
            evidence_chain: None,
            fixes: None,
        }
    }

    /// Every finding of every check, in check order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.validation_results.values().flat_map(|r| &r.findings)
    }
}

/// ERROR beats FAILED beats PASSED; all-SKIPPED is PASSED (nothing was wrong).
fn overall(statuses: impl Iterator<Item = Status>) -> Status {
    let mut out = Status::Passed;
    for s in statuses {
        match s {
            Status::Error => return Status::Error,
            Status::Failed => out = Status::Failed,
            Status::Passed | Status::Skipped => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_status_prefers_error_then_failed() {
        use Status::*;
        assert_eq!(overall([Passed, Skipped].into_iter()), Passed);
        assert_eq!(overall([Passed, Failed, Skipped].into_iter()), Failed);
        assert_eq!(overall([Failed, Error, Passed].into_iter()), Error);
        assert_eq!(overall(std::iter::empty()), Passed);
    }
}
