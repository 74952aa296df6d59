//! Errors that stop a gate from running at all (a check's own trouble becomes its ERROR status).

/// Why the gate could not run or write its reports.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// root.gates.yaml is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] mno_common::ConfigError),
    /// A configured pattern does not compile.
    #[error("{what}: invalid pattern {pattern:?}: {message}")]
    Pattern {
        /// Which setting holds it.
        what: String,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// A gitleaks rule file is unreadable, not TOML, or holds a regex Rust cannot run.
    #[error("{path}:{line}:{column}: {message}")]
    Gitleaks {
        /// The file.
        path: String,
        /// Line, 1-based (0: the whole file).
        line: usize,
        /// Column, 1-based (0: the whole file).
        column: usize,
        /// What is wrong, naming the rule.
        message: String,
    },
    /// The secrets baseline is unreadable or not valid JSON.
    #[error(transparent)]
    Baseline(#[from] crate::checks::security::baseline::BaselineError),
    /// Diff mode could not list the changes (not a git repository, unknown revision).
    #[error(transparent)]
    Diff(#[from] crate::checks::security::diff::DiffError),
    /// A check name that does not exist was asked for.
    #[error("unknown check {name:?} (known: {known})")]
    UnknownCheck {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The root is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// A report could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}
