//! Gate checks over a repository and the reports CI systems read.
//!
//! The SuperAgent validates every pull request through a gate: a set of
//! checks, each returning a status (PASSED, FAILED, SKIPPED, ERROR), its
//! findings (check, rule id, severity, file, line, column, message and a
//! suggested fix where one exists) and its duration. This crate holds the
//! checks and the report writers, and needs no server: `super-agent gate run`
//! and the future message handler both call [`run_gate`] and
//! [`write_reports`].
//!
//! [`evidence`] digests what a run read and its report and keeps the signed, hash-chained
//! evidence log; [`monitor`] reads a running Auto-Monitor for the report's monitor section;
//! [`autofix`] turns findings into patches, each tried on a scratch copy before it is offered.
//!
//! Configuration comes from `root.gates.yaml` at the repository root; every
//! key is optional, so a repository without one gets useful defaults. Its JSON
//! Schema (`schemas/root-gates.schema.json`) is generated from [`GatesConfig`].

pub mod autofix;
pub mod checks;
pub mod config;
pub mod error;
pub mod evidence;
pub mod finding;
pub mod monitor;
pub mod progress;
pub mod report;
mod walk;

pub use autofix::{AutofixConfig, FixOptions, FixesSection, LlmConfig};
pub use checks::build::BuildSandbox;
pub use checks::security::{Baseline, BaselineEntry};
pub use checks::{
    GateOptions, KNOWN_CHECKS, parse_checks, run_gate, run_gate_with, run_with_config,
};
pub use config::{CONFIG_FILE, GatesConfig, LoadedConfig, json_schema, load_config};
pub use error::GateError;
pub use evidence::{Evidence, EvidenceChain};
pub use finding::{CheckResult, Finding, GateReport, ItemResult, Severity, Status};
pub use monitor::MonitorSection;
pub use progress::{Progress, ProgressEvent};
pub use report::{ReportFormat, write_reports};
