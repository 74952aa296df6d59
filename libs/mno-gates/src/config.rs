//! `root.gates.yaml`: which checks run and how; every key is optional (zero-config defaults).

use std::collections::BTreeMap;
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
    /// YAML and JSON files against JSON Schemas.
    pub schema_validation: SchemaConfig,
    /// Per-module build commands.
    pub build_verification: BuildConfig,
    /// Who may sign this repository's evidence chain.
    pub evidence: EvidenceConfig,
}

/// `evidence`: keys `super-agent evidence verify --policy root.gates.yaml` trusts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Ed25519 public keys (64 hex digits, optionally `ed25519:`-prefixed) whose records are
    /// trusted; a rotation record signed by one of them extends trust to the key it names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
}

/// `security_scan`: secrets in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SecurityConfig {
    /// Run this check.
    pub enabled: bool,
    /// Files larger than this many bytes are skipped and counted.
    pub max_file_size: u64,
    /// Glob patterns (relative to the root) of files never scanned (silently; counted).
    pub allow_paths: Vec<String>,
    /// Regular expressions: a matched secret that matches any of these is not reported.
    pub allow_regexes: Vec<String>,
    /// Baseline of accepted findings (rule id + secret hash), relative to the root.
    pub baseline: String,
    /// Minimum Shannon entropy (bits per character) of a generic secret assignment.
    pub entropy_threshold: f64,
    /// Worker threads for scanning; 0 means one per CPU.
    pub threads: usize,
    /// Also check `.github/workflows/*.yml` for risky patterns (unpinned actions,
    /// `pull_request_target` checking out the PR, secrets printed, `write-all`).
    pub workflows: bool,
    /// Honour .gitignore, .ignore and global excludes when choosing files (the old
    /// behaviour). By default a git repository's tracked files are all scanned, whatever
    /// its ignore files say, plus untracked files that are not ignored; outside git,
    /// every file.
    pub respect_ignore: bool,
    /// A gitleaks-format rule file (relative to the root) whose rules, allowlists and
    /// `[extend] useDefault` apply as in gitleaks. Unset: `.gitleaks.toml` at the root is
    /// read when present and always adds to the built-in rules; `""`: no gitleaks file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitleaks_config: Option<String>,
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
            workflows: true,
            respect_ignore: false,
            gitleaks_config: None,
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
    /// The style of module names in the registry (`module_registry.file`); `null` turns
    /// the module-name rule off.
    pub module_names: Option<ModuleNaming>,
}

/// `naming_conventions.module_names`: how the registry's module names are spelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleNaming {
    /// The style every module name must follow.
    pub style: NamingStyle,
    /// The regular expression names must match in full, when `style` is `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl Default for ModuleNaming {
    fn default() -> Self {
        // Module names become process names, directory names and Kubernetes object
        // names, which only allow lowercase letters, digits and `-`.
        ModuleNaming {
            style: NamingStyle::KebabCase,
            pattern: None,
        }
    }
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
            module_names: Some(ModuleNaming::default()),
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

/// `schema_validation`: YAML and JSON files checked against JSON Schemas (drafts 7 and 2020-12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SchemaConfig {
    /// Run this check.
    pub enabled: bool,
    /// Files and the schema each is checked against. Without any: files naming their own
    /// schema (a `yaml-language-server: $schema=` modeline, a JSON `"$schema"` key) and
    /// this repository's conventions (`root.modules.yaml`, `root.gates.yaml`) when their
    /// schema files exist.
    pub mappings: Vec<SchemaMapping>,
    /// Glob patterns of files never validated, on top of .gitignore.
    pub ignore: Vec<String>,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            enabled: true,
            mappings: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

/// Files (by glob) validated against one schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaMapping {
    /// Glob matched against the path relative to the root (`config/*.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Several globs; a file matching any of them (or `glob`) is validated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globs: Vec<String>,
    /// The JSON Schema (JSON or YAML), relative to the root; `$ref`s to other local
    /// files resolve against its location.
    pub schema: String,
}

/// `build_verification`: each module's build command, run with a timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BuildConfig {
    /// Run this check.
    pub enabled: bool,
    /// Seconds a build may take before its whole process group is killed.
    pub timeout_seconds: u64,
    /// Lines of output (stdout and stderr together) kept per module for the report.
    pub tail_lines: usize,
    /// Build commands by module name; an entry replaces the registry's `build` for that
    /// module (an empty `command` turns it off), and may name modules the registry lacks.
    pub modules: BTreeMap<String, BuildModule>,
    /// Refuse to build (ERROR) when the build cannot be kept away from the server's data
    /// directory and signing key (no Landlock in the kernel). The repository can only ask for
    /// more isolation here; what builds may see is the gate operator's setting.
    pub require_sandbox: bool,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            enabled: true,
            timeout_seconds: 600,
            tail_lines: 40,
            modules: BTreeMap::new(),
            require_sandbox: false,
        }
    }
}

/// How to build one module.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildModule {
    /// Program and arguments (never run through a shell); empty means "do not build".
    #[serde(default)]
    pub command: Vec<String>,
    /// Working directory relative to the root (default: the root); must stay inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Seconds this build may take (default: `timeout_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Extra environment variables, on top of the cleared environment builds get (`PATH`,
    /// the locale, a scratch `HOME`, `CARGO_HOME`/`RUSTUP_HOME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
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
