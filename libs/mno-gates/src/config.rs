//! `root.gates.yaml`: which checks run and how; every key is optional (zero-config defaults).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::GateError;

/// The file name looked up at the repository root.
pub const CONFIG_FILE: &str = "root.gates.yaml";

/// root.gates.yaml: the gate configuration of one repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(title = "MachineNativeOps gate configuration (root.gates.yaml)")]
pub struct GatesConfig {
    /// Secret scanning.
    pub security_scan: SecurityConfig,
    /// File and directory naming rules.
    pub naming_conventions: NamingConfig,
    /// Validation of the module registry.
    pub module_registry: RegistryConfig,
}

/// `security_scan`: secrets in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SecurityConfig {
    /// Run this check.
    pub enabled: bool,
    /// Files larger than this many bytes are skipped and counted.
    pub max_file_size: u64,
    /// Glob patterns (relative to the root) of files never scanned, on top of .gitignore.
    pub allow_paths: Vec<String>,
    /// Regular expressions: a matched secret that matches any of these is not reported.
    pub allow_regexes: Vec<String>,
    /// Baseline of accepted findings (rule id + secret hash), relative to the root.
    pub baseline: String,
    /// Minimum Shannon entropy (bits per character) of a generic secret assignment.
    pub entropy_threshold: f64,
    /// Worker threads for scanning; 0 means one per CPU.
    pub threads: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            enabled: true,
            max_file_size: 5 << 20,
            allow_paths: Vec::new(),
            allow_regexes: Vec::new(),
            baseline: ".mno/secrets-baseline.json".into(),
            entropy_threshold: 3.5,
            threads: 0,
        }
    }
}

/// `naming_conventions`: rules per glob, in the spirit of ls-lint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NamingConfig {
    /// Run this check.
    pub enabled: bool,
    /// Rules; a path is checked against every rule whose glob matches it.
    pub rules: Vec<NamingRule>,
    /// Glob patterns of paths never checked, on top of .gitignore.
    pub ignore: Vec<String>,
}

impl Default for NamingConfig {
    fn default() -> Self {
        // Without a config, only conventions no one disputes: Rust's own module naming.
        NamingConfig {
            enabled: true,
            rules: vec![NamingRule {
                glob: "**/*.rs".into(),
                style: NamingStyle::SnakeCase,
                pattern: None,
                applies_to: AppliesTo::Files,
            }],
            ignore: Vec::new(),
        }
    }
}

/// One naming rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamingRule {
    /// Glob matched against the path relative to the root (`src/**/*.rs`, `docs/*`).
    pub glob: String,
    /// The style the name must follow.
    pub style: NamingStyle,
    /// The regular expression the name must match in full, when `style` is `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Whether the rule checks files, directories or both.
    #[serde(default)]
    pub applies_to: AppliesTo,
}

/// A naming style; files are checked on their name up to the first dot after its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamingStyle {
    /// `my-file-name`
    KebabCase,
    /// `my_file_name`
    SnakeCase,
    /// `MY_FILE_NAME`
    ScreamingSnakeCase,
    /// `MyFileName`
    PascalCase,
    /// `myFileName`
    CamelCase,
    /// `myfilename`
    Lowercase,
    /// The rule's `pattern`.
    Regex,
}

/// What a naming rule looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    /// Files only.
    #[default]
    Files,
    /// Directories only.
    Directories,
    /// Files and directories.
    Both,
}

/// `module_registry`: the registry library's validation as gate findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RegistryConfig {
    /// Run this check.
    pub enabled: bool,
    /// The registry file, relative to the root.
    pub file: String,
    /// Registry warnings fail the check too.
    pub strict: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            enabled: true,
            file: "root.modules.yaml".into(),
            strict: false,
        }
    }
}

/// A loaded configuration and the warnings met reading it (unknown keys).
#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    /// The configuration (defaults when the file is absent).
    pub config: GatesConfig,
    /// One line per unknown key, located.
    pub warnings: Vec<String>,
}

/// Read `root.gates.yaml` under `root`, or the defaults when there is none.
pub fn load_config(root: &Path) -> Result<LoadedConfig, GateError> {
    let path = root.join(CONFIG_FILE);
    if !path.is_file() {
        return Ok(LoadedConfig::default());
    }
    let loaded = mno_common::load_file::<GatesConfig>(&path)?;
    Ok(LoadedConfig {
        config: loaded.value,
        warnings: loaded.warnings.iter().map(ToString::to_string).collect(),
    })
}

/// The JSON Schema of root.gates.yaml (committed as `schemas/root-gates.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(GatesConfig)).unwrap_or_default()
}
