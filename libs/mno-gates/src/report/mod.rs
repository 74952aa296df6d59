//! Report writers: JSON (the model as is), Markdown, SARIF 2.1.0 and JUnit XML.

pub mod junit;
pub mod markdown;
pub mod sarif;

use std::path::{Path, PathBuf};

use crate::error::GateError;
use crate::finding::GateReport;

/// One report file kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// `report.json`: the gate report as serialized.
    Json,
    /// `report.md`: tables for people and `$GITHUB_STEP_SUMMARY`.
    Markdown,
    /// `report.sarif`: SARIF 2.1.0 for code scanning.
    Sarif,
    /// `junit.xml`: JUnit XML for CI test views.
    Junit,
}

impl ReportFormat {
    /// Every format.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Json,
        ReportFormat::Markdown,
        ReportFormat::Sarif,
        ReportFormat::Junit,
    ];

    /// The file written in the output folder.
    pub fn file_name(self) -> &'static str {
        match self {
            ReportFormat::Json => "report.json",
            ReportFormat::Markdown => "report.md",
            ReportFormat::Sarif => "report.sarif",
            ReportFormat::Junit => "junit.xml",
        }
    }

    /// The format rendered as text.
    pub fn render(self, report: &GateReport, link_base: Option<&str>) -> String {
        match self {
            // Serializing plain data structures cannot fail.
            ReportFormat::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
            ReportFormat::Markdown => markdown::render(report, link_base),
            ReportFormat::Sarif => sarif::render(report),
            ReportFormat::Junit => junit::render(report),
        }
    }
}

/// Write `formats` into `dir` (created if needed); returns the files written.
///
/// `link_base`, when given (`https://github.com/o/r/blob/<sha>`), turns
/// Markdown locations into links.
pub fn write_reports(
    report: &GateReport,
    dir: &Path,
    formats: &[ReportFormat],
    link_base: Option<&str>,
) -> Result<Vec<PathBuf>, GateError> {
    let werr = |path: &Path, source| GateError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| werr(dir, e))?;
    let mut written = Vec::new();
    for f in formats {
        let path = dir.join(f.file_name());
        std::fs::write(&path, f.render(report, link_base)).map_err(|e| werr(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
