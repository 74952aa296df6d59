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
        items(&mut out, &r.items);
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
    if let Some(m) = &report.monitor {
        monitor(&mut out, m);
    }
    for m in &report.monitor_hosts {
        monitor(&mut out, m);
    }
    if let Some(f) = &report.fixes {
        fixes(&mut out, f);
    }
    if let Some(h) = &report.evidence_chain {
        let _ = writeln!(
            out,
            "\n### Evidence chain\n\nHead when this run started: {} records, last hash `{}` \
             (check with `super-agent evidence verify --expect-head {h}`).",
            h.records, h.hash
        );
    }
    out
}

/// The Auto-Monitor section: health, usage, and a table of active alerts.
fn monitor(out: &mut String, m: &crate::monitor::MonitorSection) {
    match &m.host {
        Some(h) => {
            let _ = writeln!(out, "\n### Auto-Monitor: host `{}`\n", h.replace('`', "'"));
        }
        None => {
            let _ = writeln!(out, "\n### Auto-Monitor\n");
        }
    }
    if !m.reachable {
        let _ = writeln!(
            out,
            "⚠️ `{}` unreachable: {}",
            m.url.replace('`', "'"),
            cell(m.error.as_deref().unwrap_or("no answer"))
        );
        return;
    }
    let pct = |v: Option<f64>| {
        v.map(|x| format!("{x:.1} %"))
            .unwrap_or_else(|| "n/a".into())
    };
    let health = m.health.as_ref();
    let _ = writeln!(
        out,
        "`{}`: health **{}**{}; CPU {}, memory {}, disk {}{}.\n",
        m.url.replace('`', "'"),
        cell(health.map(|h| h.status.as_str()).unwrap_or("unknown")),
        health
            .and_then(|h| h.version.as_deref())
            .map(|v| format!(" (version {})", cell(v)))
            .unwrap_or_default(),
        pct(m.cpu_usage_percent),
        pct(m.memory_usage_percent),
        pct(m.disk_usage_percent),
        m.disks
            .first()
            .map(|d| format!(" (fullest: `{}`)", d.mountpoint.replace('`', "'")))
            .unwrap_or_default(),
    );
    if let Some(e) = &m.error {
        let _ = writeln!(out, "> warning: {}\n", cell(e));
    }
    if m.active_alerts.is_empty() {
        out.push_str("No active alerts.\n");
        return;
    }
    out.push_str("| Alert | Severity | State | Since | Summary |\n|---|---|---|---|---|\n");
    for a in m.active_alerts.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            a.name.replace('`', "'"),
            cell(&a.severity),
            cell(&a.state),
            cell(&a.since),
            a.summary.as_deref().map(cell).unwrap_or_default()
        );
    }
}

/// Proposed fixes: one row per patch (AI-proposed ones marked), then what was left unfixed.
fn fixes(out: &mut String, f: &crate::autofix::FixesSection) {
    let _ = writeln!(out, "\n### Proposed fixes\n");
    if f.proposed.is_empty() {
        out.push_str("No patch proposed.\n");
    } else {
        let _ = writeln!(
            out,
            "Each patch passed `git apply --check` and a re-run of its check on a copy of the \
             tree. They build on each other: apply them in order (`git apply {}/*.patch` from \
             the repository root, or `super-agent gate run --fix --apply`).\n",
            crate::autofix::PATCH_DIR
        );
        out.push_str(
            "| # | Fixer | Finding | Patch | What it does | Note |\n|---|---|---|---|---|---|\n",
        );
        for p in f.proposed.iter().take(MAX_ROWS) {
            let by = if p.ai_proposed {
                format!("**AI-proposed** (`{}`)", p.fixer)
            } else {
                format!("`{}`", p.fixer)
            };
            let _ = writeln!(
                out,
                "| {} | {by} | `{}` {} | `{}` | {} | {} |",
                p.id,
                p.rule_id,
                location(&p.file, p.line, None),
                p.patch.replace('`', "'"),
                cell(&p.title),
                p.note.as_deref().map(cell).unwrap_or_default()
            );
        }
    }
    if !f.unfixed.is_empty() {
        out.push_str("\n| Not fixed | Fixer | Why |\n|---|---|---|\n");
        for u in f.unfixed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                out,
                "| `{}` {} | {}{} | {} |",
                u.rule_id,
                location(&u.file, u.line, None),
                if u.ai_proposed { "AI-proposed " } else { "" },
                u.fixer,
                cell(&u.reason)
            );
        }
    }
    for n in &f.notes {
        let _ = writeln!(out, "\n> note: {}", cell(n));
    }
}

/// Per-item results (modules built): a table, then each output tail folded in `<details>`.
fn items(out: &mut String, items: &[crate::finding::ItemResult]) {
    if items.is_empty() {
        return;
    }
    out.push_str("| Module | Status | Exit | Duration | Detail |\n|---|---|---:|---:|---|\n");
    for i in items {
        let _ = writeln!(
            out,
            "| `{}` | {} {} | {} | {} ms | {} |",
            i.name.replace('`', "'"),
            icon(i.status),
            i.status.as_str(),
            i.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            i.duration_ms,
            i.detail.as_deref().map(cell).unwrap_or_default()
        );
    }
    out.push('\n');
    for i in items.iter().filter(|i| !i.output_tail.is_empty()) {
        // A fence longer than any backtick run in the output, so the output cannot close it.
        let mut fence = "```".to_string();
        while i.output_tail.contains(&fence) {
            fence.push('`');
        }
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> output (last lines)</summary>\n\n{fence}text\n{}{fence}\n\n</details>\n",
            cell(&i.name),
            i.output_tail
        );
    }
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
