//! What a record says: an in-toto Statement v1 whose predicate is a SLSA verification
//! summary (`https://slsa.dev/verification_summary/v1`), binding the repository, the full
//! commit, the tree digest, the report files and the policy (`root.gates.yaml`).
//!
//! Also the facts gathered for it: the checked-out HEAD compared with the requested commit
//! ([`commit_binding`]) and the policy digest ([`policy`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Evidence;
use crate::finding::{CheckResult, Finding, GateReport, Severity, Status};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of a gate run's record.
pub const VSA_PREDICATE: &str = "https://slsa.dev/verification_summary/v1";
/// `predicateType` of a key-rotation record.
pub const ROTATION_PREDICATE: &str =
    "https://github.com/machinenativeops/machinenativeops/evidence/key-rotation/v1";
/// `predicate.verifier.id`.
pub const VERIFIER_ID: &str = "https://github.com/machinenativeops/machinenativeops/super-agent";
/// The record format carried in `predicate.mno.version` (1 was the pre-Statement record).
pub const RECORD_VERSION: u64 = 2;
/// The check name of the report entry that says the checked-out HEAD is not the request's.
pub const COMMIT_CHECK: &str = "commit_binding";

/// Whether the tree checked is the commit that was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommitStatus {
    /// The checked-out HEAD is the requested commit.
    Verified,
    /// A commit was requested and HEAD differs or cannot be read.
    Unverified,
    /// No commit was requested; HEAD (when known) is recorded as what was checked.
    NotRequested,
}

/// The requested commit against the checked-out HEAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitBinding {
    /// The commit the request named (8 to 64 hex digits), when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// `git rev-parse HEAD` in the root, when it is a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The comparison.
    pub status: CommitStatus,
    /// Why it is UNVERIFIED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Compare the checked-out HEAD of `root` with `requested` (a full sha or a prefix of at
/// least 8 hex digits). Git runs without repository-configured helpers (no fsmonitor) and
/// without taking locks, as the security diff does.
pub fn commit_binding(root: &Path, requested: Option<&str>) -> CommitBinding {
    let head = git_head(root);
    let requested = requested
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    let (status, reason) = match (&requested, &head) {
        (None, _) => (CommitStatus::NotRequested, None),
        (Some(r), _)
            if r.len() < 7 || r.len() > 64 || !r.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            (
                CommitStatus::Unverified,
                Some(format!(
                    "the requested commit {r:?} is not 7 to 64 hex digits"
                )),
            )
        }
        (Some(r), Ok(h)) if h.starts_with(r.as_str()) => (CommitStatus::Verified, None),
        (Some(r), Ok(h)) => (
            CommitStatus::Unverified,
            Some(format!(
                "the checked-out HEAD is {h}, not the requested commit {r}"
            )),
        ),
        (Some(r), Err(e)) => (
            CommitStatus::Unverified,
            Some(format!(
                "the requested commit {r} cannot be confirmed: HEAD unreadable ({e})"
            )),
        ),
    };
    CommitBinding {
        requested,
        head: head.ok(),
        status,
        reason,
    }
}

/// The full sha of HEAD in `root`.
fn git_head(root: &Path) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "core.fsmonitor=false",
            "rev-parse",
            "--verify",
            "HEAD",
        ])
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(line.strip_prefix("fatal: ").unwrap_or(line).to_string());
    }
    let sha = String::from_utf8_lossy(&out.stdout)
        .trim()
        .to_ascii_lowercase();
    if (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(format!("git printed {sha:?} for HEAD"))
    }
}

/// The failing report entry for an UNVERIFIED binding whose HEAD differs (a HEAD that
/// cannot be read is left to the record alone: it says FAILED with the reason).
pub fn commit_finding(b: &CommitBinding) -> Option<CheckResult> {
    if b.status != CommitStatus::Unverified || b.head.is_none() {
        return None;
    }
    let reason = b.reason.clone().unwrap_or_default();
    let mut r = CheckResult::with_status(
        COMMIT_CHECK,
        Status::Failed,
        format!("UNVERIFIED: {reason}"),
    );
    r.findings.push(Finding {
        check: COMMIT_CHECK.into(),
        rule_id: "commit.head-mismatch".into(),
        severity: Severity::Error,
        file: String::new(),
        line: 0,
        column: 0,
        message: format!("UNVERIFIED: {reason}; the results describe the checked-out tree"),
        suggested_fix: Some("check out the requested commit and run the gate again".into()),
        fingerprint: None,
    });
    Some(r)
}

/// Add the failing `commit_binding` result to `report` when HEAD is not the requested
/// commit, and fail the report's overall status (an ERROR stays ERROR).
pub fn apply_commit_binding(report: &mut GateReport, binding: &CommitBinding) {
    if let Some(r) = commit_finding(binding) {
        report.validation_results.insert(r.check.clone(), r);
        if matches!(report.overall_status, Status::Passed | Status::Skipped) {
            report.overall_status = Status::Failed;
        }
    }
}

/// The policy a run followed: `root.gates.yaml` and its SHA-256 (of no bytes when the file
/// is absent and the defaults applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// `root.gates.yaml`, or `root.gates.yaml#defaults` when there is none.
    pub uri: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// The policy digest of `root`.
pub fn policy(root: &Path) -> Policy {
    match std::fs::read(root.join(crate::config::CONFIG_FILE)) {
        Ok(b) => Policy {
            uri: crate::config::CONFIG_FILE.into(),
            sha256: hex::encode(Sha256::digest(&b)),
        },
        Err(_) => Policy {
            uri: format!("{}#defaults", crate::config::CONFIG_FILE),
            sha256: hex::encode(Sha256::digest(b"")),
        },
    }
}

/// A file the record names as a subject (a report file), with its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// The subject name (`report.json`, …).
    pub name: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The SHA-256 of each named file in `dir` that exists.
pub fn file_digests(dir: &Path, names: &[String]) -> Vec<FileDigest> {
    names
        .iter()
        .filter_map(|n| {
            let b = std::fs::read(dir.join(n)).ok()?;
            Some(FileDigest {
                name: n.clone(),
                sha256: hex::encode(Sha256::digest(&b)),
            })
        })
        .collect()
}

/// Everything a gate run's record attests.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The validation id.
    pub validation_id: String,
    /// The gate's overall status.
    pub overall_status: Status,
    /// Each check's status.
    pub checks: BTreeMap<String, Status>,
    /// The tree digest.
    pub evidence: Evidence,
    /// The repository URL (or `owner/name`), when known.
    pub repository: Option<String>,
    /// The checked root, as a path.
    pub root: String,
    /// The requested commit against HEAD.
    pub commit: CommitBinding,
    /// The policy followed.
    pub policy: Policy,
    /// The report files written, with digests.
    pub reports: Vec<FileDigest>,
}

impl RunFacts {
    /// The facts of `report` over `root` with no repository, commit or report files known.
    pub fn minimal(validation_id: &str, overall_status: Status, evidence: &Evidence) -> RunFacts {
        RunFacts {
            validation_id: validation_id.into(),
            overall_status,
            checks: BTreeMap::new(),
            evidence: evidence.clone(),
            repository: None,
            root: String::new(),
            commit: CommitBinding {
                requested: None,
                head: None,
                status: CommitStatus::NotRequested,
                reason: None,
            },
            policy: Policy {
                uri: format!("{}#defaults", crate::config::CONFIG_FILE),
                sha256: hex::encode(Sha256::digest(b"")),
            },
            reports: Vec::new(),
        }
    }

    /// The facts of a finished run: `report` over `root`, reports in `out` (`names`).
    #[allow(clippy::too_many_arguments)]
    pub fn of_run(
        validation_id: &str,
        report: &GateReport,
        evidence: &Evidence,
        root: &Path,
        repository: Option<&str>,
        commit: CommitBinding,
        out: &Path,
        names: &[String],
    ) -> RunFacts {
        RunFacts {
            validation_id: validation_id.into(),
            overall_status: report.overall_status,
            checks: report
                .validation_results
                .iter()
                .map(|(k, v)| (k.clone(), v.status))
                .collect(),
            evidence: evidence.clone(),
            repository: repository.filter(|r| !r.is_empty()).map(str::to_string),
            root: root.display().to_string(),
            commit,
            policy: policy(root),
            reports: file_digests(out, names),
        }
    }

    /// PASSED only when the gate passed and the commit is not UNVERIFIED.
    pub fn verification_result(&self) -> &'static str {
        if self.overall_status == Status::Passed && self.commit.status != CommitStatus::Unverified {
            "PASSED"
        } else {
            "FAILED"
        }
    }

    /// `resourceUri`: `git+<repository>@<sha>` when both are known, else the repository
    /// or `file://<root>`.
    pub fn resource_uri(&self) -> String {
        let sha = self.commit.head.as_ref().or(self.commit.requested.as_ref());
        let base = match &self.repository {
            Some(r) if r.contains("://") => r.clone(),
            Some(r) => format!("https://github.com/{r}"),
            None => format!("file://{}", self.root),
        };
        match sha {
            Some(s) => format!("git+{base}@{s}"),
            None => base,
        }
    }

    /// The in-toto Statement for chain position `seq` after `prev_hash`.
    pub fn statement(&self, seq: u64, prev_hash: &str, time: &str) -> Value {
        let mut subject = Vec::new();
        if let Some(head) = &self.commit.head {
            subject.push(json!({
                "name": self.repository.clone().unwrap_or_else(|| self.root.clone()),
                "digest": {"gitCommit": head},
            }));
        }
        subject.push(json!({
            "name": format!("tree:{}", self.evidence.algorithm),
            "digest": {"sha256": self.evidence.sha256, "sha3_512": self.evidence.sha3_512},
        }));
        subject.push(json!({
            "name": "report",
            "digest": {"sha256": self.evidence.report_sha256},
        }));
        for f in &self.reports {
            subject.push(json!({"name": f.name, "digest": {"sha256": f.sha256}}));
        }
        let result = self.verification_result();
        let levels: Vec<&str> = if result == "PASSED" {
            vec!["MNO_GATES_PASSED"]
        } else {
            Vec::new()
        };
        json!({
            "_type": STATEMENT_TYPE,
            "subject": subject,
            "predicateType": VSA_PREDICATE,
            "predicate": {
                "verifier": {"id": VERIFIER_ID, "version": {"super-agent": env!("CARGO_PKG_VERSION")}},
                "timeVerified": time,
                "resourceUri": self.resource_uri(),
                "policy": {"uri": self.policy.uri, "digest": {"sha256": self.policy.sha256}},
                "verificationResult": result,
                "verifiedLevels": levels,
                "mno": {
                    "version": RECORD_VERSION,
                    "chain": {"seq": seq, "prev_hash": prev_hash},
                    "validation_id": self.validation_id,
                    "overall_status": self.overall_status,
                    "checks": self.checks,
                    "repository": self.repository,
                    "root": self.root,
                    "commit": self.commit,
                    "evidence": {
                        "algorithm": self.evidence.algorithm,
                        "sha256": self.evidence.sha256,
                        "sha3_512": self.evidence.sha3_512,
                        "report_sha256": self.evidence.report_sha256,
                        "files": self.evidence.files,
                        "missing": self.evidence.missing,
                        "bytes": self.evidence.bytes,
                    },
                },
            },
        })
    }
}

/// The Statement of a key rotation: the old key announces `new_key` (hex public key).
pub fn rotation_statement(
    seq: u64,
    prev_hash: &str,
    time: &str,
    new_key_id: &str,
    new_key_hex: &str,
) -> Value {
    let digest = hex::decode(new_key_hex)
        .map(|b| hex::encode(Sha256::digest(b)))
        .unwrap_or_default();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": format!("ed25519:{new_key_id}"), "digest": {"sha256": digest}}],
        "predicateType": ROTATION_PREDICATE,
        "predicate": {
            "timeRotated": time,
            "mno": {
                "version": RECORD_VERSION,
                "chain": {"seq": seq, "prev_hash": prev_hash},
                "announces_key": {"key_id": new_key_id, "public_key": new_key_hex},
            },
        },
    })
}

/// What the verifier reads back from a Statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedStatement {
    /// `predicate.mno.chain.seq`.
    pub seq: u64,
    /// `predicate.mno.chain.prev_hash`.
    pub prev_hash: String,
    /// `timeVerified` / `timeRotated`.
    pub time: Option<String>,
    /// `verificationResult` of a gate record.
    pub verification_result: Option<String>,
    /// `predicate.mno.validation_id`.
    pub validation_id: Option<String>,
    /// The hex public key a rotation record announces.
    pub announces_key: Option<String>,
}

/// Read a record's payload; an error says what is missing.
pub fn parse_statement(payload: &[u8]) -> Result<ParsedStatement, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    if v["_type"] != STATEMENT_TYPE {
        return Err(format!(
            "payload is not an in-toto Statement v1 (_type {})",
            v["_type"]
        ));
    }
    let p = &v["predicate"];
    let mno = &p["mno"];
    let seq = mno["chain"]["seq"]
        .as_u64()
        .ok_or("predicate.mno.chain.seq is missing")?;
    let prev_hash = mno["chain"]["prev_hash"]
        .as_str()
        .ok_or("predicate.mno.chain.prev_hash is missing")?
        .to_string();
    let s = |x: &Value| x.as_str().map(str::to_string);
    let announces_key = match v["predicateType"].as_str() {
        Some(VSA_PREDICATE) => None,
        Some(ROTATION_PREDICATE) => Some(
            s(&mno["announces_key"]["public_key"])
                .ok_or("predicate.mno.announces_key.public_key is missing")?,
        ),
        other => return Err(format!("unknown predicateType {other:?}")),
    };
    Ok(ParsedStatement {
        seq,
        prev_hash,
        time: s(&p["timeVerified"]).or_else(|| s(&p["timeRotated"])),
        verification_result: s(&p["verificationResult"]),
        validation_id: s(&mno["validation_id"]),
        announces_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    #[test]
    fn a_checked_out_head_other_than_the_requested_commit_is_unverified() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        std::fs::write(d.path().join("a"), "1").unwrap();
        git(d.path(), &["add", "a"]);
        git(d.path(), &["commit", "-qm", "one"]);
        let one = git(d.path(), &["rev-parse", "HEAD"]);
        std::fs::write(d.path().join("a"), "2").unwrap();
        git(d.path(), &["commit", "-qam", "two"]);
        let two = git(d.path(), &["rev-parse", "HEAD"]);

        let b = commit_binding(d.path(), Some(&two[..8].to_ascii_uppercase()));
        assert_eq!(b.status, CommitStatus::Verified);
        assert_eq!(b.head.as_deref(), Some(two.as_str()));
        assert!(commit_finding(&b).is_none());

        let b = commit_binding(d.path(), Some(&one));
        assert_eq!(b.status, CommitStatus::Unverified);
        assert!(b.reason.as_deref().unwrap().contains(&two), "{b:?}");
        let r = commit_finding(&b).unwrap();
        assert_eq!((r.check.as_str(), r.status), (COMMIT_CHECK, Status::Failed));
        let mut report = GateReport::new("/r", Vec::new(), Vec::new());
        apply_commit_binding(&mut report, &b);
        assert_eq!(report.overall_status, Status::Failed);
        let mut facts = RunFacts::minimal(
            "v",
            Status::Passed,
            &crate::evidence::digest(d.path(), &report).unwrap(),
        );
        facts.commit = b;
        assert_eq!(facts.verification_result(), "FAILED");

        let b = commit_binding(d.path(), None);
        assert_eq!(
            (b.status, b.head.as_deref()),
            (CommitStatus::NotRequested, Some(two.as_str()))
        );
        assert_eq!(
            commit_binding(d.path(), Some("xyz")).status,
            CommitStatus::Unverified
        );
    }

    #[test]
    fn a_requested_commit_outside_a_git_checkout_is_unverified_without_a_report_failure() {
        let d = tempfile::tempdir().unwrap();
        let b = commit_binding(d.path(), Some("0123456789abcdef"));
        assert_eq!(
            (b.status, b.head.as_deref()),
            (CommitStatus::Unverified, None)
        );
        assert!(
            b.reason.as_deref().unwrap().contains("cannot be confirmed"),
            "{b:?}"
        );
        assert!(commit_finding(&b).is_none());
    }

    #[test]
    fn the_policy_digest_is_that_of_root_gates_yaml() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(policy(d.path()).uri, "root.gates.yaml#defaults");
        std::fs::write(d.path().join("root.gates.yaml"), "evidence: {}\n").unwrap();
        let p = policy(d.path());
        assert_eq!(p.uri, "root.gates.yaml");
        assert_eq!(p.sha256, hex::encode(Sha256::digest(b"evidence: {}\n")));
    }
}
