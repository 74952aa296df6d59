//! The scratch copy every patch is tried on: `git apply --check`, `git apply`, then the
//! finding's own check again; a patch that does not remove its finding, or brings a new
//! one, is taken back out (`git apply -R`) and not offered.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ignore::WalkBuilder;

use crate::checks::{GateOptions, KNOWN_CHECKS, run_with_config};
use crate::config::GatesConfig;
use crate::finding::{Finding, Severity, Status};

/// What identifies a finding across a patch: rule, file and message (lines move when a
/// patch inserts one; messages name the value, the module or the redacted secret).
type Key = (String, String, String);

fn key(f: &Finding) -> Key {
    (f.rule_id.clone(), f.file.clone(), f.message.clone())
}

/// A copy of the tree (what git would not ignore, without `.git` and the gate's own output)
/// that patches are applied to one after the other.
pub(crate) struct Scratch {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    /// Findings of a check on the tree as it is now (dropped when a patch changes it).
    current: HashMap<&'static str, Vec<Finding>>,
}

impl Scratch {
    /// Copy `root` (skipping `skip`, root-relative folders) into a new temporary folder.
    pub(crate) fn copy(root: &Path, skip: &[String]) -> std::io::Result<Scratch> {
        let dir = tempfile::Builder::new().prefix("mno-autofix-").tempdir()?;
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree)?;
        let skip: Vec<PathBuf> = skip.iter().map(|s| root.join(s)).collect();
        let walker = WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry(move |e| e.file_name() != ".git" && !skip.iter().any(|s| e.path() == s))
            .build();
        for entry in walker {
            let entry = entry.map_err(std::io::Error::other)?;
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let to = tree.join(rel);
            match entry.file_type() {
                Some(t) if t.is_dir() => std::fs::create_dir_all(&to)?,
                Some(t) if t.is_file() => {
                    std::fs::copy(entry.path(), &to)?;
                }
                // Links and special files are not followed into the copy.
                _ => {}
            }
        }
        Ok(Scratch {
            _dir: dir,
            tree,
            current: HashMap::new(),
        })
    }

    /// The copy's root.
    pub(crate) fn path(&self) -> &Path {
        &self.tree
    }

    /// The check's findings on the copy as it is now.
    fn findings(&mut self, cfg: &GatesConfig, check: &str) -> Result<Vec<Finding>, String> {
        let Some(&name) = KNOWN_CHECKS.iter().find(|c| **c == check) else {
            return Err(format!("no check named {check}"));
        };
        if let Some(f) = self.current.get(name) {
            return Ok(f.clone());
        }
        let opts = GateOptions {
            checks: vec![name],
            ..Default::default()
        };
        let report = run_with_config(&self.tree, cfg, &[name], Vec::new(), &opts);
        let Some(r) = report.validation_results.get(name) else {
            return Err(format!("{check} did not run"));
        };
        if matches!(r.status, Status::Error | Status::Skipped) {
            return Err(format!(
                "{check} is {} on the copy: {}",
                r.status.as_str(),
                r.detail.as_deref().unwrap_or("")
            ));
        }
        self.current.insert(name, r.findings.clone());
        Ok(r.findings.clone())
    }

    /// Apply `patch` to the copy and keep it when the re-run check no longer reports
    /// `target` and reports nothing new; otherwise take it back out and say why.
    pub(crate) fn verify(
        &mut self,
        cfg: &GatesConfig,
        target: &Finding,
        patch: &str,
    ) -> Result<(), String> {
        if patch.trim().is_empty() {
            return Err("the patch changes nothing".into());
        }
        let before = self.findings(cfg, &target.check)?;
        git_apply(&self.tree, patch, ApplyMode::Check, None)
            .map_err(|e| format!("git apply --check: {e}"))?;
        git_apply(&self.tree, patch, ApplyMode::Apply, None)
            .map_err(|e| format!("git apply: {e}"))?;
        self.current.clear();
        let verdict = self.findings(cfg, &target.check).and_then(|after| {
            let renames = super::diff::touched(patch);
            judge(target, &before, &after, &renames)
        });
        if let Err(why) = verdict {
            // The copy goes back to where it was for the next patch.
            git_apply(&self.tree, patch, ApplyMode::Reverse, None)
                .map_err(|e| format!("{why}; and the copy could not be restored: {e}"))?;
            self.current.clear();
            return Err(why);
        }
        Ok(())
    }
}

/// Whether `after` lacks `target` (its file renamed as the patch renames it) and has no
/// error or warning `before` did not have.
fn judge(
    target: &Finding,
    before: &[Finding],
    after: &[Finding],
    renames: &[(String, String)],
) -> Result<(), String> {
    let mut counts: HashMap<Key, (usize, usize)> = HashMap::new();
    for f in before {
        let mut k = key(f);
        k.1 = renamed(&k.1, renames);
        counts.entry(k).or_default().0 += 1;
    }
    for f in after.iter().filter(|f| f.severity != Severity::Note) {
        counts.entry(key(f)).or_default().1 += 1;
    }
    let mut t = key(target);
    t.1 = renamed(&t.1, renames);
    let (b, a) = counts.get(&t).copied().unwrap_or_default();
    if a >= b && a > 0 {
        return Err(format!(
            "the re-run check still reports {} at {}",
            target.rule_id, t.1
        ));
    }
    for f in after.iter().filter(|f| f.severity != Severity::Note) {
        let (b, a) = counts.get(&key(f)).copied().unwrap_or_default();
        if a > b {
            return Err(format!(
                "the patch brings a new finding: {} at {}:{}: {}",
                f.rule_id, f.file, f.line, f.message
            ));
        }
    }
    Ok(())
}

/// `file` after the patch's renames: a file renamed, or one under a folder renamed.
fn renamed(file: &str, renames: &[(String, String)]) -> String {
    for (old, new) in renames.iter().filter(|(o, n)| o != n) {
        if file == old {
            return new.clone();
        }
        // The folder renamed: the parts before the common tail of the two paths.
        let (o, n): (Vec<&str>, Vec<&str>) = (old.split('/').collect(), new.split('/').collect());
        let common = o
            .iter()
            .rev()
            .zip(n.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let (od, nd) = (
            o[..o.len() - common].join("/"),
            n[..n.len() - common].join("/"),
        );
        if od.is_empty() || nd.is_empty() || od == nd {
            continue;
        }
        if file == od {
            return nd;
        }
        if let Some(rest) = file.strip_prefix(&format!("{od}/")) {
            return format!("{nd}/{rest}");
        }
    }
    file.to_string()
}

/// What `git apply` does with a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplyMode {
    /// `--check`: would it apply?
    Check,
    /// Apply it.
    Apply,
    /// `-R`: take it back out.
    Reverse,
}

/// Run the real `git apply` on `patch` in `dir`; `directory` prefixes the patch's paths
/// (`--directory`, for a root below its repository's top). Git's stderr when it refuses.
pub(crate) fn git_apply(
    dir: &Path,
    patch: &str,
    mode: ApplyMode,
    directory: Option<&str>,
) -> Result<(), String> {
    let mut args = vec!["apply".to_string(), "--whitespace=nowarn".into()];
    match mode {
        ApplyMode::Check => args.push("--check".into()),
        ApplyMode::Apply => {}
        ApplyMode::Reverse => args.push("-R".into()),
    }
    if let Some(d) = directory.filter(|d| !d.is_empty()) {
        args.push(format!("--directory={}", d.trim_end_matches('/')));
    }
    args.push("-".into());
    let mut cmd = git_command(dir);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // git reads the whole patch before it answers; a write error shows in its status.
        let _ = stdin.write_all(patch.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git apply: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.trim().lines().take(6).collect::<Vec<_>>().join("; "))
    }
}

/// `git` run in `dir`, blind to the caller's repository variables; a folder that is not in
/// a repository stays outside any (the ceiling is its parent).
pub(crate) fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    if let Some(parent) = dir.parent()
        && parent.file_name().is_some_and(|n| {
            n.to_string_lossy().starts_with("mno-autofix-")
                || n.to_string_lossy().starts_with("mno-llm-")
        })
    {
        cmd.env("GIT_CEILING_DIRECTORIES", parent);
    }
    cmd
}

/// `root`'s path below its repository's top (`git rev-parse --show-prefix`), `""` at the
/// top or outside git: `git apply` reads a patch's paths from the top.
pub(crate) fn repo_prefix(root: &Path) -> String {
    git_command(root)
        .args(["rev-parse", "--show-prefix"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_renamed_files_and_folders() {
        let r = vec![
            (
                "deploy/Old/a.env".to_string(),
                "deploy/new/a.env".to_string(),
            ),
            ("src/X.rs".into(), "src/x.rs".into()),
        ];
        assert_eq!(renamed("src/X.rs", &r), "src/x.rs");
        assert_eq!(renamed("deploy/Old", &r), "deploy/new");
        assert_eq!(renamed("deploy/Old/b.env", &r), "deploy/new/b.env");
        assert_eq!(renamed("other", &r), "other");
    }

    fn f(rule: &str, file: &str, msg: &str) -> Finding {
        Finding {
            check: "c".into(),
            rule_id: rule.into(),
            severity: Severity::Error,
            file: file.into(),
            line: 1,
            column: 1,
            message: msg.into(),
            suggested_fix: None,
            fingerprint: None,
        }
    }

    #[test]
    fn a_patch_must_remove_its_finding_and_add_none() {
        let t = f("r", "a", "m");
        let other = f("r2", "b", "n");
        assert!(
            judge(
                &t,
                &[t.clone(), other.clone()],
                std::slice::from_ref(&other),
                &[]
            )
            .is_ok()
        );
        let still = judge(&t, std::slice::from_ref(&t), std::slice::from_ref(&t), &[]);
        assert!(still.unwrap_err().contains("still reports"));
        let new = judge(&t, std::slice::from_ref(&t), &[f("r3", "a", "x")], &[]);
        assert!(new.unwrap_err().contains("new finding"));
    }
}
