//! Reports as text (grouped by module, colored on a terminal) and as JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::finding::{Finding, Severity, Summary};
use crate::validate::Report;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI color codes.
    pub color: bool,
}

impl Style {
    /// Color when `is_terminal` and `NO_COLOR` is unset.
    pub fn detect(is_terminal: bool) -> Style {
        Style {
            color: is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(self, s: Severity) -> String {
        let code = match s {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Note => "36",
        };
        self.paint(code, &format!("{:<7}", s.as_str()))
    }
}

/// The report as text: findings grouped under their module, then a summary line.
pub fn render_text(report: &Report, modules: usize, style: Style) -> String {
    let mut out = String::new();
    let summary = report.summary();
    if report.findings.is_empty() {
        let _ = writeln!(
            out,
            "{}: valid ({modules} module{})",
            report.file,
            plural(modules)
        );
        return out;
    }
    let _ = writeln!(out, "{}", style.paint("1", &report.file));
    // Groups in order of first appearance: file-level findings first.
    let mut groups: Vec<(Option<&str>, Vec<&Finding>)> = vec![(None, Vec::new())];
    for f in &report.findings {
        let key = f.module.as_deref();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(f),
            None => groups.push((key, vec![f])),
        }
    }
    let width = report
        .findings
        .iter()
        .map(|f| format!("{}:{}", f.line, f.column).len())
        .max()
        .unwrap_or(3);
    let rule_width = report
        .findings
        .iter()
        .map(|f| f.rule.len())
        .max()
        .unwrap_or(8);
    for (module, findings) in groups {
        if findings.is_empty() {
            continue;
        }
        let title = match module {
            Some(m) => format!("module {m}"),
            None => "registry".to_string(),
        };
        let _ = writeln!(out, "  {}", style.paint("1", &title));
        for f in findings {
            let pos = format!("{}:{}", f.line, f.column);
            let _ = writeln!(
                out,
                "    {pos:>width$}  {}  {}  {}",
                style.severity(f.severity),
                style.paint("2", &format!("{:<rule_width$}", f.rule)),
                f.message
            );
            if let Some(s) = &f.suggestion {
                let pad = width + rule_width + 15;
                let _ = writeln!(out, "{:pad$}{} {s}", "", style.paint("32", "help:"));
            }
        }
    }
    let verdict = if summary.errors > 0 {
        style.paint("1;31", "invalid")
    } else {
        style.paint("1;32", "valid")
    };
    let _ = writeln!(
        out,
        "\n{}: {verdict}: {} error{}, {} warning{}, {} note{} ({modules} module{})",
        report.file,
        summary.errors,
        plural(summary.errors),
        summary.warnings,
        plural(summary.warnings),
        summary.notes,
        plural(summary.notes),
        plural(modules)
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The JSON document `registry check --format json` prints.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The file checked.
    pub file: &'a str,
    /// No errors.
    pub valid: bool,
    /// Modules read.
    pub modules: usize,
    /// Counts by severity.
    pub summary: Summary,
    /// Every finding.
    pub findings: &'a [Finding],
}

/// The report as pretty JSON.
pub fn render_json(report: &Report, modules: usize) -> String {
    let doc = JsonReport {
        file: &report.file,
        valid: report.is_valid(),
        modules,
        summary: report.summary(),
        findings: &report.findings,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
