//! `secret-env`: a committed secret replaced by a reference to an environment variable.
//!
//! The secret is found again with the scan's own detector (the finding carries only a
//! redacted prefix), and replaced in the form the file's language reads the environment
//! with. In code the whole string literal is replaced by the expression; elsewhere (YAML,
//! JSON, `.env`, shell, TOML, INI, Dockerfiles, …) the secret becomes `${VAR}` inside its
//! quotes, the form Compose, shells, dotenv tools and most config loaders expand. The patch
//! removes the secret from the tree only: it stays in git history and whoever read the
//! repository may have it, so every patch carries the note that it must be rotated.

use regex::Regex;

use super::{Cx, FileChange, Fix, column_offset, line_span, read_text};
use crate::checks::security::{Detector, redact};
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "secret-env";

/// Secrets found by `security_scan` (not its workflow rules or files it could not read).
pub(super) fn applies(f: &Finding) -> bool {
    f.check == crate::checks::security::CHECK
        && f.line > 0
        && !f.rule_id.starts_with("workflow.")
        && !f.rule_id.starts_with("scan.")
        && !f.rule_id.starts_with("baseline.")
}

/// How a language reads an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    JavaScript,
    Rust,
    Go,
    Java,
    Ruby,
    Php,
    CSharp,
    Shell,
    /// `${VAR}` inside the value (YAML, JSON, `.env`, TOML, INI, Dockerfile, …).
    Generic,
}

impl Lang {
    fn of(path: &str) -> Lang {
        let ext = path
            .rsplit('/')
            .next()
            .and_then(|n| n.rsplit_once('.').map(|(_, e)| e))
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "py" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "tsx" | "mts" | "cts" => Lang::JavaScript,
            "rs" => Lang::Rust,
            "go" => Lang::Go,
            "java" | "kt" | "kts" | "scala" | "groovy" => Lang::Java,
            "rb" => Lang::Ruby,
            "php" => Lang::Php,
            "cs" => Lang::CSharp,
            "sh" | "bash" | "zsh" | "ksh" => Lang::Shell,
            _ => Lang::Generic,
        }
    }

    /// The expression replacing a whole string literal, for code.
    fn expression(self, var: &str) -> Option<String> {
        Some(match self {
            Lang::Python => format!("os.environ[\"{var}\"]"),
            Lang::JavaScript => format!("process.env.{var}"),
            Lang::Rust => format!("std::env::var(\"{var}\").unwrap_or_default()"),
            Lang::Go => format!("os.Getenv(\"{var}\")"),
            Lang::Java => format!("System.getenv(\"{var}\")"),
            Lang::Ruby => format!("ENV.fetch(\"{var}\")"),
            Lang::Php => format!("getenv('{var}')"),
            Lang::CSharp => format!("Environment.GetEnvironmentVariable(\"{var}\")"),
            Lang::Shell | Lang::Generic => return None,
        })
    }
}

/// Replace the secret the finding points at.
pub(super) fn fix(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let text = read_text(cx.tree, &f.file)?;
    let detector = Detector::from_config(cx.tree, &cx.cfg.security_scan)
        .map_err(|e| format!("the detector does not build: {e}"))?;
    let hits = detector.scan_at(&cx.tree.join(&f.file), text.as_bytes());
    let hit = hits
        .iter()
        .find(|h| h.rule.id == f.rule_id && h.line == f.line && h.column == f.column)
        .ok_or("the secret is no longer where the finding says")?;
    if hit.secret.contains('\n') {
        return Err(
            "a multi-line secret (a private key): move the file out of the repository and \
             rotate the key"
                .into(),
        );
    }
    let (ls, le) = line_span(&text, f.line).ok_or("the finding's line is not in the file")?;
    let line = &text[ls..le];
    let start = column_offset(line, f.column)
        .filter(|&s| line[s..].starts_with(&hit.secret))
        .or_else(|| line.find(&hit.secret))
        .ok_or("the secret is not on the finding's line")?;
    let end = start + hit.secret.len();
    let var = var_name(&line[..start], &f.rule_id);
    let lang = Lang::of(&f.file);
    let before = line[..start].chars().next_back();
    let after = line[end..].chars().next();
    let quoted = matches!((before, after), (Some(a), Some(b)) if a == b && (a == '"' || a == '\'' || a == '`'));
    let (range, replacement) = match lang.expression(&var) {
        Some(expr) if quoted => ((start - 1, end + 1), expr),
        Some(_) => {
            return Err(
                "the secret is part of a larger string: split it and read the secret from \
                 the environment by hand"
                    .into(),
            );
        }
        // Single quotes stop a shell from expanding `${VAR}`: they become double quotes.
        None if lang == Lang::Shell && before == Some('\'') && quoted => {
            ((start - 1, end + 1), format!("\"${{{var}}}\""))
        }
        None => ((start, end), format!("${{{var}}}")),
    };
    let mut new_text = text.clone();
    new_text.replace_range(ls + range.0..ls + range.1, &replacement);
    if lang == Lang::Python && !imports_os(&new_text) {
        new_text = add_python_import(&new_text);
    }
    let mut note = format!(
        "rotate the secret `{}` now: it stays in git history and in every clone. Then set \
         {var} where this runs",
        redact(&hit.secret)
    );
    match lang {
        Lang::Rust => note.push_str(" (the value is now a String read at run time)"),
        Lang::Go => note.push_str(" (import \"os\" if the file does not yet)"),
        Lang::Generic | Lang::Shell => {
            note.push_str(" (the reader of this file must expand `${…}`)");
        }
        _ => {}
    }
    note.push('.');
    Ok(Fix {
        title: format!(
            "{}:{}: {} replaced by {}",
            f.file,
            f.line,
            hit.rule.title,
            if replacement.contains(&var) {
                replacement.clone()
            } else {
                var.clone()
            }
        ),
        note: Some(note),
        changes: vec![FileChange::edit(&f.file, text, new_text)],
    })
}

/// The variable: the name the secret is assigned to on its line (`password:` →
/// `PASSWORD`), else the rule's id (`github-token` → `GITHUB_TOKEN`).
fn var_name(before: &str, rule_id: &str) -> String {
    let assigned = Regex::new(r#"([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?::=|=>|:|=)\s*["'`]?$"#)
        .ok()
        .and_then(|re| re.captures(before.trim_end()).map(|c| c[1].to_string()));
    let raw = assigned
        .map(|s| s.rsplit('.').next().unwrap_or(&s).to_string())
        .unwrap_or_else(|| rule_id.to_string());
    let mut v: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    v = v.trim_matches('_').to_string();
    if v.is_empty() || v.starts_with(|c: char| c.is_ascii_digit()) {
        v = format!("SECRET_{v}");
    }
    v
}

fn imports_os(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l == "import os"
            || l.starts_with("import os ")
            || l.starts_with("import os,")
            || (l.starts_with("import ") && l.split([',', ' ']).any(|w| w == "os"))
    })
}

/// `import os` before the first import (after `from __future__` ones), else after the
/// leading comments and docstring-free top of the file.
fn add_python_import(text: &str) -> String {
    let mut offset = 0;
    let mut insert_at = None;
    let mut after_future = None;
    for l in text.split_inclusive('\n') {
        let t = l.trim_start();
        if t.starts_with("from __future__") {
            after_future = Some(offset + l.len());
        } else if (t.starts_with("import ") || t.starts_with("from ")) && insert_at.is_none() {
            insert_at = Some(offset);
        }
        offset += l.len();
    }
    let at = match (after_future, insert_at) {
        (Some(f), Some(i)) => f.max(i),
        (Some(f), None) => f,
        (None, Some(i)) => i,
        (None, None) => {
            // After a shebang and comment lines.
            let mut at = 0;
            for l in text.split_inclusive('\n') {
                if l.starts_with('#') {
                    at += l.len();
                } else {
                    break;
                }
            }
            at
        }
    };
    let mut t = text.to_string();
    t.insert_str(at, "import os\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_come_from_the_assignment_or_the_rule() {
        assert_eq!(var_name("GITHUB_TOKEN=", "github-token"), "GITHUB_TOKEN");
        assert_eq!(var_name("  password: \"", "generic"), "PASSWORD");
        assert_eq!(var_name("API_KEY = '", "x"), "API_KEY");
        assert_eq!(var_name("const apiKey = \"", "x"), "APIKEY");
        assert_eq!(var_name("config.db.token = ", "x"), "TOKEN");
        assert_eq!(var_name("echo ", "github-token"), "GITHUB_TOKEN");
    }

    #[test]
    fn python_gets_its_import_once() {
        assert_eq!(add_python_import("x = 1\n"), "import os\nx = 1\n");
        assert_eq!(
            add_python_import("#!/usr/bin/env python\n# c\nx = 1\n"),
            "#!/usr/bin/env python\n# c\nimport os\nx = 1\n"
        );
        assert_eq!(
            add_python_import("from __future__ import annotations\nimport sys\n"),
            "from __future__ import annotations\nimport os\nimport sys\n"
        );
        assert!(imports_os("import sys, os\n"));
        assert!(!imports_os("import oslo\n"));
    }

    #[test]
    fn languages_by_extension() {
        assert_eq!(Lang::of("a/b.py"), Lang::Python);
        assert_eq!(Lang::of("x.tsx"), Lang::JavaScript);
        assert_eq!(Lang::of("deploy/app.env"), Lang::Generic);
        assert_eq!(Lang::of("run.sh"), Lang::Shell);
        assert_eq!(Lang::of("Dockerfile"), Lang::Generic);
    }
}
