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

/// Check every name under `root`, and the module names of the registry `registry_file`
/// (relative to `root`) when there is one.
pub fn run(root: &Path, cfg: &NamingConfig, registry_file: &str) -> CheckResult {
    let started = Instant::now();
    let modules = module_names(root, cfg, registry_file);
    let mut r = match check(root, cfg).and_then(|mut f| {
        f.extend(modules?.unwrap_or_default());
        Ok(f)
    }) {
        Ok(findings) => CheckResult::from_findings(CHECK, findings, 0),
        Err(e) => CheckResult::with_status(CHECK, Status::Error, e.to_string()),
    };
    if cfg.module_names.is_some() && root.join(registry_file).is_file() {
        r.files_read.push(registry_file.to_string());
    }
    r.duration_ms = started.elapsed().as_millis() as u64;
    r
}

/// Module names in the registry against `module_names`; `None` when there is nothing to
/// check. A registry that does not parse is `module_registry`'s finding, not this one's.
fn module_names(
    root: &Path,
    cfg: &NamingConfig,
    registry_file: &str,
) -> Result<Option<Vec<Finding>>, GateError> {
    let Some(naming) = &cfg.module_names else {
        return Ok(None);
    };
    let path = root.join(registry_file);
    if !path.is_file() {
        return Ok(None);
    }
    let rule = NamingRule {
        glob: registry_file.to_string(),
        style: naming.style,
        pattern: naming.pattern.clone(),
        applies_to: AppliesTo::Files,
    };
    let pattern = compile_pattern("naming_conventions.module_names", &rule)?;
    let Ok(loaded) = mno_registry::tree::read_file(&path)
        .and_then(|text| mno_registry::load_str(registry_file, &text))
    else {
        return Ok(None);
    };
    let style = style_name(naming.style);
    let findings = loaded
        .registry
        .modules
        .iter()
        .filter(|m| !pattern.is_match(&m.name))
        .map(|m| Finding {
            check: CHECK.into(),
            rule_id: "naming.module-name".into(),
            severity: Severity::Error,
            file: registry_file.to_string(),
            line: m.at.line,
            column: m.at.column,
            message: format!("module name `{}` is not {style}", m.name),
            suggested_fix: convert(&m.name, naming.style)
                .filter(|s| *s != m.name)
                .map(|s| format!("rename the module `{s}` (and the dependencies naming it)")),
            fingerprint: None,
        })
        .collect();
    Ok(Some(findings))
}

/// A rule's full-match regex: its style's, or its own `pattern` for style `regex`.
fn compile_pattern(what: &str, rule: &NamingRule) -> Result<Regex, GateError> {
    let src = match rule.style {
        NamingStyle::Regex => rule.pattern.clone().ok_or_else(|| GateError::Pattern {
            what: what.to_string(),
            pattern: String::new(),
            message: "style `regex` needs a `pattern`".into(),
        })?,
        style => style_pattern(style).to_string(),
    };
    Regex::new(&format!("^(?:{src})$")).map_err(|e| GateError::Pattern {
        what: what.to_string(),
        pattern: src.clone(),
        message: e.to_string(),
    })
}

fn check(root: &Path, cfg: &NamingConfig) -> Result<Vec<Finding>, GateError> {
    let rules = cfg
        .rules
        .iter()
        .map(|rule| {
            let what = format!("naming_conventions rule {:?}", rule.glob);
            let pattern = compile_pattern(&what, rule)?;
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
    fn registry_module_names_follow_their_style_and_are_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("root.modules.yaml"),
            "modules:\n  - name: api\n    version: 1.0.0\n  - name: LogService\n    version: 1.0.0\n",
        )
        .unwrap();
        let cfg = NamingConfig {
            rules: Vec::new(),
            ..NamingConfig::default()
        };
        let r = run(dir.path(), &cfg, "root.modules.yaml");
        assert_eq!(r.status, Status::Failed, "{:#?}", r.findings);
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        let f = &r.findings[0];
        assert_eq!(f.rule_id, "naming.module-name");
        assert_eq!((f.file.as_str(), f.line), ("root.modules.yaml", 4));
        assert!(f.column > 0);
        assert_eq!(
            f.suggested_fix.as_deref(),
            Some("rename the module `log-service` (and the dependencies naming it)")
        );
        assert_eq!(r.files_read, ["root.modules.yaml"]);
        // `null` turns the rule off; a regex style takes its pattern.
        let off = NamingConfig {
            module_names: None,
            ..cfg.clone()
        };
        assert_eq!(
            run(dir.path(), &off, "root.modules.yaml").status,
            Status::Passed
        );
        let regex = NamingConfig {
            module_names: Some(crate::config::ModuleNaming {
                style: NamingStyle::Regex,
                pattern: Some("[A-Za-z]+".into()),
            }),
            ..cfg
        };
        assert_eq!(
            run(dir.path(), &regex, "root.modules.yaml").status,
            Status::Passed
        );
        // No registry: nothing to check.
        assert_eq!(run(dir.path(), &off, "missing.yaml").status, Status::Passed);
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
