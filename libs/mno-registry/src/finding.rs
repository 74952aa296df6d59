//! Findings: what a check reports, in a shape the SuperAgent's gate consumes as is.

use mno_common::Location;
use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The registry is wrong: `check` exits 1, `plan` and `up` refuse it.
    Error,
    /// Probably a mistake (an unknown key, a dependency on an optional module).
    Warning,
    /// Information: a legacy shape was mapped, a stage was inferred.
    Note,
}

impl Severity {
    /// The lowercase name used in text and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem (or note) found in a registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The file, as named on the command line.
    pub file: String,
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based.
    pub column: usize,
    /// Stable rule id (`deps.cycle`, `resources.quantity`, ...), documented in docs/registry.md.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is an obvious fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The module the finding is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl Finding {
    /// A finding without suggestion or module.
    pub fn new(
        file: &str,
        at: Location,
        rule: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            file: file.to_string(),
            line: at.line,
            column: at.column,
            rule: rule.to_string(),
            severity,
            message: message.into(),
            suggestion: None,
            module: None,
        }
    }

    /// The same finding with a suggestion.
    pub fn suggest(mut self, s: impl Into<String>) -> Finding {
        self.suggestion = Some(s.into());
        self
    }

    /// Where the finding is.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.file, self.line, self.column, self.severity, self.rule, self.message
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Notes.
    pub notes: usize,
}

impl Summary {
    /// Count `findings`.
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Note => s.notes += 1,
            }
        }
        s
    }
}

/// Collects findings for one file.
#[derive(Debug, Clone)]
pub struct Sink {
    /// The file named in every finding.
    pub file: String,
    /// What was found so far.
    pub findings: Vec<Finding>,
}

impl Sink {
    /// An empty sink for `file`.
    pub fn new(file: &str) -> Sink {
        Sink {
            file: file.to_string(),
            findings: Vec::new(),
        }
    }

    /// Record a finding and return it for decoration (suggestion, module).
    pub fn add(
        &mut self,
        at: Location,
        rule: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> &mut Finding {
        self.findings
            .push(Finding::new(&self.file, at, rule, severity, message));
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    /// Record an error.
    pub fn error(&mut self, at: Location, rule: &str, message: impl Into<String>) -> &mut Finding {
        self.add(at, rule, Severity::Error, message)
    }

    /// Record a warning.
    pub fn warn(&mut self, at: Location, rule: &str, message: impl Into<String>) -> &mut Finding {
        self.add(at, rule, Severity::Warning, message)
    }

    /// Record a note.
    pub fn note(&mut self, at: Location, rule: &str, message: impl Into<String>) -> &mut Finding {
        self.add(at, rule, Severity::Note, message)
    }
}

/// Decorations applied to a just-recorded finding.
pub trait FindingExt {
    /// Attach a suggestion.
    fn with_suggestion(&mut self, s: impl Into<String>) -> &mut Self;
    /// Attach the module name.
    fn for_module(&mut self, m: &str) -> &mut Self;
}

impl FindingExt for Finding {
    fn with_suggestion(&mut self, s: impl Into<String>) -> &mut Self {
        self.suggestion = Some(s.into());
        self
    }
    fn for_module(&mut self, m: &str) -> &mut Self {
        self.module = Some(m.to_string());
        self
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_l = word.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let c_l = c.to_ascii_lowercase();
        let dist = strsim::damerau_levenshtein(&word_l, &c_l);
        // Allow about one edit per four characters, and always at least one.
        let allowed = (word.chars().count().max(c.chars().count()) / 4).max(1);
        let score = strsim::jaro_winkler(&word_l, &c_l);
        let close = dist <= allowed || (score >= 0.9 && dist <= allowed * 2);
        if close && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_and_ignore_strangers() {
        let names = ["logging-service", "config-manager", "database-connector"];
        assert_eq!(
            did_you_mean("loging-service", names),
            Some("logging-service")
        );
        assert_eq!(did_you_mean("config-manger", names), Some("config-manager"));
        assert_eq!(
            did_you_mean("database-conector", names),
            Some("database-connector")
        );
        assert_eq!(did_you_mean("redis", names), None);
        assert_eq!(
            did_you_mean("dependancies", ["dependencies", "description"]),
            Some("dependencies")
        );
    }
}
