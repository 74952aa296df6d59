//! The checks and the function that runs a chosen set of them over one root.

pub mod build;
pub mod naming;
pub mod registry;
pub mod schema;
pub mod security;

use std::path::Path;

use crate::config::{GatesConfig, load_config};
use crate::error::GateError;
use crate::finding::{CheckResult, GateReport, Status};

/// Every check this crate implements, in report order.
pub const KNOWN_CHECKS: &[&str] = &[
    schema::CHECK,
    registry::CHECK,
    naming::CHECK,
    build::CHECK,
    security::CHECK,
];

/// Parse a comma-separated check list; empty means every check.
pub fn parse_checks(list: &[String]) -> Result<Vec<&'static str>, GateError> {
    if list.is_empty() {
        return Ok(KNOWN_CHECKS.to_vec());
    }
    let mut out = Vec::new();
    for name in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let known =
            KNOWN_CHECKS
                .iter()
                .find(|k| **k == name)
                .ok_or_else(|| GateError::UnknownCheck {
                    name: name.to_string(),
                    known: KNOWN_CHECKS.join(", "),
                })?;
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(out)
}

/// How one gate run goes beyond "these checks over this root".
///
/// The CLI (`super-agent gate run`) and the server's gate handler both build one
/// of these, so a flag added here reaches both.
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// Checks to run, in report order; empty means every check.
    pub checks: Vec<&'static str>,
    /// Diff mode: a git revision; `security_scan` then reports only findings on lines
    /// added or changed since it (`git diff REV`, untracked files included), not the whole tree.
    pub since: Option<String>,
    /// Called a few times a second during long checks (the secret scan), from a ticker
    /// thread; without it no ticker runs.
    pub progress: Option<crate::progress::Progress>,
    /// What `build_verification` commands may see: protected paths, passed-through
    /// environment variables, whether Landlock is required.
    pub build_sandbox: build::BuildSandbox,
    /// `security_scan` honours .gitignore/.ignore and global excludes (the old walk), on
    /// top of `security_scan.respect_ignore`; by default git's index decides what is read.
    pub respect_ignore: bool,
    /// Root-relative folders holding the gate's own reports: `security_scan` does not read
    /// their untracked files (a second run would otherwise scan the first one's reports).
    pub own_output: Vec<String>,
}

/// Run `checks` over `root` with its root.gates.yaml (or the defaults).
pub fn run_gate(root: &Path, checks: &[&str]) -> Result<GateReport, GateError> {
    let mut opts = GateOptions::default();
    for &c in checks {
        if let Some(k) = KNOWN_CHECKS.iter().find(|k| **k == c) {
            opts.checks.push(k);
        }
    }
    run_gate_with(root, &opts)
}

/// Run the gate over `root` with its root.gates.yaml (or the defaults) and `opts`.
pub fn run_gate_with(root: &Path, opts: &GateOptions) -> Result<GateReport, GateError> {
    if !root.is_dir() {
        return Err(GateError::NotADirectory(root.display().to_string()));
    }
    let loaded = load_config(root)?;
    let checks: Vec<&str> = if opts.checks.is_empty() {
        KNOWN_CHECKS.to_vec()
    } else {
        opts.checks.clone()
    };
    Ok(run_with_config(
        root,
        &loaded.config,
        &checks,
        loaded.warnings,
        opts,
    ))
}

/// Run `checks` over `root` with an explicit configuration.
pub fn run_with_config(
    root: &Path,
    cfg: &GatesConfig,
    checks: &[&str],
    config_warnings: Vec<String>,
    opts: &GateOptions,
) -> GateReport {
    // The build runs last, whatever the order asked for: it runs the pull request's
    // commands with write access to the checkout, so everything else reads the tree first,
    // and the guard fails the build if it changed what they read (build/guard.rs).
    let mut order: Vec<&str> = checks.to_vec();
    order.sort_by_key(|&c| c == build::CHECK);
    let mut done: Vec<CheckResult> = Vec::with_capacity(order.len());
    for check in order {
        let result = match check {
            security::CHECK if cfg.security_scan.enabled => {
                security::run_with(root, &cfg.security_scan, opts)
            }
            naming::CHECK if cfg.naming_conventions.enabled => {
                naming::run(root, &cfg.naming_conventions, &cfg.module_registry.file)
            }
            registry::CHECK if cfg.module_registry.enabled => {
                registry::run(root, &cfg.module_registry)
            }
            schema::CHECK if cfg.schema_validation.enabled => {
                schema::run(root, &cfg.schema_validation)
            }
            build::CHECK if cfg.build_verification.enabled => {
                let read: Vec<String> = done.iter().flat_map(|r| r.files_read.clone()).collect();
                build::run_guarded(
                    root,
                    &cfg.build_verification,
                    &cfg.module_registry.file,
                    &opts.build_sandbox,
                    read,
                )
            }
            other => {
                CheckResult::with_status(other, Status::Skipped, "disabled in root.gates.yaml")
            }
        };
        done.push(result);
    }
    // Report in the order asked for.
    let results: Vec<CheckResult> = checks
        .iter()
        .filter_map(|c| {
            let i = done.iter().position(|r| r.check == *c)?;
            Some(done.swap_remove(i))
        })
        .collect();
    GateReport::new(&root.display().to_string(), results, config_warnings)
}
