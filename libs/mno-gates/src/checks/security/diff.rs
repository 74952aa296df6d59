//! Diff mode (`--since REV`): the lines added or changed in the working tree since a revision.
//!
//! `git diff REV` compares the working tree with REV, so staged and unstaged edits
//! both count; untracked files that are not ignored count as wholly added. Hunks
//! come from `--unified=0`, so each `+c,d` range is exactly the added lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Why the changes since a revision could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("--since {rev}: {message}")]
pub struct DiffError {
    /// The revision asked for.
    pub rev: String,
    /// What went wrong (git's own message where it gave one).
    pub message: String,
}

/// Files changed since a revision and the line ranges added in each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Root-relative `/`-separated path to its added line ranges (inclusive, 1-based);
    /// `None` for an untracked file, all of which is new.
    pub files: BTreeMap<String, Option<Vec<(usize, usize)>>>,
    /// Lines added to tracked files.
    pub added_lines: u64,
}

impl Changes {
    /// Whether `line` of `file` was added or changed.
    pub fn contains(&self, file: &str, line: usize) -> bool {
        match self.files.get(file) {
            Some(None) => true,
            Some(Some(ranges)) => ranges.iter().any(|&(a, b)| a <= line && line <= b),
            None => false,
        }
    }

    /// Whether `file` changed at all.
    pub fn touches(&self, file: &str) -> bool {
        self.files.contains_key(file)
    }
}

/// List what changed under `root` since `rev`.
pub fn changes_since(root: &Path, rev: &str) -> Result<Changes, DiffError> {
    let err = |message: String| DiffError {
        rev: rev.to_string(),
        message,
    };
    git(root, &["rev-parse", "--show-toplevel"]).map_err(err)?;
    // `--end-of-options` keeps a revision starting with `-` from being read as an option;
    // the resolved id is what later commands get.
    let sha = git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| err("unknown revision: not a commit in this repository".into()))?;
    let sha = sha.trim();
    let patch = git(
        root,
        &[
            "-c",
            "core.quotepath=off",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--unified=0",
            "--find-renames",
            "--ignore-submodules=all",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            // Paths relative to `root` (git runs there), and only those under it.
            "--relative",
            sha,
            "--",
        ],
    )
    .map_err(err)?;
    let mut changes = parse_diff(&patch);
    let untracked =
        git(root, &["ls-files", "--others", "--exclude-standard", "-z"]).map_err(err)?;
    for path in untracked.split('\0') {
        // A nested repository is listed as `dir/`; it is not part of this one.
        if !path.is_empty() && !path.ends_with('/') {
            changes.files.insert(path.to_string(), None);
        }
    }
    Ok(changes)
}

/// Run git in `dir` with an argument list; its stdout, or its stderr's last line as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = git_bytes(dir, args)?;
    String::from_utf8(out).map_err(|_| "git printed a path that is not UTF-8".to_string())
}

/// Run git in `dir` with an argument list and no helper programs from the repository's
/// config; its raw stdout, or its stderr's last line as the error.
pub(crate) fn git_bytes(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // No helper commands from the repository's config: a gate may look at a tree it
        // does not trust (external diff and textconv are off by flag).
        .args(["-c", "core.fsmonitor=false"])
        .args(args)
        // A read-only look: never take the index lock to refresh stat data.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        let line = line.strip_prefix("fatal: ").unwrap_or(line);
        return Err(if line.is_empty() {
            format!("git {} failed ({})", args.join(" "), out.status)
        } else {
            line.to_string()
        });
    }
    Ok(out.stdout)
}

/// Added line ranges per file from a `--unified=0` patch with `a/`/`b/` prefixes.
pub fn parse_diff(patch: &str) -> Changes {
    let mut changes = Changes::default();
    let mut file: Option<String> = None;
    // Lines of the current hunk still to come (old side, new side).
    let (mut old_left, mut new_left) = (0usize, 0usize);
    for line in patch.lines() {
        if old_left > 0 || new_left > 0 {
            // Inside a hunk every line is content, even one that looks like a header.
            match line.as_bytes().first() {
                Some(b'-') => old_left = old_left.saturating_sub(1),
                Some(b'+') => new_left = new_left.saturating_sub(1),
                Some(b'\\') => {} // "\ No newline at end of file"
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if line.starts_with("diff --git ") {
            file = None;
        } else if let Some(p) = line.strip_prefix("+++ ") {
            let p = unquote(p.trim_end_matches('\t'));
            file = p.strip_prefix("b/").map(str::to_string);
        } else if let Some(rest) = line
            .strip_prefix("Binary files ")
            .and_then(|r| r.strip_suffix(" differ"))
        {
            // git shows no hunks for a file it takes for binary (UTF-16 text among them):
            // the whole new file counts as changed, so it is read and decoded or reported
            // as skipped rather than passing unseen.
            if let Some(p) = binary_new_path(rest) {
                changes.files.insert(p, Some(vec![(1, usize::MAX)]));
            }
        } else if let Some(h) = line.strip_prefix("@@ ") {
            let Some((old, new)) = hunk_ranges(h) else {
                continue;
            };
            (old_left, new_left) = (old.1, new.1);
            if let Some(f) = &file
                && new.1 > 0
            {
                let ranges = changes
                    .files
                    .entry(f.clone())
                    .or_insert_with(|| Some(Vec::new()));
                if let Some(r) = ranges {
                    r.push((new.0, new.0 + new.1 - 1));
                }
                changes.added_lines += new.1 as u64;
            }
        }
    }
    changes
}

/// The new path in `a/x and b/y` (from `Binary files … differ`); `None` for a deletion.
///
/// A path may itself hold ` and b/`: the split chosen is the one whose sides agree (same
/// path, or a new file from `/dev/null`), else the last one (a rename).
fn binary_new_path(rest: &str) -> Option<String> {
    let splits: Vec<(String, String)> = rest
        .match_indices(" and ")
        .map(|(i, _)| (unquote(&rest[..i]), unquote(&rest[i + 5..])))
        .filter(|(_, new)| new.starts_with("b/"))
        .collect();
    let agree = |(old, new): &&(String, String)| {
        old == "/dev/null" || old.strip_prefix("a/") == new.strip_prefix("b/")
    };
    let (_, new) = splits.iter().find(agree).or(splits.last())?;
    new.strip_prefix("b/").map(str::to_string)
}

/// `-a,b +c,d @@ …` → ((a, b), (c, d)); a missing count is 1.
fn hunk_ranges(h: &str) -> Option<((usize, usize), (usize, usize))> {
    let mut parts = h.split(' ');
    let range = |s: Option<&str>, sign: char| -> Option<(usize, usize)> {
        let s = s?.strip_prefix(sign)?;
        match s.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    Some((range(parts.next(), '-')?, range(parts.next(), '+')?))
}

/// Undo git's C-style quoting of a path (`"b/caf\303\251 \"x\".txt"`).
fn unquote(p: &str) -> String {
    let Some(inner) = p.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return p.to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(b'a') => bytes.push(7),
            Some(b'b') => bytes.push(8),
            Some(b'f') => bytes.push(12),
            Some(b'v') => bytes.push(11),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    match it.peek() {
                        Some(&n @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(n - b'0');
                            it.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(v as u8);
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "\
diff --git a/src/a.rs b/src/a.rs
index 1111111..2222222 100644
--- a/src/a.rs
+++ b/src/a.rs
@@ -3 +3 @@ fn main() {
-old
+new
@@ -10,0 +11,2 @@
+++ this added line looks like a header
+--- and so does this one
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-x
-y
diff --git a/only-del.rs b/only-del.rs
--- a/only-del.rs
+++ b/only-del.rs
@@ -4,2 +3,0 @@
-a
-b
diff --git \"a/caf\\303\\251.env\" \"b/caf\\303\\251.env\"
new file mode 100644
--- /dev/null
+++ \"b/caf\\303\\251.env\"
@@ -0,0 +1 @@
+TOKEN=1
diff --git a/w.ps1 b/w.ps1
index 3333333..4444444 100644
Binary files a/w.ps1 and b/w.ps1 differ
diff --git a/new and b/x.bin b/new and b/x.bin
new file mode 100644
Binary files /dev/null and b/new and b/x.bin differ
diff --git a/old.bin b/old.bin
deleted file mode 100644
Binary files a/old.bin and /dev/null differ
";

    #[test]
    fn hunks_give_added_ranges_and_content_is_never_a_header() {
        let c = parse_diff(PATCH);
        assert_eq!(c.files["src/a.rs"], Some(vec![(3, 3), (11, 12)]));
        assert_eq!(c.files["café.env"], Some(vec![(1, 1)]));
        assert!(!c.files.contains_key("gone.txt"));
        assert!(!c.files.contains_key("only-del.rs"), "{c:?}");
        assert!(!c.files.contains_key("this added line looks like a header"));
        assert_eq!(c.added_lines, 4);
        assert!(c.contains("src/a.rs", 12) && !c.contains("src/a.rs", 4));
    }

    /// Regression: a changed file git calls binary (UTF-16 text too) had no hunks and was
    /// never read in diff mode.
    #[test]
    fn binary_changed_file_counts_as_wholly_changed_in_diff_mode() {
        let c = parse_diff(PATCH);
        assert!(
            c.contains("w.ps1", 1) && c.contains("w.ps1", 10_000),
            "{c:?}"
        );
        assert!(c.contains("new and b/x.bin", 3), "{c:?}");
        assert!(!c.touches("old.bin"));
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote(r#""b/a \"q\" \\ \t.txt""#), "b/a \"q\" \\ \t.txt");
        assert_eq!(unquote("b/plain.txt"), "b/plain.txt");
    }
}
