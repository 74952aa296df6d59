//! `report.sarif`: SARIF 2.1.0 within GitHub code scanning's upload limits.
//!
//! GitHub rejects a file over 10 MB, with more than 20 runs or more than
//! 25,000 results in a run. Everything goes into one run (one tool,
//! `mno-gates`, rules named `check/rule`), results beyond the cap are dropped
//! with a tool notification saying how many, and if the file is still too big
//! the result list is halved until it fits.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::finding::{Finding, GateReport, Severity};

/// GitHub's per-run result limit.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub's file size limit, with room for the truncation note.
pub const MAX_BYTES: usize = 10_000_000 - 4_096;

/// Render the report as SARIF 2.1.0 JSON.
pub fn render(report: &GateReport) -> String {
    let findings: Vec<&Finding> = report.findings().collect();
    let mut keep = findings.len().min(MAX_RESULTS);
    loop {
        let text = serde_json::to_string_pretty(&document(&findings, keep)).unwrap_or_default();
        if text.len() <= MAX_BYTES || keep == 0 {
            return text + "\n";
        }
        keep /= 2;
    }
}

fn rule_id(f: &Finding) -> String {
    format!("{}/{}", f.check, f.rule_id)
}

fn document(findings: &[&Finding], keep: usize) -> Value {
    let mut rules: BTreeMap<String, &Finding> = BTreeMap::new();
    for f in &findings[..keep] {
        rules.entry(rule_id(f)).or_insert(f);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (&k[..], i)).collect();
    let rule_objs: Vec<Value> = rules
        .iter()
        .map(|(id, f)| {
            json!({
                "id": id,
                "name": f.rule_id,
                "shortDescription": {"text": format!("{} rule {}", f.check, f.rule_id)},
                "defaultConfiguration": {"level": level(f.severity)},
                "properties": {"tags": [f.check]},
            })
        })
        .collect();
    let results: Vec<Value> = findings[..keep]
        .iter()
        .map(|f| result(f, index.get(&rule_id(f)[..]).copied().unwrap_or(0)))
        .collect();
    let mut notes = Vec::new();
    if keep < findings.len() {
        notes.push(json!({
            "level": "warning",
            "message": {"text": format!(
                "SARIF truncated to {keep} of {} results to stay within GitHub code scanning limits; \
                 report.json has them all", findings.len())},
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mno-gates",
                "informationUri": "https://github.com/machinenativeops/machinenativeops",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_objs,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notes,
            }],
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the scanned repository root"}}},
            "results": results,
        }],
    })
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let mut physical = json!({
        "artifactLocation": {"uri": uri(&f.file), "uriBaseId": "%SRCROOT%"},
    });
    // SARIF regions are 1-based; a file-level finding (line 0) carries no region.
    if f.line > 0 {
        physical["region"] = json!({"startLine": f.line, "startColumn": f.column.max(1)});
    }
    let text = match &f.suggested_fix {
        Some(fix) => format!("{} (fix: {fix})", f.message),
        None => f.message.clone(),
    };
    let mut r = json!({
        "ruleId": rule_id(f),
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
    });
    if let Some(fp) = &f.fingerprint {
        r["partialFingerprints"] = json!({"mnoSecretHash/v1": fp});
    }
    r
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A relative URI reference: percent-encode what is not allowed raw in a path.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
