//! Helpers shared by the checks that walk the tree: globs and root-relative paths.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::GateError;

/// Compile `patterns` (from the setting `what`) into one set; `*` does not cross `/`.
pub fn glob_set(what: &str, patterns: &[String]) -> Result<GlobSet, GateError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(what, p)?);
    }
    b.build().map_err(|e| GateError::Pattern {
        what: what.into(),
        pattern: patterns.join(", "),
        message: e.to_string(),
    })
}

/// Compile one glob; `*` does not cross `/`, `**` does.
pub fn glob(what: &str, pattern: &str) -> Result<globset::Glob, GateError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| GateError::Pattern {
            what: what.into(),
            pattern: pattern.into(),
            message: e.to_string(),
        })
}

/// `path` relative to `root`, with `/` separators (how every report names files).
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}
