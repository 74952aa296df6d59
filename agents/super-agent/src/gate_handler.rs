//! GateValidationRequest → GateValidationResponse: validate the request, run the gate,
//! write the reports, take the evidence.
//!
//! [`validate`] runs on the request path and answers every problem with a 4xx before any
//! work is queued: unknown checks, a bad commit sha, a root with `..`, a root outside
//! `allowed_roots` (checked after following symlinks). [`run`] is the blocking part, called
//! on the gate pool.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use mno_gates::{CheckResult, GateOptions, GateReport, KNOWN_CHECKS, ReportFormat, Status};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::messages::{GateMetadata, GateValidationRequest, GateValidationResponse, ResponseType};

/// A request that passed validation, ready to run.
#[derive(Debug, Clone)]
pub struct ValidatedGate {
    /// The request as received.
    pub request: GateValidationRequest,
    /// `gate-<pr>-<sha8>`.
    pub validation_id: String,
    /// The canonical root, inside an allowed root.
    pub root: PathBuf,
    /// Checks to run, in report order.
    pub checks: Vec<&'static str>,
    /// Checks not run, each with why (reported SKIPPED).
    pub skipped: Vec<(&'static str, String)>,
    /// The registry file relative to the root, when the request names one.
    pub registry: Option<String>,
}

/// What every gate run needs besides its request.
pub struct GateContext {
    /// What build commands may see (protected paths, passed-through variables).
    pub build_sandbox: mno_gates::BuildSandbox,
    /// Reports go to `<reports_dir>/<validation_id>/`.
    pub reports_dir: PathBuf,
    /// `report.md` link base with `{repository}` / `{commit_sha}` placeholders.
    pub link_base: Option<String>,
    /// The evidence chain records are appended to (`<data_dir>/evidence`).
    pub chain: Option<Arc<mno_gates::EvidenceChain>>,
    /// Fixers run after each gate when `enabled`; patches go to `<report folder>/patches/`.
    pub autofix: mno_gates::AutofixConfig,
}

/// The result of one run: the response and where its reports are.
#[derive(Debug, Clone)]
pub struct GateOutcome {
    /// The response message.
    pub response: GateValidationResponse,
    /// The folder of the reports.
    pub reports_dir: PathBuf,
    /// Report file names written.
    pub reports: Vec<String>,
    /// The evidence record appended, as its line of the chain (kept in a shared store too).
    pub evidence_record: Option<EvidenceRecord>,
}

/// One appended evidence record: the chain (its key id), its position and its JSONL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// The signing key's id (one chain per key).
    pub key_id: String,
    /// Position in the chain.
    pub seq: u64,
    /// The DSSE envelope line, as in `evidence.jsonl`.
    pub line: String,
}

/// The evidence of one run as answered: the digests, and the chain record when appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceSection {
    /// Digests over the files the checks read and the report (mno-evidence-v2).
    #[serde(flatten)]
    pub digest: mno_gates::Evidence,
    /// The record appended to the server's evidence chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainRef>,
}

/// Where a run's record sits in the evidence chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainRef {
    /// Position in the chain, from 1 (with `hash`, the chain head after this run).
    pub seq: u64,
    /// The record's hash (SHA-256 of its payload, the in-toto Statement).
    pub hash: String,
    /// The previous record's hash.
    pub prev_hash: String,
    /// The signing key's id.
    pub key_id: String,
    /// Ed25519 signature over DSSE's PAE of the Statement (base64).
    pub signature: String,
}

/// `gate-<pr_number>-<first 8 of commit_sha>` after checking both; `prefix` (`payload.` or
/// empty) starts the field names in errors.
pub fn validation_id(meta: &GateMetadata, prefix: &str) -> Result<String, ApiError> {
    if meta.pr_number == 0 {
        let field = format!("{prefix}metadata.pr_number");
        return Err(
            ApiError::bad_request("invalid_field", format!("{field}: must be 1 or more"))
                .with("field", field),
        );
    }
    let sha = &meta.commit_sha;
    if !(8..=64).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        let field = format!("{prefix}metadata.commit_sha");
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "{field}: must be 8 to 64 hexadecimal digits (got {:?})",
                truncate(sha, 80)
            ),
        )
        .with("field", field));
    }
    Ok(format!(
        "gate-{}-{}",
        meta.pr_number,
        sha[..8].to_ascii_lowercase()
    ))
}

/// Whether `id` has the shape of a validation id (so it is safe as a folder name).
pub fn is_validation_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("gate-") else {
        return false;
    };
    let Some((pr, sha)) = rest.split_once('-') else {
        return false;
    };
    !pr.is_empty()
        && pr.len() <= 20
        && pr.bytes().all(|b| b.is_ascii_digit())
        && sha.len() == 8
        && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The check that runs commands (module builds).
pub const BUILD_CHECK: &str = mno_gates::checks::build::CHECK;

/// Why `build_verification` is not run by a server without a token.
pub const BUILD_NEEDS_TOKEN: &str = "not run: build_verification runs the repository's build \
    commands, which over HTTP needs a server with a bearer token (token / MNO_AGENT_TOKEN)";

/// Check a request against the known checks and the allowed roots; `prefix` (`payload.`
/// or empty) starts the field names in errors.
///
/// `commands_allowed` is false on a server without a token: commands are not run over HTTP
/// without one, so `build_verification` is refused when asked for by name (403) and
/// skipped when the request asks for every check.
pub fn validate(
    request: GateValidationRequest,
    allowed_roots: &[PathBuf],
    prefix: &str,
    commands_allowed: bool,
) -> Result<ValidatedGate, ApiError> {
    let validation_id = validation_id(&request.metadata, prefix)?;
    let repo = &request.metadata.repository;
    if repo.trim().is_empty() || repo.len() > 256 || repo.chars().any(char::is_control) {
        let field = format!("{prefix}metadata.repository");
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("{field}: must be 1-256 printable characters"),
        )
        .with("field", field));
    }
    let reqs = request.validation_requirements.as_ref();
    let (mut checks, not_requested) = requested_checks(reqs, prefix)?;
    let mut skipped: Vec<(&'static str, String)> = not_requested
        .into_iter()
        .map(|c| (c, "not requested (validation_requirements)".to_string()))
        .collect();
    if !commands_allowed && checks.contains(&BUILD_CHECK) {
        if reqs.is_some_and(|r| r.get(BUILD_CHECK) == Some(&true)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "token_required",
                format!(
                    "{prefix}validation_requirements.{BUILD_CHECK}: {}",
                    BUILD_NEEDS_TOKEN.trim_start_matches("not run: ")
                ),
            )
            .with(
                "field",
                format!("{prefix}validation_requirements.{BUILD_CHECK}"),
            ));
        }
        checks.retain(|c| *c != BUILD_CHECK);
        skipped.push((BUILD_CHECK, BUILD_NEEDS_TOKEN.to_string()));
        if checks.is_empty() {
            return Err(ApiError::bad_request("no_checks", BUILD_NEEDS_TOKEN));
        }
    }
    let root = resolve_root(&request.artifacts.root, allowed_roots, prefix)?;
    let registry = match &request.artifacts.registry {
        Some(r) => Some(resolve_registry(r, &root, prefix)?),
        None => None,
    };
    Ok(ValidatedGate {
        request,
        validation_id,
        root,
        checks,
        skipped,
        registry,
    })
}

/// (checks to run, checks turned off) from `validation_requirements`; absent means all.
fn requested_checks(
    req: Option<&BTreeMap<String, bool>>,
    prefix: &str,
) -> Result<(Vec<&'static str>, Vec<&'static str>), ApiError> {
    let Some(req) = req else {
        return Ok((KNOWN_CHECKS.to_vec(), Vec::new()));
    };
    if let Some(unknown) = req.keys().find(|k| !KNOWN_CHECKS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "unknown_check",
            format!(
                "{prefix}validation_requirements: unknown check {unknown:?} (known: {})",
                KNOWN_CHECKS.join(", ")
            ),
        )
        .with(
            "field",
            format!("{prefix}validation_requirements.{unknown}"),
        )
        .with("known", KNOWN_CHECKS.to_vec()));
    }
    let on = |c: &&str| req.get(*c).copied().unwrap_or(false);
    let checks: Vec<&'static str> = KNOWN_CHECKS.iter().copied().filter(on).collect();
    let off: Vec<&'static str> = KNOWN_CHECKS
        .iter()
        .copied()
        .filter(|c| req.get(*c) == Some(&false))
        .collect();
    if checks.is_empty() {
        return Err(ApiError::bad_request(
            "no_checks",
            format!(
                "{prefix}validation_requirements: no check is set to true (known: {})",
                KNOWN_CHECKS.join(", ")
            ),
        )
        .with("known", KNOWN_CHECKS.to_vec()));
    }
    Ok((checks, off))
}

/// `artifacts.root` → its canonical path, which must be a directory inside an allowed root.
///
/// `..` is refused before touching the file system. A path that does not resolve is 403
/// when it lies outside every allowed root and 400 otherwise, so that the answer never
/// tells whether a path outside the roots exists.
pub fn resolve_root(
    root: &str,
    allowed_roots: &[PathBuf],
    prefix: &str,
) -> Result<PathBuf, ApiError> {
    let field: &str = &format!("{prefix}artifacts.root");
    let raw = Path::new(root);
    if root.trim().is_empty() || root.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_root",
            format!("{field}: must be a non-empty path"),
        )
        .with("field", field));
    }
    if raw.components().any(|c| c == Component::ParentDir) {
        return Err(ApiError::bad_request(
            "path_traversal",
            format!("{field}: `..` is not allowed in {root:?}"),
        )
        .with("field", field));
    }
    let base = allowed_roots.first().map(PathBuf::as_path);
    let joined = match base {
        Some(b) if raw.is_relative() => b.join(raw),
        _ => raw.to_path_buf(),
    };
    let inside = |p: &Path| allowed_roots.iter().any(|a| p.starts_with(a));
    let outside = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "root_not_allowed",
            format!("{field}: {root:?} is outside the allowed roots (allowed_roots)"),
        )
        .with("field", field)
    };
    match std::fs::canonicalize(&joined) {
        Ok(canon) if !inside(&canon) => Err(outside()),
        Ok(canon) if !canon.is_dir() => Err(ApiError::bad_request(
            "invalid_root",
            format!("{field}: {root:?} is not a directory"),
        )
        .with("field", field)),
        Ok(canon) => Ok(canon),
        Err(_) if !inside(&joined) => Err(outside()),
        Err(e) => Err(
            ApiError::bad_request("root_not_found", format!("{field}: {root:?}: {e}"))
                .with("field", field),
        ),
    }
}

/// `artifacts.registry` → a path relative to `root` naming a file inside it.
fn resolve_registry(reg: &str, root: &Path, prefix: &str) -> Result<String, ApiError> {
    let field: &str = &format!("{prefix}artifacts.registry");
    let p = Path::new(reg);
    let bad = |why: String| {
        ApiError::bad_request("invalid_registry", format!("{field}: {why}")).with("field", field)
    };
    if reg.trim().is_empty() || p.is_absolute() || reg.contains('\0') {
        return Err(bad(format!(
            "must be a path relative to artifacts.root (got {reg:?})"
        )));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(ApiError::bad_request(
            "path_traversal",
            format!("{field}: `..` is not allowed in {reg:?}"),
        )
        .with("field", field));
    }
    match std::fs::canonicalize(root.join(p)) {
        Ok(c) if c.starts_with(root) && c.is_file() => Ok(reg.to_string()),
        Ok(c) if !c.starts_with(root) => {
            Err(bad(format!("{reg:?} resolves outside artifacts.root")))
        }
        Ok(_) => Err(bad(format!("{reg:?} is not a file"))),
        Err(e) => Err(bad(format!("{reg:?}: {e}"))),
    }
}

/// Run the gate for `v` (blocking): checks, reports, evidence.
///
/// `monitor` is the Auto-Monitor section fetched just before (async, so not here).
pub fn run(
    v: &ValidatedGate,
    ctx: &GateContext,
    monitor: Option<mno_gates::MonitorSection>,
) -> GateOutcome {
    run_with_hosts(v, ctx, monitor, Vec::new())
}

/// [`run`] with every monitored host's snapshot (read from Redis) for the report.
pub fn run_with_hosts(
    v: &ValidatedGate,
    ctx: &GateContext,
    monitor: Option<mno_gates::MonitorSection>,
    hosts: Vec<mno_gates::MonitorSection>,
) -> GateOutcome {
    let opts = GateOptions {
        checks: v.checks.clone(),
        build_sandbox: ctx.build_sandbox.clone(),
        ..Default::default()
    };
    let config = mno_gates::load_config(&v.root).map(|mut loaded| {
        if let Some(reg) = &v.registry {
            loaded.config.module_registry.file = reg.clone();
        }
        loaded
    });
    let result = config.as_ref().map_err(|e| e.to_string()).map(|loaded| {
        mno_gates::run_with_config(
            &v.root,
            &loaded.config,
            &v.checks,
            loaded.warnings.clone(),
            &opts,
        )
    });
    let (mut report, error) = match result {
        Ok(r) => (r, None),
        Err(msg) => {
            let results = v
                .checks
                .iter()
                .map(|c| CheckResult::with_status(c, Status::Error, msg.clone()))
                .collect();
            (
                GateReport::new(&v.root.display().to_string(), results, Vec::new()),
                Some(msg),
            )
        }
    };
    for (c, why) in &v.skipped {
        report.validation_results.insert(
            c.to_string(),
            CheckResult::with_status(c, Status::Skipped, why.clone()),
        );
    }
    report.monitor = monitor;
    report.monitor_hosts = hosts;
    let meta = &v.request.metadata;
    // What was checked out against what was asked for: a different HEAD fails the report.
    let binding = mno_gates::evidence::statement::commit_binding(&v.root, Some(&meta.commit_sha));
    mno_gates::evidence::statement::apply_commit_binding(&mut report, &binding);
    if let Some(chain) = &ctx.chain {
        match chain.head() {
            Ok(h) => report.evidence_chain = Some(h),
            Err(e) => tracing::error!(validation_id = %v.validation_id, "evidence chain head: {e}"),
        }
    }
    let link_base = ctx.link_base.as_ref().map(|t| {
        t.replace("{repository}", &meta.repository)
            .replace("{commit_sha}", &meta.commit_sha)
    });
    let dir = ctx.reports_dir.join(&v.validation_id);
    if ctx.autofix.enabled
        && error.is_none()
        && let Ok(loaded) = &config
    {
        let opts = mno_gates::FixOptions {
            llm_api_key: std::env::var(&ctx.autofix.llm.api_key_env)
                .ok()
                .filter(|k| !k.is_empty()),
            own_output: Vec::new(),
        };
        let mut section =
            mno_gates::autofix::propose(&v.root, &report, &loaded.config, &ctx.autofix, &opts);
        if let Err(e) = mno_gates::autofix::write_patches(&section, &dir) {
            tracing::error!(validation_id = %v.validation_id, "patches: {e}");
            section.notes.push(format!("patches not written: {e}"));
            section.proposed.clear();
        }
        report.fixes = Some(section);
    }
    let mut error = error;
    let reports =
        match mno_gates::write_reports(&report, &dir, &ReportFormat::ALL, link_base.as_deref()) {
            Ok(files) => files
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect(),
            Err(e) => {
                tracing::error!(validation_id = %v.validation_id, "reports: {e}");
                error.get_or_insert_with(|| format!("reports not written: {e}"));
                Vec::new()
            }
        };
    let (evidence, evidence_record) =
        attach_evidence(v, &report, ctx.chain.as_deref(), binding, &dir, &reports);
    let overall = if error.is_some() && reports.is_empty() {
        crate::messages::OverallStatus::Error
    } else {
        report.overall_status.into()
    };
    let response = GateValidationResponse {
        message_type: ResponseType::GateValidationResponse,
        validation_id: v.validation_id.clone(),
        overall_status: overall,
        summary: crate::messages::Summary::of(&report.validation_results),
        validation_results: report.validation_results,
        metadata: meta.clone(),
        timestamp: report.timestamp,
        evidence,
        monitor: report.monitor,
        monitor_hosts: report.monitor_hosts,
        error,
        config_warnings: report.config_warnings,
    };
    GateOutcome {
        response,
        reports_dir: dir,
        reports,
        evidence_record,
    }
}

/// Digest the files the checks read and the report, and append a signed record to the chain.
///
/// `None` when the digest cannot be taken (a file failed half-way through a read): an
/// honest absence, never a made-up hash. A chain that cannot be appended to leaves the
/// digests without `chain`.
fn attach_evidence(
    v: &ValidatedGate,
    report: &GateReport,
    chain: Option<&mno_gates::EvidenceChain>,
    binding: mno_gates::evidence::CommitBinding,
    dir: &Path,
    reports: &[String],
) -> (Option<EvidenceSection>, Option<EvidenceRecord>) {
    let digest = match mno_gates::evidence::digest(&v.root, report) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(validation_id = %v.validation_id, "evidence digest: {e}");
            return (None, None);
        }
    };
    let facts = mno_gates::evidence::RunFacts::of_run(
        &v.validation_id,
        report,
        &digest,
        &v.root,
        Some(&v.request.metadata.repository),
        binding,
        dir,
        reports,
    );
    let mut record = None;
    let chain = chain.and_then(|c| match c.attest(&facts) {
        Ok(rec) => {
            record = Some(EvidenceRecord {
                key_id: rec.key_id.clone(),
                seq: rec.seq,
                line: dsse_line(&rec),
            });
            Some(ChainRef {
                seq: rec.seq,
                hash: rec.hash,
                prev_hash: rec.prev_hash,
                key_id: rec.key_id,
                signature: rec.signature,
            })
        }
        Err(e) => {
            tracing::error!(validation_id = %v.validation_id, "evidence chain: {e}");
            None
        }
    });
    (Some(EvidenceSection { digest, chain }), record)
}

/// The chain's line of an appended record: the DSSE envelope over the Statement's bytes
/// (serialized as the chain serialized them: the same `Value`, keys sorted).
fn dsse_line(rec: &mno_gates::evidence::Appended) -> String {
    use base64::Engine as _;
    let payload = serde_json::to_vec(&rec.statement).unwrap_or_default();
    let env = mno_gates::evidence::DsseEnvelope {
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
        payload_type: mno_gates::evidence::PAYLOAD_TYPE.into(),
        signatures: vec![mno_gates::evidence::DsseSignature {
            keyid: rec.key_id.clone(),
            sig: rec.signature.clone(),
        }],
    };
    serde_json::to_string(&env).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pr: u64, sha: &str) -> GateMetadata {
        GateMetadata {
            pr_number: pr,
            commit_sha: sha.into(),
            repository: "o/r".into(),
            base_ref: None,
            head_ref: None,
        }
    }

    #[test]
    fn validation_ids_come_from_pr_and_sha() {
        assert_eq!(
            validation_id(&meta(42, "ABCDEF0123456789"), "").unwrap(),
            "gate-42-abcdef01"
        );
        assert!(validation_id(&meta(42, "abc"), "").is_err());
        assert!(validation_id(&meta(42, "zzzzzzzzzz"), "").is_err());
        assert!(validation_id(&meta(0, "abcdef01"), "").is_err());
        assert!(is_validation_id("gate-42-abcdef01"));
        assert!(!is_validation_id("gate-42-abcdef0"));
        assert!(!is_validation_id("gate-4x-abcdef01"));
        assert!(!is_validation_id("../etc/passwd"));
    }

    #[test]
    fn roots_must_stay_inside_the_allowed_roots() {
        let d = tempfile::tempdir().unwrap();
        let allowed = d.path().join("allowed");
        std::fs::create_dir_all(allowed.join("repo")).unwrap();
        std::fs::create_dir_all(d.path().join("outside")).unwrap();
        let roots = vec![std::fs::canonicalize(&allowed).unwrap()];
        assert!(resolve_root("repo", &roots, "payload.").is_ok());
        assert!(resolve_root(allowed.join("repo").to_str().unwrap(), &roots, "payload.").is_ok());
        let e = resolve_root("repo/../repo", &roots, "payload.").unwrap_err();
        assert_eq!(e.code, "path_traversal");
        let e = resolve_root(
            d.path().join("outside").to_str().unwrap(),
            &roots,
            "payload.",
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        // Outside and missing: still 403, so existence outside the roots does not leak.
        let e = resolve_root("/definitely/not/here", &roots, "payload.").unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let e = resolve_root("missing", &roots, "payload.").unwrap_err();
        assert_eq!(e.code, "root_not_found");
        // A symlink inside pointing outside is outside.
        std::os::unix::fs::symlink(d.path().join("outside"), allowed.join("link")).unwrap();
        let e = resolve_root("link", &roots, "payload.").unwrap_err();
        assert_eq!(e.code, "root_not_allowed");
    }

    #[test]
    fn unknown_and_empty_check_sets_are_rejected() {
        let mut m = BTreeMap::new();
        m.insert("nope".to_string(), true);
        let e = requested_checks(Some(&m), "payload.").unwrap_err();
        assert_eq!(e.code, "unknown_check");
        assert!(e.detail.contains("security_scan"), "{}", e.detail);
        let mut m = BTreeMap::new();
        m.insert("security_scan".to_string(), false);
        assert_eq!(
            requested_checks(Some(&m), "payload.").unwrap_err().code,
            "no_checks"
        );
        m.insert("naming_conventions".to_string(), true);
        let (on, off) = requested_checks(Some(&m), "payload.").unwrap();
        assert_eq!(on, vec!["naming_conventions"]);
        assert_eq!(off, vec!["security_scan"]);
    }
}
