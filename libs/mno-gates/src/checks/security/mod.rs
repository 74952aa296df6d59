//! `security_scan`: secrets in the tree.
//!
//! The tree is walked in parallel honoring .gitignore (the `ignore` crate, as
//! ripgrep does); binary files (a NUL in the first 8 KiB, git's own test) and
//! files over `max_file_size` are skipped and counted. Each file goes through
//! an Aho-Corasick keyword prefilter first, so the regexes only run on the
//! few lines that name a credential format; candidate secrets then pass an
//! entropy floor and a placeholder filter (`changeme`, `${VAR}`,
//! `<your-token>`, documented example keys) before they become findings.
//!
//! In diff mode (`since`) only files changed since a git revision are read, and only
//! hits on added or changed lines are kept: a file is scanned whole so that a private
//! key whose BEGIN line changed is still seen with its body. Workflow files under
//! `.github/workflows/` also go through the hardening rules of [`workflows`].

pub mod baseline;
pub mod detect;
pub mod diff;
pub mod filters;
pub mod gitleaks;
mod judge;
pub mod rules;
pub mod workflows;

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use globset::GlobSet;
use ignore::{WalkBuilder, WalkState};

pub use baseline::{Baseline, BaselineEntry, fingerprint, redact};
pub use detect::Detector;

use crate::checks::GateOptions;
use crate::config::SecurityConfig;
use crate::error::GateError;
use crate::finding::{CheckResult, Finding, Severity, Status};
use crate::progress::{Meter, with_ticker};
use crate::walk::{glob_set, relative};
use diff::Changes;

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

/// What the scanning threads hand back: findings, and the files whose contents they read.
#[derive(Default)]
struct Sink {
    found: Mutex<Vec<Finding>>,
    read: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    huge: AtomicU64,
    unreadable: AtomicU64,
    allowed_paths: AtomicU64,
    /// Lines of the changed files' new text that were scanned (diff mode).
    diff_lines: AtomicU64,
}

impl Counters {
    /// Files looked at (scanned or skipped) and bytes scanned, for progress reports.
    fn progress(&self) -> (u64, u64) {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let files = n(&self.files) + n(&self.binary) + n(&self.huge);
        let files = files + n(&self.unreadable) + n(&self.allowed_paths);
        (files, n(&self.bytes))
    }
}

/// Scan the tree under `root`.
pub fn run(root: &Path, cfg: &SecurityConfig) -> CheckResult {
    run_with(root, cfg, &GateOptions::default())
}

/// Scan the tree under `root`, or only what changed since `opts.since`, reporting to
/// `opts.progress`.
pub fn run_with(root: &Path, cfg: &SecurityConfig, opts: &GateOptions) -> CheckResult {
    let started = Instant::now();
    match scan(root, cfg, opts) {
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

fn scan(root: &Path, cfg: &SecurityConfig, opts: &GateOptions) -> Result<CheckResult, GateError> {
    let detector = Detector::from_config(root, cfg)?;
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
    let changes = match &opts.since {
        Some(rev) => Some(diff::changes_since(root, rev)?),
        None => None,
    };

    let counters = Counters::default();
    let sink = Sink::default();
    let scan = || match &changes {
        None => walk_tree(root, cfg, &allow, &detector, &counters, &sink),
        Some(ch) => scan_changes(root, cfg, ch, &allow, &detector, &counters, &sink),
    };
    let count = |m: &Meter| match &changes {
        None => count_files(root, m),
        Some(ch) => m.total.store(ch.files.len() as u64, Ordering::Relaxed),
    };
    with_ticker(
        CHECK,
        opts.progress.as_ref(),
        || counters.progress(),
        count,
        scan,
    );

    let Sink { found, read } = sink;
    let all = found.into_inner().unwrap_or_else(|p| p.into_inner());
    let before = all.len();
    let mut findings: Vec<Finding> = all
        .into_iter()
        .filter(|f| {
            let fp = f.fingerprint.clone().unwrap_or_default();
            !accepted.contains(&(f.rule_id.clone(), fp))
        })
        .collect();
    let baselined = (before - findings.len()) as u64;
    let workflows_checked = if cfg.workflows {
        let (wf, n) = workflows::check(root, changes.as_ref(), |rel| allow.is_match(rel));
        findings.extend(wf);
        Some(n)
    } else {
        None
    };
    let mut result = CheckResult::from_findings(CHECK, findings, 0);
    // The evidence digest covers every file whose contents were scanned.
    result.files_read = read.into_inner().unwrap_or_else(|p| p.into_inner());
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
    if let Some(n) = workflows_checked {
        result.stats.insert("workflows_checked".into(), n);
    }
    if let Some(ch) = &changes {
        result
            .stats
            .insert("diff_files".into(), ch.files.len() as u64);
        result.stats.insert(
            "diff_lines".into(),
            ch.added_lines + c.diff_lines.load(Ordering::Relaxed),
        );
    }
    Ok(result)
}

/// The whole tree, in parallel, honoring .gitignore.
fn walk_tree(
    root: &Path,
    cfg: &SecurityConfig,
    allow: &GlobSet,
    detector: &Detector,
    counters: &Counters,
    sink: &Sink,
) {
    walker(root).threads(cfg.threads).build_parallel().run(|| {
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
            let Some(hits) = scan_file(entry.path(), cfg.max_file_size, detector, counters) else {
                return WalkState::Continue;
            };
            if let Ok(mut r) = sink.read.lock() {
                r.push(rel.clone());
            }
            if !hits.is_empty() {
                let mut out: Vec<Finding> = hits.into_iter().map(|h| to_finding(&rel, h)).collect();
                if let Ok(mut all) = sink.found.lock() {
                    all.append(&mut out);
                }
            }
            WalkState::Continue
        })
    });
}

/// The walk both the scan and the progress pre-count use.
fn walker(root: &Path) -> WalkBuilder {
    let mut b = WalkBuilder::new(root);
    b.hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git");
    b
}

/// Count the files the walk will visit (for a progress total); stops early when the scan ends.
fn count_files(root: &Path, meter: &Meter) {
    let mut n = 0u64;
    for entry in walker(root).build().flatten() {
        if meter.done.load(Ordering::Relaxed) {
            return;
        }
        if entry.file_type().is_some_and(|t| t.is_file()) {
            n += 1;
        }
    }
    meter.total.store(n, Ordering::Relaxed);
}

/// Diff mode: each changed file read whole, hits kept only on its changed lines.
fn scan_changes(
    root: &Path,
    cfg: &SecurityConfig,
    changes: &Changes,
    allow: &GlobSet,
    detector: &Detector,
    counters: &Counters,
    sink: &Sink,
) {
    let files: Vec<(&String, bool)> = changes
        .files
        .iter()
        .map(|(f, r)| (f, r.is_none()))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(files.len().max(1));
    let work = || {
        while let Some(&(rel, untracked)) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
            if allow.is_match(rel) {
                counters.allowed_paths.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let path = root.join(rel);
            // A symlink's target may lie outside the tree; the walk does not follow them either.
            if !path.symlink_metadata().is_ok_and(|m| m.is_file()) {
                continue;
            }
            let Some(data) = read_text(&path, cfg.max_file_size, counters) else {
                continue;
            };
            if let Ok(mut r) = sink.read.lock() {
                r.push(rel.clone());
            }
            if untracked {
                let lines = bytecount_lines(&data);
                counters.diff_lines.fetch_add(lines, Ordering::Relaxed);
            }
            let mut out: Vec<Finding> = detector
                .scan_at(&path, &data)
                .into_iter()
                .filter(|h| changes.contains(rel, h.line))
                .map(|h| to_finding(rel, h))
                .collect();
            if !out.is_empty()
                && let Ok(mut all) = sink.found.lock()
            {
                all.append(&mut out);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
}

/// Lines in a text: newlines, plus a last line without one.
fn bytecount_lines(data: &[u8]) -> u64 {
    let n = data.iter().filter(|&&b| b == b'\n').count() as u64;
    n + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// The hits in one file, or `None` when it was not read (binary, huge, unreadable).
fn scan_file(
    path: &Path,
    max_size: u64,
    detector: &Detector,
    c: &Counters,
) -> Option<Vec<detect::Hit>> {
    read_text(path, max_size, c).map(|data| detector.scan_at(path, &data))
}

/// A file's bytes when it is text within the size limit; skips are counted.
fn read_text(path: &Path, max_size: u64, c: &Counters) -> Option<Vec<u8>> {
    let Ok(file) = std::fs::File::open(path) else {
        c.unreadable.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max_size {
        c.huge.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let mut data = Vec::with_capacity(size as usize);
    // `take` bounds the read even if the file grew since its size was read.
    if file.take(max_size + 1).read_to_end(&mut data).is_err() {
        c.unreadable.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if data.len() as u64 > max_size {
        c.huge.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        c.binary.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    c.files.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    Some(data)
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
