//! `security_scan`: secrets in the tree.
//!
//! The tree is walked in parallel honoring .gitignore (the `ignore` crate, as
//! ripgrep does); binary files (a NUL in the first 8 KiB, git's own test) and
//! files over `max_file_size` are skipped and counted. Each file goes through
//! an Aho-Corasick keyword prefilter first, so the regexes only run on the
//! few lines that name a credential format; candidate secrets then pass an
//! entropy floor and a placeholder filter (`changeme`, `${VAR}`,
//! `<your-token>`, documented example keys) before they become findings.

pub mod baseline;
pub mod detect;
pub mod rules;

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ignore::{WalkBuilder, WalkState};

pub use baseline::{Baseline, BaselineEntry, fingerprint, redact};
pub use detect::Detector;

use crate::config::SecurityConfig;
use crate::error::GateError;
use crate::finding::{CheckResult, Finding, Severity, Status};
use crate::walk::{glob_set, relative};

/// The check's name.
pub const CHECK: &str = "security_scan";

/// How many leading bytes are looked at to call a file binary.
const BINARY_PROBE: usize = 8 << 10;

/// Paths never worth scanning: lock files hold integrity hashes, not secrets.
const DEFAULT_ALLOW_PATHS: &[&str] = &[
    "**/Cargo.lock",
    "**/package-lock.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/go.sum",
    "**/poetry.lock",
];

#[derive(Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    huge: AtomicU64,
    unreadable: AtomicU64,
    allowed_paths: AtomicU64,
}

/// Scan the tree under `root`.
pub fn run(root: &Path, cfg: &SecurityConfig) -> CheckResult {
    let started = Instant::now();
    match scan(root, cfg) {
        Ok(mut r) => {
            r.duration_ms = started.elapsed().as_millis() as u64;
            r
        }
        Err(e) => {
            let mut r = CheckResult::with_status(CHECK, Status::Error, e.to_string());
            r.duration_ms = started.elapsed().as_millis() as u64;
            r
        }
    }
}

fn scan(root: &Path, cfg: &SecurityConfig) -> Result<CheckResult, GateError> {
    let detector = Detector::new(cfg.entropy_threshold, &cfg.allow_regexes)?;
    let mut allow_globs: Vec<String> = DEFAULT_ALLOW_PATHS.iter().map(|s| s.to_string()).collect();
    allow_globs.extend(cfg.allow_paths.iter().cloned());
    // An empty `baseline` means none (used when rebuilding it).
    let accepted = if cfg.baseline.is_empty() {
        Default::default()
    } else {
        allow_globs.push(cfg.baseline.clone());
        Baseline::load(&root.join(&cfg.baseline))?.keys()
    };
    let allow = glob_set("security_scan.allow_paths", &allow_globs)?;

    let counters = Counters::default();
    let found: Mutex<Vec<Finding>> = Mutex::new(Vec::new());
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .threads(cfg.threads)
        .filter_entry(|e| e.file_name() != ".git")
        .build_parallel();
    walker.run(|| {
        Box::new(|entry| {
            let Ok(entry) = entry else {
                counters.unreadable.fetch_add(1, Ordering::Relaxed);
                return WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let rel = relative(root, entry.path());
            if allow.is_match(&rel) {
                counters.allowed_paths.fetch_add(1, Ordering::Relaxed);
                return WalkState::Continue;
            }
            let hits = scan_file(entry.path(), cfg.max_file_size, &detector, &counters);
            if !hits.is_empty() {
                let mut out: Vec<Finding> = hits.into_iter().map(|h| to_finding(&rel, h)).collect();
                if let Ok(mut all) = found.lock() {
                    all.append(&mut out);
                }
            }
            WalkState::Continue
        })
    });

    let all = found.into_inner().unwrap_or_else(|p| p.into_inner());
    let before = all.len();
    let findings: Vec<Finding> = all
        .into_iter()
        .filter(|f| {
            let fp = f.fingerprint.clone().unwrap_or_default();
            !accepted.contains(&(f.rule_id.clone(), fp))
        })
        .collect();
    let baselined = (before - findings.len()) as u64;
    let mut result = CheckResult::from_findings(CHECK, findings, 0);
    let c = &counters;
    for (k, v) in [
        ("files_scanned", &c.files),
        ("bytes_scanned", &c.bytes),
        ("skipped_binary", &c.binary),
        ("skipped_huge", &c.huge),
        ("skipped_unreadable", &c.unreadable),
        ("skipped_allowlisted", &c.allowed_paths),
    ] {
        result.stats.insert(k.into(), v.load(Ordering::Relaxed));
    }
    result.stats.insert("baselined".into(), baselined);
    Ok(result)
}

fn scan_file(path: &Path, max_size: u64, detector: &Detector, c: &Counters) -> Vec<detect::Hit> {
    let Ok(file) = std::fs::File::open(path) else {
        c.unreadable.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max_size {
        c.huge.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    let mut data = Vec::with_capacity(size as usize);
    // `take` bounds the read even if the file grew since its size was read.
    if file.take(max_size + 1).read_to_end(&mut data).is_err() {
        c.unreadable.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    if data.len() as u64 > max_size {
        c.huge.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        c.binary.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    c.files.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    detector.scan(&data)
}

fn to_finding(rel: &str, h: detect::Hit) -> Finding {
    Finding {
        check: CHECK.into(),
        rule_id: h.rule.id.into(),
        severity: Severity::Error,
        file: rel.to_string(),
        line: h.line,
        column: h.column,
        message: format!("{} `{}`", h.rule.title, redact(&h.secret)),
        suggested_fix: Some(
            "revoke and rotate the credential, then load it from the environment or a secret store; \
             if it is not a secret, add `mno:allow` on the line or accept it in the baseline"
                .into(),
        ),
        fingerprint: Some(fingerprint(h.rule.id, &h.secret)),
    }
}
