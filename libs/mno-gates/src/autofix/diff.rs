//! Edits as git-style unified diffs (`similar` writes the hunks; git's rename headers here).

use similar::TextDiff;

/// One file's edit: same paths for a change in place, different paths for a rename (with or
/// without changes to its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Root-relative path before, `/`-separated.
    pub old_path: String,
    /// Root-relative path after.
    pub new_path: String,
    /// Text before (empty for a binary file renamed as is).
    pub old_text: String,
    /// Text after.
    pub new_text: String,
}

impl FileChange {
    /// A change of `path`'s text in place.
    pub fn edit(path: &str, old_text: String, new_text: String) -> FileChange {
        FileChange {
            old_path: path.to_string(),
            new_path: path.to_string(),
            old_text,
            new_text,
        }
    }
}

/// Lines of context around each hunk (git's default).
const CONTEXT: usize = 3;

/// Whether git writes `path` in a diff header without quoting it; other paths are refused
/// rather than quoted by hand.
pub fn plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+@=,~".contains(&b) || b == b'/')
}

/// The changes as one patch `git apply` reads: `diff --git` headers, rename lines, hunks.
/// Changes that change nothing are left out; `Err` names a path git would have to quote.
pub fn render(changes: &[FileChange]) -> Result<String, String> {
    let mut out = String::new();
    for c in changes {
        for p in [&c.old_path, &c.new_path] {
            if !plain_path(p) {
                return Err(format!(
                    "path {p:?} has characters git quotes in patches; not offered"
                ));
            }
        }
        let renamed = c.old_path != c.new_path;
        if !renamed && c.old_text == c.new_text {
            continue;
        }
        out.push_str(&format!("diff --git a/{} b/{}\n", c.old_path, c.new_path));
        let diff = TextDiff::from_lines(c.old_text.as_str(), c.new_text.as_str());
        if renamed {
            let similarity = if c.old_text == c.new_text {
                100
            } else {
                (diff.ratio() * 100.0).floor() as u32
            };
            out.push_str(&format!(
                "similarity index {similarity}%\nrename from {}\nrename to {}\n",
                c.old_path, c.new_path
            ));
        }
        if c.old_text != c.new_text {
            let unified = diff
                .unified_diff()
                .context_radius(CONTEXT)
                .header(&format!("a/{}", c.old_path), &format!("b/{}", c.new_path))
                .to_string();
            out.push_str(&unified);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// Files a patch touches, as `(old path, new path)` from its `diff --git` lines.
pub fn touched(patch: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git a/")
            && let Some((a, b)) = rest.split_once(" b/")
        {
            out.push((a.to_string(), b.to_string()));
        } else if let Some(b) = line.strip_prefix("+++ b/")
            && !out.iter().any(|(_, n)| n == b)
        {
            // A plain unified diff (an AI fixer's answer may have no `diff --git` lines).
            out.push((b.to_string(), b.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_renames_render_git_headers() {
        let p = render(&[
            FileChange::edit("a.txt", "one\ntwo\n".into(), "one\nTWO\n".into()),
            FileChange {
                old_path: "src/Old.rs".into(),
                new_path: "src/old.rs".into(),
                old_text: "x\n".into(),
                new_text: "x\n".into(),
            },
        ])
        .unwrap();
        assert!(p.starts_with("diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@"));
        assert!(p.contains("-two\n+TWO\n"), "{p}");
        assert!(p.contains(
            "diff --git a/src/Old.rs b/src/old.rs\nsimilarity index 100%\nrename from src/Old.rs\nrename to src/old.rs\n"
        ));
        assert_eq!(
            touched(&p),
            [
                ("a.txt".to_string(), "a.txt".to_string()),
                ("src/Old.rs".into(), "src/old.rs".into())
            ]
        );
    }

    #[test]
    fn paths_git_would_quote_are_refused() {
        assert!(plain_path("deploy/app-settings.env"));
        for bad in ["a b", "../x", "/etc/passwd", "a\"b", "é", "a//b", ""] {
            assert!(!plain_path(bad), "{bad}");
        }
        let e = render(&[FileChange::edit("a b", "1\n".into(), "2\n".into())]);
        assert!(e.is_err());
    }

    #[test]
    fn a_missing_final_newline_is_marked() {
        let p = render(&[FileChange::edit("f", "a".into(), "b".into())]).unwrap();
        assert!(p.contains("\\ No newline at end of file"), "{p}");
    }
}
