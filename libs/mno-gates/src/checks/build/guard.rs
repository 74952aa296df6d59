//! The tree as the other checks saw it, kept from the build that runs after them.
//!
//! A build runs commands from the pull request with write access to the checkout: run
//! before the secret scan it could delete the committed `secrets.env`, and run at all it
//! could rewrite files already checked, or move `HEAD` to the commit the request names,
//! so the verdict and the evidence would describe a tree that is not the one committed.
//! So the build runs last, and [`TreeGuard`] takes each file's SHA-256 and `HEAD` before
//! it and compares after: anything changed is an error finding of `build_verification`.

use std::path::Path;

use crate::evidence::{FileSum, hash_files};
use crate::finding::{CheckResult, Finding, Severity, Status};

/// Sums of the files the earlier checks read, and HEAD, taken before the build.
pub struct TreeGuard {
    files: Vec<String>,
    sums: Vec<FileSum>,
    head: Option<String>,
}

impl TreeGuard {
    /// Take the sums of `files` (root-relative) and `git rev-parse HEAD` under `root`.
    pub fn before(root: &Path, mut files: Vec<String>) -> TreeGuard {
        files.sort_unstable();
        files.dedup();
        let sums = hash_files(root, &files).unwrap_or_else(|_| vec![None; files.len()]);
        TreeGuard {
            head: head(root),
            files,
            sums,
        }
    }

    /// Compare with the tree now and add an error finding to `result` for each change.
    pub fn after(self, root: &Path, result: &mut CheckResult) {
        let now = hash_files(root, &self.files).unwrap_or_else(|_| vec![None; self.files.len()]);
        let mut found = Vec::new();
        for ((file, before), after) in self.files.iter().zip(&self.sums).zip(&now) {
            if before != after {
                let what = if after.is_none() {
                    "deleted"
                } else {
                    "changed"
                };
                found.push(finding(
                    "build.modified-checked-file",
                    file,
                    format!(
                        "the build {what} `{file}` after the other checks had read it: their \
                         verdict would not describe the committed tree"
                    ),
                ));
            }
        }
        let head_now = head(root);
        if self.head != head_now {
            found.push(finding(
                "build.moved-head",
                ".git/HEAD",
                format!(
                    "the build moved HEAD from {} to {}",
                    self.head.as_deref().unwrap_or("(none)"),
                    head_now.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        result
            .stats
            .insert("files_guarded".into(), self.files.len() as u64);
        if !found.is_empty() {
            result.findings.extend(found);
            result.status = Status::Failed;
        }
    }
}

fn finding(rule: &str, file: &str, message: String) -> Finding {
    Finding {
        check: super::CHECK.into(),
        rule_id: rule.into(),
        severity: Severity::Error,
        file: file.into(),
        line: 1,
        column: 1,
        message,
        suggested_fix: Some(
            "builds must not modify tracked sources or git state; write outputs under a build \
             directory (target/, dist/) instead"
                .into(),
        ),
        fingerprint: None,
    }
}

/// `git rev-parse HEAD`, or `None` outside a git checkout.
fn head(root: &Path) -> Option<String> {
    crate::checks::security::diff::git_bytes(root, &["rev-parse", "--verify", "HEAD"])
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
}
