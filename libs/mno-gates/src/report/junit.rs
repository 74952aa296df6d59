//! `junit.xml`: one test suite per check, one test case per finding (errors fail).

use std::fmt::Write;

use crate::finding::{CheckResult, GateReport, Severity, Status};

/// Render the report as JUnit XML.
pub fn render(report: &GateReport) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    let mut time = 0.0;
    for r in report.validation_results.values() {
        let s = suite(r);
        tests += s.tests;
        failures += s.failures;
        errors += s.errors;
        skipped += s.skipped;
        time += secs(r.duration_ms);
        suites.push_str(&s.xml);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"mno-gates\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{time:.3}\">\n{suites}</testsuites>\n"
    )
}

struct Suite {
    xml: String,
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

fn suite(r: &CheckResult) -> Suite {
    let mut cases = String::new();
    let (mut failures, mut errors, mut skipped) = (0, 0, 0);
    let name = esc(&r.check);
    // A check run per item (modules built) is one case per item; its findings are those items'.
    let per_item = !r.items.is_empty();
    if per_item {
        for i in &r.items {
            match item_case(&mut cases, &name, i) {
                Status::Failed | Status::Error => failures += 1,
                Status::Skipped => skipped += 1,
                Status::Passed => {}
            }
        }
    }
    match r.status {
        _ if per_item => {}
        Status::Skipped => {
            skipped += 1;
            let why = esc(r.detail.as_deref().unwrap_or("skipped"));
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{name}\" name=\"{name}\" time=\"0\">\n      <skipped message=\"{why}\"/>\n    </testcase>"
            );
        }
        Status::Error => {
            errors += 1;
            let why = esc(r.detail.as_deref().unwrap_or("error"));
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{name}\" name=\"{name}\" time=\"0\">\n      <error message=\"{why}\" type=\"CheckError\">{why}</error>\n    </testcase>"
            );
        }
        Status::Passed | Status::Failed => {}
    }
    for f in r.findings.iter().filter(|_| !per_item) {
        let at = if f.line > 0 {
            format!("{}:{}:{}", f.file, f.line, f.column)
        } else {
            f.file.clone()
        };
        let case_name = esc(&format!("{} {at}", f.rule_id));
        let msg = esc(&f.message);
        let body = match f.severity {
            Severity::Error => {
                failures += 1;
                let fix = f.suggested_fix.as_deref().map(esc).unwrap_or_default();
                format!(
                    "\n      <failure message=\"{msg}\" type=\"{}\">{at}: {msg}\n{fix}</failure>\n    ",
                    esc(&f.rule_id)
                )
            }
            Severity::Warning | Severity::Note => format!(
                "\n      <system-out>{}: {at}: {msg}</system-out>\n    ",
                f.severity.as_str()
            ),
        };
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{name}\" name=\"{case_name}\" file=\"{}\" time=\"0\">{body}</testcase>",
            esc(&f.file)
        );
    }
    if cases.is_empty() {
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{name}\" name=\"{name}\" time=\"{:.3}\"/>",
            secs(r.duration_ms)
        );
    }
    let tests = if per_item {
        r.items.len()
    } else {
        r.findings.len().max(1)
    };
    Suite {
        xml: format!(
            "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" \
             skipped=\"{skipped}\" time=\"{:.3}\">\n{cases}  </testsuite>\n",
            secs(r.duration_ms)
        ),
        tests,
        failures,
        errors,
        skipped,
    }
}

/// One item (a module built) as a test case: a failure (FAILED or ERROR) or skipped, with
/// its output tail as `system-out`.
fn item_case(cases: &mut String, class: &str, i: &crate::finding::ItemResult) -> Status {
    let detail = esc(i.detail.as_deref().unwrap_or(""));
    let body = match i.status {
        Status::Failed | Status::Error => {
            format!(
                "\n      <failure message=\"{detail}\" type=\"{}\">{detail}</failure>",
                i.status.as_str()
            )
        }
        Status::Skipped => format!("\n      <skipped message=\"{detail}\"/>"),
        Status::Passed => String::new(),
    };
    let out = if i.output_tail.is_empty() {
        String::new()
    } else {
        format!(
            "\n      <system-out>{}</system-out>",
            esc_text(&i.output_tail)
        )
    };
    let _ = writeln!(
        cases,
        "    <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\">{body}{out}\n    </testcase>",
        esc(&i.name),
        secs(i.duration_ms)
    );
    i.status
}

/// Escape for XML element text, keeping line breaks (output tails are multi-line).
fn esc_text(s: &str) -> String {
    s.split('\n').map(esc).collect::<Vec<_>>().join("\n")
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Escape for XML text and attributes; drop characters XML 1.0 cannot hold.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}
