//! `action-pin`: `uses: owner/repo@v4` pinned to the commit the tag names in a local mirror.
//!
//! Nothing is fetched: the SHA comes from a git repository of the action under
//! `autofix.actions_mirror` (`<mirror>/<owner>/<repo>.git`, a bare mirror, or
//! `<mirror>/<owner>/<repo>`, a clone), read with `git rev-parse`. A tag is looked up
//! before a branch; an action missing from the mirror is not pinned (and says so). The ref
//! stays on the line as a comment (`@<sha> # v4`), which is how Dependabot and Renovate
//! keep pins up to date.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::verify::git_command;
use super::{Cx, FileChange, Fix, column_offset, line_span, read_text};
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "action-pin";

/// Unpinned-action findings of the workflow hardening rules.
pub(super) fn applies(f: &Finding) -> bool {
    f.check == crate::checks::security::CHECK
        && f.rule_id == "workflow.unpinned-action"
        && f.line > 0
}

/// Pin the action the finding points at.
pub(super) fn fix(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let mirror = cx.autofix.actions_mirror.as_deref().ok_or(
        "no actions mirror configured (autofix.actions_mirror / --actions-mirror): \
         the SHA of a tag is only taken from a local git repository",
    )?;
    let text = read_text(cx.tree, &f.file)?;
    let (ls, le) = line_span(&text, f.line).ok_or("the finding's line is not in the file")?;
    let line = &text[ls..le];
    let at = column_offset(line, f.column).ok_or("the finding's column is not on its line")?;
    let rest = &line[at..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let body = &rest[quote.map_or(0, |_| 1)..];
    let end = body
        .find(|c: char| c.is_whitespace() || Some(c) == quote)
        .unwrap_or(body.len());
    let uses = &body[..end];
    if uses.starts_with("docker://") {
        return Err("a docker image is pinned by digest, not from a git mirror".into());
    }
    let (action, r) = uses
        .rsplit_once('@')
        .ok_or("the action names no ref to resolve")?;
    let mut parts = action.split('/');
    let (Some(owner), Some(repo)) = (parts.next(), parts.next()) else {
        return Err(format!("`{action}` is not owner/repo"));
    };
    let clean = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s != "."
            && s != ".."
    };
    if !clean(owner) || !clean(repo) {
        return Err(format!("`{action}` is not owner/repo"));
    }
    let repo_dir = find_repo(Path::new(mirror), owner, repo)
        .ok_or_else(|| format!("{owner}/{repo} is not in the actions mirror {mirror}"))?;
    let sha = resolve(&repo_dir, r)?;
    // `@ref` → `@sha`, and the ref kept as a comment unless the line has one already.
    let ref_start = at + quote.map_or(0, |_| 1) + action.len() + 1;
    let ref_end = ref_start + r.len();
    let mut new_line = format!("{}{}{}", &line[..ref_start], sha, &line[ref_end..]);
    if !line.contains(" #") {
        new_line.push_str(&format!(" # {r}"));
    }
    let mut new_text = text.clone();
    new_text.replace_range(ls..le, &new_line);
    Ok(Fix {
        title: format!("pin {action}@{r} to {sha}"),
        note: Some(format!(
            "{sha} is what {r} names in the mirror {}; make sure the mirror is current",
            repo_dir.display()
        )),
        changes: vec![FileChange::edit(&f.file, text, new_text)],
    })
}

fn find_repo(mirror: &Path, owner: &str, repo: &str) -> Option<PathBuf> {
    [
        mirror.join(owner).join(format!("{repo}.git")),
        mirror.join(owner).join(repo),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// The commit `r` names in the repository at `dir`: a tag first, then a branch.
fn resolve(dir: &Path, r: &str) -> Result<String, String> {
    if r.starts_with('-') || r.contains("..") || r.contains(char::is_whitespace) {
        return Err(format!("`{r}` is not a ref name"));
    }
    for full in [
        format!("refs/tags/{r}"),
        format!("refs/heads/{r}"),
        format!("refs/remotes/origin/{r}"),
    ] {
        let out = git_command(dir)
            .arg("--git-dir")
            .arg(git_dir(dir))
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{full}^{{commit}}"),
            ])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(sha);
        }
    }
    Err(format!(
        "`{r}` is neither a tag nor a branch in {}",
        dir.display()
    ))
}

/// A clone's `.git`, or the bare repository itself.
fn git_dir(dir: &Path) -> PathBuf {
    let dot = dir.join(".git");
    if dot.exists() { dot } else { dir.to_path_buf() }
}
