//! `naming_conventions`: file and directory names against per-glob styles (ls-lint's idea).

use std::path::Path;
use std::time::Instant;

use globset::GlobMatcher;
use ignore::WalkBuilder;
use regex::Regex;

use crate::config::{AppliesTo, NamingConfig, NamingRule, NamingStyle};
use crate::error::GateError;
use crate::finding::{CheckResult, Finding, Severity, Status};
use crate::walk::{glob, glob_set, relative};

/// The check's name.
pub const CHECK: &str = "naming_conventions";

struct Compiled<'a> {
    rule: &'a NamingRule,
    glob: GlobMatcher,
    pattern: Regex,
}

/// Check every name under `root`.
pub fn run(root: &Path, cfg: &NamingConfig) -> CheckResult {
    let started = Instant::now();
    let mut r = match check(root, cfg) {
        Ok(findings) => CheckResult::from_findings(CHECK, findings, 0),
        Err(e) => CheckResult::with_status(CHECK, Status::Error, e.to_string()),
    };
    r.duration_ms = started.elapsed().as_millis() as u64;
    r
}

fn check(root: &Path, cfg: &NamingConfig) -> Result<Vec<Finding>, GateError> {
    let rules = cfg
        .rules
        .iter()
        .map(|rule| {
            let what = format!("naming_conventions rule {:?}", rule.glob);
            let src = match rule.style {
                NamingStyle::Regex => rule.pattern.clone().ok_or_else(|| GateError::Pattern {
                    what: what.clone(),
                    pattern: String::new(),
                    message: "style `regex` needs a `pattern`".into(),
                })?,
                style => style_pattern(style).to_string(),
            };
            let pattern = Regex::new(&format!("^(?:{src})$")).map_err(|e| GateError::Pattern {
                what: what.clone(),
                pattern: src.clone(),
                message: e.to_string(),
            })?;
            Ok(Compiled {
                rule,
                glob: glob(&what, &rule.glob)?.compile_matcher(),
                pattern,
            })
        })
        .collect::<Result<Vec<_>, GateError>>()?;
    let ignored = glob_set("naming_conventions.ignore", &cfg.ignore)?;
    let mut findings = Vec::new();
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walker.flatten() {
        if entry.depth() == 0 {
            continue;
        }
        let rel = relative(root, entry.path());
        if ignored.is_match(&rel) {
            continue;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let name = entry.file_name().to_string_lossy();
        for c in &rules {
            let applies = match c.rule.applies_to {
                AppliesTo::Files => !is_dir,
                AppliesTo::Directories => is_dir,
                AppliesTo::Both => true,
            };
            if !applies || !c.glob.is_match(&rel) {
                continue;
            }
            let subject = if is_dir { &name[..] } else { stem(&name) };
            if subject.is_empty() || c.pattern.is_match(subject) {
                continue;
            }
            findings.push(finding(&rel, subject, is_dir, c));
        }
    }
    Ok(findings)
}

fn finding(rel: &str, subject: &str, is_dir: bool, c: &Compiled<'_>) -> Finding {
    let style = style_name(c.rule.style);
    let suggested_fix = convert(subject, c.rule.style)
        .filter(|s| s != subject)
        .map(|s| format!("rename to `{s}`"));
    Finding {
        check: CHECK.into(),
        rule_id: format!("naming.{style}"),
        severity: Severity::Error,
        file: rel.to_string(),
        line: 0,
        column: 0,
        message: format!(
            "{} name `{subject}` is not {style} (rule for `{}`)",
            if is_dir { "directory" } else { "file" },
            c.rule.glob
        ),
        suggested_fix,
        fingerprint: None,
    }
}

/// The name up to its first dot; a dotfile's leading dot is not part of it (`.eslintrc.json` → `eslintrc`).
fn stem(name: &str) -> &str {
    let name = name.strip_prefix('.').unwrap_or(name);
    match name.find('.') {
        Some(i) => &name[..i],
        None => name,
    }
}

fn style_pattern(style: NamingStyle) -> &'static str {
    match style {
        NamingStyle::KebabCase => r"[a-z0-9]+(?:-[a-z0-9]+)*",
        NamingStyle::SnakeCase => r"[a-z0-9]+(?:_[a-z0-9]+)*",
        NamingStyle::ScreamingSnakeCase => r"[A-Z0-9]+(?:_[A-Z0-9]+)*",
        NamingStyle::PascalCase => r"[A-Z][a-zA-Z0-9]*",
        NamingStyle::CamelCase => r"[a-z][a-zA-Z0-9]*",
        NamingStyle::Lowercase => r"[a-z0-9]+",
        NamingStyle::Regex => "",
    }
}

fn style_name(style: NamingStyle) -> &'static str {
    match style {
        NamingStyle::KebabCase => "kebab-case",
        NamingStyle::SnakeCase => "snake_case",
        NamingStyle::ScreamingSnakeCase => "SCREAMING_SNAKE_CASE",
        NamingStyle::PascalCase => "PascalCase",
        NamingStyle::CamelCase => "camelCase",
        NamingStyle::Lowercase => "lowercase",
        NamingStyle::Regex => "regex",
    }
}

/// Split a name into lowercase words at separators and case changes.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `name` rewritten in `style`, when the style is not a free regex.
fn convert(name: &str, style: NamingStyle) -> Option<String> {
    let w = words(name);
    if w.is_empty() {
        return None;
    }
    let cap = |s: &String| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    Some(match style {
        NamingStyle::KebabCase => w.join("-"),
        NamingStyle::SnakeCase => w.join("_"),
        NamingStyle::ScreamingSnakeCase => w.join("_").to_uppercase(),
        NamingStyle::PascalCase => w.iter().map(cap).collect(),
        NamingStyle::CamelCase => {
            let mut s = w[0].clone();
            s.extend(w[1..].iter().map(cap));
            s
        }
        NamingStyle::Lowercase => w.concat(),
        NamingStyle::Regex => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_accept_and_reject() {
        let ok = |style, name: &str| {
            Regex::new(&format!("^(?:{})$", style_pattern(style)))
                .unwrap()
                .is_match(name)
        };
        assert!(ok(NamingStyle::KebabCase, "my-file-2"));
        assert!(!ok(NamingStyle::KebabCase, "my_file"));
        assert!(ok(NamingStyle::SnakeCase, "my_file"));
        assert!(!ok(NamingStyle::SnakeCase, "myFile"));
        assert!(ok(NamingStyle::ScreamingSnakeCase, "README"));
        assert!(ok(NamingStyle::PascalCase, "MyFile"));
        assert!(!ok(NamingStyle::PascalCase, "myFile"));
        assert!(ok(NamingStyle::CamelCase, "myFile"));
        assert!(ok(NamingStyle::Lowercase, "myfile"));
        assert!(!ok(NamingStyle::Lowercase, "my-file"));
    }

    #[test]
    fn stems_and_conversions() {
        assert_eq!(stem("gate_handler.rs"), "gate_handler");
        assert_eq!(stem("index.d.ts"), "index");
        assert_eq!(stem(".eslintrc.json"), "eslintrc");
        assert_eq!(
            convert("GateHandler", NamingStyle::SnakeCase).as_deref(),
            Some("gate_handler")
        );
        assert_eq!(
            convert("my_file-name", NamingStyle::CamelCase).as_deref(),
            Some("myFileName")
        );
        assert_eq!(
            convert("myFile", NamingStyle::KebabCase).as_deref(),
            Some("my-file")
        );
    }
}
