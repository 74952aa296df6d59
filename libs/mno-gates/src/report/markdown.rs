//! `report.md`: a summary table and a findings table per check, fit for `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;

use crate::finding::{GateReport, Severity, Status};

/// Findings listed per check; the rest are counted (GitHub caps a step summary at 1 MiB).
const MAX_ROWS: usize = 200;

/// Render the report as GitHub-flavored Markdown.
pub fn render(report: &GateReport, link_base: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} Gate {}\n",
        icon(report.overall_status),
        report.overall_status.as_str()
    );
    out.push_str("| Check | Status | Errors | Warnings | Notes | Duration |\n");
    out.push_str("|---|---|---:|---:|---:|---:|\n");
    for r in report.validation_results.values() {
        let count = |s| r.findings.iter().filter(|f| f.severity == s).count();
        let _ = writeln!(
            out,
            "| `{}` | {} {} | {} | {} | {} | {} ms |",
            r.check,
            icon(r.status),
            r.status.as_str(),
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note),
            r.duration_ms
        );
    }
    for w in &report.config_warnings {
        let _ = writeln!(out, "\n> warning: {}", cell(w));
    }
    for r in report.validation_results.values() {
        let _ = writeln!(out, "\n### `{}`: {}\n", r.check, r.status.as_str());
        if let Some(d) = &r.detail {
            let _ = writeln!(out, "{}\n", cell(d));
        }
        if r.findings.is_empty() {
            if r.detail.is_none() {
                out.push_str("No findings.\n");
            }
            continue;
        }
        out.push_str("| Severity | Rule | Location | Message | Suggested fix |\n");
        out.push_str("|---|---|---|---|---|\n");
        for f in r.findings.iter().take(MAX_ROWS) {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} |",
                f.severity.as_str(),
                f.rule_id,
                location(&f.file, f.line, link_base),
                cell(&f.message),
                f.suggested_fix.as_deref().map(cell).unwrap_or_default()
            );
        }
        if r.findings.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n…and {} more (see report.json).",
                r.findings.len() - MAX_ROWS
            );
        }
    }
    out
}

fn icon(s: Status) -> &'static str {
    match s {
        Status::Passed => "✅",
        Status::Failed => "❌",
        Status::Skipped => "⏭️",
        Status::Error => "⚠️",
    }
}

fn location(file: &str, line: usize, link_base: Option<&str>) -> String {
    let text = if line > 0 {
        format!("{file}:{line}")
    } else {
        file.to_string()
    };
    match link_base {
        Some(base) if line > 0 => format!("[{}]({base}/{file}#L{line})", cell(&text)),
        Some(base) => format!("[{}]({base}/{file})", cell(&text)),
        None => format!("`{}`", text.replace('`', "'")),
    }
}

/// Text made safe for one table cell: no pipes, newlines or raw HTML.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}
