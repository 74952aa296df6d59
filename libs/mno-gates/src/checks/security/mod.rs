//! `security_scan`: secrets in the tree.
//!
//! Which files are read is decided by [`files`]: in a git repository every tracked file
//! plus untracked files that are not ignored (git's index, not ignore files, which the
//! author of a change controls); outside git every file. Files are read in parallel;
//! UTF-16 text is decoded ([`read`]); a file over `max_file_size`, binary or unreadable is
//! not scanned and becomes a located `note` finding (a `warning` when git tracks a file
//! over the size limit), so nothing passes unseen. Each file goes through an
//! Aho-Corasick keyword prefilter first, so the regexes only run on the few lines that
//! name a credential format; candidate secrets then pass an entropy floor and a
//! placeholder filter (`changeme`, `${VAR}`, `<your-token>`, documented example keys)
//! before they become findings, fingerprinted with the baseline's keyed hash
//! ([`baseline`]).
//!
//! In diff mode (`since`) only files changed since a git revision are read, and only
//! hits on added or changed lines are kept: a file is scanned whole so that a private
//! key whose BEGIN line changed is still seen with its body. Workflow files under
//! `.github/workflows/` also go through the hardening rules of [`workflows`].

pub mod baseline;
pub mod detect;
pub mod diff;
mod files;
pub mod filters;
pub mod gitleaks;
mod judge;
mod read;
pub mod rules;
pub mod workflows;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use globset::GlobSet;
use ignore::WalkState;

pub use baseline::{Baseline, BaselineEntry, Keys, fingerprint, redact};
pub use detect::Detector;

use crate::checks::GateOptions;
use crate::config::SecurityConfig;
use crate::error::GateError;
use crate::finding::{CheckResult, Finding, Severity, Status};
use crate::progress::{Meter, with_ticker};
use crate::walk::{glob_set, relative};
use diff::Changes;
use files::Source;
use read::Contents;

/// The check's name.
pub const CHECK: &str = "security_scan";

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
    /// Files looked at, scanned or skipped (progress).
    visited: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    utf16: AtomicU64,
    binary: AtomicU64,
    huge: AtomicU64,
    unreadable: AtomicU64,
    allowed_paths: AtomicU64,
    symlinks: AtomicU64,
    deleted: AtomicU64,
    special: AtomicU64,
    own_output: AtomicU64,
    baselined: AtomicU64,
    /// Lines of the changed files' new text that were scanned (diff mode).
    diff_lines: AtomicU64,
}

impl Counters {
    /// Files looked at (scanned or skipped) and bytes scanned, for progress reports.
    fn progress(&self) -> (u64, u64) {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (n(&self.visited), n(&self.bytes))
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Scan the tree under `root`.
pub fn run(root: &Path, cfg: &SecurityConfig) -> CheckResult {
    run_with(root, cfg, &GateOptions::default())
}

/// Scan the tree under `root`, or only what changed since `opts.since`, reporting to
/// `opts.progress`.
pub fn run_with(root: &Path, cfg: &SecurityConfig, opts: &GateOptions) -> CheckResult {
    let started = Instant::now();
    match scan(root, cfg, opts, None) {
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

/// A new baseline accepting every secret in the tree now (`super-agent gate baseline`).
///
/// It keeps the salt of the existing version 2 baseline, so entries still present are
/// unchanged; a version 1, missing or unreadable baseline gets a fresh salt. The old
/// baseline's entries are not consulted and the baseline file itself is never scanned.
pub fn build_baseline(root: &Path, cfg: &SecurityConfig) -> Result<Baseline, GateError> {
    let salt = if cfg.baseline.is_empty() {
        Baseline::default().salt_for_rewrite()?
    } else {
        match Baseline::load(&root.join(&cfg.baseline)) {
            Ok(old) => old.salt_for_rewrite()?,
            // A corrupt baseline is what a rebuild is for.
            Err(_) => Baseline::default().salt_for_rewrite()?,
        }
    };
    let keys = Keys::with_salt(salt);
    let result = scan(root, cfg, &GateOptions::default(), Some(keys.clone()))?;
    Ok(Baseline::from_findings(&result.findings, keys.salt()))
}

/// The scan; `rebuild` scans with those keys and no baseline (to write a new one).
fn scan(
    root: &Path,
    cfg: &SecurityConfig,
    opts: &GateOptions,
    rebuild: Option<Keys>,
) -> Result<CheckResult, GateError> {
    let detector = Detector::from_config(root, cfg)?;
    let mut allow_globs: Vec<String> = DEFAULT_ALLOW_PATHS.iter().map(|s| s.to_string()).collect();
    allow_globs.extend(cfg.allow_paths.iter().cloned());
    // An empty `baseline` means none.
    let mut legacy_baseline = false;
    if !cfg.baseline.is_empty() {
        allow_globs.push(cfg.baseline.clone());
    }
    let keys = match rebuild {
        Some(k) => k,
        None if cfg.baseline.is_empty() => Keys::fresh()?,
        None => {
            let b = Baseline::load(&root.join(&cfg.baseline))?;
            legacy_baseline = b.is_legacy();
            b.keys().map_err(|mut e| {
                e.path = cfg.baseline.clone();
                e
            })?
        }
    };
    let allow = glob_set("security_scan.allow_paths", &allow_globs)?;
    let changes = match &opts.since {
        Some(rev) => Some(diff::changes_since(root, rev)?),
        None => None,
    };
    let respect_ignore = cfg.respect_ignore || opts.respect_ignore;
    let source = match changes {
        Some(_) => None,
        None => Some(files::source(root, respect_ignore)),
    };
    let own_output: Vec<String> = opts
        .own_output
        .iter()
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| !d.is_empty())
        .collect();

    let scanner = Scanner {
        cfg,
        allow: &allow,
        own_output: &own_output,
        detector: &detector,
        keys: &keys,
        counters: Counters::default(),
        sink: Sink::default(),
    };
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Files ignore rules kept out (in git: untracked ignored files; with `respect_ignore`:
    // the unfiltered walk's count minus what the filtered walk visited), counted beside
    // the scan.
    let mut skipped_ignored: Option<u64> = None;
    let work = || match (&changes, &source) {
        (Some(ch), _) => {
            let list: Vec<(&String, bool)> =
                ch.files.iter().map(|(f, r)| (f, r.is_some())).collect();
            par_each(&list, threads, |&(rel, tracked)| {
                scanner.file(rel, &root.join(rel), tracked, Some(ch), false)
            });
        }
        (None, Some(Source::Git(g))) => std::thread::scope(|s| {
            let ignored = s.spawn(|| files::count_ignored(&g.repos));
            par_each(&g.files, threads, |c| {
                scanner.file(&c.rel, &c.path, c.tracked, None, false)
            });
            skipped_ignored = ignored.join().ok().flatten();
        }),
        (None, Some(Source::Tree { respect_ignore, .. })) => {
            if *respect_ignore {
                std::thread::scope(|s| {
                    let all = s.spawn(|| files::count_tree(root, false, || false));
                    scanner.walk(root, true);
                    let visited = scanner.counters.visited.load(Ordering::Relaxed);
                    skipped_ignored = all.join().ok().flatten().map(|n| n.saturating_sub(visited));
                });
            } else {
                scanner.walk(root, false);
            }
        }
        (None, None) => {}
    };
    let count = |m: &Meter| {
        let total = match (&changes, &source) {
            (Some(ch), _) => Some(ch.files.len() as u64),
            (None, Some(Source::Git(g))) => Some(g.files.len() as u64),
            (None, Some(Source::Tree { respect_ignore, .. })) => {
                files::count_tree(root, *respect_ignore, || m.done.load(Ordering::Relaxed))
            }
            (None, None) => None,
        };
        if let Some(n) = total {
            m.total.store(n, Ordering::Relaxed);
        }
    };
    with_ticker(
        CHECK,
        opts.progress.as_ref(),
        || scanner.counters.progress(),
        count,
        work,
    );

    let Scanner {
        counters: c, sink, ..
    } = scanner;
    let Sink { found, read } = sink;
    let mut findings = found.into_inner().unwrap_or_else(|p| p.into_inner());
    if legacy_baseline {
        findings.push(legacy_baseline_finding(&cfg.baseline));
    }
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
    for (k, v) in [
        ("files_scanned", &c.files),
        ("bytes_scanned", &c.bytes),
        ("decoded_utf16", &c.utf16),
        ("skipped_binary", &c.binary),
        ("skipped_huge", &c.huge),
        ("skipped_unreadable", &c.unreadable),
        ("skipped_allowlisted", &c.allowed_paths),
        ("skipped_symlink", &c.symlinks),
        ("skipped_deleted", &c.deleted),
        ("skipped_special", &c.special),
        ("skipped_own_output", &c.own_output),
        ("baselined", &c.baselined),
    ] {
        result.stats.insert(k.into(), v.load(Ordering::Relaxed));
    }
    match &source {
        Some(Source::Git(g)) => {
            let symlinks = result.stats.entry("skipped_symlink".into()).or_insert(0);
            *symlinks += g.symlinks;
        }
        Some(Source::Tree {
            why_not_git: Some(why),
            ..
        }) => result.detail = Some(why.clone()),
        _ => {}
    }
    if let Some(n) = skipped_ignored {
        result.stats.insert("skipped_ignored".into(), n);
    }
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

/// Run `f` over `items` on `threads` threads (the calling one included).
fn par_each<T: Sync>(items: &[T], threads: usize, f: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            f(item);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(items.len()).max(1) {
            s.spawn(work);
        }
        work();
    });
}

/// What every file of a scan goes through.
struct Scanner<'a> {
    cfg: &'a SecurityConfig,
    allow: &'a GlobSet,
    /// Folders of the gate's own reports: their untracked files are not scanned.
    own_output: &'a [String],
    detector: &'a Detector,
    keys: &'a Keys,
    counters: Counters,
    sink: Sink,
}

impl Scanner<'_> {
    /// Walk the tree in parallel (outside git, or honouring ignore files on request).
    fn walk(&self, root: &Path, respect_ignore: bool) {
        let c = &self.counters;
        let mut walker = files::tree_walker(root, respect_ignore);
        walker.threads(self.cfg.threads).build_parallel().run(|| {
            Box::new(|entry| {
                let Ok(entry) = entry else {
                    bump(&c.visited);
                    bump(&c.unreadable);
                    return WalkState::Continue;
                };
                let Some(t) = entry.file_type() else {
                    return WalkState::Continue;
                };
                if t.is_symlink() {
                    // Not followed: its target may lie outside the tree.
                    bump(&c.visited);
                    bump(&c.symlinks);
                } else if t.is_file() {
                    let rel = relative(root, entry.path());
                    self.file(&rel, entry.path(), false, None, true);
                } else if !t.is_dir() {
                    // A FIFO would block the read forever; sockets and devices are no text.
                    bump(&c.visited);
                    bump(&c.special);
                }
                WalkState::Continue
            })
        });
    }

    /// Scan one file; `diff` keeps only hits on its changed lines; `is_file` when the walk
    /// already knows it is a regular file.
    fn file(&self, rel: &str, path: &Path, tracked: bool, diff: Option<&Changes>, is_file: bool) {
        let c = &self.counters;
        bump(&c.visited);
        if self.allow.is_match(rel) {
            bump(&c.allowed_paths);
            return;
        }
        if !tracked && self.own_output.iter().any(|d| under(rel, d)) {
            bump(&c.own_output);
            return;
        }
        if !is_file {
            match path.symlink_metadata() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Tracked but deleted in the working tree: nothing to read.
                    bump(&c.deleted);
                    return;
                }
                Err(e) => {
                    bump(&c.unreadable);
                    return self.push(vec![skip_unreadable(rel, &e.to_string())]);
                }
                Ok(m) if m.file_type().is_symlink() => {
                    bump(&c.symlinks);
                    return;
                }
                // A FIFO would block the read forever; a folder is a submodule git lists.
                Ok(m) if !m.is_file() => {
                    bump(&c.special);
                    return;
                }
                Ok(_) => {}
            }
        }
        match read::read(path, self.cfg.max_file_size) {
            Contents::Text {
                data,
                raw_len,
                decoded,
            } => {
                bump(&c.files);
                c.bytes.fetch_add(raw_len, Ordering::Relaxed);
                if decoded {
                    bump(&c.utf16);
                }
                if let Ok(mut r) = self.sink.read.lock() {
                    r.push(rel.to_string());
                }
                if diff.is_some() && !tracked {
                    let lines = bytecount_lines(&data);
                    c.diff_lines.fetch_add(lines, Ordering::Relaxed);
                }
                let out: Vec<Finding> = self
                    .detector
                    .scan_at(path, &data)
                    .into_iter()
                    .filter(|h| diff.is_none_or(|d| d.contains(rel, h.line)))
                    .filter_map(|h| self.finding(rel, h))
                    .collect();
                self.push(out);
            }
            Contents::Huge(size) => {
                bump(&c.huge);
                let max = self.cfg.max_file_size;
                self.push(vec![skip_huge(rel, size, max, tracked)]);
            }
            Contents::Binary => {
                bump(&c.binary);
                self.push(vec![skip_binary(rel)]);
            }
            Contents::Missing => bump(&c.deleted),
            Contents::Unreadable(e) => {
                bump(&c.unreadable);
                self.push(vec![skip_unreadable(rel, &e)]);
            }
        }
    }

    fn push(&self, mut out: Vec<Finding>) {
        if !out.is_empty()
            && let Ok(mut all) = self.sink.found.lock()
        {
            all.append(&mut out);
        }
    }

    /// A hit as a finding, or `None` when the baseline accepts it.
    fn finding(&self, rel: &str, h: detect::Hit) -> Option<Finding> {
        let fp = self.keys.fingerprint(h.rule.id, &h.secret);
        if self.keys.accepts(h.rule.id, &h.secret, &fp) {
            bump(&self.counters.baselined);
            return None;
        }
        Some(Finding {
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
            fingerprint: Some(fp),
        })
    }
}

/// Whether root-relative `rel` lies in folder `dir`.
fn under(rel: &str, dir: &str) -> bool {
    rel.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Lines in a text: newlines, plus a last line without one.
fn bytecount_lines(data: &[u8]) -> u64 {
    let n = data.iter().filter(|&&b| b == b'\n').count() as u64;
    n + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// A finding saying a file was not scanned, at its line 1.
fn skip_finding(rel: &str, rule: &str, severity: Severity, message: String, fix: &str) -> Finding {
    Finding {
        check: CHECK.into(),
        rule_id: rule.into(),
        severity,
        file: rel.to_string(),
        line: 1,
        column: 1,
        message,
        suggested_fix: Some(fix.into()),
        fingerprint: None,
    }
}

fn skip_huge(rel: &str, size: u64, max: u64, tracked: bool) -> Finding {
    // A tracked file is part of the change under review: an unread one is worth a warning.
    let severity = if tracked {
        Severity::Warning
    } else {
        Severity::Note
    };
    skip_finding(
        rel,
        "scan.skipped-huge",
        severity,
        format!(
            "not scanned for secrets: {size} bytes is over security_scan.max_file_size ({max} bytes)"
        ),
        "raise security_scan.max_file_size, or list the file in security_scan.allow_paths \
         if it cannot hold a secret",
    )
}

fn skip_binary(rel: &str) -> Finding {
    skip_finding(
        rel,
        "scan.skipped-binary",
        Severity::Note,
        "not scanned for secrets: binary (a NUL byte in its first 8 KiB, and not UTF-16 text)"
            .into(),
        "list the file in security_scan.allow_paths to silence this note if it is expected",
    )
}

fn skip_unreadable(rel: &str, why: &str) -> Finding {
    skip_finding(
        rel,
        "scan.skipped-unreadable",
        Severity::Note,
        format!("not scanned for secrets: cannot read it ({why})"),
        "make the file readable by the gate, or list it in security_scan.allow_paths",
    )
}

/// The warning a version 1 baseline earns.
fn legacy_baseline_finding(baseline: &str) -> Finding {
    skip_finding(
        baseline,
        "scan.baseline-v1",
        Severity::Warning,
        "baseline format version 1 holds unsalted fingerprints, from which short secrets can be \
         guessed back; its entries are still honoured"
            .into(),
        "rewrite it with `super-agent gate baseline` (version 2: HMAC fingerprints keyed with a \
         per-repository salt) and commit the result",
    )
}
