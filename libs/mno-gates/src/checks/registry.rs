//! `module_registry`: mno-registry's validation of root.modules.yaml, as gate findings.

use std::path::Path;
use std::time::Instant;

use crate::config::RegistryConfig;
use crate::finding::{CheckResult, Finding, Severity, Status};

/// The check's name.
pub const CHECK: &str = "module_registry";

/// Validate the registry file named in `cfg` under `root`; SKIPPED when there is none.
pub fn run(root: &Path, cfg: &RegistryConfig) -> CheckResult {
    let started = Instant::now();
    let path = root.join(&cfg.file);
    let mut r = if !path.is_file() {
        CheckResult::with_status(CHECK, Status::Skipped, format!("no {}", cfg.file))
    } else {
        let text = mno_registry::tree::read_file(&path)
            .and_then(|text| mno_registry::check_str(&cfg.file, &text));
        let findings: Vec<Finding> = match text {
            Ok(checked) => checked.report.findings.iter().map(convert).collect(),
            // A registry that does not parse is a finding at its location, not a gate error:
            // the PR broke it and the report should say where.
            Err(e) => {
                let mut f = convert(&e.to_finding());
                f.file = cfg.file.clone();
                vec![f]
            }
        };
        let mut r = CheckResult::from_findings(CHECK, findings, 0);
        r.files_read.push(cfg.file.clone());
        if cfg.strict && r.findings.iter().any(|f| f.severity == Severity::Warning) {
            r.status = Status::Failed;
        }
        r
    };
    r.duration_ms = started.elapsed().as_millis() as u64;
    r
}

fn convert(f: &mno_registry::Finding) -> Finding {
    Finding {
        check: CHECK.into(),
        rule_id: f.rule.clone(),
        severity: f.severity,
        file: f.file.clone(),
        line: f.line,
        column: f.column,
        message: match &f.module {
            Some(m) => format!("{} (module {m})", f.message),
            None => f.message.clone(),
        },
        suggested_fix: f.suggestion.clone(),
        fingerprint: None,
    }
}
