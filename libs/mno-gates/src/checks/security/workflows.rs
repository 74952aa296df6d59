//! Workflow hardening: risky patterns in `.github/workflows/*.yml`, after GitHub's own
//! "Security hardening for GitHub Actions" guide and GitHub Security Lab's "pwn request" notes.
//!
//! | rule | severity |
//! |---|---|
//! | `workflow.unpinned-action`: `uses: owner/repo@ref` where ref is not a full 40-hex SHA | warning |
//! | `workflow.pr-target-checkout`: `pull_request_target` checking out the PR's head | error |
//! | `workflow.secret-echo`: a `run:` printing a secret, or `set -x` with secrets about | error |
//! | `workflow.write-all`: `permissions: write-all` | error |
//! | `workflow.permissions-missing`: no `permissions` at the top or on every job | note |
//! | `workflow.parse`: the file is not valid YAML | warning |
//!
//! The file is read into a plain value (serde-saphyr) and findings are located through
//! the key index of `mno_common`; lines inside a `run:` script are found in the text.

use std::collections::BTreeSet;
use std::path::Path;

use mno_common::{ConfigError, Location, PathIndex};
use serde_json::{Map, Value};

use super::CHECK;
use super::diff::Changes;
use crate::finding::{Finding, Severity};

/// Where GitHub reads workflows from (no subfolders).
pub const WORKFLOW_DIR: &str = ".github/workflows";

/// Expressions that name the pull request's own (untrusted) code.
const PR_HEAD_REFS: &[&str] = &[
    "github.event.pull_request.head.",
    "github.head_ref",
    "github.event.pull_request.merge_commit_sha",
    "refs/pull/",
];

/// Commands whose output goes to the job log.
const PRINTERS: &[&str] = &["echo", "printf", "print", "write-host", "write-output"];

/// Check every workflow under `root`; in diff mode only changed ones, and only their
/// changed lines except for `pr-target-checkout`, whose risk spans the whole file.
/// Returns the findings and how many workflows were read.
pub fn check(
    root: &Path,
    changes: Option<&Changes>,
    skip: impl Fn(&str) -> bool,
) -> (Vec<Finding>, u64) {
    let Ok(dir) = std::fs::read_dir(root.join(WORKFLOW_DIR)) else {
        return (Vec::new(), 0);
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    let (mut findings, mut read) = (Vec::new(), 0);
    for name in names {
        let rel = format!("{WORKFLOW_DIR}/{name}");
        if skip(&rel) || changes.is_some_and(|c| !c.touches(&rel)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(&rel)) else {
            continue;
        };
        read += 1;
        findings.extend(check_text(&rel, &text).into_iter().filter(|f| {
            changes.is_none_or(|c| {
                f.rule_id == "workflow.pr-target-checkout" || c.contains(&f.file, f.line)
            })
        }));
    }
    (findings, read)
}

/// Findings for one workflow file's text; `file` names it in findings.
pub fn check_text(file: &str, text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let mut w = Workflow {
        file,
        lines: &lines,
        index: PathIndex::default(),
        out: Vec::new(),
    };
    let parsed = PathIndex::build(file, text).and_then(|index| {
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<Value>(text, options)
            .map(|v| (index, v))
            .map_err(|e| ConfigError::Syntax {
                file: file.to_string(),
                loc: e.location().map(Location::from).unwrap_or_default(),
                message: e.to_string().lines().next().unwrap_or("").to_string(),
            })
    });
    match parsed {
        Ok((index, doc)) => {
            w.index = index;
            if let Value::Object(doc) = doc {
                w.check_doc(&doc);
            }
        }
        Err(e) => {
            let loc = e.location().unwrap_or_default();
            w.push(
                "workflow.parse",
                Severity::Warning,
                loc,
                format!("not a valid workflow file: {e}"),
                None,
            );
        }
    }
    let Workflow { out, lines, .. } = w;
    // An inline `mno:allow` accepts a reviewed finding, as for secrets.
    out.into_iter()
        .filter(|f| {
            f.line == 0
                || !lines
                    .get(f.line - 1)
                    .is_some_and(|l| l.contains("mno:allow"))
        })
        .collect()
}

struct Workflow<'a> {
    file: &'a str,
    lines: &'a [&'a str],
    index: PathIndex,
    out: Vec<Finding>,
}

impl Workflow<'_> {
    fn check_doc(&mut self, doc: &Map<String, Value>) {
        let triggers = triggers(doc.get("on"));
        let pr_target = triggers.contains("pull_request_target");
        let mut secret_env = secret_env_names(doc.get("env"));
        if let Some(p) = doc.get("permissions") {
            self.permissions("permissions", p);
        }
        let Some(Value::Object(jobs)) = doc.get("jobs") else {
            return;
        };
        let top_permissions = doc.contains_key("permissions");
        if !top_permissions
            && jobs
                .values()
                .any(|j| j.get("permissions").is_none_or(Value::is_null))
        {
            let loc = self.loc("jobs");
            self.push(
                "workflow.permissions-missing",
                Severity::Note,
                loc,
                "no `permissions:` at the top level or on every job: the token gets the \
                 repository's default permissions, which may be read-write"
                    .into(),
                Some(
                    "add `permissions: contents: read` at the top and widen per job as needed"
                        .into(),
                ),
            );
        }
        let workflow_env = secret_env.clone();
        for (id, job) in jobs {
            let Value::Object(job) = job else { continue };
            let jk = format!("jobs.{id}");
            if let Some(p) = job.get("permissions") {
                self.permissions(&format!("{jk}.permissions"), p);
            }
            if let Some(Value::String(u)) = job.get("uses") {
                self.pinned(&format!("{jk}.uses"), u);
            }
            secret_env.clone_from(&workflow_env);
            secret_env.extend(secret_env_names(job.get("env")));
            let Some(Value::Array(steps)) = job.get("steps") else {
                continue;
            };
            for (i, step) in steps.iter().enumerate() {
                let Value::Object(step) = step else { continue };
                let sk = format!("{jk}.steps.{i}");
                if let Some(Value::String(u)) = step.get("uses") {
                    self.pinned(&format!("{sk}.uses"), u);
                    if pr_target {
                        self.pr_checkout(&sk, u, step.get("with"));
                    }
                }
                if let Some(Value::String(script)) = step.get("run") {
                    let mut env = secret_env.clone();
                    env.extend(secret_env_names(step.get("env")));
                    self.script(&format!("{sk}.run"), script, &env);
                }
            }
        }
    }

    fn permissions(&mut self, key: &str, p: &Value) {
        if p.as_str() == Some("write-all") {
            let loc = self.value_loc(key, "write-all");
            self.push(
                "workflow.write-all",
                Severity::Error,
                loc,
                format!("`{key}: write-all` gives the token write access to everything"),
                Some("grant only what the job needs (e.g. `permissions: contents: read`)".into()),
            );
        }
    }

    fn pinned(&mut self, key: &str, uses: &str) {
        let uses = uses.trim();
        if uses.starts_with("./") {
            return;
        }
        let (fix, what) = if let Some(image) = uses.strip_prefix("docker://") {
            if image
                .split_once("@sha256:")
                .is_some_and(|(_, d)| d.len() == 64 && is_hex(d))
            {
                return;
            }
            (
                "pin the image by digest (e.g. `docker://image@sha256:<digest>`)".to_string(),
                "image",
            )
        } else {
            match uses.rsplit_once('@') {
                Some((_, r)) if r.len() == 40 && is_hex(r) => return,
                Some((action, r)) => (
                    format!("pin to the commit SHA of {r} (e.g. uses: {action}@<40-hex> # {r})"),
                    "action",
                ),
                None => (
                    format!("pin to a commit SHA (e.g. uses: {uses}@<40-hex> # <tag>)"),
                    "action",
                ),
            }
        };
        let loc = self.value_loc(key, uses);
        self.push(
            "workflow.unpinned-action",
            Severity::Warning,
            loc,
            format!(
                "{what} `{uses}` is not pinned to a full commit SHA: whoever controls the \
                 tag controls this job"
            ),
            Some(fix),
        );
    }

    fn pr_checkout(&mut self, step_key: &str, uses: &str, with: Option<&Value>) {
        if !uses.to_ascii_lowercase().starts_with("actions/checkout@") {
            return;
        }
        for field in ["ref", "repository"] {
            let Some(Value::String(v)) = with.and_then(|w| w.get(field)) else {
                continue;
            };
            let untrusted = PR_HEAD_REFS.iter().any(|p| v.contains(p))
                || (field == "repository" && v.contains("github.event.pull_request.head"));
            if !untrusted {
                continue;
            }
            let key = format!("{step_key}.with.{field}");
            let loc = self.value_loc(&key, v);
            self.push(
                "workflow.pr-target-checkout",
                Severity::Error,
                loc,
                "`pull_request_target` runs with the base repository's secrets and write token, \
                 and this step checks out the pull request's own code"
                    .into(),
                Some(
                    "use `pull_request` for building PR code, or keep the checkout of the base \
                     and never run code from the PR in this workflow"
                        .into(),
                ),
            );
        }
    }

    fn script(&mut self, key: &str, script: &str, secret_env: &BTreeSet<String>) {
        let any_secret = !secret_env.is_empty() || refers_to_secret_expr(script);
        for line in script.lines() {
            let code = line.trim();
            if code.starts_with('#') || code.is_empty() {
                continue;
            }
            let message = if any_secret && sets_xtrace(code) {
                Some(
                    "`set -x` traces every command with its expanded arguments, secrets included"
                        .to_string(),
                )
            } else {
                prints_secret(code, secret_env)
                    .map(|name| format!("`run:` prints {name} to the job log"))
            };
            if let Some(message) = message {
                let loc = self.script_loc(key, code);
                self.push(
                    "workflow.secret-echo",
                    Severity::Error,
                    loc,
                    message,
                    Some(
                        "never print secrets (GitHub's masking misses transformed values); pass \
                         them through `env:` to the command that needs them"
                            .into(),
                    ),
                );
            }
        }
    }

    fn loc(&self, key: &str) -> Location {
        self.index.locate(key).unwrap_or_default()
    }

    /// The key's location, moved onto `value` when it is on the same line.
    fn value_loc(&self, key: &str, value: &str) -> Location {
        let loc = self.loc(key);
        match self.lines.get(loc.line.wrapping_sub(1)) {
            Some(l) => match l.find(value) {
                Some(at) => Location {
                    line: loc.line,
                    column: l[..at].chars().count() + 1,
                },
                None => loc,
            },
            None => loc,
        }
    }

    /// Where a script line is: the first line at or after its `run:` key holding its text.
    fn script_loc(&self, key: &str, code: &str) -> Location {
        let loc = self.loc(key);
        let from = loc.line.saturating_sub(1);
        for (i, l) in self.lines.iter().enumerate().skip(from) {
            if let Some(at) = l.find(code) {
                return Location {
                    line: i + 1,
                    column: l[..at].chars().count() + 1,
                };
            }
        }
        loc
    }

    fn push(
        &mut self,
        rule: &str,
        severity: Severity,
        loc: Location,
        message: String,
        suggested_fix: Option<String>,
    ) {
        self.out.push(Finding {
            check: CHECK.into(),
            rule_id: rule.into(),
            severity,
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
            message,
            suggested_fix,
            fingerprint: None,
        });
    }
}

/// Event names of `on:` (a string, a list, or a map keyed by event).
fn triggers(on: Option<&Value>) -> BTreeSet<String> {
    match on {
        Some(Value::String(s)) => [s.clone()].into(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

/// Names in an `env:` map whose value comes from `secrets.*`.
fn secret_env_names(env: Option<&Value>) -> BTreeSet<String> {
    let Some(Value::Object(env)) = env else {
        return BTreeSet::new();
    };
    env.iter()
        .filter(|(_, v)| v.as_str().is_some_and(refers_to_secret_expr))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether text holds a `${{ … secrets.X … }}` expression.
fn refers_to_secret_expr(s: &str) -> bool {
    let mut rest = s;
    while let Some(at) = rest.find("${{") {
        let expr = &rest[at + 3..];
        let end = expr.find("}}").unwrap_or(expr.len());
        if expr[..end].contains("secrets.") || expr[..end].contains("secrets[") {
            return true;
        }
        rest = &expr[end..];
    }
    false
}

/// `set -x`, `set -ex`, `set -o xtrace`.
fn sets_xtrace(code: &str) -> bool {
    code.split([';', '&', '|']).any(|seg| {
        let mut w = seg.split_whitespace();
        w.next() == Some("set")
            && w.any(|a| {
                a == "xtrace" || (a.starts_with('-') && !a.starts_with("--") && a.contains('x'))
            })
    })
}

/// If a command on this line prints a secret to the log, what it prints (for the message).
fn prints_secret(code: &str, secret_env: &BTreeSet<String>) -> Option<String> {
    for (seg, piped) in segments(code) {
        let seg = seg.trim();
        let mut words = seg.split_whitespace();
        let first = words.next().unwrap_or("").to_ascii_lowercase();
        let printer = PRINTERS.contains(&first.as_str())
            || (first == "cat" && seg.contains("<<<"))
            || first.starts_with("console.log(");
        // Piped into another command or redirected to a file, it does not reach the log;
        // `>&2` does. `::add-mask::` lines are read by the runner, not shown.
        if !printer || piped || redirects_to_file(seg) || seg.contains("::add-mask::") {
            continue;
        }
        if refers_to_secret_expr(seg) {
            return Some("a `secrets.*` value".into());
        }
        if let Some(name) = secret_env.iter().find(|n| mentions_var(seg, n)) {
            return Some(format!("`${name}`, which holds a secret"));
        }
    }
    None
}

/// Split a shell line at `;`, `&&`, `||` and `|`, saying for each part whether it feeds a pipe.
fn segments(code: &str) -> Vec<(&str, bool)> {
    let b = code.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        let two = b.get(i + 1).copied();
        let (cut, piped, skip) = match (b[i], two) {
            (b'|', Some(b'|')) | (b'&', Some(b'&')) => (true, false, 2),
            (b'|', _) => (true, true, 1),
            (b';', _) => (true, false, 1),
            _ => (false, false, 1),
        };
        if cut {
            out.push((&code[start..i], piped));
            start = i + skip;
        }
        i += skip;
    }
    out.push((&code[start..], false));
    out
}

/// `> file`, `>> file`, `1> file` (not `>&2`, which is still the log).
fn redirects_to_file(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'>' && {
            let mut j = i + 1;
            while b.get(j) == Some(&b'>') {
                j += 1;
            }
            b.get(j) != Some(&b'&') && b.get(i.wrapping_sub(1)) != Some(&b'2')
        }
    })
}

/// `$NAME`, `${NAME}` or `$env:NAME` in text, as a whole name.
fn mentions_var(text: &str, name: &str) -> bool {
    ["$", "${", "$env:", "$ENV:"].iter().any(|p| {
        let needle = format!("{p}{name}");
        text.match_indices(&needle).any(|(at, _)| {
            !text[at + needle.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_commands_are_told_from_piped_and_redirected_ones() {
        let env: BTreeSet<String> = ["TOKEN".to_string()].into();
        for yes in [
            "echo \"${{ secrets.NPM_TOKEN }}\"",
            "echo $TOKEN",
            "printf '%s\\n' \"${TOKEN}\" >&2",
            "cat <<< \"${{ secrets.X }}\"",
            "make build && echo ${{ secrets.X }}",
            "Write-Host $env:TOKEN",
        ] {
            assert!(prints_secret(yes, &env).is_some(), "{yes}");
        }
        for no in [
            "echo \"${{ secrets.X }}\" | docker login -u me --password-stdin",
            "echo \"tok=${{ secrets.X }}\" >> \"$GITHUB_OUTPUT\"",
            "echo $TOKENIZER",
            "echo \"::add-mask::${{ secrets.X }}\"",
            "curl -H \"Authorization: Bearer $TOKEN\" https://x",
            "echo done",
        ] {
            assert!(prints_secret(no, &env).is_none(), "{no}");
        }
    }

    #[test]
    fn xtrace_forms() {
        assert!(sets_xtrace("set -x"));
        assert!(sets_xtrace("set -eux"));
        assert!(sets_xtrace("set -o xtrace"));
        assert!(!sets_xtrace("set -e"));
        assert!(!sets_xtrace("echo set -x is bad"));
    }

    #[test]
    fn pinned_refs_local_actions_and_digests_pass() {
        let text = "\
on: push
permissions: { contents: read }
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567
      - uses: ./.github/actions/local
      - uses: docker://alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      - uses: actions/setup-node@v4 # mno:allow reviewed
  b:
    uses: ./.github/workflows/reusable.yml
";
        assert_eq!(check_text("w.yml", text), Vec::new());
    }
}
