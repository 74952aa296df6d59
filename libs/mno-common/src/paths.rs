//! Choosing where a service keeps its data.

use std::path::{Path, PathBuf};

/// Where a data file ended up, and whether that is the configured place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    /// The file path to use.
    pub path: PathBuf,
    /// `true` when the configured directory was not writable and a user directory is used.
    pub fallback: bool,
}

/// The per-user data directory: `$XDG_DATA_HOME/machinenativenops`,
/// `$HOME/.local/share/machinenativenops`, or the temp dir as a last resort.
pub fn user_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("machinenativenops");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/machinenativenops");
    }
    std::env::temp_dir().join("machinenativenops")
}

fn dir_writable(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    // Creating the directory can succeed on a read-only mount that already has it: probe.
    let probe = dir.join(format!(".mno-write-probe-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// Use `configured` when its directory is (or can be made) writable; otherwise the
/// same file name under `user_data_dir()/<subdir>`.
pub fn resolve_data_file(configured: &Path, subdir: &str) -> DataPath {
    let dir = configured.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if dir_writable(dir) {
        return DataPath {
            path: configured.to_path_buf(),
            fallback: false,
        };
    }
    let name = configured
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| "data.db".into());
    let fallback_dir = user_data_dir().join(subdir);
    let _ = std::fs::create_dir_all(&fallback_dir);
    DataPath {
        path: fallback_dir.join(name),
        fallback: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_dir_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let want = d.path().join("a/b/metrics.db");
        let got = resolve_data_file(&want, "auto_monitor");
        assert_eq!(
            got,
            DataPath {
                path: want,
                fallback: false
            }
        );
    }

    #[test]
    fn unwritable_dir_falls_back_to_user_dir() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let got = resolve_data_file(&blocker.join("sub/metrics.db"), "auto_monitor");
        assert!(got.fallback);
        assert!(
            got.path.ends_with("auto_monitor/metrics.db"),
            "{:?}",
            got.path
        );
    }
}
