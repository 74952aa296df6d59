//! Which files a full secret scan reads.
//!
//! Ignore files are written by the author of a change, so they must not decide what the
//! gate sees: a PR that commits `secrets.env` and lists it in `.gitignore` would pass.
//! In a git repository the scan reads every file in git's index (tracked, whatever the
//! ignore rules say) plus untracked files that are not ignored; untracked ignored files
//! (build output, local `.env` files) are not part of any change and are only counted.
//! Outside git every file is read, hidden ones included, with no ignore rules at all
//! (only `.git` folders are left out). `respect_ignore` brings back the ignore-file walk.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;

use super::diff::git_bytes;

/// One file to scan.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Root-relative, `/`-separated (how reports name it).
    pub rel: String,
    /// Where it is on disk.
    pub path: PathBuf,
    /// Whether git tracks it.
    pub tracked: bool,
}

/// Files of a git repository (and of its submodules and nested repositories).
#[derive(Debug, Default)]
pub(crate) struct GitFiles {
    /// Tracked files and untracked ones that are not ignored.
    pub files: Vec<Candidate>,
    /// The repositories listed (the root's, submodules, nested ones): where
    /// [`count_ignored`] looks.
    pub repos: Vec<PathBuf>,
    /// Symbolic links in the index: a link's target may lie outside the tree.
    pub symlinks: u64,
}

/// How a full scan finds its files.
#[derive(Debug)]
pub(crate) enum Source {
    /// git's index and untracked files.
    Git(GitFiles),
    /// A walk of the tree; `respect_ignore` honours .gitignore/.ignore and global excludes.
    Tree {
        /// Whether ignore files are honoured (the opt-in old behaviour).
        respect_ignore: bool,
        /// Why git was not used although the root lies in a repository.
        why_not_git: Option<String>,
    },
}

/// Decide how to list the files under `root`.
pub(crate) fn source(root: &Path, respect_ignore: bool) -> Source {
    let tree = |why_not_git| Source::Tree {
        respect_ignore,
        why_not_git,
    };
    if respect_ignore || !in_git_repository(root) {
        return tree(None);
    }
    // A folder its repository ignores (an unpacked archive under `target/`) is no part of
    // that repository: its files are not the repository's to leave out.
    if git_bytes(root, &["check-ignore", "-q", "."]).is_ok() {
        return tree(Some(
            "the folder is ignored by its git repository; every file in it was scanned".into(),
        ));
    }
    let mut files = GitFiles::default();
    match list_git(root, "", &mut files) {
        Ok(()) => Source::Git(files),
        // Scanning every file is the safe way to fail: more is read, nothing is hidden.
        Err(e) => tree(Some(format!(
            "git could not list the repository's files ({e}); every file was scanned"
        ))),
    }
}

/// Whether `root` or a folder above it holds `.git` (a folder, or a worktree's file).
fn in_git_repository(root: &Path) -> bool {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    abs.ancestors().any(|a| a.join(".git").exists())
}

/// Add the files of the repository at `dir` (`prefix` + `/` relative to the scan root).
fn list_git(dir: &Path, prefix: &str, out: &mut GitFiles) -> Result<(), String> {
    let (staged, others) = std::thread::scope(|s| {
        let others =
            s.spawn(|| git_bytes(dir, &["ls-files", "-z", "--others", "--exclude-standard"]));
        let staged = git_bytes(dir, &["ls-files", "-z", "--stage"]);
        let others = others
            .join()
            .unwrap_or_else(|_| Err("git listing thread panicked".into()));
        (staged, others)
    });
    let (staged, others) = (staged?, others?);
    out.repos.push(dir.to_path_buf());
    let mut last: &[u8] = b"";
    let mut nested: Vec<Vec<u8>> = Vec::new();
    for entry in records(&staged) {
        // `<mode> <object> <stage>\t<path>`; a conflicted path comes once per stage.
        let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let (meta, path) = (&entry[..tab], &entry[tab + 1..]);
        if path == last {
            continue;
        }
        last = path;
        match meta.get(..6) {
            Some(b"160000") => nested.push(path.to_vec()),
            Some(b"120000") => out.symlinks += 1,
            _ => out.files.push(candidate(dir, prefix, path, true)),
        }
    }
    for path in records(&others) {
        match path.strip_suffix(b"/") {
            // An untracked nested repository: git lists only its folder.
            Some(d) => nested.push(d.to_vec()),
            None => out.files.push(candidate(dir, prefix, path, false)),
        }
    }
    for sub in nested {
        let sub_dir = dir.join(os_path(&sub));
        // A submodule that is not checked out is an empty folder: nothing to read.
        if sub_dir.join(".git").exists() {
            let sub_prefix = format!("{prefix}{}/", String::from_utf8_lossy(&sub));
            list_git(&sub_dir, &sub_prefix, out)?;
        }
    }
    Ok(())
}

/// Untracked files git ignores in `repos` (an ignored nested repository counts once).
///
/// Only a count for the stats, but git must walk every ignored folder (`target/`,
/// `node_modules/`) to give it: the scan runs this beside its own work.
pub(crate) fn count_ignored(repos: &[PathBuf]) -> Option<u64> {
    let args = [
        "ls-files",
        "-z",
        "--others",
        "--ignored",
        "--exclude-standard",
    ];
    let mut n = 0;
    for dir in repos {
        n += records(&git_bytes(dir, &args).ok()?).count() as u64;
    }
    Some(n)
}

/// NUL-terminated records of `git … -z`.
fn records(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == 0).filter(|r| !r.is_empty())
}

fn candidate(dir: &Path, prefix: &str, path: &[u8], tracked: bool) -> Candidate {
    Candidate {
        rel: format!("{prefix}{}", String::from_utf8_lossy(path)),
        path: dir.join(os_path(path)),
        tracked,
    }
}

/// A path git printed, as the OS spells it (bytes as they are on Unix).
#[cfg(unix)]
fn os_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn os_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The walk of a tree (the scan and its progress pre-count use the same one): every file
/// but those under `.git`, or with `respect_ignore` the ripgrep-style ignore-file walk.
pub(crate) fn tree_walker(root: &Path, respect_ignore: bool) -> WalkBuilder {
    let mut b = WalkBuilder::new(root);
    b.standard_filters(respect_ignore)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git");
    b
}

/// Entries other than folders (files; symlinks and special files, counted as skipped) a
/// tree walk visits.
pub(crate) fn count_tree(
    root: &Path,
    respect_ignore: bool,
    stop: impl Fn() -> bool,
) -> Option<u64> {
    let mut n = 0u64;
    for entry in tree_walker(root, respect_ignore).build().flatten() {
        if stop() {
            return None;
        }
        if entry.file_type().is_some_and(|t| !t.is_dir()) {
            n += 1;
        }
    }
    Some(n)
}
